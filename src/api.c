/* api.c: the public API of gradc.h on top of the passes: read and compile a
 * program, build derivative roots, emit C for them and JIT it. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ir.h"

#include "api.h"
#include "parallel.h"
#include "sparsity.h"

#include <time.h>

/* CPU time of the process: what a stage costs, whatever else the machine
 * is doing (compiling is single-threaded). */
static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

Gradc *gradc_new(void) {
  Gradc *g = calloc(1, sizeof(Gradc));
  if (g)
    g->blas = jit_have_blas() ? -1 : 0; /* products by OpenBLAS in the JIT's code by default */
  return g;
}

static void free_fn(GradcFn *f) {
  par_fn_free(f);
  tiered_free(f);
  jit_free(f->mod);
  free(f->work);
  free(f->key);
  if (f->resdata)
    for (int i = 0; i < f->nres; i++)
      free(f->resdata[i]);
  free(f->resdata);
  free(f->argshape);
  free(f->resshape);
  free(f->roots);
  free(f->checks);
  for (int i = 0; i < f->nargs; i++)
    free(f->argnames[i]);
  for (int i = 0; i < f->nres; i++)
    free(f->resnames[i]);
  free(f->argnames);
  free(f->resnames);
  free(f);
}

void gradc_free(Gradc *g) {
  if (!g)
    return;
  while (g->fns) {
    GradcFn *next = g->fns->next;
    free_fn(g->fns);
    g->fns = next;
  }
  values_free(g);
  program_free(&g->prog);
  diags_free(&g->diags);
  buf_free(&g->rendered);
  free((char *)g->src.text);
  free((char *)g->src.name);
  arena_free(&g->arena);
  par_ctx_free(g);
  for (int i = 0; i < g->ndiff_avoid; i++)
    free(g->diff_avoid[i]);
  free(g->diff_avoid);
  free(g);
}

void gradc_set_backend(Gradc *g, GradcBackend b) {
  g->backend = b;
  g->backend_pinned = 1;
}

int gradc_set_blas(Gradc *g, int on) {
  if (on && !jit_have_blas())
    return -1;
  g->blas = on;
  return 0;
}

/* ---- compiling ------------------------------------------------------------ */

/* The first byte that is NUL or not part of valid UTF-8, or NULL. */
static const char *not_text(const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s, *end = p + len;
  while (p < end) {
    /* eight bytes at a time while they are ASCII and not NUL */
    for (uint64_t w; end - p >= 8; p += 8) {
      memcpy(&w, p, 8);
      if (((w - 0x0101010101010101ull) | w) & 0x8080808080808080ull)
        break; /* a byte >= 0x80, or one that borrowed: a NUL */
    }
    if (p == end)
      break;
    unsigned char c = *p;
    int n = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : -1;
    if (c == 0 || n < 0 || (n == 1 && c < 0xc2) || c > 0xf4 || p + n >= end + (n == 0))
      return (const char *)p;
    for (int i = 1; i <= n; i++)
      if ((p[i] & 0xc0) != 0x80)
        return (const char *)p;
    /* overlong forms, surrogates and code points above U+10FFFF */
    if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f) || (c == 0xf0 && p[1] < 0x90) ||
        (c == 0xf4 && p[1] > 0x8f))
      return (const char *)p;
    p += n + 1;
  }
  return NULL;
}

GradcStatus gradc_compile_string(Gradc *g, const char *name, const char *text,
                                 size_t len) {
  if (g->compiled) {
    gradc_error(g, GRADC_ERR_USAGE, "a context compiles one program");
    return GRADC_ERR_USAGE;
  }
  g->compiled = 1;
  char *copy = malloc(len + 1);
  char *nm = strdup(name ? name : "<string>");
  if (!copy || !nm) {
    free(copy);
    free(nm);
    return GRADC_ERR_NOMEM;
  }
  if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3)) { /* a UTF-8 byte-order mark */
    text += 3;
    len -= 3;
  }
  memcpy(copy, text, len);
  copy[len] = 0;
  g->src = (Source){nm, copy, len};
  /* binary files: a NUL byte or bytes that are not UTF-8 mean this is not
   * a text file, and echoing its "lines" would only print garbage */
  const char *nul = not_text(copy, len);
  if (nul) {
    int line = 1, col = 1;
    for (const char *s = copy; s < nul; s++) {
      if (*s == '\n') {
        line++;
        col = 1;
      } else {
        col++;
      }
    }
    diag_add(&g->diags, GRADC_ERR_INPUT, &g->src, (Span){line, col, line, col}, NULL,
             "this is not a text file (byte 0x%02x is not UTF-8 text)", (unsigned char)*nul);
    if (g->diags.count)
      g->diags.items[g->diags.count - 1].no_excerpt = 1;
    return GRADC_ERR_INPUT;
  }
  /* the AST in an arena of its own, freed once lowered (it is the biggest
   * structure of a long program: a few hundred bytes per definition) */
  Arena ast = {0};
  Parse p = {.arena = &ast, .names = &g->prog.arena, .diags = &g->diags, .src = &g->src};
  double t0 = now(), parse_cpu;
  int rc;
  /* a long source: parsed on a thread of its own while this one lowers */
  int lowered = pipeline_parse_lower(&p, &g->prog, &rc, &parse_cpu);
  double t1 = now();
  g->t_parse = parse_cpu;
  if (rc != 0) {
    parse_done(&p);
    arena_free(&ast);
    if (g->diags.count == 0)
      diag_add(&g->diags, GRADC_ERR_INPUT, &g->src, (Span){0}, NULL, "cannot parse");
    return GRADC_ERR_INPUT;
  }
  GradcStatus st = (GradcStatus)(lowered >= 0 ? lowered : lower_program(&g->prog, &p));
  parse_done(&p);
  arena_free(&ast);
  g->t_lower = now() - t1 + (t1 - t0 - parse_cpu); /* CPU: the lowering thread's too */
  return st;
}

GradcStatus gradc_compile_file(Gradc *g, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    gradc_error(g, GRADC_ERR_INPUT, "cannot open %s: %s", path, strerror(errno));
    return GRADC_ERR_INPUT;
  }
  Buf b = {.big = 1}; /* grown in place (mremap): no copy of a 30 MB file per doubling */
  char chunk[65536];
  size_t n;
  /* a source is text a person wrote: past 256 MiB it is not one (/dev/zero) */
  const size_t max_source = (size_t)1 << 28;
  while (!b.oom && b.len <= max_source && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
    buf_putn(&b, chunk, n);
  int err = ferror(f) ? errno : 0;
  fclose(f);
  if (!b.oom && b.len > max_source) {
    buf_free(&b);
    gradc_error(g, GRADC_ERR_INPUT, "%s is larger than 256 MiB: not a source file", path);
    return GRADC_ERR_INPUT;
  }
  if (err) {
    buf_free(&b);
    gradc_error(g, GRADC_ERR_INPUT, "cannot read %s: %s", path, strerror(err));
    return GRADC_ERR_INPUT;
  }
  if (b.oom) {
    buf_free(&b);
    return GRADC_ERR_NOMEM;
  }
  GradcStatus s = gradc_compile_string(g, path, b.data ? b.data : "", b.len);
  buf_free(&b);
  return s;
}

/* ---- diagnostics ------------------------------------------------------------ */

