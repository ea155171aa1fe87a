/* emit_array.c: `gradc emit --abi array` (SPEC section 3), the
 * array-of-pointers calling convention of CasADi's generated code:
 *
 *   int P_F_grad(const double **arg, double **res, const long *dims, double *work);
 *
 * one pointer per argument (a scalar too) and per result, the symbolic
 * dimensions in an array, plus queries: P_F_grad_n_in(), _n_out(),
 * _name_in(i), _name_out(i), _shape_in(i, dims, shape), _shape_out(...) and
 * _work(dims). So a program calls a function of 10^4 scalar variables
 * without writing 10^4 arguments, and looks its arguments up by name.
 *
 * It is a layer over the code the JIT runs: emit_c writes each function
 * in the JIT's calling convention (EmitOpts.kernel: dimensions, arguments
 * and results as arrays, the same statements as the default ABI's), but
 * static and named g_P_F_grad (no user identifier begins with g_), and
 * each array function passes arg, res, dims and work on to it. A function
 * of 10^4 scalars so has no 10^4-parameter list anywhere, which compilers
 * handle slowly (gcc -O1: minutes). */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "gradc.h"

void gradc_set_emit_abi(Gradc *g, GradcAbi abi) {
  if (g)
    g->emit_abi = abi;
}

/* The name of argument k / result k of fn from the side tables, else its
 * C name. */
static const char *arg_name(const EmitNames *nm, const EmitFn *fn, int k) {
  uintptr_t base = (uintptr_t)nm->args, p = (uintptr_t)(fn->args + k);
  if (nm->argname && p >= base && p < base + (uintptr_t)nm->nargs * sizeof *nm->args) {
    const char *s = nm->argname[(p - base) / sizeof *nm->args];
    if (s)
      return s;
  }
  return fn->args[k].cname;
}

static const char *res_name(const EmitNames *nm, const EmitFn *fn, int k) {
  uintptr_t base = (uintptr_t)nm->res, p = (uintptr_t)(fn->res + k);
  if (nm->resname && p >= base && p < base + (uintptr_t)nm->nres * sizeof *nm->res) {
    const char *s = nm->resname[(p - base) / sizeof *nm->res];
    if (s)
      return s;
  }
  return fn->res[k].cname;
}

/* A C string literal. */
static void put_literal(Buf *b, const char *s) {
  buf_puts(b, "\"");
  for (; *s; s++) {
    if (*s == '"' || *s == '\\')
      buf_putn(b, "\\", 1);
    buf_putn(b, s, 1);
  }
  buf_puts(b, "\"");
}

/* A declaration or call built in d, wrapped onto b, then `end`. */
static void put_wrapped(Buf *b, Buf *d, const char *end) {
  if (d->oom)
    b->oom = 1;
  emit_wrapped(b, d->data ? d->data : "", d->len, (int)strlen(end));
  buf_puts(b, end);
  d->len = 0;
}

static const char *const suffixes[] = {"", "_n_in", "_n_out", "_name_in", "_name_out",
                                       "_shape_in", "_shape_out", "_work"};
enum { NSUFFIX = sizeof suffixes / sizeof *suffixes };

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Every public name once: an output named L_work would give a second
 * P_L_work next to the workspace query of P_L. NULL, or a duplicate. */
static const char *duplicate(Gradc *g, const char *const *pub, int nfns, int *oom) {
  size_t n = (size_t)nfns * NSUFFIX;
  const char **all = malloc((n + 1) * sizeof *all);
  const char *dup = NULL;
  if (!all) {
    *oom = 1;
    return NULL;
  }
  for (int f = 0; f < nfns; f++)
    for (int s = 0; s < NSUFFIX; s++) {
      size_t len = strlen(pub[f]) + strlen(suffixes[s]) + 1;
      char *name = arena_alloc(&g->arena, len);
      if (!name) {
        *oom = 1;
        free(all);
        return NULL;
      }
      snprintf(name, len, "%s%s", pub[f], suffixes[s]);
      all[(size_t)f * NSUFFIX + (size_t)s] = name;
    }
  qsort(all, n, sizeof *all, cmp_str);
  for (size_t i = 1; i < n && !dup; i++)
    if (!strcmp(all[i - 1], all[i]))
      dup = all[i];
  free(all);
  return dup;
}

