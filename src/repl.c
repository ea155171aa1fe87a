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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

typedef struct Stmt {
  char *text;      /* one statement, maybe several lines */
  char *name;      /* the name it defines or declares first, or NULL */
  char *origin;    /* "repl" or a file name */
  int line;        /* its first line there */
} Stmt;

typedef struct Cached {
  char *text;
  Gradc *g;
  int ok;          /* it compiled */
} Cached;

enum { NCACHE = 8 };

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

/* The session's program text, one statement after another, with the
 * statement `skip` left out (-1: none), `replace` put in its place when
 * given, outputs turned into definitions when `plain`, and `extra` last. */
static char *program(Repl *r, int skip, const char *replace, int plain, const char *extra, int *lines_of) {
  Str b = {0};
  (void)lines_of;
  for (int i = 0; i < r->n; i++) {
    const char *t = i == skip ? replace : r->st[i].text;
    if (!t)
      continue;
    char *nm = NULL;
    if (plain && i != skip && classify(t, &nm) == K_OUTPUT) /* output L = ... -> L = ... */
      t = skip_space(skip_space(t) + 6);
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

/* Print a context's diagnostics at their places in the session's inputs. */
static void show_errors_at(Repl *r, Gradc *g, const char *typed, int skip, const char *torigin,
                           int tline) {
  for (int i = 0; i < gradc_diag_count(g); i++) {
    int line = gradc_diag_line(g, i), col = gradc_diag_col(g, i);
    /* which statement holds that line of the program text? */
    int at = 1;
    const char *text = NULL, *origin = "repl";
    int first = 0;
    for (int k = 0; k <= r->n && line > 0; k++) {
      const char *t = k == r->n ? typed : (k == skip ? typed : r->st[k].text);
      if (!t)
        continue;
      int nl = 1;
      for (const char *c = t; *c; c++)
        nl += *c == '\n';
      if (line < at + nl) {
        text = t;
        origin = k == r->n || k == skip ? torigin : r->st[k].origin;
        first = k == r->n || k == skip ? tline : r->st[k].line;
        break;
      }
      at += nl;
    }
    if (!text || line <= 0) {
      fprintf(stderr, "repl: error: %s\n", gradc_diag_message(g, i));
      continue;
    }
    int off = line - at;
    const char *s = text;
    for (int k = 0; k < off && strchr(s, '\n'); k++)
      s = strchr(s, '\n') + 1;
    if (text == typed && off == 0 && !strcmp(origin, "repl") && r->line_text) {
      /* the line as typed: columns count from its start */
      col = col - r->prefix + r->coloff;
      s = r->line_text;
    }
    int len = (int)strcspn(s, "\n");
    fprintf(stderr, "%s:%d:%d: error: %s\n%.*s\n%*s^\n", origin, first + off, col,
            gradc_diag_message(g, i), len, s, col > 1 ? col - 1 : 0, "");
  }
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

/* Give a context the session's values; 0 on success. */
static int set_values(Repl *r, Gradc *g) {
  int bad = 0;
  for (int i = 0; i < r->nset; i++) {
    char *eq = strchr(r->set[i], '=');
    *eq = 0;
    if (gradc_var_index(g, r->set[i]) >= 0 && gradc_set_value_text(g, r->set[i], eq + 1) != GRADC_OK)
      bad = 1;
    *eq = '=';
  }
  if (bad || gradc_set_defaults(g, r->o->seed, 0) != GRADC_OK) {
    fputs(gradc_diag_render(g), stderr);
    return -1;
  }
  return 0;
}

/* Does the text use the identifier `id`? */
static int uses_name(const char *text, const char *id) {
  size_t n = strlen(id);
  for (const char *p = text; (p = strstr(p, id)) != NULL; p += n)
    if ((p == text || !is_name_char(p[-1], 0)) && !is_name_char(p[n], 0))
      return 1;
  return 0;
}

/* The session compiled with `target` (a name or an expression) as its only
 * output, named *shown. */
static Gradc *target_context(Repl *r, const char *target, const char **shown) {
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
  char *text;
  static char name[64];
  if (found >= 0) { /* that definition is the output */
    snprintf(name, sizeof name, "%s", w);
    const char *t = r->st[found].text;
    Kind k = classify(t, &nm);
    free(nm);
    char *out = k == K_OUTPUT ? xstrdup(t) : fmt("output %s", skip_space(t));
    text = program(r, found, out, 1, NULL, NULL);
    free(out);
  } else { /* a bare expression is an output named f, unless f is taken */
    int taken = uses_name(target, "f");
    for (int i = 0; i < r->n && !taken; i++)
      taken = uses_name(r->st[i].text, "f");
    for (int i = 0; i < r->nset && !taken; i++)
      taken = !strncmp(r->set[i], "f=", 2);
    snprintf(name, sizeof name, "%s", taken ? "_" : "f");
    char *extra = fmt("output %s = %s", name, target);
    r->prefix = (int)strlen(extra) - (int)strlen(target);
    text = program(r, -1, NULL, 1, extra, NULL);
    free(extra);
  }
  free(w);
  *shown = name;
  int ok;
  Gradc *g = context(r, text, &ok);
  if (g && !ok) {
    show_errors(r, g, target, -1);
    free(text);
    return NULL;
  }
  free(text);
  if (!g || set_values(r, g) < 0)
    return NULL;
  return g;
}

/* ---- commands ------------------------------------------------------------------ */

static const char *commands[] = {":help", ":load", ":set", ":vars", ":grad", ":jvp", ":jacobian",
                                 ":hessian", ":diff", ":check", ":trace", ":emit", ":dot", ":time",
                                 ":quit", ":hvp", NULL};

static void help(void) {
  puts("Statements as in .expr files: param/input declarations, NAME = EXPR, output NAME = EXPR.\n"
       "A bare expression is evaluated at the current values. Redefining a name replaces it.\n"
       "  :set NAME=VALUE...        give variables values (numbers, JSON arrays, @FILE)\n"
       "  :vars                     variables, shapes and values\n"
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
    for (char *c = *wrt; *c; c++) /* "a, b" -> "a,b" */
      if (*c == ' ') {
        memmove(c, c + 1, strlen(c));
        c--;
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

static int cmd_time(Repl *r, const char *expr) {
  const char *shown;
  char *extra = fmt("output _ = %s", expr);
  char *text = program(r, -1, NULL, 1, extra, NULL);
  free(extra);
  double t0 = now();
  Gradc *g = gradc_new();
  gradc_set_backend(g, r->o->backend);
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
  printf("%d DAG nodes: parse and build %.2f ms; value: emit+JIT %.2f ms, run %.3g us; "
         "value+gradient: emit+JIT %.2f ms, run %.3g us (%ld and %ld operations)\n",
         gradc_node_count(g), 1e3 * (t1 - t0), 1e3 * (t2 - t1), 1e6 * run[0], 1e3 * (t3 - t2),
         1e6 * run[1], gradc_fn_op_count(fv), gradc_fn_op_count(fg));
  gradc_free(g);
  return 0;
}

static void add_stmt(Repl *r, int at, const char *text, const char *origin, int line) {
  char *nm;
  classify(text, &nm);
  if (at < r->n) {
    free(r->st[at].text);
    free(r->st[at].name);
    free(r->st[at].origin);
  } else {
    if (r->n == r->cap) {
      r->cap = r->cap ? 2 * r->cap : 16;
      r->st = realloc(r->st, (size_t)r->cap * sizeof *r->st);
      if (!r->st)
        exit(EXIT_INPUT);
    }
    at = r->n++;
  }
  r->st[at] = (Stmt){xstrdup(text), nm, xstrdup(origin), line};
}

/* A statement: check the session with it, then keep it. */
static int statement(Repl *r, const char *text, const char *origin, int line) {
  r->prefix = 0;
  char *nm;
  Kind k = classify(text, &nm);
  int at = r->n;
  for (int i = 0; nm && i < r->n; i++)
    if (r->st[i].name && !strcmp(r->st[i].name, nm))
      at = i; /* a redefinition replaces it in place */
  free(nm);
  if (k == K_EXPR) {
    const char *shown;
    Gradc *g = target_context(r, text, &shown);
    if (!g)
      return 1;
    Opts o = *r->o;
    Run run = {g, &o, gradc_var_count(g)};
    return cmd_eval(&run);
  }
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
  add_stmt(r, at, text, origin, line);
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
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "repl: error: cannot open %s: %s\n", path, strerror(errno));
    return 1;
  }
  char *line = NULL, *acc = NULL;
  size_t cap = 0;
  int lineno = 0, first = 0;
  Stmt *add = NULL;
  int nadd = 0;
  Str all = {0};
  while (getline(&line, &cap, f) >= 0) {
    lineno++;
    line[strcspn(line, "\r\n")] = 0;
    char *joined = acc ? fmt("%s\n%s", acc, line) : xstrdup(line);
    free(acc);
    acc = joined;
    if (!first)
      first = lineno;
    if (continues(acc))
      continue;
    const char *s = skip_space(acc);
    if (*s && *s != '#') { /* statements end at ';' too */
      char *copy = xstrdup(acc), *save, *part;
      for (part = strtok_r(copy, ";", &save); part; part = strtok_r(NULL, ";", &save)) {
        char *hash = strchr(part, '#');
        if (hash)
          *hash = 0;
        if (!*skip_space(part))
          continue;
        add = realloc(add, ((size_t)nadd + 1) * sizeof *add);
        if (!add)
          exit(EXIT_INPUT);
        part = rebase(part, path);
        add[nadd++] = (Stmt){part, NULL, xstrdup(path), first};
        str_add(&all, part);
        str_add(&all, "\n");
      }
      free(copy);
    }
    free(acc);
    acc = NULL;
    first = 0;
  }
  free(line);
  free(acc);
  fclose(f);
  str_add(&all, "output _repl_ = 0");
  char *prog = program(r, -1, NULL, 1, all.s, NULL);
  Gradc *g = gradc_new();
  int bad = gradc_compile_string(g, path, prog, strlen(prog)) != GRADC_OK;
  if (bad) { /* show each error at its statement in the file */
    int base = 1;
    for (int i = 0; i < r->n; i++)
      for (const char *c = r->st[i].text; c; c = strchr(c + 1, '\n'))
        base++;
    for (int i = 0; i < gradc_diag_count(g); i++) {
      int l = gradc_diag_line(g, i) - base, at = 0, k = 0;
      for (; k < nadd; k++) {
        int nl = 1;
        for (const char *c = add[k].text; *c; c++)
          nl += *c == '\n';
        if (l < at + nl)
          break;
        at += nl;
      }
      if (l < 0 || k >= nadd) {
        fprintf(stderr, "%s: error: %s\n", path, gradc_diag_message(g, i));
        continue;
      }
      const char *s = add[k].text;
      for (int q = 0; q < l - at && strchr(s, '\n'); q++)
        s = strchr(s, '\n') + 1;
      int col = gradc_diag_col(g, i);
      fprintf(stderr, "%s:%d:%d: error: %s\n%.*s\n%*s^\n", path, add[k].line + (l - at), col,
              gradc_diag_message(g, i), (int)strcspn(s, "\n"), s, col > 1 ? col - 1 : 0, "");
    }
  }
  gradc_free(g);
  free(prog);
  free(all.s);
  for (int k = 0; k < nadd; k++) {
    if (!bad)
      add_stmt(r, r->n, add[k].text, add[k].origin, add[k].line);
    free(add[k].text);
    free(add[k].origin);
  }
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

static int command(Repl *r, char *line) {
  char *args = line;
  while (*args && *args != ' ' && *args != '\t')
    args++;
  if (*args)
    *args++ = 0;
  args = (char *)skip_space(args);
  Opts o = *r->o;
  const char *cmd = line;
  int known = !strcmp(cmd, ":q");
  for (int i = 0; commands[i]; i++)
    known |= !strcmp(cmd, commands[i]);
  if (!known) {
    fprintf(stderr, "repl: error: unknown command %s (:help lists them)\n", cmd);
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
  if (!strcmp(cmd, ":load"))
    return load(r, args);
  if (!strcmp(cmd, ":set")) {
    int bad = 0;
    char *words[256];
    int nw = split_words(args, words, 256);
    for (int q = 0; q < nw; q++) {
      char *w = words[q];
      if (!strchr(w, '=') || w[0] == '=') {
        fprintf(stderr, "repl: error: :set takes NAME=VALUE words, not '%s'\n", w);
        bad = 1;
        continue;
      }
      int defined = 0; /* a definition has no value to set */
      for (int i = 0; i < r->n && !defined; i++) {
        char *nm;
        Kind k = classify(r->st[i].text, &nm);
        if ((k == K_DEF || k == K_OUTPUT || k == K_FUNC) && nm && !strncmp(w, nm, strlen(nm)) &&
            w[strlen(nm)] == '=')
          defined = k == K_FUNC ? 2 : 1;
        free(nm);
      }
      if (defined) {
        fprintf(stderr, "repl: error: '%.*s' is %s in the session; :set gives values to variables\n",
                (int)(strchr(w, '=') - w), w, defined == 2 ? "a function" : "defined");
        bad = 1;
        continue;
      }
      r->set = realloc(r->set, ((size_t)r->nset + 1) * sizeof *r->set);
      r->set[r->nset++] = xstrdup(w);
    }
    /* check them against the session now */
    char *text = program(r, -1, NULL, 1, "output _repl_ = 0", NULL);
    int ok;
    Gradc *g = context(r, text, &ok);
    free(text);
    for (int i = r->nset - 1; g && !bad && i >= 0 && i >= r->nset - 32; i--) {
      char *eq = strchr(r->set[i], '=');
      *eq = 0;
      /* a name the session does not have yet keeps its value for later */
      if (gradc_var_index(g, r->set[i]) >= 0 && gradc_set_value_text(g, r->set[i], eq + 1) != GRADC_OK) {
        fputs(gradc_diag_render(g), stderr);
        bad = 1;
        free(r->set[i]);
        memmove(&r->set[i], &r->set[i + 1], (size_t)(r->nset - i - 1) * sizeof *r->set);
        r->nset--;
      } else {
        *eq = '=';
      }
    }
    return bad;
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
        for (int k = 0; k < 6; k++)
          printf("%.6g, ", v[k]);
        printf("...] (%ld values)\n", n);
      } else if (v) {
        print_named("", v, dims, rank);
      } else {
        printf("  (no value)\n");
      }
    }
    for (int i = 0; i < r->n; i++) { /* then the functions, as defined */
      char *nm;
      if (classify(r->st[i].text, &nm) == K_FUNC)
        printf("%s\n", skip_space(r->st[i].text));
      free(nm);
    }
    return 0;
  }
  if (!strcmp(cmd, ":time"))
    return *args ? cmd_time(r, args) : (fprintf(stderr, "repl: error: :time EXPR\n"), 1);
  /* the rest act on a target: a name or an expression */
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
    Gradc *g = target_context(r, target, &shown);
    int rc = 1;
    if (g) {
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
  const char *shown;
  Gradc *g = target_context(r, target, &shown);
  if (!g)
    return 1;
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
    /* :trace reads its own wrt (an element: x[1]) */
    if (parse_wrt(g, "repl", strcmp(cmd, ":trace") ? wrtlist : NULL, &wrt, &nwrt) < 0) {
      free(wrt);
      return 1;
    }
    if (!strcmp(cmd, ":trace")) {
      o.wrt = wrtlist;
      rc = cmd_trace(&run, wrt, nwrt);
    } else {
      rc = 0;
      for (int k = 0; k < nwrt; k++) {
        char *text = NULL;
        if (gradc_diff_text(g, 0, wrt[k], &text) != GRADC_OK) {
          rc = report(g);
          break;
        }
        fputs(text, stdout);
        free(text);
      }
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
                                   "prod", "cumsum", "norm", "clip", "floor", "ceil", "round",
                                   "mod", "log_sigmoid", "logaddexp", "concat", "stack", "reshape",
                                   "take", "arange", "eye", "pi", "true", "false", "param", "input",
                                   "output", "wrt", NULL};
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
  (void)start;
  (void)end;
  rl_attempted_completion_over = 1;
  return rl_completion_matches(text, completion);
}

static char *history_path(void) {
  const char *h = getenv("GRADC_HISTORY");
  if (h && *h)
    return xstrdup(h);
  const char *home = getenv("HOME");
  return home ? fmt("%s/.gradc_history", home) : NULL;
}

/* Write the history atomically: a temp file, then rename. */
static void save_history(void) {
  char *path = history_path();
  if (!path)
    return;
  char *tmp = fmt("%s.tmp%ld", path, (long)getpid());
  if (write_history(tmp) == 0)
    rename(tmp, path);
  else
    unlink(tmp);
  free(tmp);
  free(path);
}

/* One input: a line, or several while brackets are open. NULL at the end. */
static char *read_input(Repl *r) {
  char *acc = NULL;
  for (;;) {
    char *line;
    if (r->tty) {
      line = readline(acc ? "...> " : "gradc> ");
      if (!line)
        break;
    } else {
      size_t cap = 0;
      line = NULL;
      if (getline(&line, &cap, stdin) < 0) {
        free(line);
        break;
      }
      line[strcspn(line, "\r\n")] = 0;
    }
    r->lineno++;
    char *joined = acc ? fmt("%s\n%s", acc, line) : xstrdup(line);
    free(acc);
    free(line);
    acc = joined;
    if (!continues(acc) || acc[0] == ':')
      break;
  }
  return acc;
}

int repl_main(const Opts *o) {
  Repl r = {.o = o, .tty = isatty(STDIN_FILENO)};
  the_repl = &r;
  if (r.tty) {
    rl_readline_name = "gradc";
    rl_attempted_completion_function = complete;
    char *h = history_path();
    if (h) {
      read_history(h);
      free(h);
    }
    printf("gradc %s: type :help for commands, :quit to leave\n", GRADC_VERSION);
  }
  if (o->file && load(&r, o->file))
    r.failed = 1;
  char *in;
  while ((in = read_input(&r)) != NULL) {
    int last = r.lineno, start = last;
    for (const char *c = in; *c; c++)
      start -= *c == '\n';
    const char *s = skip_space(in);
    int rc = 0;
    if (*s && *s != '#') {
      if (r.tty)
        add_history(in);
      free(r.line_text);
      r.line_text = xstrdup(in);
      r.coloff = 0;
      r.lineno = start; /* errors point into the input typed */
      if (*s == ':')
        rc = command(&r, (char *)s);
      else {
        char *copy = xstrdup(in), *save;
        for (char *part = strtok_r(copy, ";", &save); part && rc == 0; part = strtok_r(NULL, ";", &save)) {
          char *hash = strchr(part, '#');
          if (hash)
            *hash = 0;
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
  if (r.tty)
    save_history();
  free(r.line_text);
  for (int i = 0; i < r.n; i++) {
    free(r.st[i].text);
    free(r.st[i].name);
    free(r.st[i].origin);
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
