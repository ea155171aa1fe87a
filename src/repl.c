/* repl.c: gradc repl, the course's way of working: write a loss, look at
 * its derivative, evaluate it at a point, check it numerically.
 *
 * The session is a list of statements (declarations, definitions,
 * outputs). Every input is checked by compiling the whole session as one
 * program; a redefinition replaces the old statement in place, so what
 * depends on it follows. A bare expression or a command compiles the
 * session with its target as the only output, in a context cached by the
 * program's text (and the context caches its JIT functions), so only what
 * changed is recompiled. Errors never end the session; they are shown at
 * their place in the line typed (repl:LINE:COL). */
#include <editline/readline.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

typedef struct Stmt {
  char *text;      /* one statement, maybe several lines */
  char *name;      /* the name it defines or declares first, or NULL */
  char *origin;    /* "repl" or a file name */
  int line;        /* its first line there */
  int col;         /* where it starts in its first line there (0: at the start) */
  int prefix;      /* characters the REPL put before it ("f = " of a bare expression in a file) */
  char *src;       /* the lines it spans there as written (comments and all), or NULL: text */
} Stmt;

typedef struct Cached {
  char *text;
  Gradc *g;
  int ok;          /* it compiled */
} Cached;

enum { NCACHE = 16 };

typedef struct Repl {
  Stmt *st;
  int n, cap;
  char **set;      /* NAME=VALUE words from :set, in order */
  int nset;
  const Opts *o;
  int tty, failed, lineno;
  Cached cache[NCACHE];
  int next_cache;
  /* where the text being compiled came from, for error columns */
  char *line_text;  /* the input as typed (a copy) */
  int coloff;       /* where the current statement or target starts in it */
  int prefix;       /* characters the REPL put before it ("output f = ") */
  double *last;     /* the last value printed: `_` */
  long last_dims[4];
  int last_rank, have_last;
} Repl;

static Repl *the_repl; /* for tab completion */

static char *xstrdup(const char *s) {
  char *d = strdup(s);
  if (!d) {
    fprintf(stderr, "gradc: out of memory\n");
    exit(EXIT_INPUT);
  }
  return d;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...) {
  va_list ap;
  va_start(ap, f);
  int n = vsnprintf(NULL, 0, f, ap);
  va_end(ap);
  char *s = malloc((size_t)n + 1);
  if (!s)
    return xstrdup("");
  va_start(ap, f);
  vsnprintf(s, (size_t)n + 1, f, ap);
  va_end(ap);
  return s;
}

/* ---- statements ------------------------------------------------------------- */

static const char *skip_space(const char *s) {
  while (*s == ' ' || *s == '\t')
    s++;
  return s;
}

static int is_name_char(char c, int first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (!first && c >= '0' && c <= '9');
}

/* The name at s (copied), or NULL. */
static char *name_at(const char *s, const char **end) {
  s = skip_space(s);
  if (!is_name_char(*s, 1))
    return NULL;
  const char *e = s;
  while (is_name_char(*e, 0))
    e++;
  if (end)
    *end = e;
  char *n = malloc((size_t)(e - s) + 1);
  if (!n)
    return NULL;
  memcpy(n, s, (size_t)(e - s));
  n[e - s] = 0;
  return n;
}

typedef enum { K_DECL, K_DEF, K_OUTPUT, K_EXPR, K_FUNC } Kind;

/* After NAME at e: "(...) =" (not "=="), a function definition? */
static int is_func_def(const char *e) {
  e = skip_space(e);
  if (*e != '(')
    return 0;
  int depth = 0;
  for (; *e; e++) {
    if (*e == '(' || *e == '[')
      depth++;
    else if ((*e == ')' || *e == ']') && --depth == 0)
      break;
  }
  if (!*e)
    return 0;
  e = skip_space(e + 1);
  return e[0] == '=' && e[1] != '=';
}

/* What a statement is, and the name it defines. */
static Kind classify(const char *text, char **name) {
  const char *e;
  *name = NULL;
  char *w = name_at(text, &e);
  if (!w)
    return K_EXPR;
  if (!strcmp(w, "param") || !strcmp(w, "input")) {
    free(w);
    *name = name_at(e, NULL);
    return K_DECL;
  }
  if (!strcmp(w, "output")) {
    free(w);
    *name = name_at(e, NULL);
    return K_OUTPUT;
  }
  if (is_func_def(e)) {
    *name = w;
    return K_FUNC;
  }
  const char *e2;
  char *w2 = !strcmp(w, "let") ? name_at(e, &e2) : NULL;
  if (w2 && skip_space(e2)[0] == '=' && skip_space(e2)[1] != '=') { /* let NAME = EXPR */
    free(w);
    *name = w2;
    return K_DEF;
  }
  free(w2);
  e = skip_space(e);
  if (e[0] == '=' && e[1] != '=') {
    *name = w;
    return K_DEF;
  }
  free(w);
  return K_EXPR;
}

/* Is the input incomplete: an open bracket, or a trailing operator? */
static int continues(const char *s) {
  int depth = 0;
  char last = 0;
  for (; *s; s++) {
    if (*s == '#')
      while (*s && *s != '\n')
        s++;
    if (!*s)
      break;
    if (*s == '(' || *s == '[')
      depth++;
    else if ((*s == ')' || *s == ']') && depth > 0)
      depth--;
    if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
      last = *s;
  }
  return depth > 0 || (last && strchr("+-*/@^<>=,", last));
}

/* A growing string. */
typedef struct Str {
  char *s;
  size_t len, cap;
} Str;

static void str_add(Str *b, const char *t) {
  size_t n = strlen(t);
  if (b->len + n + 1 > b->cap) {
    b->cap = 2 * (b->len + n + 1) + 64;
    b->s = realloc(b->s, b->cap);
    if (!b->s)
      exit(EXIT_INPUT);
  }
  memcpy(b->s + b->len, t, n + 1);
  b->len += n;
}

/* An output statement as a definition: "output L = ..." -> "       L = ...",
 * blanks where the keyword was, so that every column stays where it was. */
static void str_add_plain(Str *b, const char *t) {
  const char *kw = skip_space(t);
  for (; t < kw; t++)
    str_add(b, *t == '\t' ? "\t" : " ");
  str_add(b, "      "); /* as long as "output" */
  str_add(b, kw + 6);
}

/* The text of statement i in a program: use[i] when the program is made of
 * the statements a target needs (NULL: left out), else the statement's. */
static const char *stmt_text(const Repl *r, char *const *use, int i) {
  return use ? use[i] : r->st[i].text;
}

/* The session's program text, one statement after another (those in `use`
 * only, unless it is NULL), with the statement `skip` left out (-1: none),
 * `replace` put in its place when given, outputs turned into definitions
 * when `plain`, and `extra` last. */
static char *program_of(Repl *r, char *const *use, int skip, const char *replace, int plain,
                        const char *extra) {
  Str b = {0};
  for (int i = 0; i < r->n; i++) {
    const char *t = i == skip ? replace : stmt_text(r, use, i);
    if (!t)
      continue;
    char *nm = NULL;
    if (plain && i != skip && classify(t, &nm) == K_OUTPUT)
      str_add_plain(&b, t);
    else
      str_add(&b, t);
    str_add(&b, "\n");
    if (plain)
      free(nm);
  }
  if (extra) {
    str_add(&b, extra);
    str_add(&b, "\n");
  }
  return b.s ? b.s : xstrdup("");
}

static char *program(Repl *r, int skip, const char *replace, int plain, const char *extra, int *lines_of) {
  (void)lines_of;
  return program_of(r, NULL, skip, replace, plain, extra);
}

/* An error at line `off` of statement st (whose text in the program was
 * `text`), column col there: at its place where the statement was written,
 * with that line as written. */
static void print_error_in(const Stmt *st, const char *text, int off, int col, const char *msg) {
  if (off == 0) {
    col += st->col - st->prefix;
    if (col <= st->col) /* in what the REPL put before it: at its start */
      col = st->col + 1;
  }
  if (col < 1)
    col = 1;
  const char *s = st->src ? st->src : text;
  for (int k = 0; k < off && strchr(s, '\n'); k++)
    s = strchr(s, '\n') + 1;
  fprintf(stderr, "%s:%d:%d: error: %s\n%.*s\n%*s^\n", st->origin, st->line + off, col, msg,
          (int)strcspn(s, "\n"), s, col - 1, "");
}

/* Diagnostic i's message with its hint, as gradc_diag_render writes it (a
 * copy); and a place in another file (the data), printed there: 1. */
static char *diag_msg(const Gradc *g, int i) {
  const char *h = gradc_diag_hint(g, i);
  return fmt("%s%s%s%s", gradc_diag_message(g, i), h ? " (" : "", h ? h : "", h ? ")" : "");
}

static int diag_elsewhere(const Gradc *g, int i) {
  const char *file = gradc_diag_file(g, i);
  if (!file)
    return 0;
  char *m = diag_msg(g, i);
  int line = gradc_diag_line(g, i), col = gradc_diag_col(g, i);
  if (col > 0)
    fprintf(stderr, "%s:%d:%d: error: %s\n", file, line, col, m);
  else if (line > 0)
    fprintf(stderr, "%s:%d: error: %s\n", file, line, m);
  else
    fprintf(stderr, "%s: error: %s\n", file, m);
  free(m);
  return 1;
}

/* Print a context's diagnostics at their places in the session's inputs
 * (the program made by program_of with the same use and skip). */
static void show_errors_use(Repl *r, Gradc *g, char *const *use, const char *typed, int skip,
                            const char *torigin, int tline) {
  for (int i = 0; i < gradc_diag_count(g); i++) {
    int line = gradc_diag_line(g, i), col = gradc_diag_col(g, i);
    if (!strncmp(gradc_diag_message(g, i), "no value for ", 13))
      continue; /* set_values says it in the REPL's words */
    if (diag_elsewhere(g, i))
      continue;
    char *msg = diag_msg(g, i);
    /* which statement holds that line of the program text? */
    int at = 1;
    const char *text = NULL, *origin = "repl";
    const Stmt *st = NULL; /* the session's statement it is in */
    int first = 0;
    for (int k = 0; k <= r->n && line > 0; k++) {
      const char *t = k == r->n ? typed : (k == skip ? typed : stmt_text(r, use, k));
      if (!t)
        continue;
      int nl = 1;
      for (const char *c = t; *c; c++)
        nl += *c == '\n';
      if (line < at + nl) {
        text = t;
        origin = k == r->n || k == skip ? torigin : r->st[k].origin;
        first = k == r->n || k == skip ? tline : r->st[k].line;
        st = k == r->n || k == skip ? NULL : &r->st[k];
        break;
      }
      at += nl;
    }
    if (!text || line <= 0) {
      fprintf(stderr, "repl: error: %s\n", msg);
      free(msg);
      continue;
    }
    int off = line - at;
    if (st) {
      print_error_in(st, text, off, col, msg);
      free(msg);
      continue;
    }
    const char *s = text;
    for (int k = 0; k < off && strchr(s, '\n'); k++)
      s = strchr(s, '\n') + 1;
    if (text == typed && off == 0 && !strcmp(origin, "repl") && r->line_text) {
      /* the line as typed: columns count from its start */
      col = col - r->prefix + r->coloff;
      if (col <= r->coloff) /* in what the REPL put before it: at its start */
        col = r->coloff + 1;
      s = r->line_text;
    }
    if (col < 1)
      col = 1;
    int len = (int)strcspn(s, "\n");
    fprintf(stderr, "%s:%d:%d: error: %s\n%.*s\n%*s^\n", origin, first + off, col, msg, len, s,
            col > 1 ? col - 1 : 0, "");
    free(msg);
  }
}

