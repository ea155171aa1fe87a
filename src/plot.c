/* plot.c: a line plot and a filled contour plot with cairo, as PNG bytes.
 *
 * The contour plot interpolates linearly on triangles (each grid cell cut
 * along a diagonal), so a level's line in a triangle is a straight
 * segment and the bands between levels are convex polygons cut out of it:
 * the filled bands and the lines drawn over them agree exactly. Each band
 * is filled as one path, so the triangles of a band leave no seams. */
#include <cairo.h>
#include <fontconfig/fontconfig.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"

enum { LEFT = 84, BOTTOM = 58, RIGHT = 34 };

/* ---- text -------------------------------------------------------------------- */

static void font(cairo_t *cr, double size, int bold) {
  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                         bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
}

static double text_width(cairo_t *cr, const char *s) {
  cairo_text_extents_t e;
  cairo_text_extents(cr, s, &e);
  return e.x_advance;
}

/* Text with its left end (align 0), centre (0.5) or right end (1) at x. */
static void text_at(cairo_t *cr, double x, double y, double align, const char *s) {
  cairo_move_to(cr, x - align * text_width(cr, s), y);
  cairo_show_text(cr, s);
}

/* Black text on a white halo, readable over any colour. */
static void text_halo(cairo_t *cr, double x, double y, double align, const char *s) {
  cairo_save(cr);
  cairo_move_to(cr, x - align * text_width(cr, s), y);
  cairo_text_path(cr, s);
  cairo_set_source_rgba(cr, 1, 1, 1, 0.9);
  cairo_set_line_width(cr, 3.5);
  cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
  cairo_stroke_preserve(cr);
  cairo_set_source_rgb(cr, 0, 0, 0);
  cairo_fill(cr);
  cairo_restore(cr);
}

/* A line of text in the largest size up to `size` that fits in `width`. */
static void text_fit(cairo_t *cr, double x, double y, double width, double size, int bold, const char *s) {
  for (font(cr, size, bold); size > 8 && text_width(cr, s) > width; size -= 0.5)
    font(cr, size - 0.5, bold);
  text_at(cr, x, y, 0, s);
}

/* Title and subtitle lines ('\n' separates them; long ones are wrapped at
 * spaces); returns the top of the plot area below them. */
static double titles(cairo_t *cr, const Plot *p) {
  double width = p->width - LEFT - RIGHT + 60, x = LEFT - 60, y = 26;
  cairo_set_source_rgb(cr, 0, 0, 0);
  text_fit(cr, x, y, width, 15, 1, p->title ? p->title : "");
  cairo_set_source_rgb(cr, 0.25, 0.25, 0.25);
  font(cr, 12, 0);
  char line[1024] = "", next[1024 + 520]; /* a line, a space and a word of at most 512 */
  for (const char *s = p->subtitle; s && *s;) {
    size_t n = strcspn(s, " \n");
    snprintf(next, sizeof next, "%s%s%.*s", line, line[0] ? " " : "", (int)(n < 512 ? n : 512), s);
    if (line[0] && text_width(cr, next) > width) { /* the word starts a new line */
      y += 17;
      text_at(cr, x, y, 0, line);
      snprintf(next, sizeof next, "%.*s", (int)(n < 512 ? n : 512), s);
    }
    memcpy(line, next, sizeof line);
    line[sizeof line - 1] = 0;
    s += n;
    if (*s == '\n' || !*s) {
      y += 17;
      text_at(cr, x, y, 0, line);
      line[0] = 0;
    }
    if (*s)
      s++;
  }
  return y + 22;
}

/* ---- numbers on axes ------------------------------------------------------------ */

