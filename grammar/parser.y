/* parser.y: the grammar of SPEC section 1, with locations and error
 * recovery. Actions stay thin: they call the ast_ constructors. */
%require "3.8"
%define api.pure full
%define api.prefix {gradc_yy}
%define parse.error custom
%define parse.lac full
%locations
%param {void *scanner}
%parse-param {Parse *p}

%code requires {
#include "ir.h"
}

%code provides {
int gradc_yylex(GRADC_YYSTYPE *lval, GRADC_YYLTYPE *lloc, void *scanner);
int lexer_run(Parse *p, int (*parse)(void *, Parse *));
}

%code {
#include <string.h>

#define YYMAXDEPTH 100000

static Span sp(const GRADC_YYLTYPE *l) {
  Span s = {l->first_line, l->first_column, l->last_line, l->last_column};
  return s;
}

static void gradc_yyerror(GRADC_YYLTYPE *l, void *scanner, Parse *p, const char *msg) {
  (void)scanner;
  if (p->fatal || p->errors >= MAX_SYNTAX_ERRORS)
    return;
  p->errors++;
  if (!strcmp(msg, "memory exhausted")) {
    diag_add(p->diags, GRADC_ERR_INPUT, p->src, sp(l), NULL,
             "expression nested too deeply");
    p->fatal = 1;
    return;
  }
  diag_add(p->diags, GRADC_ERR_INPUT, p->src, sp(l), NULL, "%s", msg);
}

#define TOO_MANY (p->fatal || p->errors >= MAX_SYNTAX_ERRORS)

/* lo:hi:step, each part optional (kids 0, 1, 2; NULL: left out) */
static Ast *slice3(Parse *p, Span at, Ast *lo, Ast *hi, Ast *step) {
  Ast *s = ast_new(p, AST_SLICE, at, 3);
  if (s) {
    s->kids[0] = lo;
    s->kids[1] = hi;
    s->kids[2] = step;
  }
  return s;
}
}

%union {
  Ast *ast;
}

%token <ast> NUM "number" NAME "name" PATH "data path"
%token PARAM "param" INPUT "input" OUTPUT "output"
%token NL "end of line"
%token LE "<=" GE ">=" EQ "==" NE "!="

%nonassoc '<' '>' LE GE EQ NE
%left '+' '-'
%left '*' '/' '@'
%precedence UNARY
%right '^'

%type <ast> expr postfix primary args arg indices index dims dimlist dim

%%

program:
    %empty
  | program line
  ;

line:
    NL
  | stmt NL
  | error NL           { yyerrok; if (TOO_MANY) YYABORT; }
  ;

stmt:
    PARAM decls
  | INPUT decls
  | NAME '=' expr      { ast_stmt(p, ST_DEF, $1->span, $1->name, NULL, $3); }
  /* let NAME = EXPR, as :diff prints shared parts: a definition ("let" is
   * no reserved word: let = 3 still defines let) */
  | NAME NAME '=' expr {
      if (strcmp($1->name, "let"))
        gradc_yyerror(&@2, scanner, p, "unexpected name");
      else
        ast_stmt(p, ST_DEF, $2->span, $2->name, NULL, $4);
    }
  | OUTPUT NAME '=' expr { ast_stmt(p, ST_OUTPUT, $2->span, $2->name, NULL, $4); }
  /* a function: the parameters (AST_VECTOR, names checked by lower.c) in dims */
  | NAME '(' ')' '=' expr  { ast_stmt(p, ST_FUNC, $1->span, $1->name, ast_new(p, AST_VECTOR, sp(&@2), 0), $5); }
  | NAME '(' args ')' '=' expr { ast_stmt(p, ST_FUNC, $1->span, $1->name, $3, $6); }
  | expr               { ast_stmt(p, ST_EXPR, $1->span, ast_intern(p, "f", 1), NULL, $1); }
  ;

decls:
    decl
  | decls ',' decl
  ;

decl:
    NAME dims              { ast_stmt(p, p->declkind, $1->span, $1->name, $2, NULL); }
  | NAME dims '=' expr     { ast_stmt(p, p->declkind, $1->span, $1->name, $2, $4); }
  | NAME dims '=' PATH     { ast_stmt(p, p->declkind, $1->span, $1->name, $2, $4); }
  ;