/* The header's description of one function: each argument's and result's
 * place, name and shape. */
static void describe(const Dag *d, const EmitFn *fn, const EmitNames *nm, const char *pub, Buf *h) {
  char sh[128], at[32];
  int w = 6; /* the names' column */
  for (int k = 0; k < fn->ndims; k++)
    w = (int)strlen(fn->dimc[k]) > w ? (int)strlen(fn->dimc[k]) : w;
  for (int k = 0; k < fn->nargs; k++)
    w = (int)strlen(arg_name(nm, fn, k)) > w ? (int)strlen(arg_name(nm, fn, k)) : w;
  for (int k = 0; k < fn->nres; k++)
    w = (int)strlen(res_name(nm, fn, k)) > w ? (int)strlen(res_name(nm, fn, k)) : w;
  w = w > 24 ? 24 : w;
  buf_puts(h, "\n");
  emit_comment(h, fn->comment ? fn->comment : pub, 0);
  for (int k = 0; k < fn->ndims; k++) {
    snprintf(at, sizeof at, "dims[%d]", k);
    buf_printf(h, " *   %-8s %-*s dimension, bound by the data\n", at, w, fn->dimc[k]);
  }
  for (int k = 0; k < fn->nargs; k++) {
    shape_format(d, fn->args[k].shape, sh, sizeof sh);
    snprintf(at, sizeof at, "arg[%d]", k);
    buf_printf(h, " *   %-8s %-*s %s\n", at, w, arg_name(nm, fn, k), sh);
  }
  for (int k = 0; k < fn->nres; k++) {
    const char *name = res_name(nm, fn, k), *c = fn->res[k].comment;
    shape_format(d, dag_shape(d, fn->res[k].node), sh, sizeof sh);
    snprintf(at, sizeof at, "res[%d]", k);
    buf_printf(h, " *   %-8s %-*s %s%s%s\n", at, w, name, sh, c && strcmp(c, name) ? ", " : "",
               c && strcmp(c, name) ? c : "");
  }
  if (!fn->ndims)
    buf_puts(h, " * Returns 0, -1 if out of memory, or k > 0 if runtime check k failed. */\n");
  else
    buf_puts(h, " * Returns 0, -1 if out of memory, -2 if dims is NULL or a dimension is\n"
                " * negative (as _work does then), or k > 0 if runtime check k failed. */\n");
}

/* The prototypes of one function's array ABI. */
static void prototypes(const char *pub, Buf *b) {
  Buf d = {0};
  buf_printf(&d, "int %s(const double **arg, double **res, const long *dims, double *work)", pub);
  put_wrapped(b, &d, ";\n");
  buf_printf(b, "int %s_n_in(void);\nint %s_n_out(void);\n", pub, pub);
  buf_printf(b, "const char *%s_name_in(int i);\nconst char *%s_name_out(int i);\n", pub, pub);
  buf_printf(&d, "int %s_shape_in(int i, const long *dims, long *shape)", pub);
  put_wrapped(b, &d, ";\n");
  buf_printf(&d, "int %s_shape_out(int i, const long *dims, long *shape)", pub);
  put_wrapped(b, &d, ";\n");
  buf_printf(b, "long %s_work(const long *dims);\n", pub);
  buf_free(&d);
}

/* _shape_in or _shape_out: fills g_shape, returns the rank; -1 for an i
 * out of range. Only the tensors need a case: the rest are scalars. */