/* A round step (1, 2 or 5 times a power of ten) for about n intervals. */
static double nice_step(double span, int n) {
  double raw = span / n, mag = pow(10, floor(log10(raw))), f = raw / mag;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

static void tick_text(char *out, size_t n, double v, double step) {
  if (fabs(v) < step * 1e-6)
    v = 0;
  int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
  if (fabs(v) >= 1e6 || dec > 6)
    snprintf(out, n, "%.3g", v);
  else
    snprintf(out, n, "%.*f", dec, v);
}

/* [lo, hi] of the finite values; 0 when there are none. */
static int finite_range(const double *z, long n, double *lo, double *hi) {
  int any = 0;
  for (long i = 0; i < n; i++)
    if (isfinite(z[i])) {
      if (!any || z[i] < *lo)
        *lo = z[i];
      if (!any || z[i] > *hi)
        *hi = z[i];
      any = 1;
    }
  return any;
}

typedef struct Frame {
  double x0, x1, y0, y1;    /* data */
  double L, T, R, B;        /* pixels */
} Frame;

static double fx(const Frame *f, double x) { return f->L + (x - f->x0) / (f->x1 - f->x0) * (f->R - f->L); }
static double fy(const Frame *f, double y) { return f->B - (y - f->y0) / (f->y1 - f->y0) * (f->B - f->T); }

/* The box, ticks with their numbers, optional grid lines, axis labels. */
static void axes(cairo_t *cr, const Frame *f, const Plot *p, int grid) {
  char s[64];
  cairo_set_line_width(cr, 1);
  font(cr, 12, 0);
  for (int axis = 0; axis < 2; axis++) {
    double lo = axis ? f->y0 : f->x0, hi = axis ? f->y1 : f->x1;
    double step = nice_step(hi - lo, axis ? 6 : 8), k0 = ceil(lo / step - 1e-9);
    for (double k = k0, v = k * step; v <= hi + step * 1e-9; k++, v = k * step) {
      double at = axis ? fy(f, v) : fx(f, v);
      if (grid) {
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        if (axis) {
          cairo_move_to(cr, f->L, at);
          cairo_line_to(cr, f->R, at);
        } else {
          cairo_move_to(cr, at, f->T);
          cairo_line_to(cr, at, f->B);
        }
        cairo_stroke(cr);
      }
      cairo_set_source_rgb(cr, 0, 0, 0);
      tick_text(s, sizeof s, v, step);
      if (axis) {
        cairo_move_to(cr, f->L - 5, at);
        cairo_line_to(cr, f->L, at);
        cairo_stroke(cr);
        text_at(cr, f->L - 8, at + 4, 1, s);
      } else {
        cairo_move_to(cr, at, f->B);
        cairo_line_to(cr, at, f->B + 5);
        cairo_stroke(cr);
        text_at(cr, at, f->B + 19, 0.5, s);
      }
    }
  }
  cairo_set_source_rgb(cr, 0, 0, 0);
  cairo_rectangle(cr, f->L, f->T, f->R - f->L, f->B - f->T);
  cairo_stroke(cr);
  font(cr, 13, 0);
  text_at(cr, (f->L + f->R) / 2, f->B + 42, 0.5, p->xlabel ? p->xlabel : "");
  cairo_save(cr);
  cairo_translate(cr, f->L - 58, (f->T + f->B) / 2);
  cairo_rotate(cr, -M_PI / 2);
  text_at(cr, 0, 0, 0.5, p->ylabel ? p->ylabel : "");
  cairo_restore(cr);
}

/* ---- PNG in memory ------------------------------------------------------------------ */

typedef struct Mem {
  unsigned char *d;
  size_t n, cap;
} Mem;

static cairo_status_t put(void *closure, const unsigned char *data, unsigned int len) {
  Mem *m = closure;
  if (m->n + len > m->cap) {
    size_t cap = (m->cap ? 2 * m->cap : 65536) + len;
    unsigned char *d = realloc(m->d, cap);
    if (!d)
      return CAIRO_STATUS_NO_MEMORY;
    m->d = d;
    m->cap = cap;
  }
  memcpy(m->d + m->n, data, len);
  m->n += len;
  return CAIRO_STATUS_SUCCESS;
}

static int finish(cairo_surface_t *surf, cairo_t *cr, unsigned char **png, size_t *len) {
  Mem m = {0};
  int ok = cairo_status(cr) == CAIRO_STATUS_SUCCESS;
  cairo_destroy(cr);
  cairo_surface_flush(surf);
  ok = ok && cairo_surface_write_to_png_stream(surf, put, &m) == CAIRO_STATUS_SUCCESS;
  cairo_surface_destroy(surf);
  if (!ok) {
    free(m.d);
    return -1;
  }
  *png = m.d;
  *len = m.n;
  return 0;
}

static cairo_t *start(const Plot *p, cairo_surface_t **surf) {
  *surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, p->width, p->height);
  cairo_t *cr = cairo_create(*surf);
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  return cr;
}

/* ---- line plot ---------------------------------------------------------------------- */

