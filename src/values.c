/* values.c: the values of a program's variables: set by the caller
 * (numbers, JSON, data files), read from --inputs, or from the defaults in
 * the file (constants, seeded randn/uniform, zeros/ones, CSV or JSON data),
 * with symbolic dimensions bound from the data and checked for agreement. */
#include <csv.h>
#include <errno.h>
#include <limits.h>
#include <jansson.h>
#include <math.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "api.h"
#include "numtext.h"
#include "parallel.h"

#define ERROR(g, ...) diag_add(&(g)->diags, GRADC_ERR_INPUT, NULL, (Span){0}, NULL, __VA_ARGS__)

static int ensure(Gradc *g) {
  if (g->vals)
    return 1;
  g->vals = calloc((size_t)g->prog.nvars + 1, sizeof *g->vals);
  g->dimval = malloc(((size_t)g->prog.ndims + 1) * sizeof *g->dimval);
  g->dimgiven = malloc(((size_t)g->prog.ndims + 1) * sizeof *g->dimgiven);
  if (!g->vals || !g->dimval || !g->dimgiven)
    return 0;
  for (int k = 0; k < g->prog.ndims; k++)
    g->dimval[k] = g->dimgiven[k] = -1;
  return 1;
}

void values_free(Gradc *g) {
  if (g->vals)
    for (int i = 0; i < g->prog.nvars; i++)
      free(g->vals[i].data);
  free(g->vals);
  free(g->dimval);
  free(g->dimgiven);
  g->vals = NULL;
  g->dimval = NULL;
  g->dimgiven = NULL;
}

long values_size(const Gradc *g, ShapeId s) {
  const Shape *x = shape_get(g->prog.dag, s);
  long n = 1;
  for (int i = 0; i < x->rank; i++) {
    long d = dim_eval(g->prog.dag, x->dim[i], g->dimval);
    if (d < 0)
      return -1;
    n *= d;
  }
  return n;
}

int gradc_dim_count(const Gradc *g) { return g->prog.ndims; }
const char *gradc_dim_name(const Gradc *g, int k) { return g->prog.dimnames[k]; }
long gradc_dim_value(const Gradc *g, int k) { return g->dimval ? g->dimval[k] : -1; }

static int shape_dims(const Gradc *g, ShapeId s, long *dims) {
  const Shape *x = shape_get(g->prog.dag, s);
  for (int i = 0; i < x->rank; i++) {
    dims[i] = (long)x->dim[i];
    if (dim_is_derived(x->dim[i])) { /* N-1, 2*N: its size once N is bound */
      long d = dim_eval(g->prog.dag, x->dim[i], g->dimval);
      dims[i] = d >= 0 ? d : LONG_MIN;
    }
  }
  return x->rank;
}

int gradc_var_shape(const Gradc *g, int i, long *dims) {
  return shape_dims(g, g->prog.vars[i].shape, dims);
}

int gradc_output_shape(const Gradc *g, int i, long *dims) {
  return shape_dims(g, dag_shape(g->prog.dag, g->prog.outs[i].node), dims);
}

/* Store a value (taking `data`), checking its shape against the declaration. */
static GradcStatus store(Gradc *g, int var, double *data, const long *dims, int rank, int level,
                         const char *from) {
  const Var *v = &g->prog.vars[var];
  const Shape *s = shape_get(g->prog.dag, v->shape);
  int ok = rank == s->rank;
  for (int i = 0; ok && i < rank; i++)
    ok = s->dim[i] < 0 ? dims[i] > 0 : dims[i] == s->dim[i];
  if (!ok) {
    char want[128], got[128] = "(";
    shape_format(g->prog.dag, v->shape, want, sizeof want);
    if (rank == 0)
      snprintf(got, sizeof got, "a scalar");
    for (int i = 0; i < rank; i++) {
      size_t n = strlen(got);
      snprintf(got + n, sizeof got - n, "%s%ld%s", i ? ", " : "", dims[i], i + 1 == rank ? ")" : "");
    }
    if (s->rank == 0)
      ERROR(g, "%s: '%s' is a scalar but the value has shape %s", from, v->name, got);
    else
      ERROR(g, "%s: '%s' is declared %s but the value is %s", from, v->name, want, got);
    free(data);
    return GRADC_ERR_INPUT;
  }
  Value *x = &g->vals[var];
  free(x->data);
  x->data = data;
  x->rank = rank;
  for (int i = 0; i < rank; i++)
    x->dims[i] = dims[i];
  x->set = level;
  return GRADC_OK;
}