int gradc_diag_count(const Gradc *g) { return g->diags.count; }
const char *gradc_diag_message(const Gradc *g, int i) { return g->diags.items[i].msg; }
int gradc_diag_line(const Gradc *g, int i) { return g->diags.items[i].span.line; }
int gradc_diag_col(const Gradc *g, int i) { return g->diags.items[i].span.col; }
const char *gradc_diag_hint(const Gradc *g, int i) { return g->diags.items[i].hint; }
const char *gradc_diag_file(const Gradc *g, int i) { return g->diags.items[i].file; }

const char *gradc_diag_render(Gradc *g) {
  buf_free(&g->rendered);
  /* clang's -ferror-limit: a mistake in a function body called 20,000
   * times is one mistake, not 60,000 lines of messages */
  int shown = g->diags.count <= GRADC_MAX_SHOWN_ERRORS ? g->diags.count : GRADC_MAX_SHOWN_ERRORS;
  for (int i = 0; i < shown; i++)
    diag_render(&g->diags.items[i], &g->rendered);
  if (g->diags.count > shown)
    buf_printf(&g->rendered, "gradc: %d more error%s not shown\n", g->diags.count - shown,
               g->diags.count - shown == 1 ? "" : "s");
  return g->rendered.data ? g->rendered.data : "";
}

void gradc_diag_clear(Gradc *g) { diags_free(&g->diags); }

void gradc_error(Gradc *g, GradcStatus kind, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  diag_add(&g->diags, kind, NULL, (Span){0}, NULL, "%s", msg);
}

/* ---- the program -------------------------------------------------------------- */

int gradc_var_count(const Gradc *g) { return g->prog.nvars; }
const char *gradc_var_name(const Gradc *g, int i) { return g->prog.vars[i].name; }
int gradc_var_is_param(const Gradc *g, int i) { return g->prog.vars[i].kind == VAR_PARAM; }
int gradc_var_index(const Gradc *g, const char *name) { return program_var_index(&g->prog, name); }
int gradc_output_count(const Gradc *g) { return g->prog.nouts; }
const char *gradc_output_name(const Gradc *g, int i) { return g->prog.outs[i].name; }
int gradc_output_index(const Gradc *g, const char *name) { return program_output_index(&g->prog, name); }
int gradc_node_count(const Gradc *g) { return g->prog.dag ? (int)g->prog.dag->count : 0; }

const char *gradc_var_data_file(const Gradc *g, int i) {
  if (i < 0 || i >= g->prog.nvars || g->prog.vars[i].init != INIT_FILE)
    return NULL;
  return g->prog.vars[i].init_path;
}

const char *gradc_closest(const char *word, const char *const *cands, int n) {
  return diag_closest(word, cands, n);
}

const char *gradc_var_suggest(const Gradc *g, const char *name) {
  const char **c = malloc(((size_t)g->prog.nvars + 1) * sizeof *c);
  if (!c)
    return NULL;
  for (int i = 0; i < g->prog.nvars; i++)
    c[i] = g->prog.vars[i].name;
  const char *best = diag_closest(name, c, g->prog.nvars);
  free(c);
  return best;
}

int gradc_var_default(const Gradc *g, int i, double *value) {
  const Var *v = &g->prog.vars[i];
  switch (v->init) {
  case INIT_VALUE: *value = v->init_a; return 1;
  case INIT_ZEROS: *value = 0; return 1;
  case INIT_ONES: *value = 1; return 1;
  default: return 0;
  }
}

/* ---- building functions ----------------------------------------------------------- */

/* What a function computes, before it is emitted. */
typedef struct Plan {
  int nres, capres;
  NodeId *roots;
  char **names;
  int ntan;          /* extra arguments after the variables (tangents, cotangents) */
  const int *tan_of; /* their variables (names and shapes), or NULL: */
  const ShapeId *tan_shape; /* their shapes if not the variables' (vector mode) */
  ShapeId xshape;    /* one cotangent of this shape */
  const char *xname;
  const GradcFn *like; /* or: the extra arguments of this function (api_fn_like) */
  int oom;
  double t0;         /* when building started (derivatives are timed from it) */
} Plan;

static void plan_add(Plan *p, NodeId node, char *name) {
  if (p->nres == p->capres) {
    int cap = p->capres ? p->capres * 2 : 16;
    NodeId *r = realloc(p->roots, (size_t)cap * sizeof *r);
    char **n = r ? realloc(p->names, (size_t)cap * sizeof *n) : NULL;
    if (r)
      p->roots = r;
    if (!n) {
      p->oom = 1;
      free(name);
      return;
    }
    p->names = n;
    p->capres = cap;
  }
  if (!name || node == NO_NODE) {
    p->oom = 1;
    free(name);
    return;
  }
  p->roots[p->nres] = node;
  p->names[p->nres++] = name;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...) {
  va_list ap;
  va_start(ap, f);
  int n = vsnprintf(NULL, 0, f, ap);
  va_end(ap);
  char *s = malloc((size_t)n + 1);
  if (!s)
    return NULL;
  va_start(ap, f);
  vsnprintf(s, (size_t)n + 1, f, ap);
  va_end(ap);
  return s;
}

static void plan_free(Plan *p) {
  for (int i = 0; i < p->nres; i++)
    free(p->names[i]);
  free(p->roots);
  free(p->names);
}

static void find_checks(GradcFn *f);

/* Kernels over DAGs of at least UNIT_NODES nodes go to libtcc in units of
 * about UNIT_BYTES of C, parts of UNIT_PART_STMTS statements (jit_units.c):
 * below, one source is as fast and the units' preludes would cost more. */
#define UNIT_NODES (1u << 15)
#define UNIT_BYTES ((size_t)1 << 20)
#define UNIT_PART_STMTS 4096

