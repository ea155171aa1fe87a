/* sparse_emit.c: `emit --sparse` (SPEC section 3). For each output F and
 * prefix P:
 *   P_F_jac_sparse          the nonzeros of the Jacobian of F with respect
 *                           to the params (rows: F's elements; columns: the
 *                           params' elements stacked in declaration order)
 *   P_F_hess_sparse         (scalar F) the nonzeros of its Hessian
 *   P_F_..._pattern         their pattern, compressed sparse column
 *                           (colptr, rowind), as CasADi and SuiteSparse;
 *                           the nonzeros are written in that order
 *   P_F_..._work            the doubles of workspace they need
 *   P_F_..._sweep           one JVP, VJP or HVP along a seed: the sparse
 *                           functions call it once per colour
 * The pattern and its colouring depend on the sizes, so they are computed
 * at the sizes bound when emitting (emit --sparse FILE N=1000) and kept as
 * static tables; called with other sizes, the sparse functions return -2.
 * Inputs count as unknown (any value), so the pattern holds for every
 * input: only the program's own constants (a band mask) remove nonzeros. */
#include <stdlib.h>
#include <string.h>

#include "sparsity.h"

typedef struct SpItem {
  int out, hess;
  GradcSparse *s;
  int kind;                /* 0 JVP, 1 VJP, 2 HVP sweeps */
  int sweep_work;          /* the sweep takes a workspace */
  char *name;              /* P_F_jac_sparse */
  char *sweep;             /* its sweep function */
  EmitArg *args;
  int *arg_of_var;
  EmitRes *res;
  int nargs, nres;
} SpItem;

struct SparseEmit {
  Gradc *g;
  int *params, np;
  const char **dimc;
  int ndims;
  SpItem *items;
  int nitems;
};

static char *cat3(const char *a, const char *b, const char *c) {
  size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
  char *s = malloc(n);
  if (s)
    snprintf(s, n, "%s%s%s", a, b, c);
  return s;
}

/* A string that lives as long as the context (C names of arguments). */
static const char *keep(Gradc *g, char *s) {
  const char *r = s ? arena_strndup(&g->arena, s, strlen(s)) : NULL;
  free(s);
  return r;
}

void sparse_emit_free(SparseEmit *se) {
  if (!se)
    return;
  for (int i = 0; i < se->nitems; i++) {
    SpItem *it = &se->items[i];
    gradc_sparse_free(it->s);
    free(it->name);
    free(it->sweep);
    free(it->args);
    free(it->arg_of_var);
    free(it->res);
  }
  free(se->items);
  free(se->params);
  free(se);
}

/* The sweep of one item as an EmitFn: its arguments (the variables, then
 * the seed: the params' tangents, or F's cotangent) and results (F's
 * tangent, or one vector per param). */
