/* bench_mlp: gradc's emitted C for a two-layer network (value+gradient,
 * compiled with cc -O2 like this file) against a hand-written backprop:
 * the practical limit. Both with plain loops, and both with OpenBLAS.
 *   bench_mlp [--quick] [--json FILE]
 * Workloads: Iris 2-16-3 (N = 150 and 100,000), digits 64-256-10
 * (N = 1797), on random data with a fixed seed. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "iris_gen.h"
#include "irisb_gen.h"
#include "digits_gen.h"
#include "digitsb_gen.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct Net {
  long n, d, m, k;
  double *X, *label, *V, *b, *W, *c;       /* data and params */
  double *dV, *db, *dW, *dc, J;            /* results */
  double *Z, *S, *dS, *dZ;                 /* the hand-written code's scratch */
  double *work;
  int blas;
} Net;

static double sigmoid(double x) { return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)); }

/* The course's backprop: z = h(V x), s = W z, dy = yh - y, dW = dy z',
 * dz = W' dy, dV = (dz * z * (1 - z)) x', with biases and the mean. */
static void hand(Net *t) {
  long n = t->n, d = t->d, m = t->m, k = t->k;
  double *Z = t->Z, *S = t->S;
  if (t->blas) {
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)m, (int)d, 1, t->X, (int)d,
                t->V, (int)d, 0, Z, (int)m);
  } else {
    for (long i = 0; i < n; i++)
      for (long j = 0; j < m; j++) {
        double a = 0;
        for (long p = 0; p < d; p++)
          a += t->X[i * d + p] * t->V[j * d + p];
        Z[i * m + j] = a;
      }
  }
  for (long i = 0; i < n; i++)
    for (long j = 0; j < m; j++)
      Z[i * m + j] = sigmoid(Z[i * m + j] + t->b[j]);
  if (t->blas) {
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)k, (int)m, 1, Z, (int)m,
                t->W, (int)m, 0, S, (int)k);
  } else {
    for (long i = 0; i < n; i++)
      for (long q = 0; q < k; q++) {
        double a = 0;
        for (long j = 0; j < m; j++)
          a += Z[i * m + j] * t->W[q * m + j];
        S[i * k + q] = a;
      }
  }
  double J = 0;
  for (long i = 0; i < n; i++) { /* softmax cross-entropy, dy = (yh - y)/N */
    double *s = S + i * k, mx = -INFINITY, sum = 0;
    for (long q = 0; q < k; q++) {
      s[q] += t->c[q];
      mx = fmax(mx, s[q]);
    }
    for (long q = 0; q < k; q++)
      sum += exp(s[q] - mx);
    long y = (long)t->label[i];
    J += mx + log(sum) - s[y];
    for (long q = 0; q < k; q++)
      t->dS[i * k + q] = (exp(s[q] - mx) / sum - (q == y)) / (double)n;
  }
  t->J = J / (double)n;
  memset(t->dc, 0, (size_t)k * sizeof *t->dc);
  for (long i = 0; i < n; i++)
    for (long q = 0; q < k; q++)
      t->dc[q] += t->dS[i * k + q];
  if (t->blas) { /* dW = dS' Z, dZ = dS W */
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)m, (int)n, 1, t->dS, (int)k,
                Z, (int)m, 0, t->dW, (int)m);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)m, (int)k, 1, t->dS,
                (int)k, t->W, (int)m, 0, t->dZ, (int)m);
  } else {
    memset(t->dW, 0, (size_t)(k * m) * sizeof *t->dW);
    for (long i = 0; i < n; i++)
      for (long q = 0; q < k; q++) {
        double g = t->dS[i * k + q];
        for (long j = 0; j < m; j++)
          t->dW[q * m + j] += g * Z[i * m + j];
      }
    for (long i = 0; i < n; i++)
      for (long j = 0; j < m; j++) {
        double a = 0;
        for (long q = 0; q < k; q++)
          a += t->dS[i * k + q] * t->W[q * m + j];
        t->dZ[i * m + j] = a;
      }
  }
  memset(t->db, 0, (size_t)m * sizeof *t->db);
  for (long i = 0; i < n; i++)
    for (long j = 0; j < m; j++) {
      double z = Z[i * m + j], g = t->dZ[i * m + j] * z * (1 - z);
      t->dZ[i * m + j] = g;
      t->db[j] += g;
    }
  if (t->blas) { /* dV = dZ' X */
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)m, (int)d, (int)n, 1, t->dZ, (int)m,
                t->X, (int)d, 0, t->dV, (int)d);
  } else {
    memset(t->dV, 0, (size_t)(m * d) * sizeof *t->dV);
    for (long i = 0; i < n; i++)
      for (long j = 0; j < m; j++) {
        double g = t->dZ[i * m + j];
        for (long p = 0; p < d; p++)
          t->dV[j * d + p] += g * t->X[i * d + p];
      }
  }
}

typedef int (*GradFn)(long, const double *, const double *, const double *, const double *,
                      const double *, const double *, double *, double *, double *, double *,
                      double *, double *);

static void emitted(Net *t, GradFn f) {
  f(t->n, t->X, t->label, t->V, t->b, t->W, t->c, &t->J, t->dV, t->db, t->dW, t->dc, t->work);
}

