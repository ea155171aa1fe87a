/* mpi.c: gradc under mpirun (Open MPI). Each process (rank) reads only its
 * share of the rows of the CSV data: whole blocks of rows (parallel.c),
 * contiguous, in rank order; the partial sums of every block are gathered
 * on every rank (MPI_Allgatherv, rank order = block order) and added in
 * block order, so every rank gets the same bits, which equal those of one
 * process with the same blocks. Values per row are gathered on rank 0
 * (MPI_Gatherv), which prints them. Without mpirun none of this runs. */
#include <mpi.h>
#include <stdlib.h>

#include "parallel.h"

static int world_size = 1, world_rank = 0, inited = 0;

int gradc_mpi_init(int *argc, char ***argv) {
  /* only under a launcher: Open MPI's mpirun sets these */
  if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMIX_RANK"))
    return 1;
  if (MPI_Init(argc, argv) != MPI_SUCCESS)
    return 1;
  inited = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  return world_size;
}

int gradc_mpi_rank(void) { return world_rank; }

void gradc_mpi_finalize(int rc) {
  /* a process that failed alone (a bad cell in its rows) must not leave the
   * others waiting in a collective: end them all */
  if (inited && rc != 0 && world_size > 1)
    MPI_Abort(MPI_COMM_WORLD, rc);
  if (inited)
    MPI_Finalize();
  inited = 0;
}

void gradc_mpi_finalize_agreed(int rc) {
  (void)rc;
  if (inited)
    MPI_Finalize();
  inited = 0;
}

void gradc_set_mpi(Gradc *g) {
  ParCtx *c = par_ctx(g);
  if (c && world_size > 1) {
    c->rank = world_rank;
    c->size = world_size;
  }
}

int par_mpi_counts(long mine, long *counts, int size) {
  return MPI_Allgather(&mine, 1, MPI_LONG, counts, 1, MPI_LONG, MPI_COMM_WORLD) != MPI_SUCCESS || size != world_size;
}

/* Every rank's nmine doubles into all, in rank order (counts[r] from rank
 * r): on every rank (root < 0, MPI_Allgatherv) or on root (MPI_Gatherv). */
static int gather(const double *mine, long nmine, double *all, const long *counts, int size, int root) {
  int *cnt = malloc((size_t)size * sizeof *cnt), *disp = malloc((size_t)size * sizeof *disp);
  int rc = -1;
  if (cnt && disp) {
    long at = 0;
    for (int r = 0; r < size; r++) {
      cnt[r] = (int)counts[r];
      disp[r] = (int)at;
      at += counts[r];
    }
    rc = (root < 0 ? MPI_Allgatherv(mine, (int)nmine, MPI_DOUBLE, all, cnt, disp, MPI_DOUBLE, MPI_COMM_WORLD)
                   : MPI_Gatherv(mine, (int)nmine, MPI_DOUBLE, all, cnt, disp, MPI_DOUBLE, root, MPI_COMM_WORLD)) !=
         MPI_SUCCESS;
  }
  free(cnt);
  free(disp);
  return rc;
}

int par_mpi_allgather(const double *mine, long nmine, double *all, const long *counts, int size) {
  return gather(mine, nmine, all, counts, size, -1);
}

int par_mpi_gather(const double *mine, long nmine, double *all, const long *counts, int size) {
  return gather(mine, nmine, all, counts, size, 0);
}

int par_mpi_bcast(double *x, long n) {
  return n > 0 && MPI_Bcast(x, (int)n, MPI_DOUBLE, 0, MPI_COMM_WORLD) != MPI_SUCCESS;
}