int plot_line_png(const Plot *p, unsigned char **png, size_t *len) {
  cairo_surface_t *surf;
  cairo_t *cr = start(p, &surf);
  double top = titles(cr, p);
  Frame f = {p->x[0], p->x[p->nx - 1], 0, 1, LEFT, top, p->width - RIGHT, p->height - BOTTOM};
  if (!(f.x1 > f.x0))
    f.x1 = f.x0 + 1;
  int any = finite_range(p->z, p->nx, &f.y0, &f.y1);
  if (any) {
    double pad = f.y1 > f.y0 ? 0.05 * (f.y1 - f.y0) : fabs(f.y0) > 0 ? 0.5 * fabs(f.y0) : 1;
    f.y0 -= pad;
    f.y1 += pad;
  }
  axes(cr, &f, p, 1);
  cairo_save(cr);
  cairo_rectangle(cr, f.L, f.T, f.R - f.L, f.B - f.T);
  cairo_clip(cr);
  /* where the values are not finite: grey from midpoint to midpoint */
  cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
  for (long i = 0; i < p->nx; i++)
    if (!isfinite(p->z[i])) {
      double a = i > 0 ? (p->x[i - 1] + p->x[i]) / 2 : p->x[i];
      double b = i + 1 < p->nx ? (p->x[i] + p->x[i + 1]) / 2 : p->x[i];
      cairo_rectangle(cr, fx(&f, a), f.T, fx(&f, b) - fx(&f, a), f.B - f.T);
    }
  cairo_fill(cr);
  /* the marks: dashed vertical lines */
  for (int m = 0; m < p->nmarks; m++) {
    const PlotMark *k = &p->marks[m];
    if (k->x < f.x0 || k->x > f.x1)
      continue;
    double dash[] = {5, 4};
    cairo_set_dash(cr, dash, 2, 0);
    cairo_set_source_rgb(cr, 0.45, 0.45, 0.45);
    cairo_set_line_width(cr, 1);
    cairo_move_to(cr, fx(&f, k->x), f.T);
    cairo_line_to(cr, fx(&f, k->x), f.B);
    cairo_stroke(cr);
    cairo_set_dash(cr, NULL, 0, 0);
  }
  /* the curve, broken where a value is not finite */
  cairo_set_source_rgb(cr, 0.12, 0.35, 0.75);
  cairo_set_line_width(cr, 2);
  cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
  for (long i = 0; i < p->nx; i++) {
    if (!isfinite(p->z[i]))
      continue;
    int alone = (i == 0 || !isfinite(p->z[i - 1])) && (i + 1 == p->nx || !isfinite(p->z[i + 1]));
    if (alone) {
      cairo_stroke(cr);
      cairo_arc(cr, fx(&f, p->x[i]), fy(&f, p->z[i]), 2.5, 0, 2 * M_PI);
      cairo_fill(cr);
    } else if (i == 0 || !isfinite(p->z[i - 1])) {
      cairo_move_to(cr, fx(&f, p->x[i]), fy(&f, p->z[i]));
    } else {
      cairo_line_to(cr, fx(&f, p->x[i]), fy(&f, p->z[i]));
    }
  }
  cairo_stroke(cr);
  /* the marked points on the curve, labelled */
  font(cr, 12, 0);
  for (int m = 0; m < p->nmarks; m++) {
    const PlotMark *k = &p->marks[m];
    if (k->x < f.x0 || k->x > f.x1)
      continue;
    double px = fx(&f, k->x);
    if (isfinite(k->y)) {
      cairo_arc(cr, px, fy(&f, k->y), 4.5, 0, 2 * M_PI);
      cairo_set_source_rgb(cr, 1, 1, 1);
      cairo_fill_preserve(cr);
      cairo_set_source_rgb(cr, 0.8, 0.15, 0.1);
      cairo_set_line_width(cr, 2);
      cairo_stroke(cr);
    }
    int right = px < (f.L + f.R) / 2;
    text_halo(cr, px + (right ? 6 : -6), f.T + 16 + 16 * m, right ? 0 : 1, k->label ? k->label : "");
  }
  if (!any) {
    font(cr, 14, 0);
    text_halo(cr, (f.L + f.R) / 2, (f.T + f.B) / 2, 0.5, "no finite values");
  }
  cairo_restore(cr);
  return finish(surf, cr, png, len);
}

/* ---- contour plot ------------------------------------------------------------------- */