static GradcFn *build(Gradc *g, Plan *pl) {
  Program *prog = &g->prog;
  if (prog->dag->oom == 2) {
    gradc_error(g, GRADC_ERR_INPUT, "the expression is too large (more than %u nodes)",
                prog->dag->max_nodes ? prog->dag->max_nodes : 64u * 1024 * 1024);
    plan_free(pl);
    return NULL;
  }
  if (pl->oom || prog->dag->oom) {
    gradc_error(g, GRADC_ERR_NOMEM, "out of memory while building derivatives");
    plan_free(pl);
    return NULL;
  }
  int nargs = prog->nvars + pl->ntan;
  GradcFn *f = calloc(1, sizeof *f);
  EmitArg *args = calloc((size_t)nargs + 1, sizeof *args);
  int *arg_of_var = malloc(((size_t)nargs + 1) * sizeof *arg_of_var);
  EmitRes *res = calloc((size_t)pl->nres + 1, sizeof *res);
  char **argnames = calloc((size_t)nargs + 1, sizeof *argnames);
  Buf src = {.big = 1}; /* never leaves build() */
  JitCode *units = NULL; /* a huge kernel's parts, compiled as they come */
  if (!f || !args || !arg_of_var || !res || !argnames)
    goto oom;
  f->argshape = malloc(((size_t)nargs + 1) * sizeof *f->argshape);
  f->resshape = malloc(((size_t)pl->nres + 1) * sizeof *f->resshape);
  if (!f->argshape || !f->resshape)
    goto oom;
  for (int k = 0; k < nargs; k++) {
    const Var *var = k < prog->nvars ? &prog->vars[k] : pl->tan_of ? &prog->vars[pl->tan_of[k - prog->nvars]] : NULL;
    if (k >= prog->nvars && pl->like)
      var = NULL;
    const char *vn = var ? var->name : pl->like ? pl->like->argnames[k] : pl->xname;
    args[k].var = k;
    args[k].shape = var ? var->shape : pl->like ? pl->like->argshape[k] : pl->xshape;
    if (var && k >= prog->nvars && pl->tan_shape)
      args[k].shape = pl->tan_shape[k - prog->nvars];
    f->argshape[k] = args[k].shape;
    arg_of_var[k] = k;
    args[k].cname = k < prog->nvars ? emit_ident(&g->arena, vn) : NULL;
    if (k >= prog->nvars) {
      char *cn = pl->like ? fmt("g_a%d", k) : fmt("g_dot_%s", emit_ident(&g->arena, vn));
      args[k].cname = cn ? arena_strndup(&g->arena, cn, strlen(cn)) : NULL;
      free(cn);
    }
    argnames[k] = k < prog->nvars || pl->like ? strdup(vn) : fmt("%s of %s", var ? "tangent" : "cotangent", vn);
    if (!args[k].cname || !argnames[k])
      goto oom;
  }
  for (int r = 0; r < pl->nres; r++) {
    char *cn = fmt("g_r%d", r);
    res[r].cname = cn ? arena_strndup(&g->arena, cn, strlen(cn)) : NULL;
    free(cn);
    res[r].node = pl->roots[r];
    f->resshape[r] = dag_shape(prog->dag, pl->roots[r]);
    if (!res[r].cname)
      goto oom;
  }
  EmitFn efn = {.name = "g_fn", .args = args, .nargs = nargs,
                .arg_of_var = arg_of_var, .res = res, .nres = pl->nres,
                .dimc = prog->dimnames, .ndims = prog->ndims};
  /* tiered: libtcc now, the cc backend's source on a thread (tiered.c) */
  int tiered = g->backend == GRADC_BACKEND_TIERED && jit_have_tcc();
  int tcc = (g->backend == GRADC_BACKEND_TCC || tiered) && jit_have_tcc(); /* else cc compiles it */
  if (tcc && prog->dag->count >= (g->unit_nodes ? g->unit_nodes : UNIT_NODES) &&
      !(units = jit_code_new(&g->diags, prog->dag->count, sysconf(_SC_NPROCESSORS_ONLN) > 1)))
    goto oom;
  EmitOpts opts = {.kernel = 1, .blas = g->blas != 0, .split = !tcc || units, .rt_matmul = tcc,
                   .sincos = JIT_SINCOS ? 2 - !tcc : 0};
  if (units) {
    opts.part_stmts = UNIT_PART_STMTS;
    opts.unit = jit_code_unit;
    opts.unit_ctx = units;
    opts.unit_bytes = UNIT_BYTES;
  }
  double t1 = now();
  emit_c(prog->dag, &efn, 1, &opts, &src, NULL);
  int unit_rc = units ? jit_code_finish(units) : 0;
  if (unit_rc) {
    int rejected = unit_rc > 0;
    jit_code_free(units);
    units = NULL;
    if (rejected)
      goto fail;
    goto oom;
  }
  if (src.oom)
    goto oom;
  double t2 = now();
  f->backend = tcc ? GRADC_BACKEND_TCC : GRADC_BACKEND_CC;
  if (units)
    f->mod = jit_compile_units(src.data, units, &g->diags);
  else
    f->mod = jit_compile(src.data, f->backend, &g->diags);
  units = NULL; /* the module's (or freed) */
  f->t_ad = pl->t0 > 0 ? t1 - pl->t0 : 0;
  f->t_emit = t2 - t1;
  f->t_jit = now() - t2;
  g->t_fns[0] += f->t_ad, g->t_fns[1] += f->t_emit, g->t_fns[2] += f->t_jit;
  if (!f->mod)
    goto fail;
  f->call = jit_lookup(f->mod, "g_fn");
  {
    JitThunk ws = jit_lookup(f->mod, "g_fn_work"); /* a long (*)(const long *) */
    memcpy(&f->work_size, &ws, sizeof ws);
  }
  if (!f->call) {
    gradc_error(g, GRADC_ERR_INTERNAL, "the compiled code has no entry point");
    goto fail;
  }
  if (tiered) {
    EmitOpts cco = opts;
    cco.split = 1, cco.rt_matmul = 0, cco.sincos = JIT_SINCOS;
    cco.part_stmts = 0, cco.unit = NULL, cco.unit_ctx = NULL, cco.unit_bytes = 0; /* one source */
    src.len = 0;
    emit_c(prog->dag, &efn, 1, &cco, &src, NULL);
    if (!src.oom)
      tiered_start(f, src.data); /* or none: f stays on libtcc */
  }
  buf_free(&src);
  free(args);
  free(arg_of_var);
  free(res);
  f->g = g;
  f->nargs = nargs;
  f->argnames = argnames;
  f->nres = pl->nres;
  f->resnames = pl->names; /* the plan's names and roots move to the function */
  f->roots = pl->roots;
  find_checks(f);
  f->next = g->fns;
  g->fns = f;
  return f;
oom:
  gradc_error(g, GRADC_ERR_NOMEM, "out of memory");
fail:
  jit_code_free(units);
  buf_free(&src);
  if (argnames)
    for (int k = 0; k < nargs; k++)
      free(argnames[k]);
  free(argnames);
  free(args);
  free(arg_of_var);
  free(res);
  if (f) {
    jit_free(f->mod);
    free(f->argshape);
    free(f->resshape);
  }
  free(f);
  plan_free(pl);
  return NULL;
}

/* ---- call-time checks of the dimensions ------------------------------------ */

static void find_checks(GradcFn *f) {
  const Dag *d = f->g->prog.dag;
  uint8_t *live = calloc(d->count + 1, 1);
  if (!live)
    return;
  for (int r = 0; r < f->nres; r++)
    live[f->roots[r]] = 1;
  int n = 0;
  DimCheck c[MAX_DIM_CHECKS];
  for (uint32_t i = d->count; i-- > 0;) {
    if (!live[i])
      continue;
    for (int k = 0; k < d->nodes[i].nargs; k++)
      live[d->nodes[i].arg[k]] = 1;
    if (dag_node_checks(d, i, c) > 0)
      live[i] = 2, n++;
  }
  f->checks = n ? malloc((size_t)n * sizeof *f->checks) : NULL;
  for (uint32_t i = 0; f->checks && i < d->count; i++)
    if (live[i] == 2)
      f->checks[f->nchecks++] = i;
  free(live);
}

/* Does node n's check hold for these dimensions? If not, report it (where
 * the program built it) and return 0. */
static int check_node_dims(Gradc *g, NodeId n, const long *dims) {
  const Dag *d = g->prog.dag;
  DimCheck c[MAX_DIM_CHECKS];
  int nc = dag_node_checks(d, n, c);
  for (int k = 0; k < nc; k++) {
    long a = dim_eval(d, c[k].a, dims), b = c[k].ge ? (long)c[k].b : dim_eval(d, c[k].b, dims);
    if (a < 0 || b < 0 || (c[k].ge ? a >= b : a == b))
      continue;
    char da[128], db[128], msg[512];
    dim_format(d, c[k].a, da, sizeof da);
    if (c[k].ge && c[k].dropped)
      snprintf(msg, sizeof msg, "index %lld is out of range for dimension %s of size %ld",
               (long long)c[k].shown, da, a);
    else if (c[k].ge)
      snprintf(msg, sizeof msg, "the slice reads index %lld, out of range for dimension %s of size %ld",
               (long long)c[k].shown, da, a);
    else {
      dim_format(d, c[k].b, db, sizeof db);
      snprintf(msg, sizeof msg, "shapes do not match: dimension %s is %ld but dimension %s is %ld", da, a,
               db, b);
    }
    for (int i = 0; i < g->prog.nchecks; i++)
      if (g->prog.check_node[i] == n) {
        diag_add(&g->diags, GRADC_ERR_INPUT, &g->src, g->prog.check_span[i], NULL, "%s", msg);
        return 0;
      }
    gradc_error(g, GRADC_ERR_INPUT, "%s", msg);
    return 0;
  }
  return 1;
}