static void show_errors_at(Repl *r, Gradc *g, const char *typed, int skip, const char *torigin,
                           int tline) {
  show_errors_use(r, g, NULL, typed, skip, torigin, tline);
}

static void show_errors(Repl *r, Gradc *g, const char *typed, int skip) {
  show_errors_at(r, g, typed, skip, "repl", r->lineno);
}

/* A compiled context for this program text, from the cache if possible. */
static Gradc *context(Repl *r, const char *text, int *ok) {
  for (int i = 0; i < NCACHE; i++)
    if (r->cache[i].text && !strcmp(r->cache[i].text, text)) {
      *ok = r->cache[i].ok;
      if (*ok) /* keep compile errors, drop those of earlier runs */
        gradc_diag_clear(r->cache[i].g);
      return r->cache[i].g;
    }
  Gradc *g = gradc_new();
  if (!g)
    return NULL;
  gradc_set_backend(g, r->o->backend);
  *ok = gradc_compile_string(g, "repl", text, strlen(text)) == GRADC_OK;
  Cached *c = &r->cache[r->next_cache];
  r->next_cache = (r->next_cache + 1) % NCACHE;
  free(c->text);
  gradc_free(c->g);
  c->text = xstrdup(text);
  c->g = g;
  c->ok = *ok;
  return g;
}

/* Give a context the session's values; 0 on success. Variables that have
 * none are named with the REPL's ways of giving one. */
static int set_values_use(Repl *r, Gradc *g, char *const *use) {
  int bad = 0;
  for (int i = 0; i < r->nset; i++) {
    char *eq = strchr(r->set[i], '=');
    *eq = 0;
    if (gradc_var_index(g, r->set[i]) >= 0 && gradc_set_value_text(g, r->set[i], eq + 1) != GRADC_OK)
      bad = 1;
    *eq = '=';
  }
  if (bad) {
    fputs(gradc_diag_render(g), stderr);
    return -1;
  }
  if (gradc_set_defaults(g, r->o->seed, 0) == GRADC_OK)
    return 0;
  int missing = 0;
  for (int i = 0; i < gradc_diag_count(g); i++)
    missing |= !strncmp(gradc_diag_message(g, i), "no value for ", 13);
  /* all but that one (it names options of the command line) */
  show_errors_use(r, g, use, "", -1, "repl", r->lineno);
  if (missing) {
    Str b = {0};
    int n = 0, settable = 1, last = 0; /* :set knows only the session's variables, not a new free name */
    char *text = program(r, -1, NULL, 1, "output _repl_ = 0", NULL);
    Gradc *sg = gradc_new(); /* not context(): that could drop g from the cache */
    int ok = sg && gradc_compile_string(sg, "repl", text, strlen(text)) == GRADC_OK;
    free(text);
    for (int i = 0; i < gradc_var_count(g); i++)
      if (!strcmp(gradc_var_name(g, i), "_") && !gradc_get_value(g, i, NULL, NULL)) {
        last = 1; /* not a variable to give a value: nothing printed yet */
      } else if (!gradc_get_value(g, i, NULL, NULL)) {
        str_add(&b, n++ ? ", " : "");
        str_add(&b, gradc_var_name(g, i));
        settable &= sg && ok && gradc_var_index(sg, gradc_var_name(g, i)) >= 0;
      }
    const char *one = n ? strchr(b.s, ',') ? "x" : b.s : "x";
    if (last)
      fprintf(stderr, "repl: error: _ has no value yet: it is the last value an expression printed\n");
    if (!n)
      ;
    else if (settable)
      fprintf(stderr, "repl: error: no value for %s: give %s with :set %s=VALUE or %s = VALUE\n",
              b.s ? b.s : "?", n > 1 ? "them" : "it", n > 1 ? "NAME" : one, n > 1 ? "NAME" : one);
    else
      fprintf(stderr, "repl: error: no value for %s: give %s with %s = VALUE\n", b.s ? b.s : "?",
              n > 1 ? "them" : "it", n > 1 ? "NAME" : one);
    free(b.s);
    gradc_free(sg);
  }
  return -1;
}

static int set_values(Repl *r, Gradc *g) { return set_values_use(r, g, NULL); }

/* Does the text use the identifier `id`? */
static int uses_name(const char *text, const char *id) {
  size_t n = strlen(id);
  for (const char *p = text; (p = strstr(p, id)) != NULL; p += n)
    if ((p == text || !is_name_char(p[-1], 0)) && !is_name_char(p[n], 0))
      return 1;
  return 0;
}

/* ---- what a target needs ------------------------------------------------------- */

/* The next identifier in s from *p, skipping numbers, data paths (@FILE...)
 * and comments: its start and length; 0 at the end. */
static int next_ident(const char **p, const char **start, size_t *len) {
  const char *s = *p;
  while (*s) {
    if (*s == '#') {
      while (*s && *s != '\n')
        s++;
    } else if (*s == '@' && s[1] && !strchr(" \t\r\n", s[1])) { /* as the lexer reads a path */
      while (*s && !strchr(" \t\r\n;#", *s))
        s++;
    } else if (is_name_char(*s, 1)) {
      *start = s;
      while (is_name_char(*s, 0))
        s++;
      *len = (size_t)(s - *start);
      *p = s;
      return 1;
    } else if ((*s >= '0' && *s <= '9') || *s == '.') { /* 2.5e-3: the exponent's letter too */
      while (is_name_char(*s, 0) || *s == '.')
        s++;
    } else {
      s++;
    }
  }
  *p = s;
  return 0;
}

/* A list of names. */
typedef struct Names {
  char **v;
  int n, cap;
} Names;

static int names_has(const Names *l, const char *s, size_t len) {
  for (int i = 0; i < l->n; i++)
    if (strlen(l->v[i]) == len && !strncmp(l->v[i], s, len))
      return 1;
  return 0;
}

static void names_add(Names *l, const char *s, size_t len) {
  if (names_has(l, s, len))
    return;
  if (l->n == l->cap) {
    l->cap = 2 * l->cap + 16;
    l->v = realloc(l->v, (size_t)l->cap * sizeof *l->v);
    if (!l->v)
      exit(EXIT_INPUT);
  }
  l->v[l->n] = malloc(len + 1);
  if (!l->v[l->n])
    exit(EXIT_INPUT);
  memcpy(l->v[l->n], s, len);
  l->v[l->n++][len] = 0;
}

static void names_free(Names *l) {
  for (int i = 0; i < l->n; i++)
    free(l->v[i]);
  free(l->v);
}

/* Every identifier of text[0..end) (end NULL: all of it) but those in `except`. */
static void names_of(Names *l, const char *text, const char *end, const Names *except) {
  const char *p = text, *id;
  size_t len;
  while (next_ident(&p, &id, &len) && (!end || id < end))
    if (!except || !names_has(except, id, len))
      names_add(l, id, len);
}

/* The parts of a declaration ("param V[16, 2] = randn(0.5), b[16] = zeros"):
 * each variable's text, split at the commas outside brackets and data
 * paths. *body is where the first part starts. Returns how many. */
enum { MAX_PARTS = 256 };
typedef struct Part {
  const char *s, *e;
} Part;

static int decl_parts(const char *text, const char **body, Part *parts) {
  const char *s = skip_space(text);
  while (is_name_char(*s, 0))
    s++;
  *body = s = skip_space(s);
  int n = 0, depth = 0;
  const char *start = s;
  for (; *s && *s != '#'; s++) {
    if (*s == '@' && s[1] && !strchr(" \t\r\n", s[1])) {
      while (s[1] && !strchr(" \t\r\n;#", s[1]))
        s++;
    } else if (*s == '(' || *s == '[') {
      depth++;
    } else if ((*s == ')' || *s == ']') && depth > 0) {
      depth--;
    } else if (*s == ',' && depth == 0 && n < MAX_PARTS - 1) {
      parts[n++] = (Part){start, s};
      start = s + 1;
    }
  }
  parts[n++] = (Part){start, s};
  return n;
}

/* Does the part have a value that binds its dimensions: data in the file
 * (= @FILE) or a value given in the session? */
static int part_has_data(const Repl *r, const Part *pt) {
  const char *id, *p = pt->s;
  size_t len;
  if (!next_ident(&p, &id, &len))
    return 0;
  for (int i = 0; i < r->nset; i++)
    if (!strncmp(r->set[i], id, len) && r->set[i][len] == '=')
      return 1;
  const char *eq = memchr(pt->s, '=', (size_t)(pt->e - pt->s));
  return eq && *skip_space(eq + 1) == '@';
}

/* Which statements (and which variables of a declaration) a program needs
 * for the names in `roots` (every identifier in them): the definitions of
 * the names it uses, then theirs, and the declarations of its variables,
 * with those of other variables that bring data for their symbolic
 * dimensions. Statement `skip` reads as `replace`. Returns per statement
 * its text, NULL when left out; free with free_use. */
static char **needed(Repl *r, const char *const *roots, int nroots, int skip, const char *replace) {
  Names todo = {0};
  for (int k = 0; k < nroots; k++)
    names_of(&todo, roots[k], NULL, NULL);
  char *whole = calloc((size_t)r->n + 1, 1);
  unsigned char(*part)[MAX_PARTS / 8] = calloc((size_t)r->n + 1, sizeof *part);
  Kind *kind = calloc((size_t)r->n + 1, sizeof *kind);
  char **defines = calloc((size_t)r->n + 1, sizeof *defines);
  if (!whole || !part || !kind || !defines)
    exit(EXIT_INPUT);
  for (int i = 0; i < r->n; i++) /* once: what each statement is and defines */
    kind[i] = classify(i == skip ? replace : r->st[i].text, &defines[i]);
  Part parts[MAX_PARTS];
  for (int q = 0; q < todo.n; q++) { /* todo grows as the names' statements are added */
    const char *nm = todo.v[q];
    size_t nlen = strlen(nm);
    int first_i = -1, first_j = -1, declared = 0, again = 0; /* nm as a dimension */
    for (int i = 0; i <= r->n; i++) {
      if (i == r->n) { /* a dimension that no data binds is still declared: by its first */
        if (first_i < 0 || declared || again)
          break;
        i = first_i;
        again = 1;
      }
      const char *t = i == skip ? replace : r->st[i].text, *sn = defines[i];
      Kind k = kind[i];
      if (k == K_DECL) {
        const char *body;
        int np = decl_parts(t, &body, parts);
        for (int j = 0; j < np; j++) {
          const char *p = parts[j].s, *id;
          size_t len;
          const char *open = memchr(parts[j].s, '[', (size_t)(parts[j].e - parts[j].s));
          const char *close = open ? memchr(open, ']', (size_t)(parts[j].e - open)) : NULL;
          Names dims = {0};
          if (close)
            names_of(&dims, open, close, NULL);
          int mentions = names_has(&dims, nm, nlen), marked = part[i][j / 8] >> (j % 8) & 1;
          names_free(&dims);
          declared |= mentions && marked;
          if (mentions && first_i < 0) {
            first_i = i;
            first_j = j;
          }
          int take = !marked && ((next_ident(&p, &id, &len) && len == nlen && !strncmp(id, nm, len)) || /* itself */
                                 (mentions && part_has_data(r, &parts[j])) || /* data binds the dimension */
                                 (again && i == first_i && j == first_j && !declared));
          if (take) {
            declared |= mentions;
            part[i][j / 8] |= (unsigned char)(1u << (j % 8));
            Names got = {0};
            names_of(&got, parts[j].s, parts[j].e, NULL);
            for (int g = 0; g < got.n; g++)
              names_add(&todo, got.v[g], strlen(got.v[g]));
            names_free(&got);
          }
        }
      } else if (sn && !whole[i] && !strcmp(sn, nm)) {
        whole[i] = 1;
        Names params = {0};
        const char *body = t;
        if (k == K_FUNC) { /* the parameters of NAME(a, b) = ... are not session names */
          const char *open = strchr(t, '('), *close = strchr(t, ')');
          if (open && close)
            names_of(&params, open, close, NULL);
          body = close ? close : t;
        }
        names_of(&todo, body, NULL, &params);
        names_free(&params);
      }
    }
  }
  for (int i = 0; i < r->n; i++)
    free(defines[i]);
  free(defines);
  free(kind);
  names_free(&todo);
  char **use = calloc((size_t)r->n + 1, sizeof *use);
  if (!use)
    exit(EXIT_INPUT);
  for (int i = 0; i < r->n; i++) {
    const char *t = i == skip ? replace : r->st[i].text;
    const char *body;
    int np = 0, all = 1, any = 0;
    if (!whole[i]) {
      np = decl_parts(t, &body, parts);
      for (int j = 0; j < np; j++) {
        int in = part[i][j / 8] >> (j % 8) & 1;
        all &= in;
        any |= in;
      }
    }
    if (whole[i] || (any && all)) {
      use[i] = xstrdup(t);
    } else if (any) { /* some variables of a declaration, on as many lines */
      Str b = {0};
      char *kw = fmt("%.*s", (int)(body - t), t);
      str_add(&b, kw);
      free(kw);
      int lines = 0, first = 1;
      for (const char *c = t; *c; c++)
        lines += *c == '\n';
      for (int j = 0; j < np; j++)
        if (part[i][j / 8] >> (j % 8) & 1) {
          char *pt = fmt("%s%.*s", first ? "" : ",", (int)(parts[j].e - parts[j].s), parts[j].s);
          for (const char *c = pt; *c; c++)
            lines -= *c == '\n';
          str_add(&b, pt);
          free(pt);
          first = 0;
        }
      for (; lines > 0; lines--)
        str_add(&b, "\n");
      use[i] = b.s;
    }
  }
  free(whole);
  free(part);
  return use;
}