/* viridis (matplotlib), 9 anchors */
static void colour(double t, double rgb[3]) {
  static const double a[9][3] = {
      {0.267, 0.005, 0.329}, {0.283, 0.141, 0.458}, {0.254, 0.265, 0.530},
      {0.207, 0.372, 0.553}, {0.164, 0.471, 0.558}, {0.128, 0.567, 0.551},
      {0.135, 0.659, 0.518}, {0.478, 0.821, 0.318}, {0.993, 0.906, 0.144}};
  t = t < 0 ? 0 : t > 1 ? 1 : t;
  double u = t * 8;
  int k = u >= 8 ? 7 : (int)u;
  u -= k;
  for (int c = 0; c < 3; c++)
    rgb[c] = a[k][c] + u * (a[k + 1][c] - a[k][c]);
}

typedef struct Vert {
  double x, y, t; /* pixels and the (transformed) value */
} Vert;

/* Keep the part of polygon in[n] where sign * (t - level) >= 0. */
static int clip(const Vert *in, int n, double level, double sign, Vert *out) {
  int m = 0;
  for (int i = 0; i < n; i++) {
    const Vert *a = &in[i], *b = &in[(i + 1) % n];
    double da = sign * (a->t - level), db = sign * (b->t - level);
    if (da >= 0)
      out[m++] = *a;
    if ((da >= 0) != (db >= 0)) {
      double s = da / (da - db);
      out[m++] = (Vert){a->x + s * (b->x - a->x), a->y + s * (b->y - a->y), level};
    }
  }
  return m;
}

typedef struct Seg {
  double x0, y0, x1, y1;
} Seg;

typedef struct Segs {
  Seg *s;
  long n, cap;
} Segs;

static int seg_add(Segs *g, Seg s) {
  if (g->n == g->cap) {
    long cap = g->cap ? 2 * g->cap : 256;
    Seg *d = realloc(g->s, (size_t)cap * sizeof *d);
    if (!d)
      return -1;
    g->s = d;
    g->cap = cap;
  }
  g->s[g->n++] = s;
  return 0;
}

/* Round levels over [lo, hi] (values, or log10 of values when logscale):
 * returns their number, at most max. */
static int levels(double lo, double hi, int logscale, double *lev, int max) {
  int n = 0;
  if (logscale) {
    static const double fine[6] = {1, 1.5, 2, 3, 5, 7}, coarse[3] = {1, 2, 5};
    double e0 = floor(lo), e1 = ceil(hi);
    /* 1 1.5 2 3 5 7 over up to 3 decades, 1 2 5 up to 6, then powers of ten */
    const double *m = e1 - e0 > 3 ? coarse : fine;
    int every = e1 - e0 > 6 ? 1 : e1 - e0 > 3 ? 3 : 6;
    for (double e = e0; e <= e1 && n < max; e++)
      for (int k = 0; k < every && n < max; k++) {
        double v = e + log10(m[k]);
        if (v <= lo)
          n = 0; /* the last level at or below lo starts the list */
        lev[n++] = v;
        if (v >= hi)
          return n;
      }
    return n;
  }
  if (!(hi > lo)) {
    double w = fabs(lo) > 0 ? 0.5 * fabs(lo) : 0.5;
    lo -= w;
    hi += w;
  }
  double step = nice_step(hi - lo, 10);
  for (double k = floor(lo / step + 1e-9), v = k * step; n < max; k++, v = k * step) {
    lev[n++] = fabs(v) < step * 1e-9 ? 0 : v;
    if (v >= hi - step * 1e-9)
      break;
  }
  return n;
}

static void level_text(char *out, size_t n, double v, int logscale, const double *lev, int nlev) {
  if (logscale) {
    snprintf(out, n, "%.3g", pow(10, v));
    return;
  }
  tick_text(out, n, v, nlev > 1 ? lev[1] - lev[0] : 1);
}

