/* sparsity.h: sparsity patterns from the DAG (sparsity.c), shared with
 * sparse.c (colouring, compressed evaluation) and sparse_emit.c. */
#ifndef GRADC_SPARSITY_H
#define GRADC_SPARSITY_H

#include "api.h"

/* A pattern in CSR: row i has the columns col[rowptr[i] .. rowptr[i+1]-1],
 * increasing. */
typedef struct Pattern {
  long nrow, ncol, nnz;
  long *rowptr, *col;
} Pattern;

/* Variables outside wrt are constants at their values on the context (a
 * Jacobian at a point); without it only constants of the program are
 * known (the pattern of emitted C, which holds for any input). */
#define SP_AT_VALUES 1

/* The Jacobian of outputs outs[0..nouts) (rows: their elements stacked in
 * that order, each row-major) with respect to wrt (columns: their
 * elements stacked in wrt order), at the bound sizes. GRADC_ERR_INPUT when
 * the pattern is too dense to hold (a diagnostic says so). */
GradcStatus sparsity_jacobian(Gradc *g, const int *outs, int nouts, const int *wrt, int nwrt, int flags,
                              Pattern *p);
/* The symmetric pattern of the Hessian of scalar output `out` (both
 * triangles, the diagonal where it may be nonzero). */
GradcStatus sparsity_hessian(Gradc *g, int out, const int *wrt, int nwrt, int flags, Pattern *p);
void pattern_free(Pattern *p);

/* sparse.c: the insides of a GradcSparse (gradc.h), for sparse_emit.c */
struct GradcSparsePriv {
  Gradc *g;
  int *wrt, nwrt;
  int *outs, nouts;
  long *col_off;      /* nwrt + 1: first column of each wrt variable */
  long *row_off;      /* nouts + 1: first row of each output (Jacobian) */
  int *colour;        /* of each column (forward, Hessian) or row (reverse) */
  int *sweep_base;    /* reverse: the first sweep of each output */
  int nsweeps;
  long len;           /* the length of one compressed vector */
  long *src;          /* nnz: the nonzero's place in the compressed vectors,
                         sweep * len + element */
};

/* sparse_emit.c: emit --sparse. Adds the sweep functions of every
 * output's P_F_jac_sparse (and of a scalar output's P_F_hess_sparse) to
 * fns (realloc'd), then, after emit_c (which says in has_work which of
 * fns take a workspace), appends the sparse functions and their patterns
 * to the source and the header. */
typedef struct SparseEmit SparseEmit;
GradcStatus sparse_emit_plan(Gradc *g, const char *prefix, EmitFn **fns, int *nfns, SparseEmit **se);
void sparse_emit_code(SparseEmit *se, const EmitFn *fns, const int *has_work, int nfns, int array, Buf *src,
                      Buf *hdr);
void sparse_emit_free(SparseEmit *se);

#endif