static double *rnd(long n, double scale, unsigned long long *s) {
  double *x = malloc((size_t)n * sizeof *x);
  for (long i = 0; i < n; i++) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    x[i] = scale * ((double)(*s >> 11) * 0x1.0p-53 - 0.5);
  }
  return x;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double timeit(Net *t, GradFn f) {
  long reps = 1;
  for (;;) {
    double t0 = now();
    for (long r = 0; r < reps; r++)
      f ? emitted(t, f) : hand(t);
    if (now() - t0 > 0.05)
      break;
    reps *= 2;
  }
  double s[5];
  for (int k = 0; k < 5; k++) {
    double t0 = now();
    for (long r = 0; r < reps; r++)
      f ? emitted(t, f) : hand(t);
    s[k] = (now() - t0) / (double)reps;
  }
  qsort(s, 5, sizeof *s, cmp);
  return s[2];
}

int main(int argc, char **argv) {
  int quick = 0;
  const char *json = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick"))
      quick = 1;
    else if (!strcmp(argv[i], "--json") && i + 1 < argc)
      json = argv[++i];
  }
  struct { const char *name; long n, d, m, k; GradFn loops, blas; long (*work)(long); } w[] = {
      {"iris N=150", 150, 2, 16, 3, iris_J_grad, irisb_J_grad, iris_J_grad_work},
      {"iris N=100000", quick ? 2000 : 100000, 2, 16, 3, iris_J_grad, irisb_J_grad, iris_J_grad_work},
      {"digits 64-256-10 N=1797", quick ? 200 : 1797, 64, 256, 10, digits_J_grad, digitsb_J_grad, digits_J_grad_work},
  };
  /* one BLAS thread unless asked otherwise: the hand-written and the
   * emitted code share it, and threads on a busy 2-core box only add noise */
  if (!getenv("OPENBLAS_NUM_THREADS"))
    openblas_set_num_threads(1);
  FILE *jf = json ? fopen(json, "w") : NULL;
  if (jf)
    fprintf(jf, "[\n");
  printf("%-24s %12s %12s %7s | %12s %12s %7s | %8s\n", "workload", "hand loops", "gradc loops",
         "ratio", "hand BLAS", "gradc BLAS", "ratio", "BLAS gain");
  for (int i = 0; i < 3; i++) {
    unsigned long long s = 42;
    Net t = {.n = w[i].n, .d = w[i].d, .m = w[i].m, .k = w[i].k};
    long n = t.n, d = t.d, m = t.m, k = t.k;
    t.X = rnd(n * d, 2, &s);
    t.label = malloc((size_t)n * sizeof *t.label);
    for (long r = 0; r < n; r++)
      t.label[r] = (double)(r % k);
    t.V = rnd(m * d, 1, &s), t.b = rnd(m, 1, &s), t.W = rnd(k * m, 1, &s), t.c = rnd(k, 1, &s);
    t.dV = malloc((size_t)(m * d) * 8), t.db = malloc((size_t)m * 8), t.dW = malloc((size_t)(k * m) * 8);
    t.dc = malloc((size_t)k * 8);
    t.Z = malloc((size_t)(n * m) * 8), t.S = malloc((size_t)(n * k) * 8);
    t.dS = malloc((size_t)(n * k) * 8), t.dZ = malloc((size_t)(n * m) * 8);
    t.work = malloc((size_t)w[i].work(n) * 8 + 8);
    /* the two agree before they race */
    hand(&t);
    double Jh = t.J, dv0 = t.dV[0];
    emitted(&t, w[i].loops);
    if (fabs(t.J - Jh) > 1e-9 * fabs(Jh) || fabs(t.dV[0] - dv0) > 1e-9 * (fabs(dv0) + 1e-12)) {
      fprintf(stderr, "bench_mlp: %s: gradc and the hand-written code disagree\n", w[i].name);
      return 1;
    }
    t.blas = 0;
    double h = timeit(&t, NULL), g = timeit(&t, w[i].loops);
    t.blas = 1;
    double hb = timeit(&t, NULL), gb = timeit(&t, w[i].blas);
    printf("%-24s %10.1fus %10.1fus %7.2f | %10.1fus %10.1fus %7.2f | %7.1fx\n", w[i].name, 1e6 * h,
           1e6 * g, g / h, 1e6 * hb, 1e6 * gb, gb / hb, g / gb);
    if (jf)
      fprintf(jf, "  {\"workload\": \"%s\", \"hand_loops_s\": %.9f, \"gradc_loops_s\": %.9f, "
                  "\"hand_blas_s\": %.9f, \"gradc_blas_s\": %.9f}%s\n",
              w[i].name, h, g, hb, gb, i < 2 ? "," : "");
    double *all[] = {t.X, t.label, t.V, t.b, t.W, t.c, t.dV, t.db, t.dW, t.dc,
                     t.Z, t.S, t.dS, t.dZ, t.work};
    for (size_t q = 0; q < sizeof all / sizeof *all; q++)
      free(all[q]);
  }
  if (jf) {
    fprintf(jf, "]\n");
    fclose(jf);
  }
  return 0;
}
