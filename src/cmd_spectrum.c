/* cmd_spectrum.c: `gradc spectrum` (SPEC section 2): the extreme
 * eigenvalues of the Hessian of a scalar output, a Hutchinson estimate of
 * its trace and the kind of point, computed by gradc_spectrum
 * (spectrum.c). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static void print_list(const char *label, const double *d, int k) {
  printf("%s", label);
  for (int i = 0; i < k; i++) {
    printf(i ? ", " : "");
    print_num(d[i]);
  }
  putchar('\n');
}

static json_t *jlist(const double *d, int k) {
  json_t *a = json_array();
  for (int i = 0; i < k; i++)
    json_array_append_new(a, jnum(d[i]));
  return a;
}

static const char *why(GradcPointKind kind) {
  switch (kind) {
  case GRADC_POINT_MINIMUM: return "every eigenvalue above the tolerance";
  case GRADC_POINT_MAXIMUM: return "every eigenvalue below minus the tolerance";
  case GRADC_POINT_SADDLE: return "eigenvalues of both signs";
  case GRADC_POINT_DEGENERATE: return "an eigenvalue within the tolerance of 0";
  default: return "only the largest eigenvalues are known";
  }
}

int cmd_spectrum(Run *r, const int *wrt, int nwrt) {
  Gradc *g = r->g;
  const Opts *o = r->o;
  int rc;
  int out = scalar_output_arg(r, "spectrum", &rc);
  if (out < 0)
    return rc;
  if (nwrt == 0) {
    usage_error("spectrum ", "%s has no param: name a variable with --wrt", o->file);
    return EXIT_USAGE;
  }
  long n = 0;
  for (int k = 0; k < nwrt; k++) {
    long dims[8];
    int rank;
    if (gradc_get_value(g, wrt[k], dims, &rank))
      n += count(dims, rank);
  }
  const char *name = gradc_output_name(g, out);
  if (o->k > n) {
    usage_error("spectrum ", "--k %d: the Hessian of %s is %ld x %ld: it has %ld eigenvalue%s", o->k,
                name, n, n, n, n == 1 ? "" : "s");
    return EXIT_USAGE;
  }
  GradcSpectrumOpts so = {.k = o->k, .probes = o->probes, .seed = o->seed};
  GradcSpectrum s;
  if (gradc_spectrum(g, out, wrt, nwrt, &so, &s) != GRADC_OK)
    return report(g);
  double gtol = 1e-6 * (fabs(s.value) > 1 ? fabs(s.value) : 1);
  int critical = s.gradient_norm <= gtol;
  const char *kind = gradc_point_kind_name(s.kind);
  if (o->json) {
    json_t *root = json_object(), *outs = jobj(root, "outputs"), *sp = json_object();
    json_object_set_new(outs, name, jnum(s.value));
    json_object_set_new(jobj(root, "spectrum"), name, sp);
    json_object_set_new(sp, "n", json_integer(s.n));
    json_object_set_new(sp, "method", json_string(s.dense ? "dense" : "lanczos"));
    json_object_set_new(sp, "largest", jlist(s.largest, s.k));
    json_object_set_new(sp, "smallest", jlist(s.smallest, s.k));
    json_object_set_new(sp, "trace", jnum(s.has_trace ? s.trace : NAN));
    json_object_set_new(sp, "trace_stderr", jnum(s.has_trace ? s.trace_stderr : NAN));
    json_object_set_new(sp, "probes", json_integer(s.probes));
    json_object_set_new(sp, "kind", json_string(kind));
    json_object_set_new(sp, "tolerance", jnum(s.tolerance));
    json_object_set_new(sp, "gradient_norm", jnum(s.gradient_norm));
    json_object_set_new(sp, "critical", json_boolean(critical));
    json_object_set_new(sp, "hvps", json_integer(s.hvps));
    json_print(root);
  } else {
    printf("%s = ", name);
    print_num(s.value);
    printf("\nHessian of %s w.r.t. (", name);
    for (int k = 0; k < nwrt; k++) {
      long dims[8];
      int rank = 0;
      gradc_get_value(g, wrt[k], dims, &rank);
      printf("%s%s%s", k ? ", " : "", gradc_var_name(g, wrt[k]), rank > 0 ? "[...]" : "");
    }
    printf("): %ld x %ld, from %ld Hessian-vector product%s (%s)\n", s.n, s.n, s.hvps,
           s.hvps == 1 ? "" : "s", s.dense ? "dense: LAPACK dsyev" : "Lanczos: ARPACK");
    print_list("largest:  ", s.largest, s.k);
    print_list("smallest: ", s.smallest, s.k);
    if (s.has_trace) {
      printf("trace: ");
      print_num(s.trace);
      if (s.probes == 0) {
        printf(" (exact)\n");
      } else {
        printf(" +- ");
        print_num(s.trace_stderr);
        printf(" (Hutchinson: %ld Rademacher probes, seed %llu; +- one standard error)\n",
               s.probes, o->seed);
      }
    }
    printf("kind: %s (%s)\n", kind, why(s.kind));
    printf("tolerance: %.3g (1e-8 max |eigenvalue|: smaller |eigenvalues| count as 0)\n",
           s.tolerance);
    printf("gradient norm: ");
    print_short(s.gradient_norm);
    printf(" (%s 1e-6 max(1, |%s|): %s)\n",
           critical ? "at most" : "above", name,
           critical ? "a critical point" : "not a critical point; the kind describes the curvature");
  }
  gradc_spectrum_free(&s);
  return 0;
}
