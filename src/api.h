/* api.h: the insides of the opaque types of gradc.h, shared by api.c and
 * values.c. */
#ifndef GRADC_API_H
#define GRADC_API_H

#include "ir.h"

struct GradcFn {
  Gradc *g;
  JitModule *mod;
  JitThunk call;
  long (*work_size)(const long *dims);
  double *work;      /* kept between calls */
  long work_cap;
  int nargs, nres;
  NodeId *roots;     /* its results' nodes (gradc_fn_op_count) */
  NodeId *checks;    /* the nodes it computes that have call-time checks on
                        the dimensions (dag_node_checks), in id order */
  int nchecks;
  char **argnames, **resnames;
  ShapeId *argshape, *resshape;
  double **resdata;  /* gradc_run's results, sized by the bound dimensions */
  double t_ad, t_emit, t_jit; /* seconds spent building it, per stage */
  char *key;         /* what it computes: asking again returns this one */
  GradcFn *next;
  struct ParFn *par; /* parallel.c: how its results come from blocks of rows */
  int backend;       /* GRADC_BACKEND_TCC or _CC: whose code f->call is */
  struct Tier *tier; /* tiered.c: the cc compile in the background, or NULL */
};

/* The value of one variable, as set by the caller or from its default. */
typedef struct Value {
  double *data;
  long dims[MAX_RANK];
  int rank;
  int set;           /* 0 none, 1 default, 2 --inputs, 3 set by the caller */
} Value;

struct Gradc {
  Program prog;
  Source src;
  Diags diags;
  Buf rendered;
  GradcBackend backend;
  GradcAbi emit_abi; /* gradc_emit's calling convention (gradc_set_emit_abi) */
  int blas;          /* matrix products by OpenBLAS: -1 by default (the JIT
                        yes when built with it, gradc_emit no), 0 off, 1 on */
  int backend_pinned; /* gradc_set_backend was called */
  int compiled;
  int emit_sparse;   /* gradc_emit_sparse: gradc_emit adds the sparse functions */
  GradcFn *fns;
  Arena arena;       /* C identifiers, names of results */
  Value *vals;       /* one per variable */
  long *dimval;      /* bound symbolic dimensions (-1: not yet) */
  long *dimgiven;    /* sizes given by gradc_set_dim (NAME=SIZE), -1: none */
  double t_parse, t_lower;    /* seconds spent compiling, per stage */
  double t_fns[3];            /* ... and over the functions built: AD, emit, compile */
  uint32_t unit_nodes; /* a libtcc kernel over a DAG of at least this many
                          nodes streams its parts in units (jit_units.c);
                          0: UNIT_NODES (api.c) */
  struct ParCtx *par;         /* parallel.c: threads, blocks, MPI */
  char **diff_avoid;          /* names gradc_diff_text's let lines must not take */
  int ndiff_avoid;
};

/* emit_array.c: gradc_emit with GRADC_ABI_ARRAY. The names of arguments
 * and results for _name_in/_name_out come from side tables parallel to
 * gradc_emit's args and res arrays (NULL entries, or functions outside
 * them: the C names). */
typedef struct EmitNames {
  const EmitArg *args;
  const char *const *argname;
  int nargs;
  const EmitRes *res;
  const char *const *resname;
  int nres;
} EmitNames;
/* Writes fns as static typed functions named g_<name> (emit_c with
 * eo->internal) and their array-ABI wrappers into src, the array ABI's
 * declarations into hdr (if not NULL); fns keep their names. */
GradcStatus emit_array(Gradc *g, EmitFn *fns, int nfns, const EmitNames *nm, EmitOpts *eo, Buf *src,
                       Buf *hdr);

/* values.c */
void values_free(Gradc *g);
/* The number of elements of shape s with the bound dimensions; -1 if a
 * dimension is not bound. */
long values_size(const Gradc *g, ShapeId s);
/* The next number of the splitmix64 generator with state *s (Steele, Lea
 * and Flood, OOPSLA 2014): the seeded random numbers of gradc. */
uint64_t values_splitmix(uint64_t *s);
/* A standard normal number from the seeded generator of the defaults
 * (splitmix64, Box-Muller); state advances. */
double values_normal(uint64_t *state);

/* api.c, for trace.c: a function of any roots, cached under key (taken);
 * ntan tangent arguments shaped like the variables tan_of. */
GradcFn *api_fn_nodes(Gradc *g, char *key, const NodeId *roots, int nroots, int ntan,
                      const int *tan_of);
/* The same with the results' names (malloc'd strings, taken; NULL: "r0"...). */
GradcFn *api_fn_named(Gradc *g, char *key, const NodeId *roots, char **names, int nroots,
                      int ntan, const int *tan_of);
/* Does node n's call-time check of the dimensions (dag_node_checks) hold
 * for these sizes? If not, a diagnostic at the place the program built it,
 * and 0. */
int api_check_dims(Gradc *g, NodeId n, const long *dims);
/* The same with the extra arguments' shapes given (vector mode): tan_shape[k]
 * for tangent k of variable tan_of[k], or, with tan_of NULL, one cotangent
 * of output xname shaped tan_shape[0]. */
GradcFn *api_fn_shaped(Gradc *g, char *key, const NodeId *roots, char **names, int nroots,
                       int ntan, const int *tan_of, const ShapeId *tan_shape, const char *xname);
/* A function of roots with the same arguments as `like` (its variables,
 * then its tangents or cotangent): parallel.c's kernels for the parts of
 * like's results. Not cached under a key; freed with g. */
GradcFn *api_fn_like(Gradc *g, const GradcFn *like, const NodeId *roots, int nroots);
/* The cache key of a function of output `out` and wrt (malloc'd). */
char *api_fn_key(const char *kind, int out, const int *wrt, int nwrt);
/* A malloc'd copy of wrt, or every param when wrt is NULL (*nwrt is set);
 * NULL when no program is compiled (with a diagnostic) or out of memory. */
int *api_default_wrt(Gradc *g, const int *wrt, int *nwrt);
/* Does every variable have a value (gradc_run's precondition)? If not, a
 * diagnostic says which. */
int api_values_ready(Gradc *g);

/* tiered.c: GRADC_BACKEND_TIERED. tiered_start compiles cc_src (the cc
 * backend's source of f) on a background thread; 0, or -1 when no thread
 * could start (f stays on libtcc). tiered_poll, at the start of a call,
 * switches f to the cc code if it is ready. tiered_free stops the compile
 * (kills the compiler) and frees what it made. */
typedef struct Tier Tier;
int tiered_start(GradcFn *f, const char *cc_src);
void tiered_poll(GradcFn *f);
void tiered_free(GradcFn *f);

/* hvp.c: the gradient grad[k] and the Hessian-vector products of the
 * scalar node `out` with respect to variables wrt[k], forward over
 * reverse: along ndir directions, hv[d*nwrt + k] along the tangent nodes
 * v[d*nwrt + k] (each shaped like its variable); zeros where a derivative
 * vanishes. Returns 0, or -1 when out of memory. */
int hvp_nodes(Program *prog, NodeId out, const int *wrt, int nwrt, int ndir, const NodeId *v,
              NodeId *grad, NodeId *hv);
/* hvp_fixed.c: gradc_hvp_at along ndir directions at once (apply takes
 * v[d*nwrt + k] and writes hv[d*nwrt + k]), the gradient only if
 * with_grad (gradc_hvp_at_gradient: NULL otherwise). */
GradcHvpAt *hvp_at_new(Gradc *g, int out, const int *wrt, int nwrt, int ndir, int with_grad);

#endif