int api_check_dims(Gradc *g, NodeId n, const long *dims) { return check_node_dims(g, n, dims); }

/* Functions are cached per context by what they compute. */
static char *fn_key(const char *kind, int out, const int *wrt, int nwrt) {
  Buf b = {0};
  buf_printf(&b, "%s:%d:", kind, out);
  if (!wrt)
    buf_puts(&b, "params");
  for (int k = 0; wrt && k < nwrt; k++)
    buf_printf(&b, "%d,", wrt[k]);
  return b.data;
}

static GradcFn *cached(Gradc *g, char *key) {
  if (!key)
    return NULL;
  for (GradcFn *f = g->fns; f; f = f->next)
    if (f->key && !strcmp(f->key, key)) {
      free(key);
      return f;
    }
  return NULL;
}

static GradcFn *remember(GradcFn *f, char *key) {
  if (f && !f->key)
    f->key = key;
  else
    free(key);
  return f;
}

static int ready(Gradc *g);
static int *default_wrt(Gradc *g, const int *wrt, int *nwrt);

/* A function of any roots (trace.c), cached under key (taken): ntan
 * tangent arguments shaped like the variables tan_of. */
GradcFn *api_fn_nodes(Gradc *g, char *key, const NodeId *roots, int nroots, int ntan,
                      const int *tan_of) {
  return api_fn_named(g, key, roots, NULL, nroots, ntan, tan_of);
}

GradcFn *api_fn_named(Gradc *g, char *key, const NodeId *roots, char **names, int nroots,
                      int ntan, const int *tan_of) {
  return api_fn_shaped(g, key, roots, names, nroots, ntan, tan_of, NULL, NULL);
}

GradcFn *api_fn_shaped(Gradc *g, char *key, const NodeId *roots, char **names, int nroots,
                       int ntan, const int *tan_of, const ShapeId *tan_shape, const char *xname) {
  GradcFn *f = cached(g, key);
  if (f) {
    for (int i = 0; names && i < nroots; i++)
      free(names[i]);
    return f;
  }
  Plan pl = {.ntan = ntan, .tan_of = tan_of, .tan_shape = tan_shape, .t0 = now()};
  if (!tan_of && tan_shape) { /* one cotangent */
    pl.xshape = tan_shape[0];
    pl.xname = xname;
  }
  for (int i = 0; i < nroots; i++)
    plan_add(&pl, roots[i], names ? names[i] : fmt("r%d", i));
  return remember(build(g, &pl), key);
}

GradcFn *api_fn_like(Gradc *g, const GradcFn *like, const NodeId *roots, int nroots) {
  Plan pl = {.ntan = like->nargs - g->prog.nvars, .like = like, .t0 = now()};
  for (int i = 0; i < nroots; i++)
    plan_add(&pl, roots[i], fmt("r%d", i));
  return build(g, &pl);
}

char *api_fn_key(const char *kind, int out, const int *wrt, int nwrt) {
  return fn_key(kind, out, wrt, nwrt);
}

int *api_default_wrt(Gradc *g, const int *wrt, int *nwrt) {
  return ready(g) ? default_wrt(g, wrt, nwrt) : NULL;
}

static int ready(Gradc *g) {
  if (!g->prog.dag || g->prog.nouts == 0) {
    gradc_error(g, GRADC_ERR_USAGE, "no program has been compiled");
    return 0;
  }
  return 1;
}

static void add_outputs(Gradc *g, Plan *pl) {
  for (int o = 0; o < g->prog.nouts; o++)
    plan_add(pl, g->prog.outs[o].node, strdup(g->prog.outs[o].name));
}

/* wrt == NULL: every param */
static int *default_wrt(Gradc *g, const int *wrt, int *nwrt) {
  int *w = malloc(((size_t)g->prog.nvars + (size_t)(*nwrt > 0 ? *nwrt : 0) + 1) * sizeof *w);
  if (!w)
    return NULL;
  if (wrt) {
    memcpy(w, wrt, (size_t)*nwrt * sizeof *w);
    return w;
  }
  *nwrt = 0;
  for (int i = 0; i < g->prog.nvars; i++)
    if (g->prog.vars[i].kind == VAR_PARAM)
      w[(*nwrt)++] = i;
  return w;
}

static GradcFn *gradc_fn_value_build(Gradc *g) {
  if (!ready(g))
    return NULL;
  Plan pl = {.t0 = now()};
  add_outputs(g, &pl);
  return build(g, &pl);
}

/* A derivative that the passes found to be zero, as a zero of its shape. */
static NodeId zero_if_none(Dag *d, NodeId n, ShapeId s) {
  return n == NO_NODE ? dag_bcast(d, dag_const(d, 0), s) : n;
}

static GradcFn *gradc_fn_grad_build(Gradc *g, const int *wrt_in, int nwrt) {
  if (!ready(g))
    return NULL;
  int *wrt = default_wrt(g, wrt_in, &nwrt);
  if (!wrt)
    return NULL;
  Plan pl = {.t0 = now()};
  Dag *d = g->prog.dag;
  add_outputs(g, &pl);
  if (d->count > (1u << 16)) /* a reverse sweep adds two or three times the DAG */
    dag_reserve(d, d->count < (1u << 28) ? 4 * d->count : d->count);
  for (int o = 0; o < g->prog.nouts && !pl.oom; o++) {
    uint32_t n;
    if (dag_shape(d, g->prog.outs[o].node) != SHAPE_SCALAR)
      continue; /* gradients are of scalar outputs; see gradc_fn_vjp */
    NodeId *adj = ad_reverse(d, g->prog.outs[o].node, NO_NODE, &n);
    if (!adj) {
      pl.oom = 1;
      break;
    }
    for (int k = 0; k < nwrt; k++) {
      const Var *v = &g->prog.vars[wrt[k]];
      plan_add(&pl, zero_if_none(d, adj[v->node], v->shape),
               fmt("d%s/d%s", g->prog.outs[o].name, v->name));
    }
    free(adj);
  }
  free(wrt);
  return build(g, &pl);
}

static GradcFn *gradc_fn_jvp_build(Gradc *g, const int *wrt_in, int nwrt) {
  if (!ready(g))
    return NULL;
  int *wrt = default_wrt(g, wrt_in, &nwrt);
  if (!wrt)
    return NULL;
  Program *prog = &g->prog;
  Dag *d = prog->dag;
  NodeId *seed = malloc(((size_t)prog->nvars + 1) * sizeof *seed);
  NodeId *roots = malloc(((size_t)prog->nouts + 1) * sizeof *roots);
  Plan pl = {.ntan = nwrt, .tan_of = wrt, .t0 = now()};
  if (!seed || !roots) {
    free(seed);
    free(roots);
    free(wrt);
    return NULL;
  }
  for (int i = 0; i < prog->nvars; i++)
    seed[i] = NO_NODE;
  for (int k = 0; k < nwrt; k++) /* the tangent arguments are variables too */
    seed[wrt[k]] = dag_var(d, prog->nvars + k, prog->vars[wrt[k]].shape);
  for (int o = 0; o < prog->nouts; o++)
    roots[o] = prog->outs[o].node;
  add_outputs(g, &pl);
  uint32_t n;
  NodeId *tan = ad_forward(d, seed, prog->nvars, roots, prog->nouts, &n);
  if (!tan)
    pl.oom = 1;
  for (int o = 0; tan && o < prog->nouts; o++)
    plan_add(&pl, zero_if_none(d, tan[roots[o]], dag_shape(d, roots[o])), fmt("d%s", prog->outs[o].name));
  free(tan);
  free(seed);
  free(roots);
  GradcFn *f = build(g, &pl);
  free(wrt);
  return f;
}