int plot_contour_png(const Plot *p, unsigned char **png, size_t *len) {
  cairo_surface_t *surf;
  cairo_t *cr = start(p, &surf);
  double top = titles(cr, p);
  double side = fmin(p->width - LEFT - 150, p->height - top - BOTTOM);
  Frame f = {p->x[0], p->x[p->nx - 1], p->y[0], p->y[p->ny - 1], LEFT, top, LEFT + side, top + side};
  if (!(f.x1 > f.x0))
    f.x1 = f.x0 + 1;
  if (!(f.y1 > f.y0))
    f.y1 = f.y0 + 1;
  long nx = p->nx, ny = p->ny, n = nx * ny;
  double zlo = 0, zhi = 0;
  int any = finite_range(p->z, n, &zlo, &zhi);
  int logscale = any && zlo > 0 && zhi / zlo >= 10;
  double lev[64];
  int nlev = any ? levels(logscale ? log10(zlo) : zlo, logscale ? log10(zhi) : zhi, logscale, lev, 64) : 0;
  int nband = nlev - 1;
  Segs *segs = calloc((size_t)(nlev > 0 ? nlev : 1), sizeof *segs);
  if (!segs) {
    cairo_destroy(cr);
    cairo_surface_destroy(surf);
    return -1;
  }
  /* every grid point in pixels, with its value (log10 on a log scale) */
  Vert *vert = malloc((size_t)n * sizeof *vert);
  if (!vert) {
    free(segs);
    cairo_destroy(cr);
    cairo_surface_destroy(surf);
    return -1;
  }
  for (long k = 0; k < n; k++) {
    double z = p->z[k];
    vert[k] = (Vert){fx(&f, p->x[k % nx]), fy(&f, p->y[k / nx]), logscale && z > 0 ? log10(z) : z};
  }
  int failed = 0;
  cairo_save(cr);
  cairo_rectangle(cr, f.L, f.T, f.R - f.L, f.B - f.T);
  cairo_clip(cr);
  /* the bands, then the cells with a value that is not finite */
  for (int band = -1; band < nband; band++) {
    for (long j = 0; j + 1 < ny; j++)
      for (long i = 0; i + 1 < nx; i++)
        for (int tri = 0; tri < 2; tri++) {
          long c[3] = {j * nx + i, tri ? (j + 1) * nx + i + 1 : j * nx + i + 1,
                       tri ? (j + 1) * nx + i : (j + 1) * nx + i + 1};
          Vert v[3];
          int finite = 1;
          for (int k = 0; k < 3; k++) {
            v[k] = vert[c[k]];
            finite &= isfinite(v[k].t);
          }
          if (band < 0) { /* first pass: grey gaps and the contour segments */
            if (!finite) {
              cairo_move_to(cr, v[0].x, v[0].y);
              cairo_line_to(cr, v[1].x, v[1].y);
              cairo_line_to(cr, v[2].x, v[2].y);
              cairo_close_path(cr);
              continue;
            }
            for (int l = 1; l + 1 < nlev; l++) {
              Vert a[8];
              int m = 0;
              for (int k = 0; k < 3; k++) {
                const Vert *s = &v[k], *e = &v[(k + 1) % 3];
                if ((s->t >= lev[l]) != (e->t >= lev[l])) {
                  double u = (lev[l] - s->t) / (e->t - s->t);
                  a[m++] = (Vert){s->x + u * (e->x - s->x), s->y + u * (e->y - s->y), lev[l]};
                }
              }
              if (m == 2 && seg_add(&segs[l], (Seg){a[0].x, a[0].y, a[1].x, a[1].y}) < 0)
                failed = 1;
            }
            continue;
          }
          if (!finite || fmax(fmax(v[0].t, v[1].t), v[2].t) < lev[band] ||
              fmin(fmin(v[0].t, v[1].t), v[2].t) > lev[band + 1])
            continue;
          Vert a[8], b[8];
          int m = clip(v, 3, lev[band], 1, a);
          m = clip(a, m, lev[band + 1], -1, b);
          if (m < 3)
            continue;
          cairo_move_to(cr, b[0].x, b[0].y);
          for (int k = 1; k < m; k++)
            cairo_line_to(cr, b[k].x, b[k].y);
          cairo_close_path(cr);
        }
    if (band < 0) {
      cairo_set_source_rgb(cr, 0.82, 0.82, 0.82);
    } else {
      double rgb[3];
      colour(nband > 1 ? (band + 0.5) / nband : 0.5, rgb);
      cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
    }
    cairo_fill(cr);
  }
  /* the contour lines */
  cairo_set_line_width(cr, 0.9);
  cairo_set_source_rgba(cr, 0.1, 0.1, 0.1, 0.55);
  for (int l = 1; l + 1 < nlev; l++) {
    for (long k = 0; k < segs[l].n; k++) {
      cairo_move_to(cr, segs[l].s[k].x0, segs[l].s[k].y0);
      cairo_line_to(cr, segs[l].s[k].x1, segs[l].s[k].y1);
    }
    cairo_stroke(cr);
  }
  /* labels along the lines: for each level the point of its line farthest
   * from the edges, the marks and the labels placed so far */
  double placed[64][2];
  int np = 0;
  font(cr, 11, 0);
  for (int l = 1; l + 1 < nlev; l++) {
    double best = 0, bx = 0, by = 0;
    for (long k = 0; k < segs[l].n; k++) {
      const Seg *s = &segs[l].s[k];
      double x = (s->x0 + s->x1) / 2, y = (s->y0 + s->y1) / 2;
      double d = fmin(fmin(x - f.L - 18, f.R - x - 18), fmin(y - f.T - 10, f.B - y - 10)) * 2.5;
      for (int q = 0; q < np; q++)
        d = fmin(d, hypot(x - placed[q][0], y - placed[q][1]));
      for (int m = 0; m < p->nmarks; m++)
        d = fmin(d, hypot(x - fx(&f, p->marks[m].x), y - fy(&f, p->marks[m].y)));
      if (d > best) {
        best = d;
        bx = x;
        by = y;
      }
    }
    if (best < 40)
      continue;
    char s[32];
    level_text(s, sizeof s, lev[l], logscale, lev, nlev);
    text_halo(cr, bx, by + 4, 0.5, s);
    placed[np][0] = bx;
    placed[np][1] = by;
    np++;
  }
  /* the marks */
  for (int m = 0; m < p->nmarks; m++) {
    const PlotMark *k = &p->marks[m];
    double x = fx(&f, k->x), y = fy(&f, k->y);
    cairo_arc(cr, x, y, 5.5, 0, 2 * M_PI);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.8, 0.1, 0.1);
    cairo_set_line_width(cr, 2.2);
    cairo_stroke(cr);
    cairo_move_to(cr, x - 9, y);
    cairo_line_to(cr, x + 9, y);
    cairo_move_to(cr, x, y - 9);
    cairo_line_to(cr, x, y + 9);
    cairo_set_line_width(cr, 1.2);
    cairo_stroke(cr);
    font(cr, 12, 1);
    const char *label = k->label ? k->label : "";
    if (x + 10 + text_width(cr, label) > f.R - 4) /* no room on the right */
      text_halo(cr, x - 10, y - 9, 1, label);
    else
      text_halo(cr, x + 10, y - 9, 0, label);
  }
  if (!any) {
    font(cr, 14, 0);
    text_halo(cr, (f.L + f.R) / 2, (f.T + f.B) / 2, 0.5, "no finite values");
  }
  cairo_restore(cr);
  axes(cr, &f, p, 0);
  /* the colour bar: one box per band, the levels beside it */
  double bx = f.R + 26, bw = 18;
  font(cr, 12, 1);
  text_at(cr, bx, f.T - 8, 0, p->zlabel ? p->zlabel : "");
  font(cr, 11, 0);
  for (int b = 0; b < nband; b++) {
    double h = (f.B - f.T) / nband, y = f.B - (b + 1) * h, rgb[3];
    colour(nband > 1 ? (b + 0.5) / nband : 0.5, rgb);
    cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
    cairo_rectangle(cr, bx, y, bw, h);
    cairo_fill(cr);
  }
  cairo_set_source_rgb(cr, 0, 0, 0);
  cairo_set_line_width(cr, 1);
  cairo_rectangle(cr, bx, f.T, bw, f.B - f.T);
  cairo_stroke(cr);
  int every = nlev > 24 ? 2 : 1;
  for (int l = 0; l < nlev; l += every) {
    double y = f.B - l * (f.B - f.T) / (nband > 0 ? nband : 1);
    char s[32];
    level_text(s, sizeof s, lev[l], logscale, lev, nlev);
    cairo_move_to(cr, bx + bw, y);
    cairo_line_to(cr, bx + bw + 4, y);
    cairo_stroke(cr);
    text_at(cr, bx + bw + 7, y + 4, 0, s);
  }
  if (logscale) {
    font(cr, 10, 0);
    text_at(cr, bx, f.B + 20, 0, "(log scale)");
  }
  for (int l = 0; l < nlev; l++)
    free(segs[l].s);
  free(segs);
  free(vert);
  if (failed) {
    cairo_destroy(cr);
    cairo_surface_destroy(surf);
    return -1;
  }
  return finish(surf, cr, png, len);
}

void plot_release(void) {
  cairo_debug_reset_static_data();
  FcFini();
}
