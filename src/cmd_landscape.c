/* cmd_landscape.c: `gradc landscape` (SPEC 2): a scalar output on a line
 * or a plane through the params, computed by gradc_landscape (landscape.c)
 * on the compiled value function, drawn by plot.c into a PNG that is
 * written atomically; --json prints the grid. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "plot.h"

const char landscape_help[] =
    "gradc landscape FILE [NAME=VALUE...] [-o PLOT.png] [--dim 1|2] [--along random|PARAMS.json]\n"
    "                [--range A:B[,C:D]] [--grid G] [--output NAME] [--seed S] [--json]\n"
    "  Draws a scalar output (default: the first scalar one) around the params into\n"
    "  a PNG (-o): a line plot (--dim 1, the default; 800 x 500 pixels) or filled\n"
    "  contours with labelled levels and the centre marked (--dim 2; 760 x 680), on\n"
    "  a grid of G\n"
    "  points per axis (default 101 on a line, 41 on a plane), a in A:B and b in C:D\n"
    "  (default: as a). Each point is one run of the compiled function.\n"
    "  --along random (default): params + a d1 + b d2 with seeded Gaussian\n"
    "  directions, filter-normalised as in Li et al. 2018: each row of a weight\n"
    "  matrix scaled to the norm of the same row of the params; biases and scalar\n"
    "  params stay fixed (0 in the directions, as in Li et al.). With no weight\n"
    "  matrix there is nothing to normalise: the directions are the params' own\n"
    "  axes when they have --dim elements in all (x and y of f(x, y)), else random\n"
    "  unit vectors, the second orthogonal to the first. a in -1:1.\n"
    "  --along PARAMS.json: the straight line (1 - a) params + a PARAMS (Goodfellow\n"
    "  et al. 2015), a in -0.5:1.5; on a plane b d2 is added, d2 random as above\n"
    "  (with no weight matrix: orthogonal to the line and as long), b in -1:1.\n"
    "  PARAMS.json must give every param (as train --save writes them).\n"
    "  --json prints the grid (a, b, values[j][i] at b[j], a[i]) with the centre\n"
    "  and directions; with --json, -o may be left out (no picture).\n"
    "  Values that are not finite are gaps in the plot (grey on a plane).\n";

enum { LINE_W = 800, LINE_H = 500, PLANE_W = 760, PLANE_H = 680 };
enum { MAX_LINE = 100001, MAX_PLANE = 2001 };

/* ---- options ------------------------------------------------------------------- */

/* "A:B" (n characters of s): finite numbers with A < B */
static int interval(const char *s, size_t n, double r[2]) {
  char buf[128];
  if (n >= sizeof buf)
    return -1;
  memcpy(buf, s, n);
  buf[n] = 0;
  char *colon = strchr(buf, ':');
  if (!colon)
    return -1;
  *colon = 0;
  if (!parse_number(buf, &r[0]) || !parse_number(colon + 1, &r[1]))
    return -1;
  return isfinite(r[0]) && isfinite(r[1]) && r[0] < r[1] ? 0 : -1;
}

/* --range A:B[,C:D]; *both says whether C:D was given */
static int parse_range(const char *s, double a[2], double b[2], int *both) {
  size_t n = strcspn(s, ",");
  *both = s[n] == ',';
  if (interval(s, n, a) < 0)
    return -1;
  if (!*both) {
    b[0] = a[0];
    b[1] = a[1];
    return 0;
  }
  return interval(s + n + 1, strlen(s + n + 1), b);
}


int landscape_usage(const Opts *o) {
  if (strcmp(o->cmd, "landscape")) /* its options elsewhere: refused by cli.c's table */
    return 0;
  if (!o->out && !o->json) {
    usage_error("landscape ", "landscape needs -o PLOT.png (or --json for the values alone)");
    return -1;
  }
  double a[2], b[2];
  int both;
  if (o->range && parse_range(o->range, a, b, &both) < 0) {
    usage_error("landscape ", "--range needs A:B or A:B,C:D, numbers with A < B and C < D, not '%s'", o->range);
    return -1;
  }
  if (o->range && both && o->dim != 2) {
    usage_error("landscape ", "--range %s: a second range is for --dim 2", o->range);
    return -1;
  }
  long max = o->dim == 2 ? MAX_PLANE : MAX_LINE;
  if (o->grid > max) {
    usage_error("landscape ", "--grid %ld: at most %ld points per axis on a %s", o->grid, max,
                o->dim == 2 ? "plane" : "line");
    return -1;
  }
  return 0;
}