static void shape_query(const Dag *d, const EmitFn *fn, const char *pub, int out, Buf *b) {
  int n = out ? fn->nres : fn->nargs, tensors = 0;
  Buf q = {0};
  buf_printf(&q, "int %s_shape_%s(int g_i, const long *g_dims, long *g_shape)", pub, out ? "out" : "in");
  put_wrapped(b, &q, " {\n");
  buf_free(&q);
  buf_printf(b, "  if (g_i < 0 || g_i >= %d)\n    return -1;\n", n);
  for (int k = 0; k < n; k++) {
    const Shape *s = shape_get(d, out ? dag_shape(d, fn->res[k].node) : fn->args[k].shape);
    if (s->rank == 0)
      continue;
    if (!tensors++) {
      for (int j = 0; j < fn->ndims; j++)
        buf_printf(b, "  long %s = g_dims[%d];\n  (void)%s;\n", fn->dimc[j], j, fn->dimc[j]);
      emit_derived_dims(d, fn, b);
      buf_puts(b, "  switch (g_i) {\n");
    }
    buf_printf(b, "  case %d:", k);
    for (int j = 0; j < s->rank; j++) {
      buf_printf(b, " g_shape[%d] = ", j);
      emit_dim(d, fn, b, s->dim[j]);
      buf_puts(b, ";");
    }
    buf_printf(b, " return %d;\n", s->rank);
  }
  if (tensors)
    buf_puts(b, "  }\n");
  if (!tensors || !fn->ndims)
    buf_puts(b, "  (void)g_dims;\n");
  buf_puts(b, "  (void)g_shape;\n  return 0;\n}\n\n");
}

static void name_query(const EmitFn *fn, const EmitNames *nm, const char *pub, int out, Buf *b) {
  int n = out ? fn->nres : fn->nargs;
  buf_printf(b, "const char *%s_name_%s(int g_i) {\n", pub, out ? "out" : "in");
  if (n == 0) {
    buf_puts(b, "  (void)g_i;\n  return 0;\n}\n\n");
    return;
  }
  buf_puts(b, "  static const char *const g_names[] = {");
  for (int k = 0; k < n; k++) {
    buf_puts(b, k % 4 ? ", " : k ? ",\n    " : "\n    ");
    put_literal(b, out ? res_name(nm, fn, k) : arg_name(nm, fn, k));
  }
  buf_printf(b, "};\n  return g_i >= 0 && g_i < %d ? g_names[g_i] : 0;\n}\n\n", n);
}

/* The array function itself and its queries. */
static void wrapper(const Dag *d, const EmitFn *fn, const EmitNames *nm, const char *pub, Buf *b) {
  Buf q = {0};
  Buf c = {0};
  buf_printf(&c, "%s (array ABI)", fn->comment ? fn->comment : pub);
  emit_comment(b, c.data ? c.data : "", 1);
  buf_free(&c);
  buf_printf(&q, "int %s(const double **g_arg, double **g_res, const long *g_dims, double *g_work)",
             pub);
  put_wrapped(b, &q, " {\n");
  buf_printf(b, "  return %s(g_dims, g_arg, g_res, g_work);\n}\n\n", fn->name);
  buf_printf(b, "int %s_n_in(void) {\n  return %d;\n}\n\n", pub, fn->nargs);
  buf_printf(b, "int %s_n_out(void) {\n  return %d;\n}\n\n", pub, fn->nres);
  name_query(fn, nm, pub, 0, b);
  name_query(fn, nm, pub, 1, b);
  shape_query(d, fn, pub, 0, b);
  shape_query(d, fn, pub, 1, b);

  buf_printf(b, "long %s_work(const long *g_dims) {\n  return %s_work(g_dims);\n}\n\n", pub,
             fn->name);
  if (q.oom)
    b->oom = 1;
  buf_free(&q);
}