static int build_sweep(SparseEmit *se, SpItem *it, EmitFn *fn) {
  Gradc *g = se->g;
  Program *prog = &g->prog;
  Dag *d = prog->dag;
  int nv = prog->nvars, np = se->np;
  const Output *o = &prog->outs[it->out];
  const char *oc = emit_ident(&g->arena, o->name);
  it->nargs = nv + (it->kind == 1 ? 1 : np);
  it->args = calloc((size_t)it->nargs + 1, sizeof *it->args);
  it->arg_of_var = malloc(((size_t)(nv + np) + 2) * sizeof *it->arg_of_var);
  it->res = calloc((size_t)np + 2, sizeof *it->res);
  NodeId *seed = malloc(((size_t)nv + 1) * sizeof *seed);
  if (!it->args || !it->arg_of_var || !it->res || !seed) {
    free(seed);
    return -1;
  }
  for (int k = 0; k < nv + np + 1; k++)
    it->arg_of_var[k] = -1;
  for (int k = 0; k < nv; k++) {
    it->args[k] = (EmitArg){emit_ident(&g->arena, prog->vars[k].name), k, prog->vars[k].shape};
    it->arg_of_var[k] = k;
    seed[k] = NO_NODE;
  }
  int ok = 1;
  if (it->kind == 1) { /* VJP: F's cotangent, then the params' adjoints */
    ShapeId fs = dag_shape(d, o->node);
    it->args[nv] = (EmitArg){keep(g, cat3("g_bar_", oc, "")), nv, fs};
    it->arg_of_var[nv] = nv;
    uint32_t n;
    NodeId *adj = ad_reverse(d, o->node, dag_var(d, nv, fs), &n);
    ok = adj != NULL;
    for (int k = 0; ok && k < np; k++) {
      const Var *v = &prog->vars[se->params[k]];
      NodeId a = adj[v->node];
      it->res[k] = (EmitRes){keep(g, cat3("g_adj_", it->args[se->params[k]].cname, "")),
                             a == NO_NODE ? dag_bcast(d, dag_const(d, 0), v->shape) : a, "a VJP"};
    }
    it->nres = np;
    free(adj);
  } else {
    for (int k = 0; k < np; k++) {
      const Var *v = &prog->vars[se->params[k]];
      it->args[nv + k] = (EmitArg){keep(g, cat3("g_dot_", it->args[se->params[k]].cname, "")), nv + k, v->shape};
      it->arg_of_var[nv + k] = nv + k;
      seed[se->params[k]] = dag_var(d, nv + k, v->shape);
    }
    if (it->kind == 0) { /* JVP: F's tangent */
      uint32_t n;
      NodeId root = o->node;
      NodeId *tan = ad_forward(d, seed, nv, &root, 1, &n);
      ok = tan != NULL;
      if (ok)
        it->res[0] = (EmitRes){keep(g, cat3("g_dot_", oc, "")),
                               tan[root] == NO_NODE ? dag_bcast(d, dag_const(d, 0), dag_shape(d, root)) : tan[root],
                               "a JVP"};
      it->nres = 1;
      free(tan);
    } else { /* HVP: forward over reverse, as gradc_fn_hvp */
      uint32_t n, m;
      NodeId *adj = ad_reverse(d, o->node, NO_NODE, &n);
      NodeId *grad = malloc(((size_t)np + 1) * sizeof *grad);
      ok = adj && grad;
      for (int k = 0; ok && k < np; k++) {
        const Var *v = &prog->vars[se->params[k]];
        grad[k] = adj[v->node] == NO_NODE ? dag_bcast(d, dag_const(d, 0), v->shape) : adj[v->node];
      }
      NodeId *tan = ok ? ad_forward(d, seed, nv, grad, np, &m) : NULL;
      ok = ok && tan;
      for (int k = 0; ok && k < np; k++) {
        const Var *v = &prog->vars[se->params[k]];
        NodeId hv = grad[k] < m ? tan[grad[k]] : NO_NODE;
        it->res[k] = (EmitRes){keep(g, cat3("g_hv_", it->args[se->params[k]].cname, "")),
                               hv == NO_NODE ? dag_bcast(d, dag_const(d, 0), v->shape) : hv, "an HVP"};
      }
      it->nres = np;
      free(adj);
      free(grad);
      free(tan);
    }
  }
  free(seed);
  for (int k = 0; ok && k < it->nargs; k++)
    ok = it->args[k].cname != NULL;
  for (int k = 0; ok && k < it->nres; k++)
    ok = it->res[k].cname != NULL && it->res[k].node != NO_NODE;
  if (!ok || d->oom)
    return -1;
  *fn = (EmitFn){it->sweep, NULL, it->args, it->nargs, it->arg_of_var, it->res, it->nres, se->dimc, se->ndims};
  fn->comment = keep(g, cat3(o->name, it->kind == 0 ? ": one JVP sweep of " : it->kind == 1 ? ": one VJP sweep of " : ": one HVP sweep of ", it->name));
  return 0;
}