/* ---- params --------------------------------------------------------------------- */

typedef struct Space {
  int n;             /* params, declaration order */
  int *var;
  long *size, total;
  int matrices;      /* params of rank >= 2 */
  double **centre;   /* the params' values (borrowed) */
} Space;

static double **arrays(const Space *s) {
  double **a = calloc((size_t)s->n + 1, sizeof *a);
  for (int k = 0; a && k < s->n; k++) {
    a[k] = calloc((size_t)s->size[k] + 1, sizeof **a);
    if (!a[k]) {
      for (int j = 0; j < k; j++)
        free(a[j]);
      free(a);
      return NULL;
    }
  }
  return a;
}

static void arrays_free(const Space *s, double **a) {
  for (int k = 0; a && k < s->n; k++)
    free(a[k]);
  free(a);
}

static int space_get(Gradc *g, Space *s) {
  int nv = gradc_var_count(g);
  memset(s, 0, sizeof *s);
  s->var = calloc((size_t)nv + 1, sizeof *s->var);
  s->size = calloc((size_t)nv + 1, sizeof *s->size);
  s->centre = calloc((size_t)nv + 1, sizeof *s->centre);
  if (!s->var || !s->size || !s->centre)
    return -1;
  for (int i = 0; i < nv; i++) {
    if (!gradc_var_is_param(g, i))
      continue;
    long dims[8];
    int rank;
    s->centre[s->n] = gradc_get_value(g, i, dims, &rank);
    s->var[s->n] = i;
    s->size[s->n] = count(dims, rank);
    s->total += s->size[s->n];
    s->matrices += rank >= 2;
    s->n++;
  }
  return 0;
}

static void space_free(Space *s) {
  free(s->var);
  free(s->size);
  free(s->centre);
}

static const char *base(const char *path) {
  const char *b = strrchr(path, '/');
  return b ? b + 1 : path;
}

/* The params at the other end of the line, from PARAMS.json: every param,
 * each with the shape of the param's value; -1 after printing why. */
static int load_end(Run *r, const Space *s, double **end) {
  const char *path = r->o->along;
  json_error_t err;
  json_t *root = json_load_file(path, 0, &err);
  if (!root) {
    if (err.line > 0)
      fprintf(stderr, "%s:%d:%d: error: %s\n", path, err.line, err.column, err.text);
    else
      fprintf(stderr, "gradc: error: --along: %s\n", err.text);
    return -1;
  }
  int object = json_is_object(root);
  json_decref(root);
  if (!object) {
    fprintf(stderr, "gradc: error: --along %s: not a JSON object of params (NAME: VALUE, as train --save writes)\n",
            path);
    return -1;
  }
  /* read by a context of its own, so that only the params change */
  Gradc *g2 = gradc_new();
  if (!g2 || gradc_compile_file(g2, r->o->file) != GRADC_OK || gradc_set_inputs_file(g2, path) != GRADC_OK) {
    if (g2)
      report(g2);
    gradc_free(g2);
    return -1;
  }
  char missing[1024] = "";
  int nmissing = 0, rc = 0;
  for (int k = 0; k < s->n; k++) {
    long dims[8], want[8];
    int rank, wrank;
    const double *v = gradc_get_value(g2, s->var[k], dims, &rank);
    const char *name = gradc_var_name(r->g, s->var[k]);
    if (!v) {
      size_t n = strlen(missing);
      snprintf(missing + n, sizeof missing - n, "%s'%s'", nmissing ? ", " : "", name);
      nmissing++;
      continue;
    }
    gradc_get_value(r->g, s->var[k], want, &wrank);
    if (rank != wrank || memcmp(dims, want, (size_t)rank * sizeof *dims)) {
      fprintf(stderr, "gradc: error: --along %s: '%s' has %ld elements in a different shape from the param's %ld\n",
              path, name, count(dims, rank), count(want, wrank));
      rc = -1;
      continue;
    }
    memcpy(end[k], v, (size_t)s->size[k] * sizeof *v);
  }
  if (nmissing) {
    fprintf(stderr, "gradc: error: --along %s has no value for the param%s %s: it must give every param\n", path,
            nmissing > 1 ? "s" : "", missing);
    rc = -1;
  }
  gradc_free(g2);
  return rc;
}