GradcStatus gradc_set_value(Gradc *g, int var, const double *data, const long *dims, int rank) {
  if (!ensure(g) || var < 0 || var >= g->prog.nvars)
    return GRADC_ERR_USAGE;
  long n = 1;
  for (int i = 0; i < rank; i++)
    n *= dims[i];
  double *copy = malloc((size_t)(n > 0 ? n : 1) * sizeof *copy);
  if (!copy)
    return GRADC_ERR_NOMEM;
  memcpy(copy, data, (size_t)n * sizeof *copy);
  return store(g, var, copy, dims, rank, 3, "value");
}

double *gradc_get_value(const Gradc *g, int var, long *dims, int *rank) {
  if (!g->vals || !g->vals[var].set)
    return NULL;
  const Value *v = &g->vals[var];
  if (dims)
    memcpy(dims, v->dims, sizeof v->dims);
  if (rank)
    *rank = v->rank;
  return v->data;
}

/* ---- JSON ------------------------------------------------------------------------ */

static int json_scalar(json_t *j, double *x) {
  if (json_is_number(j)) {
    *x = json_number_value(j);
    return 1;
  }
  if (json_is_string(j)) {
    const char *s = json_string_value(j);
    if (!strcmp(s, "NaN")) { *x = NAN; return 1; }
    if (!strcmp(s, "Infinity")) { *x = INFINITY; return 1; }
    if (!strcmp(s, "-Infinity")) { *x = -INFINITY; return 1; }
  }
  return 0;
}

/* A nested JSON array -> row-major data and dims; 0 on success. */
static int json_tensor(json_t *j, double **data, long *dims, int *rank, char *why, size_t nwhy) {
  *rank = 0;
  json_t *p = j;
  while (json_is_array(p)) {
    if (*rank >= MAX_RANK) {
      snprintf(why, nwhy, "more than %d nested arrays", MAX_RANK);
      return -1;
    }
    dims[(*rank)++] = (long)json_array_size(p);
    if (json_array_size(p) == 0) {
      snprintf(why, nwhy, "an empty array");
      return -1;
    }
    p = json_array_get(p, 0);
  }
  long n = 1;
  for (int i = 0; i < *rank; i++)
    n *= dims[i];
  double *d = malloc((size_t)n * sizeof *d);
  if (!d) {
    snprintf(why, nwhy, "out of memory");
    return -1;
  }
  /* walk the elements in row-major order, checking that the array is regular */
  long idx[MAX_RANK] = {0};
  for (long e = 0; e < n; e++) {
    json_t *q = j;
    for (int i = 0; i < *rank; i++) {
      if (!json_is_array(q) || (long)json_array_size(q) != dims[i]) {
        snprintf(why, nwhy, "the nested arrays are not all the same length");
        free(d);
        return -1;
      }
      q = json_array_get(q, (size_t)idx[i]);
    }
    if (!json_scalar(q, &d[e])) {
      snprintf(why, nwhy, "element %ld is not a number", e);
      free(d);
      return -1;
    }
    for (int i = *rank - 1; i >= 0; i--) {
      if (++idx[i] < dims[i])
        break;
      idx[i] = 0;
    }
  }
  *data = d;
  return 0;
}

/* ---- CSV ----------------------------------------------------------------------------- */

typedef struct Csv {
  const char *path;
  char **cells;          /* the current row */
  int ncells, capcells;
  long row;              /* 1-based line */
  int header;            /* row 1 is a header */
  char **names;          /* header names */
  int nnames;
  int ncols;             /* columns per row (from the first row) */
  int *pick;             /* the chosen columns */
  int npick;
  const char *cols;      /* the COLS spec, or NULL: all */
  double *data;
  long nrows, caprows;
  Gradc *g;
  int failed;
  long seen, lo, hi;     /* data rows so far; keep rows lo..hi-1 (MPI: this process's share) */
  int count_only;
  int nbare;             /* cells of the current row empty and unquoted (one: an empty line) */
} Csv;