static void free_use(Repl *r, char **use) {
  for (int i = 0; use && i < r->n; i++)
    free(use[i]);
  free(use);
}

/* The session compiled with `target` (a name or an expression) as its only
 * output, named *shown: checked against the whole session, then built of
 * the statements that it needs (and the names in `also`, a wrt list or
 * tangents), so that values are needed only for the variables it uses; they
 * are set when `values`. */
static Gradc *target_context_for(Repl *r, const char *target, const char *also, int values,
                                 const char **shown) {
  char *nm;
  int found = -1;
  char *w = name_at(target, NULL);
  const char *rest = w ? skip_space(target + (skip_space(target) - target) + strlen(w)) : target;
  if (w && !*rest)
    for (int i = 0; i < r->n; i++) {
      Kind k = classify(r->st[i].text, &nm);
      if ((k == K_DEF || k == K_OUTPUT) && nm && !strcmp(nm, w))
        found = i;
      free(nm);
    }
  char *text, *out = NULL, *extra = NULL;
  static char name[64];
  if (found >= 0) { /* that definition is the output */
    snprintf(name, sizeof name, "%s", w);
    const char *t = r->st[found].text;
    Kind k = classify(t, &nm);
    free(nm);
    t = skip_space(t);
    if (k == K_DEF && !strncmp(t, "let", 3) && strchr(" \t", t[3]) && skip_space(t + 3)[0] != '=')
      t = skip_space(t + 3); /* let NAME = EXPR */
    out = k == K_OUTPUT ? xstrdup(t) : fmt("output %s", t);
    text = program(r, found, out, 1, NULL, NULL);
  } else { /* a bare expression is an output named f, unless f is taken */
    for (int c = 0;; c++) { /* f, _, then f_1, f_2 ... (a loaded file may define _) */
      snprintf(name, sizeof name, c == 0 ? "f" : c == 1 ? "_" : "f_%d", c - 1);
      int taken = uses_name(target, name);
      for (int i = 0; i < r->n && !taken; i++)
        taken = uses_name(r->st[i].text, name);
      for (int i = 0; i < r->nset && !taken; i++)
        taken = !strncmp(r->set[i], name, strlen(name)) && r->set[i][strlen(name)] == '=';
      if (!taken)
        break;
    }
    extra = fmt("output %s = %s", name, target);
    r->prefix = (int)strlen(extra) - (int)strlen(target);
    text = program(r, -1, NULL, 1, extra, NULL);
  }
  free(w);
  *shown = name;
  int ok;
  Gradc *g = context(r, text, &ok);
  free(text);
  if (g && !ok)
    show_errors(r, g, target, -1);
  if (!g || !ok) {
    free(out);
    free(extra);
    return NULL;
  }
  const char *roots[2] = {found >= 0 ? name : target, also ? also : ""};
  char **use = needed(r, roots, 2, found, out);
  text = program_of(r, use, found, out, 1, extra);
  g = context(r, text, &ok);
  free(text);
  if (g && !ok)
    show_errors_use(r, g, use, target, -1, "repl", r->lineno);
  if (g && ok && values && set_values_use(r, g, use) < 0)
    g = NULL;
  free_use(r, use);
  free(out);
  free(extra);
  return g && ok ? g : NULL;
}

static Gradc *target_context(Repl *r, const char *target, const char **shown) {
  return target_context_for(r, target, NULL, 1, shown);
}

/* ---- commands ------------------------------------------------------------------ */

static const char *commands[] = {":help", ":load", ":set", ":vars", ":grad", ":jvp", ":jacobian",
                                 ":hessian", ":diff", ":check", ":trace", ":emit", ":dot", ":time",
                                 ":quit", ":hvp", NULL};

static void help(void) {
  puts("Statements as in .expr files: param/input declarations, NAME = EXPR, output NAME = EXPR.\n"
       "A bare expression is evaluated at the current values (_ is the last value printed);\n"
       "NAME = NUMBER gives a variable a value. Redefining a name replaces it. Ctrl-C stops\n"
       "a command or the line being typed; Ctrl-D at an empty prompt leaves.\n"
       "  :set NAME=VALUE...        give variables values (numbers, JSON arrays, @FILE)\n"
       "  :vars                     variables, shapes and values; the definitions\n"
       "  :load FILE                add the statements of an .expr file\n"
       "  :grad EXPR|NAME [wrt a,b] value and gradient (reverse mode)\n"
       "  :jvp EXPR|NAME NAME=VALUE... directional derivative (forward mode)\n"
       "  :jacobian EXPR|NAME [wrt a,b]   :hessian EXPR|NAME [wrt a,b]\n"
       "  :hvp EXPR|NAME [wrt a,b] NAME=VALUE...  Hessian times the vector NAME=VALUE...\n"
       "  :diff NAME wrt VAR        the derivative as an expression\n"
       "  :check EXPR|NAME          derivatives against finite differences\n"
       "  :trace NAME [wrt VAR]     the evaluation trace (forward and reverse tables);\n"
       "                            wrt x[1]: the tangent along one element of a tensor\n"
       "  :emit NAME                the C code   :dot NAME   the DAG in Graphviz\n"
       "  :time EXPR                compile and evaluation times\n"
       "  :quit");
}

/* Split "TARGET wrt a,b" into the target and the wrt list. */
static char *split_wrt(char *args, char **wrt) {
  *wrt = NULL;
  char *p = strstr(args, " wrt ");
  if (p) {
    *p = 0;
    *wrt = (char *)skip_space(p + 5);
    char *e = *wrt + strlen(*wrt);
    while (e > *wrt && (e[-1] == ' ' || e[-1] == '\t'))
      *--e = 0;
    int depth = 0; /* "a, b" -> "a,b" and "x[0, 1]" -> "x[0,1]"; "w extra" stays (an error) */
    for (char *c = *wrt; *c; c++) {
      depth += (*c == '[' || *c == '(') - ((*c == ']' || *c == ')') && depth > 0);
      if (*c == ' ' || *c == '\t') {
        char *n = c;
        while (*n == ' ' || *n == '\t')
          n++;
        if (depth > 0 || *n == ',' || (c > *wrt && c[-1] == ',')) {
          memmove(c, n, strlen(n) + 1);
          c--;
        }
      }
    }
  }
  char *e = args + strlen(args);
  while (e > args && (e[-1] == ' ' || e[-1] == '\t'))
    *--e = 0;
  return (char *)skip_space(args);
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static volatile sig_atomic_t interrupted; /* Ctrl-C was pressed (below) */

static int cmd_time(Repl *r, const char *expr) {
  const char *shown;
  char *extra = fmt("output _ = %s", expr);
  char *text = program(r, -1, NULL, 1, extra, NULL);
  free(extra);
  double t0 = now();
  Gradc *g = gradc_new();
  int tiered = !r->o->backend_given; /* and cc -O2 in the background (tiered.c) */
  gradc_set_backend(g, tiered ? GRADC_BACKEND_TIERED : r->o->backend);
  GradcStatus st = gradc_compile_string(g, "repl", text, strlen(text));
  double t1 = now();
  free(text);
  (void)shown;
  if (st != GRADC_OK) {
    show_errors(r, g, expr, -1);
    gradc_free(g);
    return 1;
  }
  if (set_values(r, g) < 0) {
    gradc_free(g);
    return 1;
  }
  GradcFn *fv = gradc_fn_value(g);
  double t2 = now();
  GradcFn *fg = fv ? gradc_fn_grad(g, NULL, 0) : NULL;
  double t3 = now();
  if (!fv || !fg) {
    fputs(gradc_diag_render(g), stderr);
    gradc_free(g);
    return 1;
  }
  double run[2];
  GradcFn *fs[2] = {fv, fg};
  for (int tier = 0; tier < 2; tier++) {
    if (tier == 1) { /* the same functions by cc -O2, when they are compiled */
      double w = now();
      GradcBackend bv = GRADC_BACKEND_TCC, bg = GRADC_BACKEND_TCC;
      while (tiered && !interrupted && /* Ctrl-C stops the wait */
             ((bv = gradc_fn_tier_wait(fv, 0.1)) == GRADC_BACKEND_TIERED ||
              (bg = gradc_fn_tier_wait(fg, 0.1)) == GRADC_BACKEND_TIERED))
        ;
      if (bv != GRADC_BACKEND_CC || bg != GRADC_BACKEND_CC)
        break;
      t1 = w, t2 = now();
    }
    for (int k = 0; k < 2; k++) {
      long reps = 0;
      double s = now();
      do {
        if (gradc_run(fs[k], NULL) != GRADC_OK) {
          fputs(gradc_diag_render(g), stderr);
          gradc_free(g);
          return 1;
        }
        reps++;
      } while (now() - s < 0.05);
      run[k] = (now() - s) / (double)reps;
    }
    if (tier == 0)
      printf("%d DAG nodes: parse and build %.2f ms; value: emit+JIT %.2f ms, run %.3g us; "
             "value+gradient: emit+JIT %.2f ms, run %.3g us (%ld and %ld operations)\n",
             gradc_node_count(g), 1e3 * (t1 - t0), 1e3 * (t2 - t1), 1e6 * run[0], 1e3 * (t3 - t2),
             1e6 * run[1], gradc_fn_op_count(fv), gradc_fn_op_count(fg));
    else
      printf("compiled by cc -O2 in the background (ready %.2f s later): value run %.3g us; "
             "value+gradient run %.3g us\n", t2 - t1, 1e6 * run[0], 1e6 * run[1]);
    fflush(stdout);
  }
  gradc_free(g);
  return 0;
}

static void add_stmt(Repl *r, int at, const Stmt *from) {
  char *nm;
  classify(from->text, &nm);
  if (at < r->n) {
    free(r->st[at].text);
    free(r->st[at].name);
    free(r->st[at].origin);
    free(r->st[at].src);
  } else {
    if (r->n == r->cap) {
      r->cap = r->cap ? 2 * r->cap : 16;
      r->st = realloc(r->st, (size_t)r->cap * sizeof *r->st);
      if (!r->st)
        exit(EXIT_INPUT);
    }
    at = r->n++;
  }
  r->st[at] = (Stmt){xstrdup(from->text), nm, xstrdup(from->origin), from->line, from->col,
                     from->prefix, from->src ? xstrdup(from->src) : NULL};
}

/* ---- `_`, and commands that Ctrl-C interrupts ---------------------------------------- */

static volatile sig_atomic_t interrupted; /* Ctrl-C was pressed */

static void on_sigint(int sig) {
  (void)sig;
  interrupted = 1;
}

/* Keep a copy of a value printed, as `_`. */
static void remember_last(Repl *r, const double *d, const long *dims, int rank) {
  long n = count(dims, rank);
  double *c = malloc((size_t)(n > 0 ? n : 1) * sizeof *c);
  if (!c)
    return;
  memcpy(c, d, (size_t)n * sizeof *c);
  free(r->last);
  r->last = c;
  memcpy(r->last_dims, dims, (size_t)rank * sizeof *dims);
  r->last_rank = rank;
  r->have_last++;
}

/* A number as a literal of the language that reads back as the same double. */
static void literal_num(Str *b, double x) {
  char t[40];
  if (isnan(x)) {
    str_add(b, "(0/0)");
    return;
  }
  if (isinf(x)) {
    str_add(b, x > 0 ? "(1/0)" : "(-1/0)");
    return;
  }
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(t, sizeof t, x < 0 ? "(%.*g)" : "%.*g", prec, x);
    if (strtod(t + (x < 0), NULL) == x)
      break;
  }
  str_add(b, t);
}