static GradcFn *gradc_fn_vjp_build(Gradc *g, int out, const int *wrt_in, int nwrt) {
  if (!ready(g) || out < 0 || out >= g->prog.nouts)
    return NULL;
  int *wrt = default_wrt(g, wrt_in, &nwrt);
  if (!wrt)
    return NULL;
  Program *prog = &g->prog;
  Dag *d = prog->dag;
  const Output *o = &prog->outs[out];
  Plan pl = {.ntan = 1, .xshape = dag_shape(d, o->node), .xname = o->name, .t0 = now()};
  NodeId ct = dag_var(d, prog->nvars, pl.xshape); /* the cotangent argument */
  plan_add(&pl, o->node, strdup(o->name));
  uint32_t n;
  NodeId *adj = ad_reverse(d, o->node, ct, &n);
  if (!adj)
    pl.oom = 1;
  for (int k = 0; adj && k < nwrt; k++) {
    const Var *v = &prog->vars[wrt[k]];
    plan_add(&pl, zero_if_none(d, adj[v->node], v->shape), fmt("d%s/d%s", o->name, v->name));
  }
  free(adj);
  free(wrt);
  return build(g, &pl);
}

/* A constant tensor of shape s with a 1 at flat element e (a zero-padded
 * scalar); symbolic dimensions have their bound sizes (dimval). */
static NodeId unit_tensor(Dag *d, ShapeId s, long e, const long *dimval) {
  if (s == SHAPE_SCALAR)
    return dag_const(d, 1);
  const Shape *x = shape_get(d, s);
  SliceSpec sp = {0};
  sp.rank = x->rank;
  for (int i = x->rank; i-- > 0;) {
    long n = dim_eval(d, x->dim[i], dimval);
    if (n <= 0)
      return NO_NODE;
    sp.full[i] = x->dim[i];
    sp.start[i] = e % n;
    sp.len[i] = 1;
    if (x->dim[i] < 0) { /* the size it was built for, at least */
      sp.need[i] = sp.start[i] + 1;
      sp.shown[i] = sp.start[i];
    }
    e /= n;
  }
  sp.drop = (1u << x->rank) - 1;
  return dag_pad(d, dag_const(d, 1), &sp);
}

/* Forward over reverse: the gradient g_k of every wrt variable, then for
 * each element r of the wrt variables flattened in order, the tangent of
 * every g_k along e_r: row r of the Hessian, one result per variable. */
static GradcFn *gradc_fn_hessian_build(Gradc *g, int out, const int *wrt_in, int nwrt) {
  if (!ready(g) || out < 0 || out >= g->prog.nouts)
    return NULL;
  int *wrt = default_wrt(g, wrt_in, &nwrt);
  if (!wrt)
    return NULL;
  Program *prog = &g->prog;
  Dag *d = prog->dag;
  Plan pl = {.t0 = now()};
  const Output *o = &prog->outs[out];
  plan_add(&pl, o->node, strdup(o->name));
  uint32_t n;
  NodeId *adj = ad_reverse(d, o->node, NO_NODE, &n);
  NodeId *grad = malloc(((size_t)nwrt + 1) * sizeof *grad);
  NodeId *seed = malloc(((size_t)prog->nvars + 1) * sizeof *seed);
  if (!adj || !grad || !seed)
    pl.oom = 1;
  for (int k = 0; !pl.oom && k < nwrt; k++)
    grad[k] = zero_if_none(d, adj[prog->vars[wrt[k]].node], prog->vars[wrt[k]].shape);
  for (int jv = 0; jv < nwrt && !pl.oom; jv++) {
    const Var *vj = &prog->vars[wrt[jv]];
    int64_t size = shape_size(d, vj->shape);
    if (size < 0) /* a symbolic size: one row per element of the bound value */
      size = g->dimval ? values_size(g, vj->shape) : -1;
    if (size < 0) {
      gradc_error(g, GRADC_ERR_INPUT, "hessian: '%s' has a symbolic dimension that no value binds", vj->name);
      pl.oom = 2;
      break;
    }
    for (long e = 0; e < size && !pl.oom; e++) {
      for (int i = 0; i < prog->nvars; i++)
        seed[i] = NO_NODE;
      seed[wrt[jv]] = unit_tensor(d, vj->shape, e, g->dimval);
      uint32_t m;
      NodeId *tan = ad_forward(d, seed, prog->nvars, grad, nwrt, &m);
      if (!tan) {
        pl.oom = 1;
        break;
      }
      for (int k = 0; k < nwrt; k++) {
        const Var *vk = &prog->vars[wrt[k]];
        char *name = vj->shape == SHAPE_SCALAR
                         ? fmt("d2%s/d%s/d%s", o->name, vj->name, vk->name)
                         : fmt("d2%s/d%s[%ld]/d%s", o->name, vj->name, e, vk->name);
        plan_add(&pl, zero_if_none(d, grad[k] < m ? tan[grad[k]] : NO_NODE, vk->shape), name);
      }
      free(tan);
    }
  }
  free(adj);
  free(grad);
  free(seed);
  free(wrt);
  if (pl.oom == 2) {
    plan_free(&pl);
    return NULL;
  }
  return build(g, &pl);
}

int gradc_fn_arg_count(const GradcFn *f) { return f->nargs; }
const char *gradc_fn_arg_name(const GradcFn *f, int i) { return f->argnames[i]; }
int gradc_fn_res_count(const GradcFn *f) { return f->nres; }
const char *gradc_fn_res_name(const GradcFn *f, int i) { return f->resnames[i]; }

long gradc_fn_op_count(const GradcFn *f) {
  return emit_count_ops(f->g->prog.dag, f->roots, f->nres); /* on demand: a pass over the DAG */
}

long gradc_fn_work_size(const GradcFn *f) {
  const Gradc *g = f->g;
  for (int k = 0; k < g->prog.ndims; k++)
    if (!g->dimval || g->dimval[k] < 0)
      return -1;
  long none = 0;
  return f->work_size ? f->work_size(g->dimval ? g->dimval : &none) : 0;
}

/* take(x, idx): an index that is not an integer in range. A scatter (its
 * adjoint) is reported at the take it comes from (the same indices). */
