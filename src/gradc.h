/* gradc.h: the public C API of gradc, the compiler for differentiable
 * expressions. The CLI, the REPL and the tests use only this header.
 *
 * A Gradc context holds one compiled program (an .expr file or string),
 * its diagnostics and the functions JIT-compiled from it. Contexts share
 * nothing, so several may be used at once. Library code never prints and
 * never exits: errors come back as a status and as diagnostics with source
 * positions, which gradc_diag_render() formats as
 *   FILE:LINE:COL: error: MESSAGE
 *   <the source line>
 *        ^
 */
#ifndef GRADC_H
#define GRADC_H

#include <stddef.h>

#define GRADC_VERSION "0.1.0"

typedef enum GradcStatus {
  GRADC_OK = 0,
  GRADC_ERR_INPUT = 1,     /* the .expr source, a value or a data file */
  GRADC_ERR_USAGE = 2,     /* the API or the command line was misused */
  GRADC_ERR_NOMEM = 4,
  GRADC_ERR_INTERNAL = 5,  /* a bug in gradc (e.g. generated C rejected) */
  GRADC_ERR_NONFINITE = 6, /* gradc_trainer_step: a loss, gradient or update
                              that is not finite (NaN or infinite) */
} GradcStatus;

typedef enum GradcBackend {
  GRADC_BACKEND_TCC = 0,   /* libtcc, in memory (default) */
  GRADC_BACKEND_CC = 1,    /* the system C compiler, a shared object, dlopen */
  GRADC_BACKEND_TIERED = 2, /* libtcc at once, cc -O2 on a background thread;
                               calls switch when it is ready (see "tiered JIT") */
} GradcBackend;

typedef struct Gradc Gradc;
typedef struct GradcFn GradcFn;

/* ---- context ---------------------------------------------------------- */

Gradc *gradc_new(void);                  /* NULL when out of memory */
void gradc_free(Gradc *g);               /* frees every GradcFn too */
void gradc_set_backend(Gradc *g, GradcBackend b);   /* before building functions */
/* Matrix-matrix products by OpenBLAS's cblas_dgemm: on (1) or off (0);
 * -1 if gradc was built without OpenBLAS (and on = 1). By default the JIT's
 * code (every backend) uses it when gradc was built with OpenBLAS and
 * gradc_emit does not; once set, both follow the setting (emitted C with
 * BLAS links with -lopenblas). Only products of two matrices of at least
 * BLAS_MIN_MNK = 4096 multiply-adds (m*n*k, tested at run time for symbolic
 * dimensions; measured by tests/bench/bench_blas) are dgemm calls, smaller
 * ones stay loops. Results may differ from the loops in the last bits
 * (the order of the sums); strong zeros (SPEC 1.6) are kept: a product
 * with a factor that is not finite runs the loops. */
int gradc_set_blas(Gradc *g, int on);

/* ---- compiling a program (once per context) --------------------------- */

GradcStatus gradc_compile_file(Gradc *g, const char *path);
/* `name` is used in diagnostics; `text` need not be NUL-terminated. */
GradcStatus gradc_compile_string(Gradc *g, const char *name,
                                 const char *text, size_t len);

/* ---- diagnostics ------------------------------------------------------ */

int gradc_diag_count(const Gradc *g);
const char *gradc_diag_message(const Gradc *g, int i);  /* the bare message */
int gradc_diag_line(const Gradc *g, int i);             /* 1-based, 0 if none */
int gradc_diag_col(const Gradc *g, int i);
const char *gradc_diag_hint(const Gradc *g, int i);  /* "did you mean 'w'?" or NULL */
/* The file the place is in when it is not the program's (a data file), or NULL. */
const char *gradc_diag_file(const Gradc *g, int i);
/* All diagnostics formatted; the string is owned by g, valid until the
 * next call on g. */