GradcStatus sparse_emit_plan(Gradc *g, const char *prefix, EmitFn **fns, int *nfns, SparseEmit **out) {
  *out = NULL;
  Program *prog = &g->prog;
  for (int k = 0; k < prog->ndims; k++)
    if (gradc_dim_value(g, k) < 0) {
      gradc_error(g, GRADC_ERR_USAGE,
                  "emit --sparse: the pattern depends on the sizes: give the size of %s (%s=SIZE)",
                  prog->dimnames[k], prog->dimnames[k]);
      return GRADC_ERR_USAGE;
    }
  /* C names: an output named F_jac_sparse... would collide with F's */
  static const char *const suffixes[] = {"_jac_sparse", "_hess_sparse"};
  for (int o = 0; o < prog->nouts; o++)
    for (int q = 0; q < prog->nouts; q++)
      for (int x = 0; x < 2; x++) {
        const char *a = prog->outs[o].name, *b = prog->outs[q].name;
        size_t la = strlen(a), ls = strlen(suffixes[x]);
        if (o != q && !strncmp(a, b, la) && !strncmp(b + la, suffixes[x], ls)) {
          diag_add(&g->diags, GRADC_ERR_INPUT, &g->src, prog->outs[q].span, NULL,
                   "output '%s' would have the same C name as the sparse functions of '%s'", b, a);
          return GRADC_ERR_INPUT;
        }
      }
  SparseEmit *se = calloc(1, sizeof *se);
  if (!se)
    return GRADC_ERR_NOMEM;
  se->g = g;
  se->params = malloc(((size_t)prog->nvars + 1) * sizeof *se->params);
  se->items = calloc(2 * (size_t)prog->nouts + 1, sizeof *se->items);
  se->dimc = arena_alloc(&g->arena, ((size_t)prog->ndims + 1) * sizeof *se->dimc);
  EmitFn *grown = realloc(*fns, ((size_t)*nfns + 2 * (size_t)prog->nouts + 1) * sizeof *grown);
  if (grown)
    *fns = grown;
  if (!se->params || !se->items || !se->dimc || !grown) {
    sparse_emit_free(se);
    return GRADC_ERR_NOMEM;
  }
  se->ndims = prog->ndims;
  for (int k = 0; k < prog->ndims; k++)
    se->dimc[k] = emit_ident(&g->arena, prog->dimnames[k]);
  for (int k = 0; k < prog->nvars; k++)
    if (prog->vars[k].kind == VAR_PARAM)
      se->params[se->np++] = k;
  GradcStatus st = GRADC_OK;
  for (int o = 0; o < prog->nouts && st == GRADC_OK; o++) {
    int scalar = dag_shape(prog->dag, prog->outs[o].node) == SHAPE_SCALAR;
    for (int h = 0; h <= scalar && st == GRADC_OK; h++) {
      SpItem *it = &se->items[se->nitems++];
      it->out = o;
      it->hess = h;
      it->s = h ? gradc_sparse_hessian(g, o, se->params, se->np, 0)
                : gradc_sparse_jacobian(g, &o, 1, se->params, se->np, 0);
      if (!it->s) {
        st = GRADC_ERR_INPUT;
        break;
      }
      it->kind = h ? 2 : it->s->reverse ? 1 : 0;
      char *p = cat3(prefix, "_", prog->outs[o].name);
      it->name = p ? cat3(p, h ? "_hess_sparse" : "_jac_sparse", "") : NULL;
      free(p);
      it->sweep = it->name ? cat3(it->name, "_sweep", "") : NULL;
      if (!it->sweep || build_sweep(se, it, &(*fns)[(*nfns)++]) < 0)
        st = GRADC_ERR_NOMEM;
    }
  }
  if (st != GRADC_OK) { /* gradc_emit reports running out of memory */
    sparse_emit_free(se);
    return st;
  }
  *out = se;
  return GRADC_OK;
}

/* ---- the C text ----------------------------------------------------------- */

static void table(Buf *b, const char *type, const char *name, const char *suffix, const long *v,
                  const int *iv, long n) {
  buf_printf(b, "static const %s %s%s[%ld] = {", type, name, suffix, n > 0 ? n : 1);
  if (n == 0)
    buf_puts(b, "0");
  for (long i = 0; i < n; i++) {
    if (i % 16 == 0)
      buf_puts(b, "\n ");
    buf_printf(b, " %ld,", v ? v[i] : (long)iv[i]);
  }
  buf_puts(b, "\n};\n");
}

