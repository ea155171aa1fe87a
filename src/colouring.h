/* colouring.h: graph colourings that compress sparse Jacobians and
 * Hessians, by ColPack (Gebremedhin, Tarafdar, Manne and Pothen, "New
 * acyclic and star coloring algorithms with application to computing
 * Hessians", SIAM J. Sci. Comput. 29(3), 2007; Debian's libcolpack-dev).
 * colouring.cpp is a small C++ shim with this C interface; sparsity.c
 * uses it and does the recovery itself.
 *
 * A pattern is CSR: row i has the columns col[rowptr[i] .. rowptr[i+1]-1].
 * Each function fills colour[] (one per column, or per row for
 * colour_rows) with 0..k-1, -1 for a column (row) with no nonzero, and
 * returns k, or -1 when out of memory or when ColPack failed. */
#ifndef GRADC_COLOURING_H
#define GRADC_COLOURING_H

#ifdef __cplusplus
extern "C" {
#endif

/* Partial distance-2 colouring of the columns: two columns with a nonzero
 * in the same row get different colours, so one JVP along the sum of the
 * unit vectors of a colour gives every nonzero of those columns
 * (Curtis, Powell and Reid 1974). */
int colour_columns(long nrow, long ncol, const long *rowptr, const long *col, int *colour);
/* The same for rows (one VJP per colour). */
int colour_rows(long nrow, long ncol, const long *rowptr, const long *col, int *colour);
/* Star colouring of a symmetric pattern (an n x n Hessian's): a distance-1
 * colouring in which every path on four vertices uses at least three
 * colours, so one HVP per colour recovers every nonzero directly
 * (Coleman and Moré 1984). */
int colour_star(long n, const long *rowptr, const long *col, int *colour);

#ifdef __cplusplus
}
#endif

#endif