const char *gradc_diag_render(Gradc *g);
/* Forget the diagnostics so far (a long-lived context, as in the REPL). */
void gradc_diag_clear(Gradc *g);
/* Add a diagnostic of the caller's own (e.g. a bad value) without a place. */
void gradc_error(Gradc *g, GradcStatus kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- the program ------------------------------------------------------ */

int gradc_var_count(const Gradc *g);
const char *gradc_var_name(const Gradc *g, int i);
int gradc_var_is_param(const Gradc *g, int i);
int gradc_var_index(const Gradc *g, const char *name);  /* -1 if none */
/* A suggestion for a misspelt variable name, or NULL. */
const char *gradc_var_suggest(const Gradc *g, const char *name);
/* The candidate nearest a misspelt word (edit distance, at most about a
 * third of its letters), or NULL: for option names and the like. */
const char *gradc_closest(const char *word, const char *const *cands, int n);
/* The data file a variable's default reads (`X = @data.csv:0,1`: the path
 * as opened, relative to the .expr file's directory, still with :COLS), or
 * NULL. */
const char *gradc_var_data_file(const Gradc *g, int i);
/* The default value of a scalar variable, if the file gives one. */
int gradc_var_default(const Gradc *g, int i, double *value);
/* Shapes: returns the rank and fills dims; a symbolic dimension k is
 * given as -(k+1), one derived from them (N-1 for x[1:], 2*N for
 * concat([x, x])) as its size once they are bound, else LONG_MIN. */
int gradc_var_shape(const Gradc *g, int i, long *dims);
int gradc_output_shape(const Gradc *g, int i, long *dims);
int gradc_dim_count(const Gradc *g);
const char *gradc_dim_name(const Gradc *g, int k);
long gradc_dim_value(const Gradc *g, int k);   /* bound size, or -1 */

/* ---- values ------------------------------------------------------------ */

/* Values of variables, kept on the context for gradc_run. Later calls
 * override earlier ones; gradc_set_defaults then fills in what is unset
 * from the file (constants, seeded randn/uniform, zeros/ones, data files),
 * binds the symbolic dimensions and checks that they agree, and lists
 * every variable that still has no value. `random_scalars` gives scalars
 * without any value a seeded random one (for `check`). */
GradcStatus gradc_set_value(Gradc *g, int var, const double *data, const long *dims, int rank);
/* text: a number, a JSON array, @FILE.json, or @FILE.csv[:COLS] */
GradcStatus gradc_set_value_text(Gradc *g, const char *name, const char *text);
GradcStatus gradc_set_inputs_file(Gradc *g, const char *path);  /* a JSON object */
GradcStatus gradc_set_defaults(Gradc *g, unsigned long long seed, int random_scalars);
/* The value of a variable (NULL if unset); the caller may change the
 * numbers in place between runs (finite differences do). */
double *gradc_get_value(const Gradc *g, int var, long *dims, int *rank);

int gradc_output_count(const Gradc *g);
const char *gradc_output_name(const Gradc *g, int i);
int gradc_output_index(const Gradc *g, const char *name);
int gradc_node_count(const Gradc *g);    /* nodes in the DAG */
/* Whether output `out` depends on variable `var` through differentiable
 * operators (comparisons, argmax, onehot and sign have derivative 0). */
int gradc_differentiable(Gradc *g, int out, int var);
/* Which variables output `out` needs values for, given the values and
 * sizes set so far: need[v] (gradc_var_count entries) is 1 for those whose
 * values it reads, and, for a symbolic dimension it uses that none of
 * those has and whose size is not given, for one variable that binds it
 * (with a value, else with a default) or, if none can, for every variable
 * of that dimension; 0 for the others (needs.c). */
GradcStatus gradc_output_needs(Gradc *g, int out, unsigned char *need);

/* ---- functions -------------------------------------------------------- */

/* A compiled function takes one array per argument and writes one array
 * per result. Arguments are the variables in declaration order, then (for
 * JVP functions) the tangents of the wrt variables in wrt order. Results
 * are listed by gradc_fn_res_name(): the outputs first, then derivatives
 * named like "dL/dw". `wrt` lists variable indices; NULL means every param. */
GradcFn *gradc_fn_value(Gradc *g);
/* The value of output `out` only (one result, named as the output): what
 * `eval --output` runs, nothing of the other outputs (needs.c). */
GradcFn *gradc_fn_value_of(Gradc *g, int out);
GradcFn *gradc_fn_grad(Gradc *g, const int *wrt, int nwrt);
GradcFn *gradc_fn_jvp(Gradc *g, const int *wrt, int nwrt);
/* Value of output `out` and its vector-Jacobian product: one extra argument,
 * the cotangent (the output's shape); results: the value, then the adjoint
 * of each wrt variable. */
GradcFn *gradc_fn_vjp(Gradc *g, int out, const int *wrt, int nwrt);
/* Hessian of output `out` with respect to wrt (forward over reverse):
 * results are the output's value, then H row by row: for each element r
 * of the wrt variables flattened in order, one result per wrt variable
 * (its shape), named "d2L/dw/dx" (or "d2L/dV[r]/dx"). With scalar
 * variables that is one scalar per entry. */
GradcFn *gradc_fn_hessian(Gradc *g, int out, const int *wrt, int nwrt);
/* Hessian-vector product of scalar output `out` (forward over reverse, one
 * sweep; Pearlmutter 1994): arguments are the variables, then one tangent
 * v_k per wrt variable (its shape); results are the output's value, the
 * gradient with respect to each wrt variable ("dL/dw"), then H v for each
 * wrt variable ("d2L/dw.v", its shape), where v stacks the v_k in wrt
 * order. GRADC_ERR_USAGE (NULL, with a diagnostic) when `out` is not a
 * scalar output. */
GradcFn *gradc_fn_hvp(Gradc *g, int out, const int *wrt, int nwrt);
/* The same without the gradient: results are the output's value, then H v
 * for each wrt variable. Less code: the variables' own adjoints are not
 * needed for H v (for a layer X @ V' with input X, the weight gradient
 * dA' X is one of the four large matrix products of value, gradient and
 * H v). What `gradc hvp` uses (many products at one point: gradc_hvp_at). */
GradcFn *gradc_fn_hvp_only(Gradc *g, int out, const int *wrt, int nwrt);
/* The dense Hessian of scalar output `out` with respect to wrt (NULL:
 * every param) at the values on the context, from n Hessian-vector
 * products at the point (gradc_hvp_at's, 8 unit vectors e_r per call of
 * the tangent code), so what is compiled does not grow
 * with n (unrolling n forward sweeps into one function, as
 * gradc_fn_hessian does, does). n is the number of elements of the wrt
 * variables' values; H gets n*n doubles, row r = H e_r, rows and columns in
 * the order of gradc_fn_hessian; *value gets the output's value.
 * GRADC_ERR_USAGE when the output is not scalar, a value is missing or n
 * is not that size. */
GradcStatus gradc_hessian_dense(Gradc *g, int out, const int *wrt, int nwrt, long n,
                                double *value, double *H);

/* Hessian-vector products at a fixed point x, for methods that multiply
 * many vectors by the Hessian at one x (Lanczos, Hutchinson's estimator).
 * Forward over reverse (Pearlmutter, "Fast exact multiplication by the
 * Hessian", Neural Computation 6(1), 1994) split in two compiled
 * functions: one computes the value, the gradient and the primal and
 * adjoint intermediates that the tangent code reads, once, at creation;
 * the other computes only the tangent sweeps (of the primal and of the
 * adjoints) from them, once per product. H v has the same bits as
 * gradc_fn_hvp's "d2L/dw.v" results at the same values.
 *   gradc_hvp_at: for scalar output `out` w.r.t. wrt (NULL: every param),
 * at the values on the context (gradc_set_defaults first), which are
 * copied: later gradc_set_value calls do not change this point. Compiles
 * both functions (cached on the context, like gradc_fn_*) and runs the
 * first. NULL with a diagnostic: GRADC_ERR_USAGE when `out` is not a
 * scalar output, a value is missing or a wrt index is not a variable;
 * GRADC_ERR_INPUT when the program's checks fail at these values (a label
 * out of range); GRADC_ERR_NOMEM. It keeps gradc_hvp_at_stored() doubles
 * of intermediates (about one HVP call's workspace).
 *   gradc_hvp_at_apply: hv[k] = (H v)_k for each wrt variable k, v[k] and
 * hv[k] shaped like wrt variable k (v stacks the v[k] in wrt order);
 * errors as gradc_call_dims. Not thread-safe (one workspace per context).
 *   gradc_hvp_at_value / _gradient: the output's value and its gradient
 * w.r.t. wrt variable k (its shape; NULL if k is out of range) at x. */
typedef struct GradcHvpAt GradcHvpAt;
GradcHvpAt *gradc_hvp_at(Gradc *g, int out, const int *wrt, int nwrt);
GradcStatus gradc_hvp_at_apply(GradcHvpAt *h, const double *const *v, double *const *hv);
double gradc_hvp_at_value(const GradcHvpAt *h);
const double *gradc_hvp_at_gradient(const GradcHvpAt *h, int k);
long gradc_hvp_at_stored(const GradcHvpAt *h);
void gradc_hvp_at_free(GradcHvpAt *h);

/* Vector mode (Griewank and Walther, "Evaluating Derivatives", 2008, 3.2):
 * K directions in one sweep, as a leading axis of size K, the primal
 * values computed once for all of them. A dense Jacobian of n columns
 * costs n/K calls (see `gradc jacobian`); a compressed (coloured) Jacobian
 * passes its seed directions the same way.
 *
 * JVPs: arguments are the variables, then one tangent per wrt variable of
 * shape [K]+its shape (row d of every tangent is direction d); results are
 * the outputs' values (their shapes), then per output its K directional
 * derivatives, shape [K]+the output's shape, named "dL". Row d of a result
 * is exactly what gradc_fn_jvp gives along direction d, up to the order of
 * additions in whole-tensor sums over symbolic dimensions and OpenBLAS's
 * (gradc_set_blas) matrix products. */
#define GRADC_MAX_DIRECTIONS 65536
GradcFn *gradc_fn_jvp_vector(Gradc *g, const int *wrt, int nwrt, int K);
/* VJPs of output `out`: one extra argument, K cotangents, shape [K]+the
 * output's shape; results are the output's value, then per wrt variable
 * its K adjoints, shape [K]+its shape, named "dL/dw". Both return NULL with
 * GRADC_ERR_USAGE when K is not in 1..GRADC_MAX_DIRECTIONS or a wrt
 * variable or an output (`out`) has rank 4 (no room for the directions:
 * use gradc_fn_jvp/gradc_fn_vjp one direction at a time). */
GradcFn *gradc_fn_vjp_vector(Gradc *g, int out, const int *wrt, int nwrt, int K);

/* Call with the values set on the context (gradc_set_value..., then
 * gradc_set_defaults); `tangents` has one array per tangent argument (JVP
 * functions), else NULL. Results are read with gradc_fn_res_data and are
 * valid until the next run of f. */
GradcStatus gradc_run(GradcFn *f, const double *const *tangents);
const double *gradc_fn_res_data(const GradcFn *f, int i);
/* Shapes with the bound dimensions; returns the rank. */
int gradc_fn_res_shape(const GradcFn *f, int i, long *dims);
int gradc_fn_arg_shape(const GradcFn *f, int i, long *dims);
/* The low-level call: dims holds the symbolic dimensions' sizes (NULL if
 * the program has none), args one array per argument, res one per result
 * (results may be written before every argument is read: they must not
 * overlap the arguments). */
GradcStatus gradc_call_dims(GradcFn *f, const long *dims, const double *const *args,
                            double *const *res);

int gradc_fn_arg_count(const GradcFn *f);
const char *gradc_fn_arg_name(const GradcFn *f, int i);
int gradc_fn_res_count(const GradcFn *f);
const char *gradc_fn_res_name(const GradcFn *f, int i);
GradcStatus gradc_call(GradcFn *f, const double *const *args, double *const *res);
/* Arithmetic operations and calls in the function's code (x^n counts as
 * its n-1 multiplications): the cost model of the benchmarks. */
long gradc_fn_op_count(const GradcFn *f);
/* The doubles of workspace that a call needs at the bound dimensions
 * (gradc_set_defaults first): its intermediate tensors; -1 if a dimension
 * is not bound yet. */
long gradc_fn_work_size(const GradcFn *f);
/* CPU seconds of this process per stage: t[0] parsing, t[1] building the
 * DAG (names, folding, hash-consing), and for f: t[2] differentiation,
 * t[3] emitting C (with the units this process translates meanwhile,
 * jit_units.c; its worker's are not counted), t[4] compiling the rest
 * (libtcc or cc); f NULL: t[2..4] summed over every function built so
 * far. */
void gradc_timings(const Gradc *g, const GradcFn *f, double t[5]);

/* ---- the evaluation trace (the course's tables) ----------------------- */

/* One row per DAG node that the outputs depend on (constants are written
 * into the definitions), in evaluation order: "a4", "a2 * a3", its shape,
 * its value, its tangent along element `elem` of variable `wrt` (forward
 * mode) and its adjoint for output `out` (reverse mode; for a tensor output,
 * the adjoint of the sum of its elements). */
typedef struct GradcTraceRow {
  char name[16];
  char *def;
  int rank;
  long dims[4];     /* symbolic dimensions at their bound sizes */
  long size;        /* elements (1 for a scalar) */
  double *value, *tangent, *adjoint;  /* size elements each, row-major */
} GradcTraceRow;

typedef struct GradcTrace {
  GradcTraceRow *rows;
  int nrows;
  char **out_row;   /* per output: the row that holds it ("a6"), or its constant */
  int out_is_tensor; /* adjoints are of the sum of the output's elements */
} GradcTrace;

/* At the variables' values on the context (gradc_set_defaults first); the
 * tangent direction is the unit vector of flat (row-major) element `elem`
 * of variable `wrt` (0 for a scalar). Free with gradc_trace_free. */
GradcStatus gradc_trace(Gradc *g, int out, int wrt, long elem, GradcTrace **trace);
void gradc_trace_free(Gradc *g, GradcTrace *t);

/* ---- the tiered JIT (tiered.c) ---------------------------------------- */

/* With GRADC_BACKEND_TIERED every function is compiled by libtcc (ready in
 * milliseconds) while a background POSIX thread compiles the source that
 * GRADC_BACKEND_CC would compile for it with cc -O2 (the same cached
 * shared object, $GRADC_CACHE_DIR). The first call that starts after that
 * compile ended runs the cc code, and so does every later call: the switch
 * is made by the calling thread between two calls, never during one, and
 * from that call on the results are the cc backend's to the bit. The
 * compiles of a process run one at a time, in the order the functions were
 * built. A compile that fails (no cc on PATH, $CC rejects the source) is
 * dropped without a diagnostic: the function stays on libtcc. gradc_free
 * kills a compiler still running. The background thread never touches the
 * context; a function is still called by one thread at a time.
 * gradc_trainer_new tiers its function unless gradc_set_backend chose a
 * backend; `gradc train`, `spectrum`, `landscape`, `jacobian` of 512 or more
 * columns and the REPL's :time do unless --backend is given. */

/* The backend whose code f's calls run now: GRADC_BACKEND_TCC or
 * GRADC_BACKEND_CC (a tiered function switches to CC at the start of a
 * call, or in gradc_fn_tier_wait). */
GradcBackend gradc_fn_backend(const GradcFn *f);
/* Wait until f's background compile has ended, at most `seconds` (< 0: no
 * limit), and switch f to its code if it is ready (f must not be in a
 * call). Returns GRADC_BACKEND_CC when f runs the cc code now,
 * GRADC_BACKEND_TCC when it stays on libtcc (the compile failed, or f is
 * not tiered), GRADC_BACKEND_TIERED when the compile has not ended yet. */
GradcBackend gradc_fn_tier_wait(GradcFn *f, double seconds);

/* ---- training -------------------------------------------------------- */

typedef enum GradcOptimizer { GRADC_GD, GRADC_MOMENTUM, GRADC_ADAM } GradcOptimizer;
typedef struct GradcTrainer GradcTrainer;

/* Minimise scalar output `loss` over every param, starting from the
 * params' values on the context (gradc_set_defaults first). batch > 0
 * takes seeded random mini-batches of that many rows along the data
 * dimension (the first symbolic dimension of the inputs). */
GradcTrainer *gradc_trainer_new(Gradc *g, int loss, GradcOptimizer opt, double lr, long batch,
                                unsigned long long seed);
/* One update; *loss gets the loss before it (on the batch).
 * GRADC_ERR_NONFINITE, with a diagnostic naming the step, when the loss or
 * an element of the gradient at the current params is not finite: nothing
 * is updated and the params go back to those before the previous update,
 * the last at which the loss and the gradient were finite (on a first step
 * they stay the initial ones). Also when the update itself would make a
 * param (or an optimizer moment) non-finite: then the params stay as they
 * are. The optimizer's moments are not rolled back. */
GradcStatus gradc_trainer_step(GradcTrainer *t, double *loss);
/* The number of updates that the params on the context have had (one
 * less after a step that went back). */
long gradc_trainer_steps(const GradcTrainer *t);
/* The rows of each step's mini-batch, 0 when every step takes the whole
 * data (no batch, or a batch not smaller than the data); *rows (if not
 * NULL) gets the data's rows, under MPI every process's together, -1
 * without a data dimension. */
long gradc_trainer_batch(const GradcTrainer *t, long *rows);
/* Put back the params from before the last update (e.g. when the loss on
 * the whole data is not finite after it), once; GRADC_ERR_USAGE when there
 * is nothing to go back to. */
GradcStatus gradc_trainer_revert(GradcTrainer *t);
/* Put the whole data back on the context, e.g. to evaluate metrics. */
GradcStatus gradc_trainer_full_data(GradcTrainer *t);
/* The function each step calls: the loss and its gradient with respect
 * to every param (gradc_fn_vjp; e.g. for gradc_fn_backend). */
GradcFn *gradc_trainer_fn(GradcTrainer *t);
void gradc_trainer_free(GradcTrainer *t);

/* ---- sparse Jacobians and Hessians (sparsity.c, sparse.c) -------------- */

/* A sparse Jacobian or Hessian at the bound sizes: its nonzero pattern from
 * the DAG (index sets carried through every operator, element by element;
 * for the Hessian the nonlinear interactions of Walther, ACM TOMS 34(1),
 * 2008), a colouring that compresses it (ColPack: partial distance-2 on
 * columns or rows for a Jacobian, star for a Hessian) and, after
 * gradc_sparse_eval, its nonzeros from one sweep per colour (JVPs, VJPs or
 * HVPs, each seeded with the sum of the unit vectors of one colour; direct
 * recovery). The pattern is a superset of the nonzeros at any point: it
 * never misses one.
 *
 * Rows of a Jacobian are the elements of the chosen outputs stacked in
 * their order (each output row-major), columns the elements of the wrt
 * variables stacked in wrt order (each row-major); a Hessian's rows and
 * columns are both the wrt elements, the pattern symmetric (both
 * triangles). The struct is read-only for the caller. */
typedef struct GradcSparse {
  int hessian;          /* 1: the Hessian of one scalar output */
  long nrow, ncol, nnz;
  long *rowptr;         /* nrow + 1: row i's nonzeros are rowptr[i] .. rowptr[i+1]-1 */
  long *col;            /* nnz column indices, increasing within each row */
  double *value;        /* nnz values in the same (row-major) order, after gradc_sparse_eval */
  int ncolours;         /* sweeps of gradc_sparse_eval */
  int reverse;          /* Jacobian: VJP sweeps (rows coloured), else JVP (HVP) sweeps */
  int jvp_sweeps, vjp_sweeps; /* Jacobian: sweeps each way (-1 if not computed) */
  struct GradcSparsePriv *priv;
} GradcSparse;

/* flags */
#define GRADC_SPARSE_AT_VALUES 1  /* variables outside wrt are constants at their
                                     values on the context (their zeros count);
                                     otherwise only the program's constants do */
#define GRADC_SPARSE_FORWARD 2    /* Jacobian: JVP sweeps whatever the colours */
#define GRADC_SPARSE_REVERSE 4    /* Jacobian: VJP sweeps */
#define GRADC_SPARSE_IF_FEW 8     /* Jacobian: no colouring when no colouring can
                                     need fewer sweeps than half the smaller side
                                     (a row, for JVPs, and a column, for VJPs, has
                                     more nonzeros): the pattern comes back with
                                     ncolours that lower bound, jvp_sweeps =
                                     vjp_sweeps = -1, and gradc_sparse_eval
                                     refuses it. Colouring a dense 1000 x 1000
                                     pattern takes seconds (ColPack). */

/* The pattern and colouring of the Jacobian of outputs outs[0..nouts)
 * (NULL: every output) with respect to wrt (NULL: every param). Symbolic
 * dimensions must be bound (values, or gradc_set_dim). NULL with a
 * diagnostic on error: GRADC_ERR_INPUT-kind when the pattern is too dense
 * to hold (more than 2^26 index entries). By default the direction with
 * fewer sweeps is chosen, forward on a tie. */
GradcSparse *gradc_sparse_jacobian(Gradc *g, const int *outs, int nouts, const int *wrt, int nwrt,
                                   int flags);
/* The same for the Hessian of scalar output `out` (NULL with a diagnostic
 * if it is not a scalar output). */
GradcSparse *gradc_sparse_hessian(Gradc *g, int out, const int *wrt, int nwrt, int flags);
/* The nonzeros at the values on the context (gradc_set_defaults first):
 * s->value. */
GradcStatus gradc_sparse_eval(GradcSparse *s);
void gradc_sparse_free(GradcSparse *s);
/* Bind symbolic dimension k to a size (NAME=SIZE on the command line): values
 * must then agree with it. GRADC_ERR_INPUT if size < 1. */
GradcStatus gradc_set_dim(Gradc *g, int k, long size);
/* ---- the Hessian's spectrum (spectrum.c) -------------------------------- */

typedef enum GradcPointKind {
  GRADC_POINT_MINIMUM,     /* every eigenvalue above the tolerance */
  GRADC_POINT_MAXIMUM,     /* every eigenvalue below minus the tolerance */
  GRADC_POINT_SADDLE,      /* eigenvalues of both signs beyond the tolerance */
  GRADC_POINT_DEGENERATE,  /* neither: an eigenvalue within the tolerance of 0 */
  GRADC_POINT_UNKNOWN,     /* only the largest eigenvalues were computed */
} GradcPointKind;
const char *gradc_point_kind_name(GradcPointKind kind);  /* "minimum", ... */

typedef struct GradcSpectrumOpts {
  int k;              /* eigenvalues at each end; 0: min(3, n) */
  int largest_only;   /* only the k largest: no smallest, kind UNKNOWN */
  long probes;        /* Hutchinson probes for the trace; 0: none, <0: 100 */
  unsigned long long seed;  /* of the probes and of Lanczos's start vector */
  double tol;         /* Lanczos residual tolerance, see below; 0: 1e-10 */
  int ncv;            /* Lanczos vectors kept; 0: max(2 nev + 1, 40), largest
                         only max(2 k + 1, 20); nev = 2 k (both ends) or k */
  int maxiter;        /* Lanczos restarts; 0: 1000 */
  long dense_max;     /* largest n for the dense fallback; <0: none; 0: 1000 */
} GradcSpectrumOpts;

typedef struct GradcSpectrum {
  long n;             /* elements of the wrt variables: H is n x n */
  int k;              /* eigenvalues at each end */
  double *largest;    /* [k], descending (malloc'd) */
  double *smallest;   /* [k], ascending; NULL with largest_only */
  double value;       /* the output at the point */
  double gradient_norm;   /* Euclidean norm of its gradient w.r.t. wrt */
  double trace, trace_stderr;  /* exact (stderr 0) when probes == 0 and dense */
  long probes;        /* Rademacher probes used; 0 when the trace is exact or absent */
  int has_trace;
  double tolerance;   /* |eigenvalue| <= tolerance counts as zero */
  GradcPointKind kind;
  int dense;          /* 1: H formed from n HVPs, eigenvalues by LAPACK dsyev */
  long hvps;          /* Hessian-vector products used in all */
  int restarts;       /* Lanczos restarts (ARPACK's iterations) */
} GradcSpectrum;

/* The k largest and k smallest eigenvalues of the Hessian H of scalar
 * output `out` w.r.t. wrt (NULL: every param; the variables flattened in
 * order, n elements in all), at the values on the context
 * (gradc_set_defaults first), from Hessian-vector products only
 * (gradc_hvp_at: the value, the gradient and the intermediates once,
 * then only the tangent sweeps per product): memory O(n * ncv), H is never formed unless n is
 * small.
 *   Method: implicitly restarted Lanczos (ARPACK's dsaupd/dseupd; Lehoucq,
 * Sorensen and Yang, "ARPACK Users' Guide", SIAM 1998; the Lanczos
 * algorithm of Lanczos 1950). A first loose run estimates s = max|lambda|;
 * the k largest and smallest ("BE") then come from A = H/s + 3 I, whose
 * eigenvalues lie in [2, 4], so that ARPACK's test ||A x - theta x|| <=
 * tol |theta| bounds every eigenvalue's error by about 4 tol max|lambda|,
 * near-zero ones included; each is then refined as the Rayleigh quotient
 * x'Hx of its Ritz vector, with H itself (the shift costs digits). With
 * largest_only, on H itself (relative error <= tol |lambda_max|): ARPACK's
 * LA; for k = 1 first up to ncv steps of plain Lanczos with full
 * reorthogonalisation tested after every product (ARPACK tests once per
 * restart cycle).
 * When the Lanczos basis would span the whole space (ncv >= n), or for n
 * <= dense_max when Lanczos has not converged after n HVPs (or fails), H
 * is formed from n HVPs with unit vectors, symmetrised and solved by
 * LAPACK's dsyev; the trace is then exact.
 *   Trace: Hutchinson's estimator (Hutchinson 1990): the mean of z' H z
 * over `probes` seeded Rademacher vectors z, and its standard error.
 *   Kind: tolerance = max(1e-8, 10 tol) * max|lambda| (the computed
 * eigenvalues are good to about 4 tol max|lambda|, 25 times less).
 *   Errors: GRADC_ERR_USAGE when `out` is not a scalar output, n == 0, k
 * > n, or k so large that neither Lanczos nor a dense solve fits;
 * GRADC_ERR_INPUT when the value, gradient or an HVP is not finite, or
 * Lanczos does not converge in maxiter restarts (and n > dense_max);
 * GRADC_ERR_NOMEM; each with a diagnostic. Not thread-safe: ARPACK keeps
 * state in static variables. Free s with gradc_spectrum_free. */
GradcStatus gradc_spectrum(Gradc *g, int out, const int *wrt, int nwrt,
                           const GradcSpectrumOpts *opts, GradcSpectrum *s);
void gradc_spectrum_free(GradcSpectrum *s);

/* ---- the landscape of a scalar output (landscape.c) -------------------- */

/* How gradc_direction_random drew a direction. */
typedef enum GradcDirectionKind {
  GRADC_DIRECTION_FILTER = 0, /* filter-normalised; params of rank 0 and 1 get 0 */
  GRADC_DIRECTION_UNIT = 1,   /* no param of rank >= 2: Gaussian over every element */
} GradcDirectionKind;

/* A seeded random direction in param space: dir has one array per param
 * (declaration order), each as long as the param's current value. When a
 * param has rank >= 2 (a weight matrix), the direction is filter-normalised
 * as in Li et al., "Visualizing the Loss Landscape of Neural Nets" (NeurIPS
 * 2018): Gaussian entries, then each filter (a row of a matrix; a slice
 * along the first axis of a tensor) scaled to the Euclidean norm of the
 * same row of the param's value; params of rank 0 and 1 (biases, scalars)
 * get 0, as in Li et al., so the direction leaves them where they are.
 * Otherwise there are no filters: the direction is Gaussian over every
 * element, made orthogonal to `against` (if not NULL; one array per param)
 * and scaled to its norm (to 1 without it). `k` picks one of independent
 * directions of the same seed. *kind (if not NULL) says which was drawn.
 * GRADC_ERR_INPUT, with a diagnostic, when the direction is zero (every
 * row of every matrix param is zero, or nothing is orthogonal to
 * `against`); GRADC_ERR_USAGE when a param has no value. */
GradcStatus gradc_direction_random(Gradc *g, unsigned long long seed, int k,
                                   const double *const *against, double *const *dir,
                                   GradcDirectionKind *kind);

/* The values of scalar output `out` at the params
 *   p(a, b) = c + a d1 + b d2              (d1 given), or
 *   p(a, b) = (1 - a) c + a end + b d2     (end given: the straight line
 *                                           from c to end, as in Goodfellow
 *                                           et al., ICLR 2015)
 * for every a in alpha[na] and b in beta[nb], where c is the params' values
 * on the context (gradc_set_defaults first) and d1, end, d2 have one array
 * per param (declaration order, each of the param's size). Exactly one of
 * d1 and end; with d2 NULL the term b d2 is left out (a line: nb is 1 and
 * beta is ignored). Computed in that order in double precision without
 * fused multiply-adds, so a caller can rebuild p(a, b) bit for bit. Each
 * point is one call of gradc_fn_value's function, so values equal those of
 * gradc_run at p(a, b) to the last bit. values[j*na + i] gets the value at
 * (alpha[i], beta[j]); non-finite values are stored as they are. progress
 * (if not NULL) is called after each point with the points done and the
 * total. The values on the context are not changed. GRADC_ERR_USAGE when
 * `out` is not a scalar output or an argument is missing; the status of
 * the call when an evaluation fails (e.g. a label out of range). */
GradcStatus gradc_landscape(Gradc *g, int out, const double *const *d1, const double *const *end,
                            const double *const *d2, const double *alpha, long na,
                            const double *beta, long nb, double *values,
                            void (*progress)(void *opaque, long done, long total), void *opaque);

/* ---- data parallelism over the rows (separable.c, parallel.c) ---------- */

/* Whether scalar (or tensor) output `out` is a sum over the data dimension
 * (the first symbolic leading dimension of the inputs, as for mini-batches)
 * of terms that each depend on one row: 1 a sum, 2 a mean, 3 N^p times a
 * sum, plus 4 when a term that does not depend on the rows is added (a
 * regulariser: mean(rowterm) + lambda*sum(W^2) is 6; blocks of rows and MPI
 * processes evaluate the sum, the term is computed once); 0 if not, and why
 * (if not NULL) gets the reason, naming the first definition that is not
 * (e.g. a batch statistic: a mean over N fed back into the rows). */
int gradc_separable(Gradc *g, int out, char *why, size_t nwhy);
/* Threads for gradc_run (0: the cores this process may use, from
 * sched_getaffinity). When every result of a function is a sum over the
 * rows, a value per row or independent of the rows, and the data has more
 * rows than one block, the rows are cut into blocks of a fixed size, each
 * block evaluated by the same compiled function (N bound to its rows) on
 * some thread, and the block sums added in block order: the results are
 * the same bits for any number of threads (they may differ in the last
 * bits from one call over all the rows). */
void gradc_set_threads(Gradc *g, int threads);
int gradc_threads(Gradc *g);     /* the number gradc_run will use at most */
/* Rows per block (0: the default, 4096). Results depend on it, not on the
 * number of threads. */
void gradc_set_block_rows(Gradc *g, long rows);

/* Under mpirun (mpi.c, when gradc is built with Open MPI): MPI_Init if a
 * launcher started this process; returns the number of processes (1
 * without mpirun or without MPI). */
int gradc_mpi_init(int *argc, char ***argv);
int gradc_mpi_rank(void);
/* MPI_Finalize; with rc != 0 under several processes, MPI_Abort (no
 * process is left waiting for one that failed alone). */
void gradc_mpi_finalize(int rc);
/* MPI_Finalize when every process ends with rc by the same decision (a
 * usage error: the arguments and the program are the same everywhere): no
 * MPI_Abort, which could kill rank 0 before its message is forwarded. */
void gradc_mpi_finalize_agreed(int rc);
/* Split the rows of g's data between the processes: each reads only its
 * share of every CSV file (whole blocks, in rank order; before the values
 * are set), and gradc_run adds the block sums of all of them (MPI_Allgatherv)
 * in block order, so every process has the same results. A value per row
 * is gathered on rank 0 (every row, in the data's order); the others hold
 * their own rows. A trainer's mini-batches are drawn from the global rows,
 * every process evaluating the rows of the batch it holds. */
void gradc_set_mpi(Gradc *g);

/* ---- emitting C ------------------------------------------------------- */

/* C source (and header) for every output's value, gradient and JVP
 * functions, and every scalar output's HVP function, per SPEC section 3. Strings are malloc'd; the caller frees. */
GradcStatus gradc_emit(Gradc *g, const char *prefix, char **source,
                       char **header, const char *header_name);
/* gradc_emit plus, for each output F, P_F_jac_sparse (and for a scalar F
 * P_F_hess_sparse): the nonzeros of its Jacobian (Hessian) with respect to
 * the params by compressed sweeps, P_F_..._pattern (compressed sparse
 * column) and P_F_..._work (sparse_emit.c). The patterns are computed at
 * the sizes bound now (gradc_set_dim or values): GRADC_ERR_USAGE if a
 * symbolic dimension has none. */
GradcStatus gradc_emit_sparse(Gradc *g, const char *prefix, char **source, char **header,
                              const char *header_name);
/* The calling convention of the functions gradc_emit writes (emit_array.c). */
typedef enum GradcAbi {
  GRADC_ABI_DEFAULT = 0, /* int P_F_grad(long N, double w, const double *X, ...,
                            double *L, double *g_dL_dw, ..., double *work) */
  GRADC_ABI_ARRAY = 1,   /* CasADi's generated code: int P_F_grad(const double **arg,
                            double **res, const long *dims, double *work), one pointer
                            per argument and result, with P_F_grad_n_in(), _n_out(),
                            _name_in(i), _name_out(i), _shape_in(i, dims, shape),
                            _shape_out(...) and _work(dims); the statements of
                            the JIT's code, so the same bits. Names are the
                            variables' ("x", "tangent of x") and the results' as
                            gradc_fn_res_name gives them ("L", "dL/dw", "dL",
                            "d2L/dw.v"). Not with gradc_emit_sparse (yet). */
} GradcAbi;
void gradc_set_emit_abi(Gradc *g, GradcAbi abi);
/* The derivative of output `out` with respect to variable `var` as a
 * readable expression, shared subexpressions as "let tK = ..." lines and
 * the program's definitions by name. The string is malloc'd. */
GradcStatus gradc_diff_text(Gradc *g, int out, int var, char **text);
/* Names, besides the program's own, that gradc_diff_text's let lines must
 * not take (a REPL session's names outside the program it differentiates,
 * so that pasting the text back redefines nothing). Adds to the list;
 * GRADC_ERR_NOMEM if it cannot. */
GradcStatus gradc_diff_avoid(Gradc *g, const char *const *names, int n);
/* Graphviz text of the DAG (with the gradient nodes if `grad`). */
GradcStatus gradc_dot(Gradc *g, int grad, char **text);

#endif