static void dims_params(const SparseEmit *se, Buf *b, int types) {
  for (int k = 0; k < se->ndims; k++)
    buf_printf(b, "%s%s%s", k ? ", " : "", types ? "long " : "", se->dimc[k]);
  if (types && se->ndims == 0)
    buf_puts(b, "void");
}

static void signature(const SparseEmit *se, const SpItem *it, Buf *b) {
  const Program *prog = &se->g->prog;
  buf_printf(b, "int %s(", it->name);
  for (int k = 0; k < se->ndims; k++)
    buf_printf(b, "long %s, ", se->dimc[k]);
  for (int k = 0; k < prog->nvars; k++)
    buf_printf(b, "%s%s, ", prog->vars[k].shape == SHAPE_SCALAR ? "double " : "const double *",
               it->args[k].cname);
  buf_puts(b, "double *g_nz, double *work)");
}

static void pattern_signature(const SpItem *it, Buf *b) {
  buf_printf(b, "long %s_pattern(long *g_nrow, long *g_ncol, const long **g_colptr, const long **g_rowind)",
             it->name);
}

/* The static tables of one item: each seed entry's colour, and for each
 * nonzero (column-major) where it is in the compressed sweeps, the
 * pattern (colptr, rowind). Returns the fixed part of the workspace (the
 * seed and the compressed results), -1 out of memory. */
static long item_tables(const SpItem *it, Buf *b) {
  const GradcSparse *s = it->s;
  const struct GradcSparsePriv *p = s->priv;
  long nin = it->kind == 1 ? s->nrow : s->ncol;
  /* the compressed sparse column form and the sources in that order */
  long *colptr = calloc((size_t)s->ncol + 2, sizeof *colptr);
  long *rowind = malloc(((size_t)s->nnz + 1) * sizeof *rowind);
  long *src = malloc(((size_t)s->nnz + 1) * sizeof *src);
  if (!colptr || !rowind || !src) {
    b->oom = 1;
    free(colptr);
    free(rowind);
    free(src);
    return -1;
  }
  for (long q = 0; q < s->nnz; q++)
    colptr[s->col[q] + 1]++;
  for (long j = 0; j < s->ncol; j++)
    colptr[j + 1] += colptr[j];
  for (long i = 0; i < s->nrow; i++)
    for (long q = s->rowptr[i]; q < s->rowptr[i + 1]; q++) {
      long k = colptr[s->col[q]]++;
      rowind[k] = i;
      src[k] = p->src[q];
    }
  for (long j = s->ncol; j > 0; j--)
    colptr[j] = colptr[j - 1];
  colptr[0] = 0;
  buf_printf(b, "\n/* %s: %ld x %ld, %ld nonzeros, %d %s sweep(s) */\n", it->name, s->nrow, s->ncol, s->nnz,
             s->ncolours, it->kind == 0 ? "JVP" : it->kind == 1 ? "VJP" : "HVP");
  table(b, "int", it->name, "_colour", NULL, p->colour, nin);
  table(b, "long", it->name, "_src", src, NULL, s->nnz);
  table(b, "long", it->name, "_colptr", colptr, NULL, s->ncol + 1);
  table(b, "long", it->name, "_rowind", rowind, NULL, s->nnz);
  free(colptr);
  free(rowind);
  free(src);
  return nin + (long)p->nsweeps * p->len;
}

static void pattern_code(const SpItem *it, Buf *b) {
  const GradcSparse *s = it->s;
  pattern_signature(it, b);
  buf_printf(b, " {\n  *g_nrow = %ld;\n  *g_ncol = %ld;\n  *g_colptr = %s_colptr;\n  *g_rowind = %s_rowind;\n"
                "  return %ld;\n}\n",
             s->nrow, s->ncol, it->name, it->name, s->nnz);
}