static GradcStatus take_failed(Gradc *g, NodeId n) {
  const Dag *d = g->prog.dag;
  const Node *nd = &d->nodes[n];
  NodeId idx = nd->arg[1];
  int axis = (int)nd->v.idx;
  ShapeId xs = nd->op == OP_TAKE ? d->nodes[nd->arg[0]].shape : nd->shape;
  int64_t dm = shape_get(d, xs)->dim[axis];
  long size = dm >= 0 ? (long)dm : (g->dimval ? g->dimval[~dm] : -1);
  char which[200] = "an index";
  const Node *l = &d->nodes[idx];
  if (l->op == OP_VAR && l->v.idx < g->prog.nvars && g->vals && g->vals[l->v.idx].set) {
    const Value *v = &g->vals[l->v.idx];
    long cnt = values_size(g, g->prog.vars[l->v.idx].shape);
    for (long e = 0; e < cnt; e++) {
      double x = v->data[e];
      if (!(x > -1.0 - (double)size && x < (double)size) || x != floor(x)) {
        snprintf(which, sizeof which, "the index %.10g (element %ld of '%s')", x, e, g->prog.vars[l->v.idx].name);
        break;
      }
    }
  } else if (l->op == OP_CONST) {
    snprintf(which, sizeof which, "the index %.10g", l->v.num);
  }
  Span at = {0};
  int found = 0;
  for (int i = 0; i < g->prog.nchecks && !found; i++) {
    const Node *c = &d->nodes[g->prog.check_node[i]];
    if (g->prog.check_node[i] == n || (c->op == OP_TAKE && c->arg[1] == idx && c->v.idx == nd->v.idx)) {
      at = g->prog.check_span[i];
      found = 1;
    }
  }
  const char *what = "take(): %s is not an integer in -%ld..%ld (axis %d has size %ld)";
  if (found)
    diag_add(&g->diags, GRADC_ERR_INPUT, &g->src, at, NULL, what, which, size, size - 1, axis, size);
  else
    gradc_error(g, GRADC_ERR_INPUT, what, which, size, size - 1, axis, size);
  return GRADC_ERR_INPUT;
}

static GradcStatus status_of(Gradc *g, int rc, const long *dims) {
  if (rc == 0)
    return GRADC_OK;
  if (rc < 0) {
    gradc_error(g, GRADC_ERR_NOMEM, "out of memory for the workspace");
    return GRADC_ERR_NOMEM;
  }
  /* a failed runtime check: the kernel returns the onehot node + 1 */
  NodeId n = (NodeId)(rc - 1);
  if (n < g->prog.dag->count && (g->prog.dag->nodes[n].op == OP_TAKE || g->prog.dag->nodes[n].op == OP_SCATTER))
    return take_failed(g, n);
  if (n < g->prog.dag->count && g->prog.dag->nodes[n].op != OP_ONEHOT) {
    if (check_node_dims(g, n, dims))
      gradc_error(g, GRADC_ERR_INPUT, "a check of the dimensions failed");
    return GRADC_ERR_INPUT;
  }
  int64_t k = n < g->prog.dag->count ? g->prog.dag->nodes[n].v.idx : 0;
  char which[160] = "a label";
  if (n < g->prog.dag->count && g->vals) { /* labels straight from an input: which one? */
    const Node *l = &g->prog.dag->nodes[g->prog.dag->nodes[n].arg[0]];
    if (l->op == OP_VAR && l->v.idx < g->prog.nvars && g->vals[l->v.idx].set) {
      const Value *v = &g->vals[l->v.idx];
      long cnt = values_size(g, g->prog.vars[l->v.idx].shape);
      for (long e = 0; e < cnt; e++) {
        double x = v->data[e];
        if (!(x > -0.5 && x < (double)k - 0.5)) {
          snprintf(which, sizeof which, "the label %.10g (element %ld of '%s')", x, e,
                   g->prog.vars[l->v.idx].name);
          break;
        }
      }
    }
  }
  for (int i = 0; i < g->prog.nchecks; i++)
    if (g->prog.check_node[i] == n) {
      diag_add(&g->diags, GRADC_ERR_INPUT, &g->src, g->prog.check_span[i], NULL,
               "onehot(): %s is not an integer in 0..%lld", which, (long long)(k - 1));
      return GRADC_ERR_INPUT;
    }
  gradc_error(g, GRADC_ERR_INPUT, "onehot(): a label is not an integer in 0..%lld", (long long)(k - 1));
  return GRADC_ERR_INPUT;
}

GradcStatus gradc_call_dims(GradcFn *f, const long *dims, const double *const *args,
                            double *const *res) {
  tiered_poll(f); /* between calls: the cc code, if the tiered JIT has it */
  long none = 0;
  dims = dims ? dims : &none;
  /* a workspace kept between calls: no allocation (and no page faults on
   * fresh memory) per call */
  long need = f->work_size ? f->work_size(dims) : 0;
  if (need > f->work_cap) {
    double *w = realloc(f->work, (size_t)need * sizeof *w);
    if (w) {
      f->work = w;
      f->work_cap = need;
    }
  }
  for (int k = 0; k < f->nchecks; k++) /* before the kernel: where the program says it */
    if (!check_node_dims(f->g, f->checks[k], dims))
      return GRADC_ERR_INPUT;
  return status_of(f->g, f->call(dims, args, res, need <= f->work_cap && need > 0 ? f->work : NULL), dims);
}

GradcStatus gradc_call(GradcFn *f, const double *const *args, double *const *res) {
  if (f->g->prog.ndims > 0) {
    gradc_error(f->g, GRADC_ERR_USAGE, "this program has symbolic dimensions: use gradc_call_dims");
    return GRADC_ERR_USAGE;
  }
  return gradc_call_dims(f, NULL, args, res);
}

int api_values_ready(Gradc *g) {
  if (!g->vals) {
    gradc_error(g, GRADC_ERR_USAGE, "no values: call gradc_set_defaults first");
    return 0;
  }
  for (int i = 0; i < g->prog.nvars; i++)
    if (!g->vals[i].set) {
      gradc_error(g, GRADC_ERR_USAGE, "no value for '%s'", g->prog.vars[i].name);
      return 0;
    }
  return 1;
}

GradcStatus gradc_run(GradcFn *f, const double *const *tangents) {
  Gradc *g = f->g;
  int nv = g->prog.nvars;
  if (!api_values_ready(g))
    return GRADC_ERR_USAGE;
  const double **args = malloc(((size_t)f->nargs + 1) * sizeof *args);
  if (!f->resdata)
    f->resdata = calloc((size_t)f->nres + 1, sizeof *f->resdata);
  if (!args || !f->resdata) {
    free(args);
    return GRADC_ERR_NOMEM;
  }
  for (int k = 0; k < f->nargs; k++)
    args[k] = k < nv ? g->vals[k].data : tangents[k - nv];
  for (int r = 0; r < f->nres; r++) {
    long n = values_size(g, f->resshape[r]);
    free(f->resdata[r]);
    f->resdata[r] = malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
    if (!f->resdata[r]) {
      free(args);
      return GRADC_ERR_NOMEM;
    }
  }
  GradcStatus st;
  tiered_poll(f);
  if (!par_run(f, args, &st)) /* blocks of rows on threads (parallel.c), or one call */
    st = gradc_call_dims(f, g->dimval, args, f->resdata);
  free(args);
  return st;
}

const double *gradc_fn_res_data(const GradcFn *f, int i) {
  return f->resdata ? f->resdata[i] : NULL;
}

int gradc_fn_res_shape(const GradcFn *f, int i, long *dims) {
  const Shape *s = shape_get(f->g->prog.dag, f->resshape[i]);
  for (int k = 0; k < s->rank; k++)
    dims[k] = dim_eval(f->g->prog.dag, s->dim[k], f->g->dimval);
  par_res_dims(f, i, dims); /* under MPI, rank 0 holds every row */
  return s->rank;
}

