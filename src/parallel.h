/* parallel.h: data parallelism over the rows (separable.c, parallel.c,
 * mpi.c), shared with api.c. */
#ifndef GRADC_PARALLEL_H
#define GRADC_PARALLEL_H

#include "api.h"

/* separable.c: the class of a node with respect to the data dimension N */
/* SEP_AFFINE: a SUM plus a CONST (a regulariser added to a mean) */
enum { SEP_CONST = 0, SEP_ROW = 1, SEP_SUM = 2, SEP_BAD = 3, SEP_AFFINE = 4 };
enum { SEP_WHY_NONE, SEP_WHY_SHAPE, SEP_WHY_MIX, SEP_WHY_SUMSUM, SEP_WHY_ADDCONST,
       SEP_WHY_POWER, SEP_WHY_ROWOP, SEP_WHY_AFFINE };
typedef struct SepClass {
  int8_t kind;     /* SEP_... */
  int8_t p;        /* the value (AFFINE: its SUM part) is proportional to N^p */
  uint8_t why;     /* SEP_BAD: SEP_WHY_... */
  NodeId origin;   /* SEP_BAD: the node where it became so */
} SepClass;

/* The data dimension (the first symbolic leading dimension of an input), or -1. */
int sep_data_dim(const Gradc *g);
/* Every node's class (malloc'd, one per node), NULL if there is no data
 * dimension or out of memory; *data_dim gets it. */
SepClass *sep_classify(const Gradc *g, int *data_dim);
const char *sep_why_text(int why);
/* For each of roots[0..nroots) (nodes classified by c), its part that is a
 * sum over the rows (SEP_SUM, or NO_NODE) into rowpart[k] and its part
 * that does not depend on the rows (SEP_CONST, or NO_NODE) into
 * constpart[k]: an AFFINE node is rewritten on g's DAG as the two, a SUM
 * node is its own row part, a CONST node its own const part (ROW and BAD
 * nodes: both NO_NODE). Each part has the root's shape. 0, or -1 when the
 * DAG is out of memory. */
int sep_split(Gradc *g, const SepClass *c, const NodeId *roots, int nroots, NodeId *rowpart,
              NodeId *constpart);

/* parallel.c: the context's settings (Gradc.par) */
typedef struct ParCtx {
  int threads;       /* 0: the cores available */
  long block_rows;   /* 0: PAR_BLOCK_ROWS */
  /* MPI (mpi.c): this process holds rows [first_row, first_row + local)
   * of total_rows; size > 1 turns the combination across ranks on */
  int rank, size;
  long first_row, total_rows, local_rows;
  /* a mini-batch (train --batch under MPI, par_set_batch): this process
   * holds batch_local of its batch_total rows; 0: the whole data */
  long batch_local, batch_total;
  /* the data rows of the CSV file last counted (values.c: a second input
   * from the same file is not counted again), or NULL */
  char *counted_path;
  long counted_rows;
  /* the last blocked run: CPU seconds of each thread (benchmarks: on a
   * shared machine the busiest thread's CPU time is the wall time it would
   * take on cores of its own) */
  double thread_cpu[64];
  int nthread_cpu;
  long last_blocks;  /* blocks of the last gradc_run (this process's), 0: one call */
} ParCtx;
#define PAR_BLOCK_ROWS 4096L

/* gradc_run's hook: when f's results can be assembled from blocks of rows
 * and there is more than one block (or several MPI ranks), evaluate them
 * so, set *st and return 1; else return 0 (run as one call). */
int par_run(GradcFn *f, const double *const *args, GradcStatus *st);
void par_fn_free(GradcFn *f);
void par_ctx_free(Gradc *g);
ParCtx *par_ctx(Gradc *g);    /* created on demand; NULL when out of memory */
long par_block_rows(Gradc *g);

/* Under MPI: the rows [*lo, *hi) of a CSV of `total` data rows that this
 * process keeps (all of them otherwise); -1 after a diagnostic. */
int par_csv_window(Gradc *g, long total, long *lo, long *hi);

/* Under MPI with the rows from CSV files: the rows of all processes, and
 * *first, *local this process's range; -1 otherwise. */
long par_mpi_rows(Gradc *g, long *first, long *local);
/* Under MPI: the values on g are a mini-batch of `total` rows, `local` of
 * them this process's (0: it holds one placeholder row that no block
 * evaluates); total 0: the whole data again. Nothing without MPI. */
void par_set_batch(Gradc *g, long local, long total);
/* gradc_fn_res_shape's hook: a value per row gathered on rank 0 holds
 * every process's rows (dims[0]). */
void par_res_dims(const GradcFn *f, int i, long *dims);

/* mpi.c (GRADC_MPI): gather every rank's block partials, in rank order,
 * into all (counts[r] doubles from rank r); 0 on success. */
int par_mpi_allgather(const double *mine, long nmine, double *all, const long *counts, int size);
/* The block count of every rank (rank order) into counts; 0 on success. */
int par_mpi_counts(long mine, long *counts, int size);
/* Every rank's nmine doubles (counts[r] from rank r), in rank order, into
 * all on rank 0 (MPI_Gatherv; all is ignored on the others); 0 on success. */
int par_mpi_gather(const double *mine, long nmine, double *all, const long *counts, int size);
/* Rank 0's n doubles x on every rank (MPI_Bcast); 0 on success. */
int par_mpi_bcast(double *x, long n);

#endif