static void item_code(const SparseEmit *se, const SpItem *it, Buf *b) {
  const GradcSparse *s = it->s;
  const struct GradcSparsePriv *p = s->priv;
  const Program *prog = &se->g->prog;
  int nv = prog->nvars;
  long nin = it->kind == 1 ? s->nrow : s->ncol;
  long work_fixed = item_tables(it, b);
  if (work_fixed < 0)
    return;
  /* the workspace */
  buf_printf(b, "\nlong %s_work(", it->name);
  dims_params(se, b, 1);
  buf_printf(b, ") {\n");
  for (int k = 0; k < se->ndims; k++)
    buf_printf(b, "  (void)%s;\n", se->dimc[k]);
  buf_printf(b, "  return %ldL", work_fixed + 1);
  if (it->sweep_work) {
    buf_printf(b, " + %s_work(", it->sweep);
    dims_params(se, b, 0);
    buf_puts(b, ")");
  }
  buf_puts(b, ";\n}\n\n");
  /* the function */
  signature(se, it, b);
  buf_puts(b, " {\n");
  for (int k = 0; k < se->ndims; k++)
    buf_printf(b, "  if (%s != %ld)\n    return -2;\n", se->dimc[k], se->g->dimval[k]);
  buf_printf(b, "  double *g_own = 0, *g_w = work;\n  if (!g_w) {\n"
                "    g_w = g_own = (double *)malloc(sizeof(double) * (size_t)%s_work(",
             it->name);
  dims_params(se, b, 0);
  buf_puts(b, "));\n    if (!g_w)\n      return -1;\n  }\n");
  buf_printf(b, "  double *g_seed = g_w, *g_cmp = g_w + %ldL;\n", nin);
  if (it->sweep_work)
    buf_printf(b, "  double *g_inner = g_w + %ldL;\n", work_fixed + 1);
  buf_puts(b, "  int g_status = 0;\n");
  buf_printf(b, "  for (int g_t = 0; g_t < %d && !g_status; g_t++) {\n", p->nsweeps);
  buf_printf(b, "    for (long g_i = 0; g_i < %ldL; g_i++)\n      g_seed[g_i] = %s_colour[g_i] == g_t ? 1.0 : 0.0;\n",
             nin, it->name);
  buf_printf(b, "    double *g_out = g_cmp + (long)g_t * %ldL;\n", p->len);
  if (it->kind != 0 && se->np == 0) /* no params: nothing comes back */
    buf_puts(b, "    (void)g_out;\n");
  /* the sweep's arguments: dimensions, variables, the seed, the results */
  buf_printf(b, "    g_status = %s(", it->sweep);
  int first = 1;
#define ARG(...) (buf_puts(b, first ? "" : ", "), first = 0, buf_printf(b, __VA_ARGS__))
  for (int k = 0; k < se->ndims; k++)
    ARG("%s", se->dimc[k]);
  for (int k = 0; k < nv; k++)
    ARG("%s", it->args[k].cname);
  if (it->kind == 1)
    ARG("%s", it->args[nv].shape == SHAPE_SCALAR ? "g_seed[0]" : "g_seed");
  else
    for (int k = 0; k < se->np; k++)
      ARG(it->args[nv + k].shape == SHAPE_SCALAR ? "g_seed[%ld]" : "g_seed + %ld", p->col_off[k]);
  for (int k = 0; k < (it->kind == 0 ? 1 : se->np); k++)
    ARG("g_out + %ld", it->kind == 0 ? 0 : p->col_off[k]);
  if (it->sweep_work)
    ARG("g_inner");
#undef ARG
  buf_puts(b, ");\n  }\n");
  buf_printf(b, "  for (long g_k = 0; !g_status && g_k < %ldL; g_k++)\n    g_nz[g_k] = g_cmp[%s_src[g_k]];\n",
             s->nnz, it->name);
  buf_puts(b, "  free(g_own);\n  return g_status;\n}\n\n");
  pattern_code(it, b);
}

/* ---- the same under the array ABI (emit --abi array --sparse) -------------
 * P_F_jac_sparse(arg, res, dims, work): arg[k] the k-th variable, res[0]
 * the nonzeros; the sweep is emit_array.c's static kernel g_P_F_..._sweep
 * (const long *d, const double *const *a, double *const *r, double *w),
 * called through arrays of pointers, so no long parameter list anywhere. */