int gradc_fn_arg_shape(const GradcFn *f, int i, long *dims) {
  const Shape *s = shape_get(f->g->prog.dag, f->argshape[i]);
  for (int k = 0; k < s->rank; k++)
    dims[k] = dim_eval(f->g->prog.dag, s->dim[k], f->g->dimval);
  return s->rank;
}

/* ---- emitting C ------------------------------------------------------------------ */

/* The C name of output F's function with this suffix: P_F, P_F_grad... */
static const char *fn_name(Gradc *g, const char *prefix, const char *out, const char *suffix) {
  char *s = fmt("%s_%s%s", prefix, out, suffix);
  const char *r = s ? arena_strndup(&g->arena, s, strlen(s)) : NULL;
  free(s);
  return r;
}

static const char *arena_fmt_name(Gradc *g, const char *a, const char *b, const char *c) {
  char *s = fmt("%s%s%s", a, b, c);
  const char *r = s ? arena_strndup(&g->arena, s, strlen(s)) : NULL;
  free(s);
  return r;
}

GradcStatus gradc_emit(Gradc *g, const char *prefix, char **source,
                       char **header, const char *header_name) {
  *source = NULL;
  if (header)
    *header = NULL;
  if (!ready(g))
    return GRADC_ERR_USAGE;
  Program *prog = &g->prog;
  Dag *d = prog->dag;
  int nparams = 0;
  for (int i = 0; i < prog->nvars; i++)
    nparams += prog->vars[i].kind == VAR_PARAM;
  int nv = prog->nvars;
  int nfns = 0;
  EmitFn *fns = calloc(4 * (size_t)prog->nouts, sizeof *fns);
  EmitArg *args = calloc((size_t)(nv + nparams) + 1, sizeof *args);
  int *arg_of_var = malloc(((size_t)(nv + nparams) + 1) * sizeof *arg_of_var);
  NodeId *seed = malloc(((size_t)nv + 1) * sizeof *seed);
  EmitRes *res = calloc((size_t)prog->nouts * (size_t)(3 * nparams + 5) + 1, sizeof *res);
  int *pw = malloc(((size_t)nparams + 1) * sizeof *pw);          /* the params, for P_F_hvp */
  NodeId *pn = malloc(3 * ((size_t)nparams + 1) * sizeof *pn);   /* their v, gradient, H v */
  /* names for emit --abi array, parallel to args and res (emit_array.c;
   * entries of res beyond nres_names get their C names) */
  int nres_names = prog->nouts * (3 * nparams + 5);
  const char **argname = calloc((size_t)(nv + nparams) + 1, sizeof *argname);
  const char **resname = calloc((size_t)nres_names + 1, sizeof *resname);
  Buf src = {0}, hdr = {0};
  GradcStatus st = GRADC_OK;
  if (!fns || !args || !arg_of_var || !seed || !res || !pw || !pn || !argname || !resname) {
    st = GRADC_ERR_NOMEM;
    goto done;
  }
  /* symbolic dimensions, as safe C names */
  const char **dimc = arena_alloc(&g->arena, ((size_t)prog->ndims + 1) * sizeof *dimc);
  if (!dimc) {
    st = GRADC_ERR_NOMEM;
    goto done;
  }
  for (int k = 0; k < prog->ndims; k++)
    dimc[k] = emit_ident(&g->arena, prog->dimnames[k]);
  /* arguments: the variables in declaration order, then (jvp) the tangents */
  int np = 0;
  for (int k = 0; k < nv; k++) {
    args[k] = (EmitArg){emit_ident(&g->arena, prog->vars[k].name), k, prog->vars[k].shape};
    argname[k] = prog->vars[k].name;
    arg_of_var[k] = k;
    seed[k] = NO_NODE;
  }
  for (int k = 0; k < nv; k++)
    if (prog->vars[k].kind == VAR_PARAM) {
      int idx = nv + np++;
      args[idx] = (EmitArg){arena_fmt_name(g, "g_dot_", args[k].cname, ""), idx, prog->vars[k].shape};
      argname[idx] = arena_fmt_name(g, "tangent of ", prog->vars[k].name, "");
      arg_of_var[idx] = idx;
      seed[k] = dag_var(d, idx, prog->vars[k].shape);
      pw[np - 1] = k;
      pn[np - 1] = seed[k];
    }
  /* C function names must not collide: P_a_grad vs an output named a_grad */
  for (int o = 0; o < prog->nouts; o++)
    for (int q = 0; q < prog->nouts; q++) {
      const char *a = prog->outs[o].name, *b = prog->outs[q].name;
      size_t la = strlen(a);
      if (!strncmp(a, b, la) &&
          (!strcmp(b + la, "_grad") || !strcmp(b + la, "_jvp") || !strcmp(b + la, "_hvp"))) {
        diag_add(&g->diags, GRADC_ERR_INPUT, &g->src, prog->outs[q].span, NULL,
                 "output '%s' would have the same C name as the %s function of '%s'",
                 b, b + la + 1, a);
        st = GRADC_ERR_INPUT;
        goto done;
      }
    }
  EmitRes *r = res;
  for (int o = 0; o < prog->nouts; o++) {
    const Output *out = &prog->outs[o];
    const char *oc = emit_ident(&g->arena, out->name);
    EmitFn *fv = &fns[nfns], *fg = fv + 1;
    int scalar = dag_shape(d, out->node) == SHAPE_SCALAR;
    EmitFn *fj = scalar ? fv + 2 : fv + 1, *fh = fv + 3;
    nfns += scalar ? 4 : 2;
    /* value */
    *r = (EmitRes){oc, out->node, "the value"};
    resname[r - res] = out->name;
    *fv = (EmitFn){fn_name(g, prefix, out->name, ""), NULL, args, nv, arg_of_var, r, 1, dimc, prog->ndims};
    fv->comment = arena_fmt_name(g, out->name, ": value", "");
    /* value and gradient (of a scalar output) */
    uint32_t n;
    EmitRes *gr = r + 1;
    int k = 1;
    if (!scalar)
      goto jvp;
    NodeId *adj = ad_reverse(d, out->node, NO_NODE, &n);
    if (!adj) {
      st = GRADC_ERR_NOMEM;
      goto done;
    }
    gr[0] = *r;
    for (int v = 0; v < nv; v++)
      if (prog->vars[v].kind == VAR_PARAM) {
        gr[k].cname = arena_fmt_name(g, "g_d", oc, "_d");
        gr[k].cname = arena_fmt_name(g, gr[k].cname, args[v].cname, "");
        gr[k].node = zero_if_none(d, adj[prog->vars[v].node], prog->vars[v].shape);
        gr[k].comment = arena_fmt_name(g, "d", out->name, "/d");
        gr[k].comment = arena_fmt_name(g, gr[k].comment, prog->vars[v].name, "");
        resname[gr + k - res] = gr[k].comment;
        k++;
      }
    free(adj);
    *fg = (EmitFn){fn_name(g, prefix, out->name, "_grad"), NULL, args, nv, arg_of_var, gr, k, dimc, prog->ndims};
    fg->comment = arena_fmt_name(g, out->name, ": value and reverse-mode gradient", "");
    /* value and directional derivative */
  jvp:;
    uint32_t m;
    if (!scalar)
      k = 0;
    NodeId root = out->node;
    NodeId *tan = ad_forward(d, seed, nv, &root, 1, &m);
    if (!tan) {
      st = GRADC_ERR_NOMEM;
      goto done;
    }
    EmitRes *jr = gr + k;
    jr[0] = *r;
    jr[1] = (EmitRes){arena_fmt_name(g, "g_dot_", oc, ""), zero_if_none(d, tan[root], dag_shape(d, root)),
                      "the directional derivative"};
    resname[jr - res] = resname[gr - res] = out->name;
    resname[jr + 1 - res] = arena_fmt_name(g, "d", out->name, "");
    free(tan);
    *fj = (EmitFn){fn_name(g, prefix, out->name, "_jvp"), NULL, args, nv + np, arg_of_var, jr, 2, dimc, prog->ndims};
    fj->comment = arena_fmt_name(g, out->name, ": value and forward-mode directional derivative", "");
    r = jr + 2;
    if (!scalar)
      continue;
    /* value, gradient and Hessian-vector product along the tangents (hvp.c) */
    if (hvp_nodes(prog, out->node, pw, np, 1, pn, pn + np, pn + 2 * np) < 0) {
      st = GRADC_ERR_NOMEM;
      goto done;
    }
    r[0] = jr[0];
    for (int q = 0; q < np; q++) {
      const Var *x = &prog->vars[pw[q]];
      r[1 + q] = (EmitRes){gr[1 + q].cname, pn[np + q], gr[1 + q].comment};
      r[1 + np + q].cname = arena_fmt_name(g, "g_d2", oc, "_d");
      r[1 + np + q].cname = arena_fmt_name(g, r[1 + np + q].cname, args[pw[q]].cname, "_v");
      r[1 + np + q].node = pn[2 * np + q];
      r[1 + np + q].comment = arena_fmt_name(g, "d2", out->name, "/d");
      r[1 + np + q].comment = arena_fmt_name(g, r[1 + np + q].comment, x->name, ".v (its part of H v)");
      resname[r + 1 + q - res] = gr[1 + q].comment; /* as gradc_fn_hvp names them */
      resname[r + 1 + np + q - res] = arena_fmt_name(g, "d2", out->name, "/d");
      resname[r + 1 + np + q - res] = arena_fmt_name(g, resname[r + 1 + np + q - res], x->name, ".v");
    }
    resname[r - res] = out->name;
    *fh = (EmitFn){fn_name(g, prefix, out->name, "_hvp"), NULL, args, nv + np, arg_of_var, r, 1 + 2 * np,
                   dimc, prog->ndims};
    fh->comment = arena_fmt_name(g, out->name,
                                 ": value, gradient and Hessian-vector product H v (forward over "
                                 "reverse), v given as the tangents", "");
    r += 1 + 2 * np;
  }
  if (d->oom) {
    st = GRADC_ERR_NOMEM;
    goto done;
  }
  SparseEmit *se = NULL; /* emit --sparse: their sweeps join fns (sparse_emit.c) */
  if (g->emit_sparse && (st = sparse_emit_plan(g, prefix, &fns, &nfns, &se)) != GRADC_OK)
    goto done;
  int *has_work = se ? calloc((size_t)nfns + 1, sizeof *has_work) : NULL;
  EmitOpts eo = {.blas = g->blas == 1, .split = 1, .has_work = has_work, .sincos = 1};
  EmitNames names = {args, argname, nv + nparams, res, resname, nres_names};
  int array = g->emit_abi == GRADC_ABI_ARRAY;
  if (array) { /* emit_array.c (the sparse functions: sparse_emit.c) */
    st = emit_array(g, fns, nfns, &names, &eo, &src, header ? &hdr : NULL);
    if (st != GRADC_OK) {
      sparse_emit_free(se);
      free(has_work);
      goto done;
    }
  } else {
    emit_c(d, fns, nfns, &eo, &src, header ? &hdr : NULL);
  }
  if (se && has_work)
    sparse_emit_code(se, fns, has_work, nfns, array, &src, header ? &hdr : NULL);
  else if (se)
    src.oom = 1;
  sparse_emit_free(se);
  free(has_work);
  if (src.oom || hdr.oom) {
    st = GRADC_ERR_NOMEM;
    goto done;
  }
  if (header) {
    Buf h = {0};
    char guard[256];
    snprintf(guard, sizeof guard, "GRADC_%s_H", prefix);
    for (char *c = guard; *c; c++)
      if (*c >= 'a' && *c <= 'z')
        *c = (char)(*c - 'a' + 'A');
    buf_printf(&h, "#ifndef %s\n#define %s\n", guard, guard);
    buf_putn(&h, hdr.data, hdr.len);
    buf_printf(&h, "\n#endif\n");
    *header = h.data;
    if (header_name) {
      Buf s2 = {0};
      buf_printf(&s2, "#include \"%s\"\n", header_name);
      buf_putn(&s2, src.data, src.len);
      buf_free(&src);
      src = s2;
    }
  }
  *source = src.data;
  src.data = NULL;
done:
  if (st == GRADC_ERR_NOMEM)
    gradc_error(g, GRADC_ERR_NOMEM, "out of memory");
  buf_free(&src);
  buf_free(&hdr);
  free(fns);
  free(args);
  free(arg_of_var);
  free(seed);
  free(res);
  free(pw);
  free(pn);
  free(argname);
  free(resname);
  return st;
}