static const char header_intro[] =
    "/* The array ABI (gradc emit --abi array), as in CasADi's generated code.\n"
    " * For each function F below:\n"
    " *   int F(const double **arg, double **res, const long *dims, double *work)\n"
    " *     arg[i] points to argument i (one double for a scalar, else its\n"
    " *     elements row-major), res[i] to where result i goes, dims holds the\n"
    " *     symbolic dimensions (may be NULL when there are none), work\n"
    " *     F_work(dims) doubles or NULL to let F allocate and free it.\n"
    " *   F_n_in(), F_n_out()              how many arguments and results\n"
    " *   F_name_in(i), F_name_out(i)      their names (NULL for i out of range)\n"
    " *   F_shape_in(i, dims, shape)       fills shape[0..rank-1] and returns the\n"
    " *   F_shape_out(i, dims, shape)      rank (0 for a scalar; -1 out of range)\n"
    " *   F_work(dims)                     doubles of workspace F needs\n"
    " * Every function is reentrant: no global state. */\n";

GradcStatus emit_array(Gradc *g, EmitFn *fns, int nfns, const EmitNames *nm, EmitOpts *eo, Buf *src,
                       Buf *hdr) {
  const Dag *d = g->prog.dag;
  const char **pub = malloc(((size_t)nfns + 1) * sizeof *pub);
  int oom = !pub;
  for (int f = 0; f < nfns && !oom; f++)
    pub[f] = fns[f].name;
  const char *dup = oom ? NULL : duplicate(g, pub, nfns, &oom);
  if (oom || dup) {
    free(pub);
    if (oom)
      return GRADC_ERR_NOMEM;
    /* the output to blame: the longest name that the duplicate ends in */
    const Program *prog = &g->prog;
    int q = -1;
    size_t ld = strlen(dup), best = 0;
    for (int o = 0; o < prog->nouts; o++) {
      size_t lo = strlen(prog->outs[o].name);
      if (lo < ld && lo > best && dup[ld - lo - 1] == '_' && !strcmp(dup + ld - lo, prog->outs[o].name))
        best = lo, q = o;
    }
    if (q >= 0)
      diag_add(&g->diags, GRADC_ERR_INPUT, &g->src, prog->outs[q].span, NULL,
               "emit --abi array: output '%s' would give a second C function named %s (the "
               "array ABI adds _n_in, _n_out, _name_in, _name_out, _shape_in, _shape_out and "
               "_work to every function's name)", prog->outs[q].name, dup);
    else
      gradc_error(g, GRADC_ERR_INPUT, "emit --abi array: two C functions would be named %s", dup);
    return GRADC_ERR_INPUT;
  }
  for (int f = 0; f < nfns; f++) { /* the typed functions become static g_P_F... */
    size_t len = strlen(pub[f]) + 3;
    char *internal = arena_alloc(&g->arena, len);
    if (!internal) {
      free(pub);
      return GRADC_ERR_NOMEM;
    }
    snprintf(internal, len, "g_%s", pub[f]);
    fns[f].name = internal;
  }
  eo->internal = 1;
  eo->kernel = 1;
  emit_c(d, fns, nfns, eo, src, NULL);
  eo->internal = 0;
  eo->kernel = 0;

  buf_puts(src, "/* ---- the array ABI -------------------------------------------------- */\n\n");
  for (int f = 0; f < nfns; f++) /* prototypes, for -Wmissing-prototypes without the header */
    prototypes(pub[f], src);
  buf_puts(src, "\n");
  for (int f = 0; f < nfns; f++)
    wrapper(d, &fns[f], nm, pub[f], src);
  if (hdr) {
    buf_printf(hdr, "/* Generated by gradc %s. */\n", GRADC_VERSION);
    buf_puts(hdr, header_intro);
    for (int f = 0; f < nfns; f++) {
      describe(d, &fns[f], nm, pub[f], hdr);
      prototypes(pub[f], hdr);
    }
  }
  for (int f = 0; f < nfns; f++) /* the caller's fns keep their public names */
    fns[f].name = pub[f];
  free(pub);
  return GRADC_OK;
}