static void array_prototypes(const SpItem *it, Buf *b) {
  buf_printf(b, "int %s(const double **arg, double **res, const long *dims, double *work);\n", it->name);
  buf_printf(b, "int %s_n_in(void);\nint %s_n_out(void);\n", it->name, it->name);
  buf_printf(b, "const char *%s_name_in(int i);\nconst char *%s_name_out(int i);\n", it->name, it->name);
  buf_printf(b, "int %s_shape_in(int i, const long *dims, long *shape);\n", it->name);
  buf_printf(b, "int %s_shape_out(int i, const long *dims, long *shape);\n", it->name);
  buf_printf(b, "long %s_work(const long *dims);\n", it->name);
  pattern_signature(it, b);
  buf_puts(b, ";\n");
}

/* The shapes of the variables at the sizes of the pattern (the functions
 * work at no others). */
static void array_queries(const SparseEmit *se, const SpItem *it, Buf *b) {
  const Program *prog = &se->g->prog;
  int nv = prog->nvars;
  buf_printf(b, "int %s_n_in(void) {\n  return %d;\n}\n\n", it->name, nv);
  buf_printf(b, "int %s_n_out(void) {\n  return 1;\n}\n\n", it->name);
  buf_printf(b, "const char *%s_name_in(int g_i) {\n", it->name);
  if (nv) {
    buf_puts(b, "  static const char *const g_names[] = {");
    for (int k = 0; k < nv; k++)
      buf_printf(b, "%s\"%s\"", k ? ", " : "", prog->vars[k].name);
    buf_printf(b, "};\n  return g_i >= 0 && g_i < %d ? g_names[g_i] : 0;\n}\n\n", nv);
  } else {
    buf_puts(b, "  (void)g_i;\n  return 0;\n}\n\n");
  }
  buf_printf(b, "const char *%s_name_out(int g_i) {\n  return g_i == 0 ? \"nz\" : 0;\n}\n\n", it->name);
  buf_printf(b, "int %s_shape_in(int g_i, const long *g_dims, long *g_shape) {\n  (void)g_dims;\n", it->name);
  buf_puts(b, "  switch (g_i) {\n");
  for (int k = 0; k < nv; k++) {
    const Shape *sh = shape_get(prog->dag, prog->vars[k].shape);
    buf_printf(b, "  case %d:", k);
    for (int j = 0; j < sh->rank; j++)
      buf_printf(b, " g_shape[%d] = %ld;", j, dim_eval(prog->dag, sh->dim[j], se->g->dimval));
    buf_printf(b, " return %d;\n", sh->rank);
  }
  buf_puts(b, "  default:\n    (void)g_shape;\n    return -1;\n  }\n}\n\n");
  buf_printf(b, "int %s_shape_out(int g_i, const long *g_dims, long *g_shape) {\n  (void)g_dims;\n"
                "  if (g_i != 0)\n    return -1;\n  g_shape[0] = %ld;\n  return 1;\n}\n\n",
             it->name, it->s->nnz);
}