/* ---- progress ------------------------------------------------------------------- */

typedef struct Bar {
  int tty;
  double last;
} Bar;

static double seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void progress(void *opaque, long done, long total) {
  Bar *b = opaque;
  double t = seconds();
  if (!b->tty || (done < total && t - b->last < 0.1))
    return;
  b->last = t;
  int w = 30, fill = (int)((double)w * (double)done / (double)total);
  fprintf(stderr, "\rlandscape [%.*s%*s] %ld/%ld points ", fill, "==============================", w - fill, "", done,
          total);
  fflush(stderr);
}

/* ---- the command ---------------------------------------------------------------- */

static json_t *jparams(Gradc *g, const Space *s, double *const *a) {
  json_t *o = json_object();
  for (int k = 0; k < s->n; k++) {
    long dims[8];
    int rank;
    gradc_get_value(g, s->var[k], dims, &rank);
    json_object_set_new(o, gradc_var_name(g, s->var[k]), jtensor(a[k], dims, rank));
  }
  return o;
}

static json_t *jvector(const double *x, long n) {
  long dims[1] = {n};
  return jtensor(x, dims, 1);
}

/* Where the centre comes from, for titles. */
static void centre_text(Run *r, const Space *s, char *out, size_t n) {
  const Opts *o = r->o;
  int given = 0;
  for (int a = 0; a < o->nassign; a++)
    for (int k = 0; k < s->n; k++) {
      const char *name = gradc_var_name(r->g, s->var[k]);
      size_t len = strlen(name);
      given |= !strncmp(o->assign[a], name, len) && o->assign[a][len] == '=';
    }
  if (given)
    snprintf(out, n, "the params given");
  else if (o->inputs)
    snprintf(out, n, "the params of %s", base(o->inputs));
  else
    snprintf(out, n, "the initial params (defaults, seed %llu)", o->seed);
}

static void fmt(char *out, size_t n, double x) {
  if (isnan(x))
    snprintf(out, n, "NaN");
  else if (isinf(x))
    snprintf(out, n, "%s", x > 0 ? "Infinity" : "-Infinity");
  else
    snprintf(out, n, "%.4g", x);
}