static void on_cell(void *s, size_t len, void *ctx) {
  Csv *c = ctx;
  if (c->failed)
    return;
  if (s && memchr(s, 0, len)) { /* a C string would end there: the rest would be lost */
    diag_file(&c->g->diags, c->path, (int)c->row + 1, c->ncells + 1, "a NUL byte in a cell (this is not a text file)");
    c->failed = 1;
    return;
  }
  if (!s) /* CSV_EMPTY_IS_NULL: empty and unquoted; "" is quoted, an empty cell of its own */
    c->nbare++;
  /* a data row this pass does not keep (counting, or another process's
   * share under MPI): on_row reads only how many cells it has */
  int skip = c->ncols > 0 && (c->count_only || c->seen < c->lo || c->seen >= c->hi);
  if (c->ncells == c->capcells) {
    int cap = c->capcells ? 2 * c->capcells : 16;
    char **n = realloc(c->cells, (size_t)cap * sizeof *n);
    if (!n) {
      c->failed = 1;
      return;
    }
    c->cells = n;
    c->capcells = cap;
  }
  if (skip) {
    c->cells[c->ncells++] = NULL;
    return;
  }
  char *v = malloc(len + 1);
  if (!v) {
    c->failed = 1;
    return;
  }
  if (s)
    memcpy(v, s, len);
  v[len] = 0;
  c->cells[c->ncells++] = v;
}

/* A directory opens but reads as nothing: one clear error, as for a
 * source file ("cannot read DIR: Is a directory"), not a parse error. */
static int is_directory(Gradc *g, const char *path) {
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
    return 0;
  diag_file(&g->diags, path, 0, 0, "cannot read %s: %s", path, strerror(EISDIR));
  return 1;
}

/* A literal too large for a double (1e400), which strtod reads as
 * infinity: an error on the command line, in a file (lexer.l) and in
 * CSV data alike; the words inf, Infinity and NaN stand for themselves. */
static int too_large(const char *text, double x) { return isinf(x) && !strpbrk(text, "iI"); }

static int number(const char *s, double *x) {
  char *end;
  while (*s == ' ' || *s == '\t')
    s++;
  if (!*s)
    return 0;
  *x = strtod(s, &end);
  if (!num_is_decimal(s, end))
    return 0;
  while (*end == ' ' || *end == '\t' || *end == '\r')
    end++;
  return *end == 0;
}

/* Whether strtod reads all of s (blanks around it aside): a number, or
 * what looks like one (0x10, nan), which as data is an error, not a header. */
static int looks_numeric(const char *s) {
  char *end;
  s += strspn(s, " \t");
  if (!*s)
    return 0;
  (void)strtod(s, &end);
  return end != s && !end[strspn(end, " \t\r")];
}