dims:
    %empty                 { $$ = NULL; }
  | '[' dimlist ']'        { $$ = $2; }
  ;

dimlist:
    dim                    { $$ = ast_list_add(p, ast_new(p, AST_VECTOR, $1->span, 0), $1); }
  | dimlist ',' dim        { $$ = ast_list_add(p, $1, $3); }
  ;

dim:
    NUM
  | NAME
  ;

expr:
    expr '<' expr          { $$ = ast_binary(p, sp(&@2), OP_LT, $1, $3); }
  | expr '>' expr          { $$ = ast_binary(p, sp(&@2), OP_GT, $1, $3); }
  | expr LE expr           { $$ = ast_binary(p, sp(&@2), OP_LE, $1, $3); }
  | expr GE expr           { $$ = ast_binary(p, sp(&@2), OP_GE, $1, $3); }
  | expr EQ expr           { $$ = ast_binary(p, sp(&@2), OP_EQ, $1, $3); }
  | expr NE expr           { $$ = ast_binary(p, sp(&@2), OP_NE, $1, $3); }
  | expr '+' expr          { $$ = ast_binary(p, sp(&@2), OP_ADD, $1, $3); }
  | expr '-' expr          { $$ = ast_binary(p, sp(&@2), OP_SUB, $1, $3); }
  | expr '*' expr          { $$ = ast_binary(p, sp(&@2), OP_MUL, $1, $3); }
  | expr '/' expr          { $$ = ast_binary(p, sp(&@2), OP_DIV, $1, $3); }
  | expr '@' expr          { $$ = ast_binary(p, sp(&@2), '@', $1, $3); }
  | expr '^' expr          { $$ = ast_binary(p, sp(&@2), OP_POW, $1, $3); }
  | '-' expr %prec UNARY   { $$ = ast_unary(p, sp(&@1), OP_NEG, $2); }
  | '+' expr %prec UNARY   { $$ = $2; }
  | postfix
  ;

postfix:
    primary
  | postfix '[' indices ']'  { $$ = $3; $$->kind = AST_INDEX; $$->kids[0] = $1; $$->span = sp(&@2); }
  | postfix '\''             { $$ = ast_unary(p, sp(&@2), 0, $1); if ($$) $$->kind = AST_TRANSPOSE; }
  ;

primary:
    NUM
  | NAME
  | NAME '(' ')'             { $$ = ast_new(p, AST_CALL, $1->span, 0); if ($$) $$->name = $1->name; }
  | NAME '(' args ')'        { $$ = $3; $$->kind = AST_CALL; $$->name = $1->name; $$->span = $1->span; }
  | '(' expr ')'             { $$ = $2; }
  | '[' args ']'             { $$ = $2; $$->span = sp(&@1); }
  ;

args:
    arg                      { $$ = ast_list_add(p, ast_new(p, AST_VECTOR, $1 ? $1->span : sp(&@1), 0), $1); }
  | args ',' arg             { $$ = ast_list_add(p, $1, $3); }
  ;

/* a keyword argument, axis=1: kids[0] is the value */
arg:
    expr
  | NAME '=' expr            { $$ = ast_new(p, AST_KWARG, $1->span, 1); if ($$) { $$->name = $1->name; $$->kids[0] = $3; } }
  ;

/* kids[0] is reserved for the indexed expression */
indices:
    index                    { $$ = ast_list_add(p, ast_list_add(p, ast_new(p, AST_VECTOR, $1->span, 0), NULL), $1); }
  | indices ',' index        { $$ = ast_list_add(p, $1, $3); }
  ;