/* The last value as a literal: 2.5, or [[1, 2], [3, 4]]. */
static char *last_literal(const Repl *r) {
  Str b = {0};
  long n = count(r->last_dims, r->last_rank), stride[4];
  for (int k = r->last_rank - 1, m = 1; k >= 0; k--) {
    stride[k] = m;
    m *= (int)r->last_dims[k];
  }
  for (long e = 0; e < n; e++) {
    for (int k = 0; k < r->last_rank; k++) /* brackets that open here */
      if (e % (stride[k] * r->last_dims[k]) == 0)
        str_add(&b, "[");
    literal_num(&b, r->last[e]);
    for (int k = r->last_rank - 1; k >= 0; k--) /* and close */
      if ((e + 1) % (stride[k] * r->last_dims[k]) == 0)
        str_add(&b, "]");
    if (e + 1 < n)
      str_add(&b, ", ");
  }
  if (n == 0 && r->last_rank > 0)
    str_add(&b, "[]");
  return b.s ? b.s : xstrdup("0");
}

/* The input with each identifier `_` replaced by the last value printed
 * (as Python's `_`), or NULL when it has none, or the session defines or
 * sets `_` itself. */
static char *with_last(Repl *r, const char *text) {
  if (!r->have_last || !uses_name(text, "_"))
    return NULL;
  for (int i = 0; i < r->n; i++)
    if (r->st[i].name && !strcmp(r->st[i].name, "_"))
      return NULL;
  for (int i = 0; i < r->nset; i++)
    if (!strncmp(r->set[i], "_=", 2))
      return NULL;
  char *lit = last_literal(r);
  Str b = {0};
  const char *p = text, *id;
  size_t len;
  while (next_ident(&p, &id, &len)) {
    if (len != 1 || *id != '_')
      continue;
    char *before = fmt("%.*s", (int)(id - text), text);
    str_add(&b, before);
    free(before);
    str_add(&b, lit);
    text = p;
  }
  str_add(&b, text);
  free(lit);
  return b.s;
}

/* Comments blanked out in place, each from '#' to the end of its line
 * only (a statement open over several lines goes on after one), so that
 * columns stay and a ';' in a comment splits nothing. */
static void blank_comments(char *s) {
  for (int comment = 0; *s; s++) {
    if (*s == '#')
      comment = 1;
    else if (*s == '\n')
      comment = 0;
    if (comment)
      *s = ' ';
  }
}

/* Does a statement of the input typed define or declare `_` (the last
 * value printed)? Then its column in the input (1-based), else 0. */
static int defines_last(const char *in) {
  char *copy = xstrdup(in), *save;
  int col = 0;
  blank_comments(copy);
  for (char *part = strtok_r(copy, ";", &save); part && !col; part = strtok_r(NULL, ";", &save)) {
    char *nm;
    Kind k = classify(part, &nm);
    const char *at = NULL;
    if (k == K_DECL) { /* every name it declares */
      const char *body;
      Part parts[MAX_PARTS];
      int n = decl_parts(part, &body, parts);
      for (int q = 0; q < n && !at; q++) {
        const char *id, *p = parts[q].s;
        size_t len;
        if (next_ident(&p, &id, &len) && id < parts[q].e && len == 1 && *id == '_')
          at = id;
      }
    } else if (k != K_EXPR && nm && !strcmp(nm, "_")) { /* _ = ..., _(x) = ..., output _ = ... */
      const char *p = part, *id;
      size_t len;
      while (next_ident(&p, &id, &len) && !at)
        if (len == 1 && *id == '_')
          at = id;
    }
    if (at)
      col = (int)(at - copy) + 1;
    free(nm);
  }
  free(copy);
  return col;
}

typedef int (*Command)(Repl *r, void *arg);
static int set_words(Repl *r, char **words, int nw);

/* Forget the compiled contexts (and their JIT code). */
static void drop_cache(Repl *r) {
  for (int i = 0; i < NCACHE; i++) {
    free(r->cache[i].text);
    gradc_free(r->cache[i].g);
    r->cache[i] = (Cached){0};
  }
}

/* Run a command that computes (evaluation, derivatives, code): on a
 * terminal in a child process, so that Ctrl-C stops it and the session
 * goes on ("KeyboardInterrupt", as Python's REPL), with the value it
 * printed sent back for `_`. Without a terminal, in this process. */