/* Choose the columns once the first row is known. */
static int choose(Csv *c) {
  c->pick = malloc(((size_t)c->ncols + 1) * sizeof *c->pick);
  if (!c->pick)
    return -1;
  if (!c->cols) {
    for (int i = 0; i < c->ncols; i++)
      c->pick[c->npick++] = i;
    return 0;
  }
  char *spec = strdup(c->cols);
  if (!spec)
    return -1;
  for (char *save, *tok = strtok_r(spec, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    char *end;
    long k = strtol(tok, &end, 10);
    int col = -1;
    if (*tok && !*end) {
      col = k >= 0 && k < c->ncols ? (int)k : -1;
      if (col < 0)
        diag_file(&c->g->diags, c->path, 1, 1, "column %ld does not exist (the file has %d columns)", k, c->ncols);
    } else {
      for (int i = 0; i < c->nnames; i++)
        if (!strcmp(c->names[i], tok))
          col = i;
      if (col < 0) {
        const char *best = diag_closest(tok, (const char *const *)c->names, c->nnames);
        if (c->header && best)
          diag_file(&c->g->diags, c->path, 1, 1, "no column named '%s' (did you mean '%s'?)", tok, best);
        else if (c->header)
          diag_file(&c->g->diags, c->path, 1, 1, "no column named '%s'", tok);
        else
          diag_file(&c->g->diags, c->path, 1, 1, "no header row, so columns are numbers, not '%s'", tok);
      }
    }
    if (col < 0) {
      free(spec);
      return -1;
    }
    c->pick[c->npick++] = col;
  }
  free(spec);
  if (c->npick == 0) {
    diag_file(&c->g->diags, c->path, 1, 1, "no columns chosen");
    return -1;
  }
  return 0;
}

static void on_row(int ch, void *ctx) {
  (void)ch;
  Csv *c = ctx;
  c->row++;
  if (c->failed)
    goto done;
  if (c->ncells == 1 && c->nbare == 1)
    goto done; /* an empty line (a quoted "" is a cell, and empty) */
  if (c->row == 1 || (c->ncols == 0)) {
    c->ncols = c->ncells;
    int header = 0; /* a cell of text: not empty, and not even what strtod reads (0x10, nan) */
    for (int i = 0; i < c->ncells; i++)
      header |= *c->cells[i] && !looks_numeric(c->cells[i]);
    if (header) {
      c->header = 1;
      c->names = c->cells;
      c->nnames = c->ncells;
      c->cells = NULL;
      c->ncells = c->capcells = 0;
    }
    if (choose(c) < 0) {
      c->failed = 1;
      goto done;
    }
    if (header)
      return;
  }
  if (c->ncells != c->ncols) {
    diag_file(&c->g->diags, c->path, (int)c->row, c->ncells < c->ncols ? c->ncells + 1 : c->ncols + 1,
              "this row has %d cells, the first had %d", c->ncells, c->ncols);
    c->failed = 1;
    goto done;
  }
  long idx = c->seen++;
  if (c->count_only || idx < c->lo || idx >= c->hi)
    goto done;
  if (c->nrows == c->caprows) {
    long cap = c->caprows ? 2 * c->caprows : 256;
    double *d = realloc(c->data, (size_t)cap * (size_t)c->npick * sizeof *d);
    if (!d) {
      c->failed = 1;
      goto done;
    }
    c->data = d;
    c->caprows = cap;
  }
  for (int j = 0; j < c->npick; j++) {
    double x = 0;
    const char *cell = c->cells[c->pick[j]];
    int is_number = number(cell, &x); /* strtod once per cell */
    if (is_number && too_large(cell, x)) {
      diag_file(&c->g->diags, c->path, (int)c->row, c->pick[j] + 1,
                "the cell '%.40s'%s%s: the number is too large for a double", cell,
                c->header ? " in column " : "", c->header ? c->names[c->pick[j]] : "");
      c->failed = 1;
      goto done;
    }
    if (!is_number || !isfinite(x)) {
      diag_file(&c->g->diags, c->path, (int)c->row, c->pick[j] + 1,
                "the cell '%.40s'%s%s is not a %snumber", cell, c->header ? " in column " : "",
                c->header ? c->names[c->pick[j]] : "", is_number && isinf(x) ? "finite " : "");
      c->failed = 1;
      goto done;
    }
    c->data[c->nrows * c->npick + j] = x;
  }
  c->nrows++;
done:
  for (int i = 0; i < c->ncells; i++)
    free(c->cells[i]);
  c->ncells = 0;
  c->nbare = 0;
}

/* Read PATH[:COLS] into a (rows, cols) matrix. */
static int load_csv(Gradc *g, const char *spec, double **data, long *rows, int *cols) {
  char *path = strdup(spec);
  if (!path)
    return -1;
  char *colon = strrchr(path, ':');
  const char *colspec = NULL;
  if (colon && colon > strrchr(path, '/') && strstr(path, ".csv") && strstr(path, ".csv") < colon) {
    *colon = 0;
    colspec = colon + 1;
  }
  /* under MPI (parallel.c) a first pass counts the rows, then this
   * process keeps only its share */
  long lo = 0, hi = -1;
  int passes = g->par && g->par->size > 1 ? 2 : 1, pass = 0;
  Csv c;
  if (passes == 2 && g->par->counted_path && !strcmp(g->par->counted_path, path)) {
    if (par_csv_window(g, g->par->counted_rows, &lo, &hi) < 0) { /* counted for an earlier input */
      free(path);
      return -1;
    }
    pass = 1;
  }
  for (; pass < passes; pass++) {
  int dir = is_directory(g, path);
  FILE *f = dir ? NULL : fopen(path, "rb");
  if (!f) {
    if (!dir)
      diag_file(&g->diags, path, 0, 0, "cannot open it: %s", strerror(errno));
    free(path);
    return -1;
  }
  struct csv_parser p;
  csv_init(&p, CSV_APPEND_NULL | CSV_EMPTY_IS_NULL);
  c = (Csv){.path = path, .cols = colspec, .g = g, .lo = lo, .hi = hi < 0 ? LONG_MAX : hi,
            .count_only = pass + 1 < passes};
  char buf[65536];
  size_t n;
  while (!c.failed && (n = fread(buf, 1, sizeof buf, f)) > 0)
    if (csv_parse(&p, buf, n, on_cell, on_row, &c) != n) {
      diag_file(&g->diags, path, (int)c.row + 1, 1, "%s", csv_strerror(csv_error(&p)));
      c.failed = 1;
    }
  if (!c.failed)
    csv_fini(&p, on_cell, on_row, &c);
  csv_free(&p);
  fclose(f);
  for (int i = 0; i < c.ncells; i++)
    free(c.cells[i]);
  free(c.cells);
  for (int i = 0; i < c.nnames; i++)
    free(c.names[i]);
  free(c.names);
  free(c.pick);
  if (pass + 1 < passes && !c.failed && par_csv_window(g, c.seen, &lo, &hi) < 0)
    c.failed = 1;
  if (pass + 1 < passes && !c.failed) {
    free(g->par->counted_path);
    g->par->counted_path = strdup(path);
    g->par->counted_rows = c.seen;
  }
  if (c.failed)
    break;
  }
  if (!c.failed && c.nrows == 0) {
    diag_file(&g->diags, path, 1, 1, "no rows of data");
    c.failed = 1;
  }
  free(path);
  if (c.failed) {
    free(c.data);
    return -1;
  }
  *data = c.data;
  *rows = c.nrows;
  *cols = c.npick;
  return 0;
}

/* ---- text values ------------------------------------------------------------------------ */

static int ends_with(const char *s, const char *t) {
  size_t a = strlen(s), b = strlen(t);
  return a >= b && !strcmp(s + a - b, t);
}

/* A value from text: a number, JSON, @FILE.json or @FILE.csv[:COLS]. */
static GradcStatus value_text(Gradc *g, int var, const char *text, int level, const char *from) {
  const Var *v = &g->prog.vars[var];
  char *end;
  double x = strtod(text, &end);
  if (end != text && *end == 0 && !num_is_decimal(text, end)) {
    ERROR(g, "%s=%s: not a number as the language writes them (decimal: 16, 1.5e3)", v->name, text);
    return GRADC_ERR_INPUT;
  }
  if (end != text && *end == 0) {
    /* the limits of a literal in a file (lexer.l): an overflowing number is
     * an error; the words inf, Infinity and NaN stand for themselves */
    if (too_large(text, x)) {
      ERROR(g, "%s=%s: the number is too large for a double", v->name, text);
      return GRADC_ERR_INPUT;
    }
    double *d = malloc(sizeof *d);
    if (!d)
      return GRADC_ERR_NOMEM;
    *d = x;
    long dims[1] = {0};
    return store(g, var, d, dims, 0, level, from);
  }
  if (text[0] == '@') {
    const char *path = text + 1;
    char *plain = strdup(path), *colon = plain ? strrchr(plain, ':') : NULL;
    if (colon && strstr(plain, ".csv") && strstr(plain, ".csv") < colon)
      *colon = 0;
    int csv = plain && ends_with(plain, ".csv");
    free(plain);
    if (csv) {
      double *data;
      long rows;
      int cols;
      if (load_csv(g, path, &data, &rows, &cols) < 0)
        return GRADC_ERR_INPUT;
      const Shape *s = shape_get(g->prog.dag, v->shape);
      long dims[2] = {rows, cols};
      if (s->rank == 1 && cols == 1)
        return store(g, var, data, dims, 1, level, path);
      return store(g, var, data, dims, 2, level, path);
    }
    double *fast;
    long fdims[MAX_RANK];
    int frank;
    if (is_directory(g, path))
      return GRADC_ERR_INPUT;
    if (json_array_file(path, &fast, fdims, &frank) == 0) /* json_array.c */
      return store(g, var, fast, fdims, frank, level, path);
    json_error_t err;
    json_t *j = json_load_file(path, JSON_DECODE_ANY, &err);
    if (!j) {
      diag_file(&g->diags, path, err.line, err.column, "%s", err.text);
      return GRADC_ERR_INPUT;
    }
    double *data = NULL;
    long dims[MAX_RANK];
    int rank;
    char why[128];
    int rc = json_tensor(j, &data, dims, &rank, why, sizeof why);
    json_decref(j);
    if (rc < 0) {
      diag_file(&g->diags, path, 1, 1, "%s", why);
      return GRADC_ERR_INPUT;
    }
    return store(g, var, data, dims, rank, level, path);
  }
  json_error_t err;
  json_t *j = json_loads(text, JSON_DECODE_ANY, &err);
  if (!j) {
    ERROR(g, "%s=%s: not a number, a JSON array or @FILE (%s)", v->name, text, err.text);
    return GRADC_ERR_INPUT;
  }
  double *data = NULL;
  long dims[MAX_RANK];
  int rank;
  char why[128];
  int rc = json_tensor(j, &data, dims, &rank, why, sizeof why);
  json_decref(j);
  if (rc < 0) {
    ERROR(g, "%s=%s: %s", v->name, text, why);
    return GRADC_ERR_INPUT;
  }
  return store(g, var, data, dims, rank, level, from);
}

GradcStatus gradc_set_value_text(Gradc *g, const char *name, const char *text) {
  if (!ensure(g))
    return GRADC_ERR_NOMEM;
  int k = program_var_index(&g->prog, name);
  for (int d = 0; k < 0 && d < g->prog.ndims; d++)
    if (!strcmp(g->prog.dimnames[d], name)) { /* N=1000: a dimension's size */
      char *end;
      errno = 0;
      long n = strtol(text, &end, 10);
      if (end == text || *end || errno || n < 1) {
        ERROR(g, "%s=%s: the size of a dimension is a positive integer", name, text);
        return GRADC_ERR_INPUT;
      }
      return gradc_set_dim(g, d, n);
    }
  if (k < 0) {
    const char *hint = gradc_var_suggest(g, name);
    if (program_output_index(&g->prog, name) >= 0)
      ERROR(g, "'%s' is an output, not a variable: it cannot be given a value", name);
    else if (hint)
      ERROR(g, "%s has no variable '%s' (did you mean '%s'?)", g->src.name, name, hint);
    else
      ERROR(g, "%s has no variable '%s'", g->src.name, name);
    return GRADC_ERR_INPUT;
  }
  char from[300];
  snprintf(from, sizeof from, "%s=...", name);
  return value_text(g, k, text, 3, from);
}

GradcStatus gradc_set_inputs_file(Gradc *g, const char *path) {
  if (!ensure(g))
    return GRADC_ERR_NOMEM;
  if (is_directory(g, path))
    return GRADC_ERR_INPUT;
  json_error_t err;
  json_t *root = json_load_file(path, 0, &err);
  if (!root) {
    diag_file(&g->diags, path, err.line, err.column, "%s", err.text);
    return GRADC_ERR_INPUT;
  }
  if (!json_is_object(root)) {
    diag_file(&g->diags, path, 0, 0, "--inputs needs a JSON object of NAME: VALUE");
    json_decref(root);
    return GRADC_ERR_INPUT;
  }
  GradcStatus st = GRADC_OK;
  const char *key;
  json_t *val;
  json_object_foreach(root, key, val) {
    int k = program_var_index(&g->prog, key);
    if (k < 0)
      continue; /* one params file serves several .expr files */
    double *data = NULL;
    long dims[MAX_RANK];
    int rank;
    char why[128];
    if (json_tensor(val, &data, dims, &rank, why, sizeof why) < 0) {
      diag_file(&g->diags, path, 0, 0, "\"%s\": %s", key, why);
      st = GRADC_ERR_INPUT;
      continue;
    }
    GradcStatus s = store(g, k, data, dims, rank, 2, path);
    if (s != GRADC_OK)
      st = s;
  }
  json_decref(root);
  return st;
}

/* ---- defaults and dimensions -------------------------------------------------------------- */

uint64_t values_splitmix(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static double uniform01(uint64_t *s) { return ((double)(values_splitmix(s) >> 11) + 0.5) * 0x1.0p-53; }

static double normal(uint64_t *s) { /* Box-Muller */
  double u = uniform01(s), v = uniform01(s);
  return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

double values_normal(uint64_t *state) { return normal(state); }

/* Bind symbolic dimensions from every value, in declaration order. */
static GradcStatus bind_dims(Gradc *g) {
  int *from = malloc(((size_t)g->prog.ndims + 1) * sizeof *from);
  if (!from)
    return GRADC_ERR_NOMEM;
  for (int k = 0; k < g->prog.ndims; k++) {
    g->dimval[k] = g->dimgiven[k];
    from[k] = -1;
  }
  GradcStatus st = GRADC_OK;
  for (int i = 0; i < g->prog.nvars; i++) {
    const Value *v = &g->vals[i];
    if (!v->set)
      continue;
    const Shape *s = shape_get(g->prog.dag, g->prog.vars[i].shape);
    for (int d = 0; d < s->rank; d++) {
      if (s->dim[d] >= 0)
        continue;
      int k = (int)~s->dim[d];
      if (g->dimval[k] < 0) {
        g->dimval[k] = v->dims[d];
        from[k] = i;
      } else if (g->dimval[k] != v->dims[d] && from[k] < 0) {
        ERROR(g, "dimension %s is %ld (%s=%ld) but %ld in '%s'", g->prog.dimnames[k], g->dimval[k],
              g->prog.dimnames[k], g->dimval[k], v->dims[d], g->prog.vars[i].name);
        st = GRADC_ERR_INPUT;
      } else if (g->dimval[k] != v->dims[d]) {
        ERROR(g, "dimension %s is %ld in '%s' but %ld in '%s'", g->prog.dimnames[k],
              g->dimval[k], g->prog.vars[from[k]].name, v->dims[d], g->prog.vars[i].name);
        st = GRADC_ERR_INPUT;
      }
    }
  }
  free(from);
  return st;
}

GradcStatus gradc_set_dim(Gradc *g, int k, long size) {
  if (!ensure(g))
    return GRADC_ERR_NOMEM;
  if (k < 0 || k >= g->prog.ndims || size < 1) {
    ERROR(g, "gradc_set_dim: no dimension %d, or a size below 1", k);
    return GRADC_ERR_INPUT;
  }
  g->dimgiven[k] = g->dimval[k] = size;
  return GRADC_OK;
}

GradcStatus gradc_set_defaults(Gradc *g, unsigned long long seed, int random_scalars) {
  if (!ensure(g))
    return GRADC_ERR_NOMEM;
  GradcStatus st = GRADC_OK;
  /* data files first: they bind dimensions */
  for (int i = 0; i < g->prog.nvars; i++) {
    const Var *v = &g->prog.vars[i];
    if (g->vals[i].set || v->init != INIT_FILE)
      continue;
    int seen_bad = 0; /* a file that failed for an earlier variable is not read again */
    for (int j = 0; j < i && !seen_bad; j++) {
      const Var *u = &g->prog.vars[j];
      size_t a = strcspn(u->init_path ? u->init_path : "", ":"), b = strcspn(v->init_path, ":");
      seen_bad = u->init == INIT_FILE && !g->vals[j].set && a == b && !strncmp(u->init_path, v->init_path, a);
    }
    if (seen_bad) {
      st = GRADC_ERR_INPUT;
      continue;
    }
    char *text = malloc(strlen(v->init_path) + 2);
    if (!text)
      return GRADC_ERR_NOMEM;
    text[0] = '@';
    strcpy(text + 1, v->init_path);
    int before = g->diags.count;
    GradcStatus s = value_text(g, i, text, 1, v->init_path);
    free(text);
    if (s != GRADC_OK) {
      st = s;
      Diag *last = g->diags.count > before ? &g->diags.items[g->diags.count - 1] : NULL;
      if (last && last->file && last->span.line == 0) {
        /* a file that cannot be read at all: say so where the .expr names it */
        char *msg = last->msg, *file = last->file;
        g->diags.count--;
        diag_add(&g->diags, GRADC_ERR_INPUT, &g->src, v->init_span, NULL,
                 "the default data of '%s': %s: %s", v->name, file, msg);
        free(msg);
        free(file);
        free(last->hint);
      } else if (last) { /* and where the file names the data */
        diag_add(&g->diags, GRADC_ERR_INPUT, &g->src, v->init_span, NULL,
                 "in the default data of '%s'", v->name);
      }
    }
  }
  if (st != GRADC_OK)
    return st;
  if ((st = bind_dims(g)) != GRADC_OK)
    return st;
  /* then constants and seeded random values, each variable its own stream */
  Buf missing = {0};
  for (int i = 0; i < g->prog.nvars; i++) {
    const Var *v = &g->prog.vars[i];
    if (g->vals[i].set)
      continue;
    InitKind init = v->init;
    if (init == INIT_NONE && random_scalars && v->shape == SHAPE_SCALAR)
      init = INIT_UNIFORM; /* check: a seeded random point */
    if (init == INIT_NONE) {
      buf_printf(&missing, " %s", v->name);
      continue;
    }
    long n = values_size(g, v->shape);
    if (n < 0) {
      ERROR(g, "'%s' has a symbolic dimension that no data binds: give a value for it", v->name);
      st = GRADC_ERR_INPUT;
      continue;
    }
    double *d = (double)n * sizeof(double) < 1e15 ? malloc((size_t)(n > 0 ? n : 1) * sizeof *d) : NULL;
    if (!d) {
      ERROR(g, "out of memory for the default value of '%s' (%ld numbers)", v->name, n);
      st = GRADC_ERR_NOMEM;
      continue;
    }
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + (uint64_t)i * 0xd1b54a32d192ed03ull + 1;
    for (long e = 0; e < n; e++) {
      switch (init) {
      case INIT_VALUE: d[e] = v->init_a; break;
      case INIT_ARRAY: d[e] = v->init_vals[e]; break;
      case INIT_ZEROS: d[e] = 0; break;
      case INIT_ONES: d[e] = 1; break;
      case INIT_RANDN: d[e] = v->init_a * normal(&s); break;
      case INIT_UNIFORM:
        d[e] = v->init == INIT_UNIFORM ? v->init_a + (v->init_b - v->init_a) * uniform01(&s)
                                       : 0.25 + uniform01(&s);
        break;
      default: d[e] = 0; break;
      }
    }
    long dims[MAX_RANK];
    const Shape *sh = shape_get(g->prog.dag, v->shape);
    for (int k = 0; k < sh->rank; k++)
      dims[k] = sh->dim[k] >= 0 ? (long)sh->dim[k] : g->dimval[~sh->dim[k]];
    GradcStatus r = store(g, i, d, dims, sh->rank, 1, "default");
    if (r != GRADC_OK)
      st = r;
  }
  if (missing.len) {
    ERROR(g, "no value for%s: give %s as NAME=VALUE, in --inputs, or as a default in the file",
          missing.data, strchr(missing.data + 1, ' ') ? "them" : "it");
    st = GRADC_ERR_INPUT;
  }
  buf_free(&missing);
  return st;
}