index:
    expr
  | ':'                      { $$ = slice3(p, sp(&@1), NULL, NULL, NULL); }
  | expr ':'                 { $$ = slice3(p, sp(&@2), $1, NULL, NULL); }
  | ':' expr                 { $$ = slice3(p, sp(&@1), NULL, $2, NULL); }
  | expr ':' expr            { $$ = slice3(p, sp(&@2), $1, $3, NULL); }
  | ':' ':'                  { $$ = slice3(p, sp(&@1), NULL, NULL, NULL); }
  | expr ':' ':'             { $$ = slice3(p, sp(&@2), $1, NULL, NULL); }
  | ':' expr ':'             { $$ = slice3(p, sp(&@1), NULL, $2, NULL); }
  | ':' ':' expr             { $$ = slice3(p, sp(&@1), NULL, NULL, $3); }
  | expr ':' expr ':'        { $$ = slice3(p, sp(&@2), $1, $3, NULL); }
  | expr ':' ':' expr        { $$ = slice3(p, sp(&@2), $1, NULL, $4); }
  | ':' expr ':' expr        { $$ = slice3(p, sp(&@1), NULL, $2, $4); }
  | expr ':' expr ':' expr   { $$ = slice3(p, sp(&@2), $1, $3, $5); }
  ;

%%

/* "unexpected X; expected A, B or C", listing at most 5 expected tokens. */
static int yyreport_syntax_error(const yypcontext_t *ctx, void *scanner, Parse *p) {
  (void)scanner;
  if (p->fatal || p->errors >= MAX_SYNTAX_ERRORS)
    return 0;
  p->errors++;
  enum { N = 6 };
  yysymbol_kind_t exp[N];
  int n = yypcontext_expected_tokens(ctx, exp, N);
  yysymbol_kind_t got = yypcontext_token(ctx);
  Buf b = {0};
  if (got == YYSYMBOL_YYEOF && p->depth > 0 && p->depth <= MAX_NESTING) {
    const Span *at = &p->open[p->depth - 1];
    diag_add(p->diags, GRADC_ERR_INPUT, p->src, *at, NULL,
             "unexpected end of file: this bracket is never closed");
    return 0;
  }
  if (got == YYSYMBOL_YYEOF)
    buf_puts(&b, "unexpected end of file");
  else
    buf_printf(&b, "unexpected %s", yysymbol_name(got));
  if (n > 0 && n < N) {
    buf_puts(&b, "; expected ");
    for (int i = 0; i < n; i++)
      buf_printf(&b, "%s%s", i == 0 ? "" : i == n - 1 ? " or " : ", ",
                 exp[i] == YYSYMBOL_YYEOF ? "end of file" : yysymbol_name(exp[i]));
  }
  diag_add(p->diags, GRADC_ERR_INPUT, p->src, sp(yypcontext_location(ctx)), NULL,
           "%s", b.data ? b.data : "syntax error");
  buf_free(&b);
  return 0;
}

#ifndef GRADC_PARSER_NOLAC /* parser_nolac.c: the same grammar, no LAC, no parse_source */
static int run_parser(void *scanner, Parse *p) { return gradc_yyparse(scanner, p); }

int gradc_yyparse_nolac(void *scanner, Parse *p);
static int run_parser_nolac(void *scanner, Parse *p) { return gradc_yyparse_nolac(scanner, p); }

static void start(Parse *p) {
  p->line = 1;
  p->col = 1;
  p->last_tok = 0;
  p->depth = 0;
  p->eof_nl = 0;
  p->fatal = 0;
  p->errors = 0;
  p->first = p->last = NULL;
}

/* The parser without LAC accepts the same sources and builds the same AST
 * (lookahead correction only changes where an error is found and which
 * tokens its message lists), with a sixth fewer instructions. So it goes
 * first; after a syntax error the source is parsed again with LAC, from
 * the start, for the messages. The first attempt's statements and AST stay
 * in their arenas (a lowering thread may still read them, pipeline.c),
 * its diagnostics go, and no statement of the second is handed over. */
int parse_source(Parse *p) {
  int ndiags = p->diags->count, nsyntax = p->diags->syntax_errors;
  start(p);
  int rc = lexer_run(p, run_parser_nolac);
  if (rc == 0 && p->errors == 0 && !p->fatal)
    return 0;
  p->pipe = NULL;
  diags_truncate(p->diags, ndiags);
  p->diags->syntax_errors = nsyntax;
  start(p);
  rc = lexer_run(p, run_parser);
  return rc != 0 || p->errors > 0 || p->fatal ? -1 : 0;
}
#endif