int gradc_differentiable(Gradc *g, int out, int var) {
  if (!ready(g) || out < 0 || out >= g->prog.nouts || var < 0 || var >= g->prog.nvars)
    return 0;
  uint32_t n;
  NodeId *adj = ad_reverse(g->prog.dag, g->prog.outs[out].node, NO_NODE, &n);
  if (!adj)
    return 0;
  int r = adj[g->prog.vars[var].node] != NO_NODE;
  free(adj);
  return r;
}

void gradc_timings(const Gradc *g, const GradcFn *f, double t[5]) {
  t[0] = g->t_parse;
  t[1] = g->t_lower;
  t[2] = f ? f->t_ad : g->t_fns[0];
  t[3] = f ? f->t_emit : g->t_fns[1];
  t[4] = f ? f->t_jit : g->t_fns[2];
}

GradcFn *gradc_fn_value(Gradc *g) {
  char *key = fn_key("value", 0, NULL, 0);
  GradcFn *f = cached(g, key);
  return f ? f : remember(gradc_fn_value_build(g), key);
}

GradcFn *gradc_fn_grad(Gradc *g, const int *wrt, int nwrt) {
  char *key = fn_key("grad", 0, wrt, nwrt);
  GradcFn *f = cached(g, key);
  return f ? f : remember(gradc_fn_grad_build(g, wrt, nwrt), key);
}

GradcFn *gradc_fn_jvp(Gradc *g, const int *wrt, int nwrt) {
  char *key = fn_key("jvp", 0, wrt, nwrt);
  GradcFn *f = cached(g, key);
  return f ? f : remember(gradc_fn_jvp_build(g, wrt, nwrt), key);
}

GradcFn *gradc_fn_vjp(Gradc *g, int out, const int *wrt, int nwrt) {
  char *key = fn_key("vjp", out, wrt, nwrt);
  GradcFn *f = cached(g, key);
  return f ? f : remember(gradc_fn_vjp_build(g, out, wrt, nwrt), key);
}

GradcFn *gradc_fn_hessian(Gradc *g, int out, const int *wrt, int nwrt) {
  char *key = fn_key("hessian", out, wrt, nwrt);
  for (int k = 0; key && g->dimval && k < g->prog.ndims; k++) { /* one per size */
    char *k2 = fmt("%s;%ld", key, g->dimval[k]);
    free(key);
    key = k2;
  }
  GradcFn *f = cached(g, key);
  return f ? f : remember(gradc_fn_hessian_build(g, out, wrt, nwrt), key);
}