int cmd_landscape(Run *r) {
  Gradc *g = r->g;
  Opts oo = *r->o;
  if (!oo.output)
    oo.output = oo.loss; /* SPEC 2: --output or --loss */
  const Opts *o = &oo;
  Run rr = {.g = g, .o = o, .nv = r->nv};
  int rc;
  int out = scalar_output_arg(&rr, "landscape", &rc);
  if (out < 0)
    return rc;
  const char *oname = gradc_output_name(g, out);
  int dim = o->dim ? o->dim : 1, path = o->along && strcmp(o->along, "random");
  double ra[2] = {path ? -0.5 : -1, path ? 1.5 : 1}, rb[2] = {-1, 1};
  int both = 0;
  if (o->range)
    parse_range(o->range, ra, rb, &both); /* checked by landscape_usage */
  long na = o->grid ? o->grid : dim == 1 ? 101 : 41, nb = dim == 2 ? na : 1;

  /* -o: checked by check_outputs (cli_files.c) */
  Space s;
  double **end = NULL, **d1 = NULL, **d2 = NULL, **diff = NULL;
  double *alpha = NULL, *beta = NULL, *z = NULL;
  unsigned char *png = NULL;
  size_t pnglen = 0;
  rc = EXIT_INPUT;
  if (space_get(g, &s) < 0)
    goto out;
  if (s.n == 0) {
    fprintf(stderr, "gradc: error: landscape: %s has no param to move\n", o->file);
    goto out;
  }
  if (dim == 2 && s.total < 2) {
    fprintf(stderr, "gradc: error: landscape --dim 2: the params of %s have one element: no plane goes through them\n",
            o->file);
    goto out;
  }
  /* the directions */
  enum { FILTER, UNIT, AXES, LINE } how = LINE;
  if (path) {
    if (!(end = arrays(&s)) || load_end(r, &s, end) < 0)
      goto out;
  }
  if (!path && s.matrices == 0 && s.total == dim) {
    how = AXES; /* f(x, y): the params' own axes */
    if (!(d1 = arrays(&s)) || (dim == 2 && !(d2 = arrays(&s))))
      goto out;
    long e = 0;
    for (int k = 0; k < s.n; k++)
      for (long i = 0; i < s.size[k]; i++, e++)
        (e == 0 ? d1 : d2)[k][i] = 1;
  } else {
    GradcDirectionKind kind = GRADC_DIRECTION_FILTER;
    if (!path && (!(d1 = arrays(&s)) ||
                  gradc_direction_random(g, o->seed, 0, NULL, d1, &kind) != GRADC_OK)) {
      rc = d1 ? report(g) : EXIT_INPUT;
      goto out;
    }
    if (dim == 2) {
      if (path) { /* against the line's direction */
        if (!(diff = arrays(&s)))
          goto out;
        for (int k = 0; k < s.n; k++)
          for (long i = 0; i < s.size[k]; i++)
            diff[k][i] = end[k][i] - s.centre[k][i];
      }
      if (!(d2 = arrays(&s)) ||
          gradc_direction_random(g, o->seed, 1, (const double *const *)(path ? diff : d1), d2, &kind) != GRADC_OK) {
        rc = d2 ? report(g) : EXIT_INPUT;
        goto out;
      }
    }
    if (!path || dim == 2)
      how = kind == GRADC_DIRECTION_FILTER ? FILTER : UNIT;
  }
  /* the grid */
  alpha = malloc((size_t)na * sizeof *alpha);
  beta = malloc((size_t)nb * sizeof *beta);
  z = malloc((size_t)(na * nb) * sizeof *z);
  if (!alpha || !beta || !z)
    goto out;
  for (long i = 0; i < na; i++)
    alpha[i] = ra[0] + (ra[1] - ra[0]) * (double)i / (double)(na - 1);
  for (long j = 0; j < nb; j++)
    beta[j] = nb == 1 ? 0 : rb[0] + (rb[1] - rb[0]) * (double)j / (double)(nb - 1);
  Bar bar = {isatty(STDERR_FILENO), 0};
  const double *const *cd1 = (const double *const *)d1, *const *cd2 = (const double *const *)d2;
  const double *const *cend = (const double *const *)end;
  GradcStatus st = gradc_landscape(g, out, cd1, cend, cd2, alpha, na, beta, nb, z, progress, &bar);
  if (bar.tty) {
    fprintf(stderr, "\r%*s\r", 72, "");
    fflush(stderr);
  }
  if (st != GRADC_OK) {
    rc = report(g);
    goto out;
  }
  /* the centre and the end of the line, whether on the grid or not */
  const double zero = 0, one = 1;
  double zc = NAN, ze = NAN;
  if (gradc_landscape(g, out, cd1, cend, cd2, &zero, 1, &zero, 1, &zc, NULL, NULL) != GRADC_OK ||
      (path && gradc_landscape(g, out, cd1, cend, cd2, &one, 1, &zero, 1, &ze, NULL, NULL) != GRADC_OK)) {
    rc = report(g);
    goto out;
  }
  long npts = na * nb, bad = 0, lo = -1, hi = -1;
  for (long i = 0; i < npts; i++) {
    if (!isfinite(z[i])) {
      bad++;
      continue;
    }
    if (lo < 0 || z[i] < z[lo])
      lo = i;
    if (hi < 0 || z[i] > z[hi])
      hi = i;
  }

  /* the picture */
  char from[256], title[768], sub[1536], xl[640], yl[256], cz[32], ez[32], nf[128] = "";
  const char *file = base(o->file), *to = path ? base(o->along) : "";
  centre_text(r, &s, from, sizeof from);
  fmt(cz, sizeof cz, zc);
  fmt(ez, sizeof ez, ze);
  if (bad)
    snprintf(nf, sizeof nf, "; %ld of %ld values not finite (%s)", bad, npts, dim == 2 ? "grey" : "gaps");
  const char *filter = "filter-normalised as in Li et al. 2018 (each row of a weight matrix scaled to the norm "
                       "of that row of the params), biases and scalars fixed";
  const char *dirs = how == FILTER ? (path ? "a random direction" : "random directions")
                     : path        ? "a random direction orthogonal to the line and as long (no weight matrix to "
                                     "filter-normalise)"
                     : dim == 2    ? "random directions of unit length, the second orthogonal to the first (no "
                                     "weight matrix to filter-normalise)"
                                   : "a random direction of unit length (no weight matrix to filter-normalise)";
  char dirtext[512];
  snprintf(dirtext, sizeof dirtext, "%s%s%s", dirs, how == FILTER ? ", " : "", how == FILTER ? filter : "");
  dirs = dirtext;
  char pts[64];
  if (dim == 2)
    snprintf(pts, sizeof pts, "%ld x %ld points", na, nb);
  else
    snprintf(pts, sizeof pts, "%ld points", na);
  if (path) {
    snprintf(title, sizeof title, "%s (%s) on %s from %s to %s", oname, file,
             dim == 2 ? "a plane through the straight line" : "the straight line", from, to);
    if (dim == 2)
      snprintf(sub, sizeof sub,
               "(1 - \xce\xb1) \xce\xb8\xe2\x82\x80 + \xce\xb1 \xce\xb8\xe2\x82\x81 + \xce\xb2 d (Goodfellow et al. "
               "2015); d: %s; seed %llu\n%s; %s = %s at \xce\xb1 = 0, %s at \xce\xb1 = 1%s",
               dirs, o->seed, pts, oname, cz, ez, nf);
    else
      snprintf(sub, sizeof sub,
               "(1 - \xce\xb1) \xce\xb8\xe2\x82\x80 + \xce\xb1 \xce\xb8\xe2\x82\x81 as in Goodfellow et al. 2015: "
               "\xce\xb8\xe2\x82\x80 %s, \xce\xb8\xe2\x82\x81 %s\n%s; %s = %s at \xce\xb1 = 0, %s at \xce\xb1 = 1%s",
               from, to, pts, oname, cz, ez, nf);
    snprintf(xl, sizeof xl, "\xce\xb1   (0: %s, 1: %s)", from, to);
    snprintf(yl, sizeof yl, dim == 2 ? "\xce\xb2   (random direction d)" : "%s", oname);
  } else if (how == AXES) {
    char names[2][64] = {"", ""};
    double c[2] = {0, 0};
    for (int k = 0, e = 0; k < s.n; k++)
      for (long i = 0; i < s.size[k]; i++, e++) {
        if (s.size[k] > 1)
          snprintf(names[e], sizeof names[e], "%s[%ld]", gradc_var_name(g, s.var[k]), i);
        else
          snprintf(names[e], sizeof names[e], "%s", gradc_var_name(g, s.var[k]));
        c[e] = s.centre[k][i];
      }
    char c0[32], c1[32];
    fmt(c0, sizeof c0, c[0]);
    fmt(c1, sizeof c1, c[1]);
    if (dim == 2)
      snprintf(title, sizeof title, "%s (%s) around %s = %s, %s = %s, along %s and %s", oname, file, names[0], c0,
               names[1], c1, names[0], names[1]);
    else
      snprintf(title, sizeof title, "%s (%s) around %s = %s, along %s", oname, file, names[0], c0, names[0]);
    snprintf(sub, sizeof sub, "the params' own axes (no weight matrix to filter-normalise)\n%s; %s = %s at the centre%s",
             pts, oname, cz, nf);
    /* around 0 the coordinates are the params themselves */
    if (c[0] == 0)
      snprintf(xl, sizeof xl, "%s", names[0]);
    else
      snprintf(xl, sizeof xl, "\xce\xb1   (%s = %s + \xce\xb1)", names[0], c0);
    if (dim == 2 && c[1] == 0)
      snprintf(yl, sizeof yl, "%s", names[1]);
    else if (dim == 2)
      snprintf(yl, sizeof yl, "\xce\xb2   (%s = %s + \xce\xb2)", names[1], c1);
    else
      snprintf(yl, sizeof yl, "%s", oname);
  } else {
    snprintf(title, sizeof title, "%s (%s) on a random %s through %s", oname, file, dim == 2 ? "plane" : "line",
             from);
    snprintf(sub, sizeof sub, "%s; seed %llu\n%s; %s = %s at the centre%s", dirs, o->seed, pts, oname, cz, nf);
    snprintf(xl, sizeof xl, dim == 2 ? "\xce\xb1   (params + \xce\xb1 d\xe2\x82\x81 + \xce\xb2 d\xe2\x82\x82)"
                                     : "\xce\xb1   (params + \xce\xb1 d)");
    snprintf(yl, sizeof yl, dim == 2 ? "\xce\xb2" : "%s", oname);
  }
  char m0[300], m1[300];
  const char *who = strncmp(from, "the initial", 11) ? strncmp(from, "the params of ", 14) ? "given" : from + 14 : "initial";
  snprintf(m0, sizeof m0, path ? "\xce\xb8\xe2\x82\x80: %s" : "centre", who);
  snprintf(m1, sizeof m1, "\xce\xb8\xe2\x82\x81: %s", to);
  PlotMark marks[2] = {{0, dim == 2 ? 0 : zc, m0}, {1, dim == 2 ? 0 : ze, m1}};
  Plot p = {.width = dim == 2 ? PLANE_W : LINE_W, .height = dim == 2 ? PLANE_H : LINE_H, .title = title,
            .subtitle = sub, .xlabel = xl, .ylabel = yl, .zlabel = oname, .x = alpha, .y = beta,
            .nx = na, .ny = nb, .z = z, .marks = marks, .nmarks = path ? 2 : 1};
  if (o->out) { /* --json alone: the values, no picture */
    int drawn = dim == 2 ? plot_contour_png(&p, &png, &pnglen) : plot_line_png(&p, &png, &pnglen);
    plot_release();
    if (drawn < 0) {
      fprintf(stderr, "gradc: error: cannot draw the plot (out of memory)\n");
      goto out;
    }
    if (write_atomic_data(o->out, png, pnglen) < 0)
      goto out;
  }

  /* the grid, or a summary */
  if (o->json) {
    json_t *root = json_object(), *l = json_object();
    json_object_set_new(root, "landscape", l);
    json_object_set_new(l, "output", json_string(oname));
    json_object_set_new(l, "along", json_string(path ? o->along : "random"));
    json_object_set_new(l, "directions", json_string(how == FILTER ? "filter-normalised"
                                                     : how == UNIT ? "unit"
                                                     : how == AXES ? "axes"
                                                                   : "none"));
    json_object_set_new(l, "seed", json_integer((json_int_t)o->seed));
    json_object_set_new(l, "alpha", jvector(alpha, na));
    if (dim == 2)
      json_object_set_new(l, "beta", jvector(beta, nb));
    long zd[2] = {nb, na};
    json_object_set_new(l, "values", dim == 2 ? jtensor(z, zd, 2) : jvector(z, na));
    json_object_set_new(l, "not_finite", json_integer(bad));
    json_object_set_new(l, "centre", jparams(g, &s, s.centre));
    if (d1)
      json_object_set_new(l, "d1", jparams(g, &s, d1));
    if (d2)
      json_object_set_new(l, "d2", jparams(g, &s, d2));
    json_print(root);
  } else {
    printf("landscape of %s: %s, a in [%g, %g]", oname, pts, ra[0], ra[1]);
    if (dim == 2)
      printf(", b in [%g, %g]", rb[0], rb[1]);
    printf("\n");
    if (path)
      printf("along the straight line (1 - a) params + a %s%s\n", o->along, dim == 2 ? " + b d2" : "");
    if (how == FILTER)
      printf("directions: seeded Gaussian (seed %llu), filter-normalised (Li et al. 2018); biases and scalars fixed\n",
             o->seed);
    else if (how == UNIT)
      printf("directions: seeded Gaussian (seed %llu), unit length%s\n", o->seed,
             dim == 2 ? ", the second orthogonal to the first" : "");
    else if (how == AXES)
      printf("directions: the params' own axes\n");
    printf("%s at a = 0 = ", oname);
    print_num(zc);
    printf("\n");
    if (path) {
      printf("%s at a = 1 = ", oname);
      print_num(ze);
      printf("\n");
    }
    if (lo >= 0) {
      printf("smallest %s = ", oname);
      print_num(z[lo]);
      printf(" at a = %.6g%s", alpha[lo % na], dim == 2 ? ", b = " : "\n");
      if (dim == 2)
        printf("%.6g\n", beta[lo / na]);
      printf("largest %s = ", oname);
      print_num(z[hi]);
      printf(" at a = %.6g%s", alpha[hi % na], dim == 2 ? ", b = " : "\n");
      if (dim == 2)
        printf("%.6g\n", beta[hi / na]);
    }
    if (bad)
      printf("%ld of %ld values are not finite: %s in the plot\n", bad, npts, dim == 2 ? "grey cells" : "gaps");
    printf("wrote %s (%d x %d pixels)\n", o->out, p.width, p.height);
  }
  rc = 0;
out:
  arrays_free(&s, end);
  arrays_free(&s, d1);
  arrays_free(&s, d2);
  arrays_free(&s, diff);
  free(alpha);
  free(beta);
  free(z);
  free(png);
  space_free(&s);
  return rc;
}