static void item_code_array(const SparseEmit *se, const SpItem *it, Buf *b) {
  const GradcSparse *s = it->s;
  const struct GradcSparsePriv *p = s->priv;
  const Program *prog = &se->g->prog;
  int nv = prog->nvars;
  long nin = it->kind == 1 ? s->nrow : s->ncol;
  long work_fixed = item_tables(it, b);
  if (work_fixed < 0)
    return;
  int nseed = it->kind == 1 ? 1 : se->np, nout = it->kind == 0 ? 1 : se->np;
  buf_printf(b, "\nlong %s_work(const long *g_dims) {\n  return %ldL + g_%s_work(g_dims);\n}\n\n", it->name,
             work_fixed + 1, it->sweep);
  buf_printf(b, "int %s(const double **g_arg, double **g_res, const long *g_dims, double *g_work) {\n",
             it->name);
  for (int k = 0; k < se->ndims; k++)
    buf_printf(b, "  if (!g_dims || g_dims[%d] != %ld)\n    return -2;\n", k, se->g->dimval[k]);
  buf_printf(b, "  double *g_own = 0, *g_w = g_work;\n  if (!g_w) {\n"
                "    g_w = g_own = (double *)malloc(sizeof(double) * (size_t)%s_work(g_dims));\n"
                "    if (!g_w)\n      return -1;\n  }\n",
             it->name);
  buf_printf(b, "  double *g_seed = g_w, *g_cmp = g_w + %ldL, *g_inner = g_w + %ldL;\n", nin, work_fixed + 1);
  buf_printf(b, "  const double *g_a[%d];\n  double *g_r[%d];\n", nv + nseed, nout + 1);
  for (int k = 0; k < nv; k++)
    buf_printf(b, "  g_a[%d] = g_arg[%d];\n", k, k);
  if (nv == 0)
    buf_puts(b, "  (void)g_arg;\n");
  buf_puts(b, "  int g_status = 0;\n");
  buf_printf(b, "  for (int g_t = 0; g_t < %d && !g_status; g_t++) {\n", p->nsweeps);
  buf_printf(b, "    for (long g_i = 0; g_i < %ldL; g_i++)\n      g_seed[g_i] = %s_colour[g_i] == g_t ? 1.0 : 0.0;\n",
             nin, it->name);
  buf_printf(b, "    double *g_out = g_cmp + (long)g_t * %ldL;\n", p->len);
  if (it->kind == 1)
    buf_printf(b, "    g_a[%d] = g_seed;\n", nv);
  else
    for (int k = 0; k < se->np; k++)
      buf_printf(b, "    g_a[%d] = g_seed + %ld;\n", nv + k, p->col_off[k]);
  for (int k = 0; k < nout; k++)
    buf_printf(b, "    g_r[%d] = g_out + %ld;\n", k, it->kind == 0 ? 0 : p->col_off[k]);
  if (nout == 0)
    buf_puts(b, "    (void)g_out;\n");
  buf_printf(b, "    g_status = g_%s(g_dims, g_a, g_r, g_inner);\n  }\n", it->sweep);
  buf_printf(b, "  for (long g_k = 0; !g_status && g_k < %ldL; g_k++)\n    g_res[0][g_k] = g_cmp[%s_src[g_k]];\n",
             s->nnz, it->name);
  buf_puts(b, "  free(g_own);\n  return g_status;\n}\n\n");
  array_queries(se, it, b);
  pattern_code(it, b);
}

static void item_header_array(const SparseEmit *se, const SpItem *it, Buf *h) {
  const GradcSparse *s = it->s;
  const Program *prog = &se->g->prog;
  buf_printf(h, "\n/* %s (array ABI): the nonzeros of the %s of %s w.r.t. the params\n"
                " * (%ld x %ld; columns: the params' elements stacked in declaration order),\n"
                " * res[0]: %ld doubles in the column-major order of %s_pattern;\n"
                " * arg[k]: the variables in declaration order (%s_name_in).\n",
             it->name, it->hess ? "Hessian" : "Jacobian", prog->outs[it->out].name, s->nrow, s->ncol, s->nnz,
             it->name, it->name);
  if (se->ndims) {
    buf_puts(h, " * The pattern was computed for");
    for (int k = 0; k < se->ndims; k++)
      buf_printf(h, "%s dims[%d] = %s = %ld", k ? "," : "", k, se->dimc[k], se->g->dimval[k]);
    buf_puts(h, ": other sizes return -2.\n");
  }
  buf_puts(h, " * Returns 0, -1 if out of memory, -2 if the sizes are not those of the pattern,\n"
              " * or k > 0 if runtime check k failed. */\n");
  array_prototypes(it, h);
}