static int interruptible(Repl *r, Command fn, void *arg) {
  if (!r->tty)
    return fn(r, arg);
  int fd[2];
  fflush(NULL);
  if (pipe(fd) < 0)
    return fn(r, arg);
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigprocmask(SIG_BLOCK, &block, &old); /* a Ctrl-C from now on stops the child */
  if (interrupted) { /* pressed while the line was being read in */
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(fd[0]);
    close(fd[1]);
    interrupted = 0;
    fputs("KeyboardInterrupt\n", stderr);
    return 0; /* stopped by the user: not a failure of the session */
  }
  pid_t pid = fork();
  if (pid < 0) {
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(fd[0]);
    close(fd[1]);
    return fn(r, arg);
  }
  if (pid == 0) {
    signal(SIGINT, SIG_DFL);
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(fd[0]);
    int seen = r->have_last, rc = fn(r, arg);
    fflush(NULL);
    if (r->have_last != seen) { /* rank, dimensions, numbers */
      long n = count(r->last_dims, r->last_rank);
      if (write(fd[1], &r->last_rank, sizeof r->last_rank) < 0 ||
          write(fd[1], r->last_dims, sizeof r->last_dims) < 0 ||
          write(fd[1], r->last, (size_t)n * sizeof *r->last) < 0)
        rc = 1;
    }
    close(fd[1]);
    drop_cache(r); /* the cc backend's temporary files */
    _exit(rc);
  }
  sigprocmask(SIG_SETMASK, &old, NULL);
  close(fd[1]);
  Str got = {0};
  size_t len = 0;
  for (;;) {
    char buf[4096];
    ssize_t k = read(fd[0], buf, sizeof buf);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      break;
    if (len + (size_t)k + 1 > got.cap) {
      got.cap = 2 * (len + (size_t)k) + 64;
      got.s = realloc(got.s, got.cap);
      if (!got.s)
        exit(EXIT_INPUT);
    }
    memcpy(got.s + len, buf, (size_t)k);
    len += (size_t)k;
  }
  close(fd[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  int rc;
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGINT) {
    fflush(stdout);
    fputs("\nKeyboardInterrupt\n", stderr);
    rc = 0; /* stopped by the user: not a failure (the session's exit status stays 0) */
  } else {
    rc = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    int rank;
    long dims[4];
    size_t head = sizeof rank + sizeof dims;
    if (len >= head) {
      memcpy(&rank, got.s, sizeof rank);
      memcpy(dims, got.s + sizeof rank, sizeof dims);
      if (rank >= 0 && rank <= 4 && len == head + (size_t)count(dims, rank) * sizeof(double))
        remember_last(r, (const double *)(void *)(got.s + head), dims, rank);
    }
  }
  interrupted = 0;
  free(got.s);
  return rc;
}

/* A bare expression: its value, kept as `_`. */
static int evaluate(Repl *r, void *arg) {
  const char *shown;
  Gradc *g = target_context(r, (const char *)arg, &shown);
  if (!g)
    return 1;
  Opts o = *r->o;
  const char *end;
  char *nm = name_at((const char *)arg, &end);
  if (nm && !*skip_space(end) && strcmp(nm, shown) && gradc_var_index(g, nm) >= 0)
    o.expr = nm; /* a variable: its own name, not f */
  Run run = {g, &o, gradc_var_count(g)};
  int rc = cmd_eval(&run);
  free(nm);
  GradcFn *fv = rc == 0 ? gradc_fn_value(g) : NULL;
  long dims[4];
  if (fv && gradc_fn_res_data(fv, 0)) {
    int rank = gradc_fn_res_shape(fv, 0, dims);
    remember_last(r, gradc_fn_res_data(fv, 0), dims, rank);
  }
  return rc;
}

/* NAME = NUMBER or a tensor literal, for a variable of the session: its
 * value, as :set gives it. 0: it is not that; else 1 + the exit code. */
/* Can nm be a name of the user's at all (not pi, e, sum, grad, true...)?
 * Asked of the compiler, which knows the reserved names. */
static int user_name(const Repl *r, const char *nm) {
  Gradc *g = gradc_new();
  if (!g)
    return 1;
  gradc_set_backend(g, r->o->backend);
  char *text = fmt("%s = 0\n%s\n", nm, nm);
  int ok = gradc_compile_string(g, "repl", text, strlen(text)) == GRADC_OK;
  free(text);
  gradc_free(g);
  return ok;
}

static int assign_value(Repl *r, const char *text, const char *nm) {
  if (!user_name(r, nm)) /* pi = 3: the statement's own error */
    return 0;
  const char *rhs = skip_space(strchr(text, '=') + 1);
  double x;
  char *v = xstrdup(rhs);
  char *e = v + strlen(v);
  while (e > v && strchr(" \t\r\n", e[-1]))
    *--e = 0;
  if (!parse_number(v, &x) && v[0] != '[') {
    free(v);
    return 0;
  }
  char *prog = program(r, -1, NULL, 1, "output _repl_ = 0", NULL);
  int ok;
  Gradc *g = context(r, prog, &ok);
  free(prog);
  if (g && ok && gradc_var_index(g, nm) < 0 && parse_number(v, &x)) {
    /* a name the session has nowhere, in a session without declarations:
     * a free variable (a scalar param, SPEC 1.3) with that value, for the
     * statements that use it from now on, as a value given in a file's
     * command line: grad(w^2, w) after w = 3 is 6 */
    int used = 0;
    for (int i = 0; i < r->n && !used; i++) {
      char *sn;
      used = classify(r->st[i].text, &sn) == K_DECL || uses_name(r->st[i].text, nm);
      free(sn);
    }
    if (!used) {
      char *word = fmt("%s=%s", nm, v);
      free(v);
      for (int i = 0; i < r->nset; i++) /* the new value replaces the old one */
        if (!strncmp(r->set[i], nm, strlen(nm)) && r->set[i][strlen(nm)] == '=') {
          free(r->set[i]);
          r->set[i] = word;
          return 1;
        }
      r->set = realloc(r->set, ((size_t)r->nset + 1) * sizeof *r->set);
      if (!r->set)
        exit(EXIT_INPUT);
      r->set[r->nset++] = word;
      return 1;
    }
  }
  if (!g || !ok || gradc_var_index(g, nm) < 0) {
    free(v);
    return 0;
  }
  for (int i = 0; i < r->n; i++) { /* a definition of that name is redefined instead */
    char *sn;
    Kind k = classify(r->st[i].text, &sn);
    int def = k != K_DECL && sn && !strcmp(sn, nm);
    free(sn);
    if (def) {
      free(v);
      return 0;
    }
  }
  char *word = fmt("%s=%s", nm, v);
  free(v);
  int rc = set_words(r, &word, 1);
  free(word);
  return 1 + rc;
}

/* A statement: check the session with it, then keep it. */
/* The first declaration of a session that has free variables (`w = 3`,
 * `f = w^2`: scalar params, SPEC 1.3, allowed only in a program without
 * declarations): they become declared scalar params, `param w`, added
 * before it, keeping their values, so that the session goes on as typed.
 * 1 if the declaration was added so, 0 to add it as any statement. */
static int declare_free_variables(Repl *r, const char *text, const char *origin, int line) {
  for (int i = 0; i < r->n; i++) {
    char *sn;
    Kind k = classify(r->st[i].text, &sn);
    free(sn);
    if (k == K_DECL)
      return 0;
  }
  Str decl = {0};
  char *prog = program(r, -1, NULL, 1, "output _repl_ = 0", NULL);
  Gradc *g = gradc_new();
  if (g && gradc_compile_string(g, origin, prog, strlen(prog)) == GRADC_OK)
    for (int v = 0; v < gradc_var_count(g); v++) {
      const char *nm = gradc_var_name(g, v);
      if (uses_name(text, nm)) /* the new declaration declares (or uses) it itself */
        continue;
      str_add(&decl, decl.s ? ", " : "param ");
      str_add(&decl, nm);
    }
  for (int i = 0; i < r->nset && !decl.s; i++) { /* w = 3 that nothing uses yet */
    char *nm = xstrdup(r->set[i]);
    *strchr(nm, '=') = 0;
    if (!uses_name(text, nm)) {
      str_add(&decl, "param ");
      str_add(&decl, nm);
    }
    free(nm);
  }
  for (int i = 0; i < r->nset && decl.s; i++) { /* the others not yet in the list */
    char *nm = xstrdup(r->set[i]);
    *strchr(nm, '=') = 0;
    if (!uses_name(text, nm) && !uses_name(decl.s, nm)) {
      str_add(&decl, ", ");
      str_add(&decl, nm);
    }
    free(nm);
  }
  gradc_free(g);
  free(prog);
  if (!decl.s)
    return 0;
  char *extra = fmt("%s\n%s\noutput _repl_ = 0", decl.s, text);
  prog = program(r, -1, NULL, 1, extra, NULL);
  free(extra);
  g = gradc_new();
  int ok = g && gradc_compile_string(g, origin, prog, strlen(prog)) == GRADC_OK;
  gradc_free(g);
  free(prog);
  if (ok) {
    add_stmt(r, r->n, &(Stmt){decl.s, NULL, (char *)origin, line, 0, 0, NULL});
    add_stmt(r, r->n, &(Stmt){(char *)text, NULL, (char *)origin, line, 0, 0, NULL});
  }
  free(decl.s);
  return ok;
}

static int statement(Repl *r, const char *text, const char *origin, int line) {
  r->prefix = 0;
  char *nm;
  Kind k = classify(text, &nm);
  int at = r->n;
  for (int i = 0; nm && i < r->n; i++)
    if (r->st[i].name && !strcmp(r->st[i].name, nm))
      at = i; /* a redefinition replaces it in place */
  if (k == K_DEF) {
    int set = assign_value(r, text, nm);
    if (set) {
      free(nm);
      return set - 1;
    }
  }
  free(nm);
  if (k == K_EXPR)
    return interruptible(r, evaluate, (void *)text);
  if (k == K_DECL && at == r->n && declare_free_variables(r, text, origin, line))
    return 0;
  char *prog = program(r, at < r->n ? at : -1, text, 1, at < r->n ? "output _repl_ = 0" : NULL, NULL);
  if (at == r->n) { /* new: append it, and an output so that any session compiles */
    free(prog);
    char *extra = fmt("%s\noutput _repl_ = 0", text);
    prog = program(r, -1, NULL, 1, extra, NULL);
    free(extra);
  }
  Gradc *g = gradc_new();
  GradcStatus st = gradc_compile_string(g, origin, prog, strlen(prog));
  free(prog);
  if (st != GRADC_OK) {
    show_errors(r, g, text, at < r->n ? at : -1);
    gradc_free(g);
    return 1;
  }
  gradc_free(g);
  add_stmt(r, at, &(Stmt){(char *)text, NULL, (char *)origin, line, 0, 0, NULL});
  return 0;
}

/* Data paths in a loaded file are relative to it: "= @iris.csv" in
 * examples/x.expr becomes "= @examples/iris.csv" in the session. */
static char *rebase(const char *text, const char *file) {
  const char *slash = strrchr(file, '/');
  Str b = {0};
  for (const char *s = text; *s; s++) {
    char c[2] = {*s, 0};
    str_add(&b, c);
    if (*s == '=' && s[1] != '=') {
      const char *t = skip_space(s + 1);
      if (*t == '@' && t[1] != '/' && slash) {
        str_add(&b, " @");
        char *dir = fmt("%.*s/", (int)(slash - file), file);
        str_add(&b, dir);
        free(dir);
        s = t;
      }
    }
  }
  return b.s ? b.s : xstrdup("");
}

/* :load FILE: its statements join the session together, or not at all. */
static int load(Repl *r, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "repl: error: cannot open %s: %s\n", path, strerror(errno));
    return 1;
  }
  char *data = NULL; /* read whole first: a directory or a binary file is one error, as in the CLI */
  size_t len = 0, cap = 0, got;
  static char chunk[65536];
  const size_t max_source = (size_t)1 << 28; /* as gradc_compile_file: /dev/urandom is no source */
  while (len <= max_source && (got = fread(chunk, 1, sizeof chunk, f)) > 0) {
    if (len + got + 1 > cap) {
      cap = 2 * (len + got) + 1;
      data = realloc(data, cap);
      if (!data)
        exit(EXIT_INPUT);
    }
    memcpy(data + len, chunk, got);
    len += got;
  }
  int err = ferror(f) ? errno : 0;
  fclose(f);
  if (len > max_source) {
    fprintf(stderr, "repl: error: %s is larger than 256 MiB: not a source file\n", path);
    free(data);
    return 1;
  }
  if (err) {
    fprintf(stderr, "repl: error: cannot read %s: %s\n", path, strerror(err));
    free(data);
    return 1;
  }
  if (len >= 3 && !memcmp(data, "\xef\xbb\xbf", 3)) { /* a UTF-8 byte-order mark, as gradc_compile_string */
    memmove(data, data + 3, len - 3);
    len -= 3;
  }
  Gradc *check = gradc_new();
  if (check && gradc_compile_string(check, path, data ? data : "", len) != GRADC_OK &&
      !strncmp(gradc_diag_message(check, 0), "this is not a text file", 23)) {
    fputs(gradc_diag_render(check), stderr);
    gradc_free(check);
    free(data);
    return 1;
  }
  gradc_free(check);
  f = len ? fmemopen(data, len, "r") : fopen("/dev/null", "r");
  if (!f) {
    free(data);
    return 1;
  }
  char *line = NULL, *acc = NULL, *raw = NULL;
  size_t linecap = 0;
  int lineno = 0, first = 0;
  Stmt *add = NULL;
  int nadd = 0;
  while (getline(&line, &linecap, f) >= 0) {
    lineno++;
    line[strcspn(line, "\r\n")] = 0;
    char *joined = raw ? fmt("%s\n%s", raw, line) : xstrdup(line);
    free(raw);
    raw = joined;
    line[strcspn(line, "#")] = 0; /* a comment ends at the end of its line */
    joined = acc ? fmt("%s\n%s", acc, line) : xstrdup(line);
    free(acc);
    acc = joined;
    if (!first)
      first = lineno;
    if (continues(acc))
      continue;
    /* statements end at ';' too; each keeps where it starts in the file
     * (line, column) and the lines it spans as written, for its errors */
    for (const char *part = acc; *part;) {
      size_t n = strcspn(part, ";");
      const char *p0 = part, *e = part + n;
      part = *e ? e + 1 : e;
      while (p0 < e && strchr(" \t\n", *p0))
        p0++;
      if (p0 == e)
        continue;
      int ln = 0; /* p0's line within acc, and where that line starts */
      const char *bol = acc;
      for (const char *c = acc; c < p0; c++)
        if (*c == '\n') {
          ln++;
          bol = c + 1;
        }
      int nl = 0;
      for (const char *c = p0; c < e; c++)
        nl += *c == '\n';
      const char *rs = raw; /* the same lines of raw */
      for (int k = 0; k < ln && strchr(rs, '\n'); k++)
        rs = strchr(rs, '\n') + 1;
      const char *re = rs;
      for (int q = 0;; q++) {
        re += strcspn(re, "\n");
        if (q == nl || !*re)
          break;
        re++;
      }
      add = realloc(add, ((size_t)nadd + 1) * sizeof *add);
      if (!add)
        exit(EXIT_INPUT);
      char *text = fmt("%.*s", (int)(e - p0), p0), *nm;
      Kind k = classify(text, &nm);
      free(nm);
      int col = (int)(p0 - bol), prefix = 0;
      if (k == K_EXPR) { /* as in a file: a bare expression is the output f */
        char *t = fmt("f = %s", text);
        free(text);
        text = t;
        prefix = 4;
      } else {
        char *t = rebase(text, path);
        free(text);
        text = t;
      }
      add[nadd++] = (Stmt){text, NULL, xstrdup(path), first + ln, col, prefix,
                           fmt("%.*s", (int)(re - rs), rs)};
    }
    free(acc);
    free(raw);
    acc = raw = NULL;
    first = 0;
  }
  free(raw);
  free(line);
  free(acc);
  fclose(f);
  free(data);
  /* SPEC 1.3, 2.4: a statement that defines or declares a name the session
   * has replaces it in place (the first of the file's, as statement() does;
   * a second one in the file is an error as in a file); the others follow
   * the session's. `slot[k]`: the session statement add[k] replaces, or -1. */
  int *slot = malloc(((size_t)nadd + 1) * sizeof *slot);
  const char **piece = malloc(((size_t)r->n + (size_t)nadd + 1) * sizeof *piece);
  int *from = malloc(((size_t)r->n + (size_t)nadd + 1) * sizeof *from); /* -1 - k: add[k]; else st[i] */
  if (!slot || !piece || !from)
    exit(EXIT_INPUT);
  for (int k = 0; k < nadd; k++) {
    char *nm;
    classify(add[k].text, &nm);
    slot[k] = -1;
    for (int i = 0; nm && i < r->n && slot[k] < 0; i++)
      if (r->st[i].name && !strcmp(r->st[i].name, nm))
        slot[k] = i;
    for (int q = 0; q < k && slot[k] >= 0; q++)
      if (slot[q] == slot[k])
        slot[k] = -1;
    free(nm);
  }
  int npiece = 0;
  for (int i = 0; i < r->n; i++) {
    int k = 0;
    while (k < nadd && slot[k] != i)
      k++;
    from[npiece] = k < nadd ? -1 - k : i;
    piece[npiece++] = k < nadd ? add[k].text : r->st[i].text;
  }
  for (int k = 0; k < nadd; k++)
    if (slot[k] < 0) {
      from[npiece] = -1 - k;
      piece[npiece++] = add[k].text;
    }
  Str all = {0};
  for (int q = 0; q < npiece; q++) {
    char *nm;
    const char *t = piece[q];
    if (classify(t, &nm) == K_OUTPUT) /* output L = ... -> L = ..., as program() does */
      str_add_plain(&all, t);
    else
      str_add(&all, t);
    free(nm);
    str_add(&all, "\n");
  }
  str_add(&all, "output _repl_ = 0");
  Gradc *g = gradc_new();
  int bad = gradc_compile_string(g, path, all.s, strlen(all.s)) != GRADC_OK;
  if (bad) /* show each error at its statement, in the file or in the session */
    for (int i = 0; i < gradc_diag_count(g); i++) {
      int l = gradc_diag_line(g, i), at = 1, q = 0;
      for (; q < npiece; q++) {
        int nl = 1;
        for (const char *c = piece[q]; *c; c++)
          nl += *c == '\n';
        if (l < at + nl)
          break;
        at += nl;
      }
      if (diag_elsewhere(g, i))
        continue;
      char *msg = diag_msg(g, i);
      if (l < 1 || q >= npiece)
        fprintf(stderr, "%s: error: %s\n", path, msg);
      else
        print_error_in(from[q] < 0 ? &add[-1 - from[q]] : &r->st[from[q]], piece[q], l - at,
                       gradc_diag_col(g, i), msg);
      free(msg);
    }
  gradc_free(g);
  free(all.s);
  for (int k = 0; k < nadd; k++) {
    if (!bad)
      add_stmt(r, slot[k] >= 0 ? slot[k] : r->n, &add[k]);
    free(add[k].text);
    free(add[k].origin);
    free(add[k].src);
  }
  free(slot);
  free(piece);
  free(from);
  free(add);
  return bad;
}

/* Split at blanks outside brackets: NAME=[1, 2] is one word. */
static int split_words(char *s, char **words, int max) {
  int n = 0;
  while (*s && n < max) {
    while (*s == ' ' || *s == '\t')
      *s++ = 0;
    if (!*s)
      break;
    words[n++] = s;
    int depth = 0;
    while (*s && (depth > 0 || (*s != ' ' && *s != '\t'))) {
      if (*s == '[' || *s == '(')
        depth++;
      else if ((*s == ']' || *s == ')') && depth > 0)
        depth--;
      s++;
    }
  }
  return n;
}

/* :set NAME=VALUE... (and NAME = VALUE): each name must be a variable of
 * the session, and the value one that it can take; a later value of a
 * name replaces the earlier one. */
/* Did NAME = NUMBER give the free variable nm its value (r->set has it)? */
static int given_free(const Repl *r, const char *nm) {
  size_t n = strlen(nm);
  for (int i = 0; i < r->nset; i++)
    if (!strncmp(r->set[i], nm, n) && r->set[i][n] == '=')
      return 1;
  return 0;
}

static int set_words(Repl *r, char **words, int nw) {
  char *text = program(r, -1, NULL, 1, "output _repl_ = 0", NULL);
  int ok, bad = 0;
  Gradc *g = context(r, text, &ok);
  free(text);
  if (!g || !ok)
    return 1;
  for (int q = 0; q < nw; q++) {
    char *w = words[q], *eq = strchr(w, '=');
    if (!eq || eq == w || !is_name_char(w[0], 1)) {
      fprintf(stderr, "repl: error: :set takes NAME=VALUE words, not '%s'\n", w);
      bad = 1;
      continue;
    }
    int twice = 0; /* :set w=1 w=2: one value each, not the last one silently */
    for (int u = 0; u < q && !twice; u++)
      twice = !strncmp(words[u], w, (size_t)(eq - w) + 1);
    if (twice) {
      fprintf(stderr, "repl: error: :set gives %.*s two values: give it one\n", (int)(eq - w), w);
      bad = 1;
      continue;
    }
    *eq = 0;
    int defined = 0; /* a definition has no value to set */
    for (int i = 0; i < r->n && !defined; i++) {
      char *nm;
      Kind k = classify(r->st[i].text, &nm);
      if ((k == K_DEF || k == K_OUTPUT || k == K_FUNC) && nm && !strcmp(w, nm))
        defined = k == K_FUNC ? 2 : 1;
      free(nm);
    }
    double x;
    if (defined) {
      fprintf(stderr, "repl: error: '%s' is %s in the session; :set gives values to variables\n", w,
              defined == 2 ? "a function" : "defined");
    } else if (gradc_var_index(g, w) < 0 && given_free(r, w)) {
      /* a free variable that w = 2 gave a value, which no statement uses yet */
      if (parse_number(eq + 1, &x)) {
        *eq = '=';
        continue;
      }
      fprintf(stderr, "repl: error: '%s' is a free variable, a scalar: :set %s=NUMBER\n", w, w);
    } else if (gradc_var_index(g, w) < 0) {
      const char *hint = gradc_var_suggest(g, w);
      fprintf(stderr, "repl: error: the session has no variable '%s'%s%s%s\n", w,
              hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
    } else if (gradc_set_value_text(g, w, eq + 1) != GRADC_OK) {
      for (int i = 0; i < gradc_diag_count(g); i++)
        fprintf(stderr, "repl: error: %s\n", gradc_diag_message(g, i));
      gradc_diag_clear(g);
    } else {
      *eq = '=';
      continue;
    }
    *eq = '=';
    bad = 1;
  }
  for (int q = 0; q < nw && !bad; q++) { /* all of them or none */
    char *w = words[q], *eq = strchr(w, '=');
    for (int i = 0; i < r->nset; i++) /* the new value replaces the old one */
      if (!strncmp(r->set[i], w, (size_t)(eq - w) + 1)) {
        free(r->set[i]);
        memmove(&r->set[i], &r->set[i + 1], (size_t)(r->nset - i - 1) * sizeof *r->set);
        r->nset--;
        break;
      }
    r->set = realloc(r->set, ((size_t)r->nset + 1) * sizeof *r->set);
    if (!r->set)
      exit(EXIT_INPUT);
    r->set[r->nset++] = xstrdup(w);
  }
  return bad;
}

typedef struct TargetCmd {
  const char *cmd;
  char *args;
} TargetCmd;
static int target_command(Repl *r, void *arg);

static int timing(Repl *r, void *expr) { return cmd_time(r, expr); }

static int command(Repl *r, char *line) {
  char *args = line;
  while (*args && !strchr(" \t;#", *args)) /* :vars; and :vars# end the name too */
    args++;
  char end = *args;
  if (end)
    *args++ = 0;
  if (end == '#') /* the rest is a comment */
    args += strlen(args);
  args = (char *)skip_space(args);
  /* the arguments end at a comment; a ';' or blanks after them are not part
   * of them (nor of the label of an expression) */
  args[strcspn(args, "#")] = 0;
  for (size_t n = strlen(args); n && strchr(" \t\r;", args[n - 1]); n--)
    args[n - 1] = 0;
  const char *cmd = line;
  int known = !strcmp(cmd, ":q");
  for (int i = 0; commands[i]; i++)
    known |= !strcmp(cmd, commands[i]);
  if (!known) {
    int nc = 0;
    while (commands[nc])
      nc++;
    const char *hint = gradc_closest(cmd, commands, nc);
    if (hint)
      fprintf(stderr, "repl: error: unknown command %s (did you mean %s?)\n", cmd, hint);
    else
      fprintf(stderr, "repl: error: unknown command %s (:help lists them)\n", cmd);
    return 1;
  }
  if (*args && (!strcmp(cmd, ":help") || !strcmp(cmd, ":quit") || !strcmp(cmd, ":q") ||
                !strcmp(cmd, ":vars"))) { /* as the command line: a word too many is an error */
    fprintf(stderr, "repl: error: %s takes no arguments, not '%s'\n", cmd, args);
    return 1;
  }
  if (r->line_text) /* where the arguments start in the line typed */
    r->coloff = (int)(args - line) + (int)(skip_space(r->line_text) - r->line_text);
  if (!strcmp(cmd, ":help")) {
    help();
    return 0;
  }
  if (!strcmp(cmd, ":quit") || !strcmp(cmd, ":q"))
    return -1;
  if (!strcmp(cmd, ":load") && !*args) {
    fprintf(stderr, "repl: error: :load FILE\n");
    return 1;
  }
  if (!strcmp(cmd, ":load"))
    return load(r, args);
  if (!strcmp(cmd, ":set")) {
    char *words[256];
    int nw = split_words(args, words, 256);
    if (nw == 0) {
      fprintf(stderr, "repl: error: :set NAME=VALUE...\n");
      return 1;
    }
    return set_words(r, words, nw);
  }
  if (!strcmp(cmd, ":vars")) {
    char *text = program(r, -1, NULL, 1, "output _repl_ = 0", NULL);
    int ok;
    Gradc *g = context(r, text, &ok);
    free(text);
    if (!g || !ok)
      return 1;
    for (int i = 0; i < r->nset; i++) { /* what has a value is shown with it */
      char *eq = strchr(r->set[i], '=');
      *eq = 0;
      if (gradc_var_index(g, r->set[i]) >= 0)
        gradc_set_value_text(g, r->set[i], eq + 1);
      *eq = '=';
    }
    gradc_set_defaults(g, r->o->seed, 0);
    for (int i = 0; i < gradc_var_count(g); i++) {
      long dims[4];
      int rank;
      const double *v = gradc_get_value(g, i, dims, &rank);
      long sd[4];
      int srank = gradc_var_shape(g, i, sd);
      printf("%s %s", gradc_var_is_param(g, i) ? "param" : "input", gradc_var_name(g, i));
      for (int k = 0; k < srank; k++)
        if (sd[k] < 0)
          printf("%s%s%s", k ? ", " : "[", gradc_dim_name(g, (int)~sd[k]), k + 1 == srank ? "]" : "");
        else
          printf("%s%ld%s", k ? ", " : "[", sd[k], k + 1 == srank ? "]" : "");
      long n = 1;
      for (int k = 0; v && k < rank; k++)
        n *= dims[k];
      if (v && n > 12) { /* a summary of a large tensor */
        printf("  = [");
        for (int k = 0; k < 6; k++) {
          print_short(v[k]);
          printf(", ");
        }
        printf("...] (%ld values)\n", n);
      } else if (v) {
        print_named("", v, dims, rank);
      } else {
        printf("  (no value)\n");
      }
    }
    for (int i = 0; i < r->nset; i++) { /* free variables given a value that nothing uses yet */
      char *eq = strchr(r->set[i], '='), *nm = fmt("%.*s", (int)(eq - r->set[i]), r->set[i]);
      int known = gradc_var_index(g, nm) >= 0;
      for (int k = 0; k < r->n && !known; k++)
        known = r->st[k].name && !strcmp(r->st[k].name, nm);
      if (!known)
        printf("param %s = %s\n", nm, eq + 1);
      free(nm);
    }
    for (int i = 0; i < r->n; i++) { /* then the definitions and functions, as defined */
      char *nm;
      if (classify(r->st[i].text, &nm) != K_DECL)
        printf("%s\n", skip_space(r->st[i].text));
      free(nm);
    }
    return 0;
  }
  if (!strcmp(cmd, ":time"))
    return *args ? interruptible(r, timing, args) : (fprintf(stderr, "repl: error: :time EXPR\n"), 1);
  return interruptible(r, target_command, &(TargetCmd){cmd, args});
}

/* Are the names that start the words of `list` (NAME=VALUE words, a wrt
 * list a,b or x[1]) variables of the session? Else an error in the REPL's
 * words with a hint, and -1. */
static int check_vars(Repl *r, const char *what, const char *list, const char *target) {
  char *text = program(r, -1, NULL, 1, "output _repl_ = 0", NULL);
  int ok, rc = 0;
  Gradc *g = context(r, text, &ok);
  free(text);
  if (!g || !ok)
    return -1;
  char *copy = xstrdup(list), *words[256];
  for (char *c = copy; *c; c++)
    if (*c == ',' || *c == '=')
      *c = ' ';
  int nw = split_words(copy, words, 256);
  for (int q = 0; q < nw; q++) {
    const char *end;
    char *nm = name_at(words[q], &end);
    if (nm && words[q][strspn(words[q], "_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")] != '[' &&
        end != words[q] + strlen(words[q])) { /* a value between the names: not a name */
      free(nm);
      continue;
    }
    int given = 0; /* a free name of the target, or one given a value (w = 3) */
    for (int i = 0; nm && i < r->nset && !given; i++)
      given = !strncmp(r->set[i], nm, strlen(nm)) && r->set[i][strlen(nm)] == '=';
    if (nm && gradc_var_index(g, nm) < 0 && !given && !uses_name(target, nm)) {
      const char *hint = gradc_var_suggest(g, nm);
      fprintf(stderr, "repl: error: %s: the session has no variable '%s'%s%s%s\n", what, nm,
              hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
      rc = -1;
    }
    free(nm);
  }
  free(copy);
  return rc;
}

/* Is a wrt list one list (names and elements separated by commas)? Else
 * an error naming it. */
static int wrt_is_list(const char *cmd, const char *wrt) {
  if (!wrt || !strpbrk(wrt, " \t"))
    return 1;
  fprintf(stderr, "repl: error: %s ... wrt takes names separated by commas, not '%s'\n", cmd, wrt);
  return 0;
}

/* A target that is one name must be a definition, an output or a variable
 * of the session (or a value given to a free name); else an error with a
 * hint, and 0. */
static int target_known(Repl *r, const char *cmd, const char *target) {
  const char *end;
  char *nm = name_at(target, &end);
  if (!nm || *skip_space(end) || !strcmp(nm, "pi") || !strcmp(nm, "e") || !strcmp(nm, "true") ||
      !strcmp(nm, "false")) {
    free(nm);
    return 1;
  }
  int known = 0;
  for (int i = 0; i < r->n && !known; i++)
    known = r->st[i].name && !strcmp(r->st[i].name, nm);
  for (int i = 0; i < r->nset && !known; i++)
    known = !strncmp(r->set[i], nm, strlen(nm)) && r->set[i][strlen(nm)] == '=';
  char *text = program(r, -1, NULL, 1, "output _repl_ = 0", NULL);
  int ok;
  Gradc *g = known ? NULL : context(r, text, &ok);
  free(text);
  if (g && ok && !known) {
    known = gradc_var_index(g, nm) >= 0;
    if (!known) {
      const char *hint = gradc_var_suggest(g, nm);
      fprintf(stderr, "repl: error: %s: the session has no definition or variable '%s'%s%s%s\n", cmd, nm,
              hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
    }
  }
  free(nm);
  return known || !g || !ok;
}

/* :diff of each name of wrt: the derivative as text; a variable of the
 * session that the target does not use gets a zero of its shape. `label`
 * replaces the output's name in "dNAME/dVAR" (an expression: "(f*f)"). */
static int diff_each(Repl *r, Gradc *g, const char *shown, const char *label, const char *wrtlist) {
  char *list = xstrdup(wrtlist), *save;
  int rc = 0;
  Names seen = {0};
  for (char *w = strtok_r(list, ",", &save); w && rc == 0; w = strtok_r(NULL, ",", &save)) {
    if (names_has(&seen, w, strlen(w))) { /* as parse_wrt says it, before printing any */
      fprintf(stderr, "repl: error: wrt names '%s' twice\n", w);
      rc = 1;
    }
    names_add(&seen, w, strlen(w));
  }
  names_free(&seen);
  free(list);
  list = xstrdup(wrtlist);
  for (char *w = strtok_r(list, ",", &save); w && rc == 0; w = strtok_r(NULL, ",", &save)) {
    if (gradc_var_index(g, w) < 0) { /* check_vars found it in the session */
      char *text = program(r, -1, NULL, 1, "output _repl_ = 0", NULL);
      Gradc *sg = gradc_new(); /* not context(): that could drop g from the cache */
      long dims[4];
      int rank = sg && gradc_compile_string(sg, "repl", text, strlen(text)) == GRADC_OK && gradc_var_index(sg, w) >= 0
                     ? gradc_var_shape(sg, gradc_var_index(sg, w), dims)
                     : 0;
      gradc_free(sg);
      free(text);
      printf(rank ? "d%s/d%s = 0*%s^0\n" : "d%s/d%s = 0\n", label, w, w);
      continue;
    }
    int *wrt = NULL, nwrt = 0;
    if (parse_wrt(g, "repl", w, &wrt, &nwrt) < 0) {
      free(wrt);
      rc = 1;
      break;
    }
    for (int i = 0; i < r->n && nwrt; i++) /* let lines take no name of the session */
      if (r->st[i].name && gradc_diff_avoid(g, (const char *const *)&r->st[i].name, 1) != GRADC_OK)
        exit(EXIT_INPUT);
    for (int i = 0; i < r->nset && nwrt; i++) { /* nor a free variable's (w = 3) */
      char *nm = xstrdup(r->set[i]);
      *strchr(nm, '=') = 0;
      if (gradc_diff_avoid(g, (const char *const *)&nm, 1) != GRADC_OK)
        exit(EXIT_INPUT);
      free(nm);
    }
    for (int k = 0; k < nwrt && rc == 0; k++) {
      char *text = NULL;
      if (gradc_diff_text(g, 0, wrt[k], &text) != GRADC_OK) {
        rc = report(g);
        break;
      }
      char *head = fmt("d%s/d%s = ", shown, gradc_var_name(g, wrt[k]));
      for (char *line = text; line && *line;) { /* "let ..." lines as they are */
        char *nl = strchr(line, '\n');
        if (!strncmp(line, head, strlen(head)))
          printf("d%s/d%s = %.*s\n", label, gradc_var_name(g, wrt[k]),
                 (int)(nl ? nl - line - (long)strlen(head) : (long)strlen(line + strlen(head))), line + strlen(head));
        else
          printf("%.*s\n", nl ? (int)(nl - line) : (int)strlen(line), line);
        line = nl ? nl + 1 : NULL;
      }
      free(head);
      free(text);
    }
    free(wrt);
  }
  free(list);
  return rc;
}

/* An expression as the target (not a name, shown as the output `shown`):
 * its value and derivatives are printed as EXPR and d(EXPR)/dw, not as
 * f or d_/dw (*keep: the strings, freed by the caller). */
static void label_expr(Opts *o, const char *shown, const char *target, char **keep) {
  size_t n = strlen(target);
  while (n && (target[n - 1] == ' ' || target[n - 1] == '\t'))
    n--;
  if (!strncmp(shown, target, n) && !shown[n])
    return;
  free(*keep);
  *keep = fmt("%.*s%c(%.*s)", (int)n, target, 0, (int)n, target);
  o->expr = *keep;
  o->expr_d = *keep + n + 1;
}

static int target_command_labelled(Repl *r, void *arg, char **keep);

/* A command that acts on a target: a name or an expression. */
static int target_command(Repl *r, void *arg) {
  char *keep = NULL;
  int rc = target_command_labelled(r, arg, &keep);
  free(keep);
  return rc;
}

static int target_command_labelled(Repl *r, void *arg, char **keep) {
  const TargetCmd *tc = arg;
  const char *cmd = tc->cmd;
  char *args = tc->args;
  Opts o = *r->o;
  char *wrtlist, *target;
  int hvp = !strcmp(cmd, ":hvp");
  if (!strcmp(cmd, ":jvp") || hvp) { /* :jvp TARGET NAME=VALUE..., :hvp TARGET [wrt a,b] NAME=VALUE... */
    char *words[64];
    char *p = args, *tstart = args;
    /* the direction's words are the trailing NAME=VALUE words */
    char *copy = xstrdup(args);
    int nw = split_words(copy, words, 64);
    int first = nw;
    while (first > 0 && strchr(words[first - 1], '=') && words[first - 1][0] != '=' &&
           is_name_char(words[first - 1][0], 1))
      first--;
    if (first == nw) {
      fprintf(stderr, "repl: error: %s EXPR|NAME %sNAME=VALUE...\n", cmd, hvp ? "[wrt a,b] " : "");
      free(copy);
      return 1;
    }
    /* the target is the text before the first word of the direction */
    p = args + (words[first] - copy);
    *p = 0;
    target = split_wrt(tstart, &wrtlist);
    if (hvp) {
      o.vector = &words[first];
      o.nvector = nw - first;
    } else {
      o.tangent = &words[first];
      o.ntangent = nw - first;
    }
    const char *shown;
    Str names = {0}; /* the tangents' variables join the program */
    Gradc *g = NULL;
    for (int q = first; q < nw; q++) { /* NAME=VALUE: the names */
      char *nm = name_at(words[q], NULL);
      str_add(&names, nm ? nm : "");
      str_add(&names, " ");
      free(nm);
    }
    if (check_vars(r, hvp ? ":hvp" : ":jvp", names.s, target) == 0)
      g = target_context_for(r, target, names.s, 1, &shown);
    free(names.s);
    int rc = 1;
    if (g) {
      label_expr(&o, shown, target, keep);
      Run run = {g, &o, gradc_var_count(g)};
      int *wrt, nwrt;
      if (parse_wrt(g, "repl", hvp ? wrtlist : NULL, &wrt, &nwrt) == 0) {
        int *w2 = realloc(wrt, ((size_t)nwrt + (size_t)o.ntangent + 1) * sizeof *w2);
        rc = !w2 ? 1 : hvp ? cmd_hvp(&run, w2, nwrt) : cmd_jvp(&run, w2, nwrt);
        free(w2 ? w2 : wrt);
      } else {
        free(wrt);
      }
    }
    free(copy);
    return rc;
  }
  target = split_wrt(args, &wrtlist);
  r->coloff += (int)(target - args);
  if (!*target) {
    fprintf(stderr, "repl: error: %s needs a name or an expression\n", cmd);
    return 1;
  }
  if (!wrt_is_list(cmd, wrtlist) || !target_known(r, cmd, target))
    return 1;
  const char *shown;
  /* :diff, :emit and :dot need no values */
  int values = strcmp(cmd, ":diff") && strcmp(cmd, ":emit") && strcmp(cmd, ":dot");
  char *also = wrtlist ? xstrdup(wrtlist) : NULL;
  for (char *c = also; c && *c; c++) /* "a,b" and "x[1]": the names */
    if (!is_name_char(*c, 0))
      *c = ' ';
  char *what = fmt("%s ... wrt %s", cmd, wrtlist ? wrtlist : "");
  Gradc *g = wrtlist && check_vars(r, what, wrtlist, target) < 0 ? NULL : target_context_for(r, target, also, values, &shown);
  free(what);
  free(also);
  if (!g)
    return 1;
  label_expr(&o, shown, target, keep);
  Run run = {g, &o, gradc_var_count(g)};
  if (!strcmp(cmd, ":emit")) {
    o.file = "repl.expr";
    o.prefix = "repl";
    return cmd_emit(&run);
  }
  if (!strcmp(cmd, ":dot"))
    return cmd_dot(&run);
  int *wrt = NULL, nwrt = 0, rc = 1;
  if (!strcmp(cmd, ":diff") || !strcmp(cmd, ":trace")) {
    if (!strcmp(cmd, ":diff") && !wrtlist) {
      fprintf(stderr, "repl: error: :diff NAME wrt VAR\n");
      return 1;
    }
    /* :trace reads its own wrt (an element: x[1]); :diff each name (diff_each) */
    if (!strcmp(cmd, ":trace") && parse_wrt(g, "repl", NULL, &wrt, &nwrt) < 0) {
      free(wrt);
      return 1;
    }
    if (!strcmp(cmd, ":trace")) {
      o.wrt = wrtlist;
      rc = cmd_trace(&run, wrt, nwrt);
    } else if (!is_scalar_output(g, 0)) {
      fprintf(stderr, "repl: error: :diff needs a scalar: %s is a tensor (:diff sum(%s) wrt ...)\n", shown, shown);
      rc = 1;
    } else {
      char *label = strcmp(shown, target) ? fmt("(%s)", target) : xstrdup(shown);
      rc = diff_each(r, g, shown, label, wrtlist);
      free(label);
    }
    free(wrt);
    return rc;
  }
  if (parse_wrt(g, "repl", wrtlist, &wrt, &nwrt) < 0) {
    free(wrt);
    return 1;
  }
  if (!strcmp(cmd, ":grad"))
    rc = cmd_grad(&run, wrt, nwrt);
  else if (!strcmp(cmd, ":jacobian"))
    rc = cmd_jacobian(&run, wrt, nwrt);
  else if (!strcmp(cmd, ":hessian"))
    rc = cmd_hessian(&run, wrt, nwrt);
  else if (!strcmp(cmd, ":check"))
    rc = cmd_check(&run, wrt, nwrt);
  else
    fprintf(stderr, "repl: error: unknown command %s (try :help)\n", cmd);
  free(wrt);
  return rc;
}

/* ---- line editing ------------------------------------------------------------------ */

static char *completion(const char *text, int state) {
  static int i, j;
  static const char *builtins[] = {"exp", "log", "sqrt", "abs", "sign", "sin", "cos", "tan", "asin",
                                   "acos", "atan", "sinh", "cosh", "tanh", "erf", "sigmoid", "relu",
                                   "softplus", "log1p", "expm1", "pow", "atan2", "max", "min",
                                   "where", "sum", "mean", "logsumexp", "softmax", "log_softmax",
                                   "dot", "transpose", "onehot", "argmax", "maximum", "minimum",
                                   "prod", "cumsum", "cumprod", "linscan", "norm", "clip", "floor", "ceil", "round",
                                   "mod", "log_sigmoid", "logaddexp", "concat", "stack", "reshape",
                                   "take", "arange", "eye", "grad", "jvp", "pi", "true", "false",
                                   "param", "input", "output", "wrt", NULL};
  size_t n = strlen(text);
  if (!state)
    i = j = 0;
  if (text[0] == ':') {
    while (commands[i])
      if (!strncmp(commands[i++], text, n))
        return xstrdup(commands[i - 1]);
    return NULL;
  }
  Repl *r = the_repl;
  while (r && j < r->n) {
    const char *nm = r->st[j++].name;
    if (nm && !strncmp(nm, text, n))
      return xstrdup(nm);
  }
  while (builtins[i])
    if (!strncmp(builtins[i++], text, n))
      return xstrdup(builtins[i - 1]);
  return NULL;
}

static char **complete(const char *text, int start, int end) {
  (void)end;
  rl_attempted_completion_over = 1;
  const char *line = skip_space(rl_line_buffer ? rl_line_buffer : "");
  if (!strncmp(line, ":load", 5) && (line[5] == ' ' || line[5] == '\t') &&
      start > (int)(line - rl_line_buffer) + 5) /* a file name */
    return rl_completion_matches(text, rl_filename_completion_function);
  return rl_completion_matches(text, completion);
}

/* The history file; NULL when there is none, or when the path names
 * something other than a regular file (a device such as /dev/zero, a FIFO
 * that would block): the session then keeps no history. */
static char *history_path(void) {
  const char *h = getenv("GRADC_HISTORY");
  const char *home = getenv("HOME");
  char *path = h && *h ? xstrdup(h) : home ? fmt("%s/.gradc_history", home) : NULL;
  struct stat st;
  if (path && stat(path, &st) == 0 && (!S_ISREG(st.st_mode) || st.st_size > (1 << 26))) {
    free(path);
    return NULL;
  }
  return path;
}

/* Write the history atomically: a temp file, then rename. */
static void save_history(void) {
  char *path = history_path();
  if (!path)
    return;
  char *tmp = fmt("%s.tmp%ld", path, (long)getpid());
  int err = write_history(tmp);
  if (err == 0 && rename(tmp, path) != 0)
    err = errno;
  if (err != 0)
    unlink(tmp);
  static int warned; /* once a session: the history is a convenience, not the work */
  if (err != 0 && !warned) {
    warned = 1;
    fprintf(stderr, "repl: warning: cannot save the history to %s: %s (the session goes on)\n", path,
            strerror(err > 0 ? err : EIO));
  }
  free(tmp);
  free(path);
}

/* Is an input that continues() cannot be continued any more: a syntax
 * error before its end? */
static int broken(Repl *r, const char *text) {
  Gradc *g = gradc_new();
  if (!g)
    return 0;
  gradc_set_backend(g, r->o->backend);
  int bad = 0;
  if (gradc_compile_string(g, "repl", text, strlen(text)) != GRADC_OK)
    for (int i = 0; i < gradc_diag_count(g); i++)
      bad |= strncmp(gradc_diag_message(g, i), "unexpected end of file", 22) != 0;
  gradc_free(g);
  return bad;
}

/* One input: a line, or several while brackets are open (or the line ends
 * with an operator), until a line cannot continue it. NULL at the end; ""
 * when Ctrl-C abandoned it. */
static char *read_input(Repl *r) {
  char *acc = NULL;
  for (;;) {
    char *line;
    if (r->tty) {
      interrupted = 0;
      line = readline(acc ? "...> " : "gradc> ");
      if (!line && interrupted) { /* Ctrl-C: a new prompt, as Python's REPL */
        fputs("\nKeyboardInterrupt\n", stderr);
        interrupted = 0;
        free(acc);
        return xstrdup("");
      }
      if (!line) { /* Ctrl-D */
        putchar('\n');
        break;
      }
    } else {
      size_t cap = 0;
      line = NULL;
      if (getline(&line, &cap, stdin) < 0) {
        free(line);
        break;
      }
      line[strcspn(line, "\r\n")] = 0;
      if (r->lineno == 0 && !strncmp(line, "\xef\xbb\xbf", 3)) /* a session file's byte-order mark */
        memmove(line, line + 3, strlen(line + 3) + 1);
    }
    r->lineno++;
    char *joined = acc ? fmt("%s\n%s", acc, line) : xstrdup(line);
    free(acc);
    free(line);
    acc = joined;
    if (!continues(acc) || acc[0] == ':' || broken(r, acc))
      break;
  }
  return acc;
}

int repl_main(const Opts *o) {
  Repl r = {.o = o, .tty = isatty(STDIN_FILENO)};
  the_repl = &r;
  if (o->file) { /* as `gradc eval FILE`: a file that cannot be read starts no session */
    struct stat sb;
    FILE *f = fopen(o->file, "rb");
    int dir = f && fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode);
    if (!f || dir) {
      fprintf(stderr, "gradc: error: cannot %s %s: %s\n", dir ? "read" : "open", o->file,
              strerror(dir ? EISDIR : errno));
      if (f)
        fclose(f);
      return EXIT_INPUT;
    }
    fclose(f);
  }
  if (r.tty) {
    rl_readline_name = "gradc";
    rl_attempted_completion_function = complete;
    char *h = history_path();
    if (h) {
      read_history(h);
      free(h);
    }
    struct sigaction sa = {.sa_handler = on_sigint}; /* no SA_RESTART: readline returns */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    printf("gradc %s: type :help for commands, :quit to leave\n", GRADC_VERSION);
  }
  if (o->file && load(&r, o->file))
    r.failed = 1;
  else if (o->nassign && set_words(&r, o->assign, o->nassign)) /* gradc repl FILE w=2: as :set w=2 */
    r.failed = 1;
  char *in;
  while ((in = read_input(&r)) != NULL) {
    int last = r.lineno, start = last;
    for (const char *c = in; *c; c++)
      start -= *c == '\n';
    int rc = 0;
    if (*skip_space(in) && *skip_space(in) != '#' && r.tty) {
      add_history(in);
      save_history(); /* as lines are entered: a session that is killed keeps them */
    }
    int last_at = *skip_space(in) == ':' ? 0 : defines_last(in);
    if (last_at) { /* before `_` is replaced: 2 = 3 would make no sense */
      const char *nl = strchr(in, '\n');
      fprintf(stderr, "repl:%d:%d: error: '_' is the last value printed; it cannot be defined or declared "
              "(choose another name)\n%.*s\n%*s^\n", start, last_at, nl ? (int)(nl - in) : (int)strlen(in), in,
              last_at - 1, "");
      free(in);
      r.failed = 1;
      continue;
    }
    char *sub = with_last(&r, in); /* `_`: the last value printed */
    if (sub) {
      free(in);
      in = sub;
    }
    const char *s = skip_space(in);
    if (*s && *s != '#') {
      free(r.line_text);
      r.line_text = xstrdup(in);
      r.coloff = 0;
      r.lineno = start; /* errors point into the input typed */
      if (*s == ':')
        rc = command(&r, (char *)s);
      else {
        char *copy = xstrdup(in), *save;
        blank_comments(copy);
        for (char *part = strtok_r(copy, ";", &save); part && rc == 0; part = strtok_r(NULL, ";", &save)) {
          const char *body = skip_space(part);
          if (*body) {
            r.coloff = (int)(body - copy);
            rc = statement(&r, body, "repl", start);
          }
        }
        free(copy);
      }
      r.lineno = last;
    }
    free(in);
    fflush(stdout);
    fflush(stderr);
    if (rc < 0)
      break;
    if (rc > 0)
      r.failed = 1;
  }
  free(r.line_text);
  free(r.last);
  for (int i = 0; i < r.n; i++) {
    free(r.st[i].text);
    free(r.st[i].name);
    free(r.st[i].origin);
    free(r.st[i].src);
  }
  free(r.st);
  for (int i = 0; i < r.nset; i++)
    free(r.set[i]);
  free(r.set);
  for (int i = 0; i < NCACHE; i++) {
    free(r.cache[i].text);
    gradc_free(r.cache[i].g);
  }
  return r.failed ? EXIT_INPUT : 0;
}