static void item_header(const SparseEmit *se, const SpItem *it, Buf *h) {
  const GradcSparse *s = it->s;
  const Program *prog = &se->g->prog;
  const char *F = prog->outs[it->out].name;
  buf_printf(h, "\n/* %s: the nonzeros of the %s of %s w.r.t. the params (%ld x %ld: %s; columns: the\n"
                " * params' elements stacked in declaration order), %ld of them, in the column-major\n"
                " * order of %s_pattern, from %d %s sweep(s) (%s_sweep).\n",
             it->name, it->hess ? "Hessian" : "Jacobian", F, s->nrow, s->ncol,
             it->hess ? "rows as the columns" : "rows: its elements, row-major", s->nnz, it->name, s->ncolours,
             it->kind == 0 ? "JVP" : it->kind == 1 ? "VJP" : "HVP", it->name);
  if (se->ndims) {
    buf_puts(h, " * The pattern was computed for");
    for (int k = 0; k < se->ndims; k++)
      buf_printf(h, "%s %s = %ld", k ? "," : "", se->dimc[k], se->g->dimval[k]);
    buf_puts(h, " (emit --sparse FILE NAME=SIZE...):\n * other sizes return -2.\n");
  }
  char sh[128];
  for (int k = 0; k < se->ndims; k++)
    buf_printf(h, " *   %-12s dimension\n", se->dimc[k]);
  for (int k = 0; k < prog->nvars; k++) {
    shape_format(prog->dag, prog->vars[k].shape, sh, sizeof sh);
    buf_printf(h, " *   %-12s %s, in\n", it->args[k].cname, sh);
  }
  buf_printf(h, " *   %-12s %ld doubles, out\n", "g_nz", s->nnz);
  buf_printf(h, " *   work         %s_work(...) doubles, or NULL to allocate\n", it->name);
  buf_puts(h, " * Returns 0, -1 if out of memory, -2 if the sizes are not those of the pattern,\n"
              " * or k > 0 if runtime check k failed. */\n");
  buf_printf(h, "long %s_work(", it->name);
  dims_params(se, h, 1);
  buf_puts(h, ");\n");
  signature(se, it, h);
  buf_puts(h, ";\n");
  buf_printf(h, "/* The pattern of %s, compressed sparse column: column j's rows are\n"
                " * rowind[colptr[j] .. colptr[j+1]-1], increasing; returns the number of nonzeros. */\n",
             it->name);
  pattern_signature(it, h);
  buf_puts(h, ";\n");
}

void sparse_emit_code(SparseEmit *se, const EmitFn *fns, const int *has_work, int nfns, int array, Buf *src,
                      Buf *hdr) {
  for (int i = 0; i < se->nitems; i++) /* which sweeps take a workspace */
    for (int f = 0; f < nfns; f++)
      if (fns[f].name == se->items[i].sweep)
        se->items[i].sweep_work = has_work[f];
  Buf b = {0};
  buf_puts(&b, "\n/* ---- sparse Jacobians and Hessians (emit --sparse) ---- */\n#include <stdlib.h>\n\n");
  for (int i = 0; i < se->nitems && array; i++)
    array_prototypes(&se->items[i], &b);
  for (int i = 0; i < se->nitems && !array; i++) { /* prototypes */
    const SpItem *it = &se->items[i];
    buf_printf(&b, "long %s_work(", it->name);
    dims_params(se, &b, 1);
    buf_puts(&b, ");\n");
    signature(se, it, &b);
    buf_puts(&b, ";\n");
    pattern_signature(it, &b);
    buf_puts(&b, ";\n");
  }
  for (int i = 0; i < se->nitems; i++)
    (array ? item_code_array : item_code)(se, &se->items[i], &b);
  buf_putn(src, b.data ? b.data : "", b.len);
  if (b.oom)
    src->oom = 1;
  buf_free(&b);
  for (int i = 0; hdr && i < se->nitems; i++)
    (array ? item_header_array : item_header)(se, &se->items[i], hdr);
}

GradcStatus gradc_emit_sparse(Gradc *g, const char *prefix, char **source, char **header,
                              const char *header_name) {
  g->emit_sparse = 1;
  GradcStatus st = gradc_emit(g, prefix, source, header, header_name);
  g->emit_sparse = 0;
  return st;
}
