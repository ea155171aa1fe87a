/* iris_boundary: train the course's Iris network through the gradc C API
 * and draw its decision boundaries over the two petal features, with the
 * 150 flowers on top (the course's figure), as a PNG.
 *
 *   iris_boundary [FILE.expr] [OUT.png] [STEPS]
 *
 * Uses only gradc.h: compile the .expr file, take its defaults (the data
 * and seeded initial weights), train with Adam, then evaluate the output
 * `pred` on a grid of points by giving X a grid of values. */
#include <cairo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradc.h"

enum { W = 720, H = 540, GRID = 180, MARGIN = 60 };
static const double X0 = 0.5, X1 = 7.5, Y0 = -0.2, Y1 = 2.8; /* cm */

static int fail(Gradc *g, const char *what) {
  fprintf(stderr, "iris_boundary: %s\n%s", what, g ? gradc_diag_render(g) : "");
  gradc_free(g);
  return 1;
}

static double px(double x) { return MARGIN + (x - X0) / (X1 - X0) * (W - 2 * MARGIN); }
static double py(double y) { return H - MARGIN - (y - Y0) / (Y1 - Y0) * (H - 2 * MARGIN); }

int main(int argc, char **argv) {
  const char *file = argc > 1 ? argv[1] : "examples/iris_mlp.expr";
  const char *png = argc > 2 ? argv[2] : "iris_boundary.png";
  long steps = argc > 3 ? atol(argv[3]) : 2000;
  Gradc *g = gradc_new();
  if (!g || gradc_compile_file(g, file) != GRADC_OK || gradc_set_defaults(g, 0, 0) != GRADC_OK)
    return fail(g, "cannot compile the network");
  int X = gradc_var_index(g, "X"), label = gradc_var_index(g, "label");
  int J = gradc_output_index(g, "J"), pred = gradc_output_index(g, "pred");
  int acc = gradc_output_index(g, "accuracy");
  if (X < 0 || label < 0 || J < 0 || pred < 0)
    return fail(g, "the file needs inputs X and label and outputs J and pred");

  /* keep the data for the picture */
  long dims[4];
  int rank;
  const double *xd = gradc_get_value(g, X, dims, &rank);
  long n = dims[0];
  double *data = malloc((size_t)n * 2 * sizeof *data), *lab = malloc((size_t)n * sizeof *lab);
  if (!data || !lab)
    return fail(g, "out of memory");
  memcpy(data, xd, (size_t)n * 2 * sizeof *data);
  memcpy(lab, gradc_get_value(g, label, NULL, NULL), (size_t)n * sizeof *lab);

  /* train */
  GradcTrainer *t = gradc_trainer_new(g, J, GRADC_ADAM, 0.01, 0, 0);
  if (!t)
    return fail(g, "cannot build the trainer");
  double loss = 0;
  for (long s = 0; s < steps; s++)
    if (gradc_trainer_step(t, &loss) != GRADC_OK)
      return fail(g, "a training step failed");
  gradc_trainer_free(t);
  GradcFn *f = gradc_fn_value(g);
  if (!f || gradc_run(f, NULL) != GRADC_OK)
    return fail(g, "cannot evaluate the network");
  printf("trained %ld steps: J = %.4f, training accuracy = %.3f\n", steps,
         gradc_fn_res_data(f, J)[0], acc >= 0 ? gradc_fn_res_data(f, acc)[0] : -1.0);

  /* the class of every cell of a grid over the plot */
  long cells = (long)GRID * GRID;
  double *grid = malloc((size_t)cells * 2 * sizeof *grid), *zeros = calloc((size_t)cells, sizeof *zeros);
  if (!grid || !zeros)
    return fail(g, "out of memory");
  for (long i = 0; i < GRID; i++)
    for (long j = 0; j < GRID; j++) {
      grid[2 * (i * GRID + j)] = X0 + (X1 - X0) * (j + 0.5) / GRID;
      grid[2 * (i * GRID + j) + 1] = Y1 - (Y1 - Y0) * (i + 0.5) / GRID;
    }
  long gd[2] = {cells, 2}, ld[1] = {cells};
  if (gradc_set_value(g, X, grid, gd, 2) != GRADC_OK || gradc_set_value(g, label, zeros, ld, 1) != GRADC_OK ||
      gradc_set_defaults(g, 0, 0) != GRADC_OK || gradc_run(f, NULL) != GRADC_OK)
    return fail(g, "cannot evaluate the grid");
  const double *cls = gradc_fn_res_data(f, pred);

  /* draw */
  static const double pale[3][3] = {{1.0, 0.85, 0.85}, {0.85, 0.95, 0.85}, {0.85, 0.88, 1.0}};
  static const double dark[3][3] = {{0.8, 0.1, 0.1}, {0.1, 0.55, 0.1}, {0.15, 0.25, 0.85}};
  static const char *names[3] = {"setosa", "versicolor", "virginica"};
  cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
  cairo_t *cr = cairo_create(surf);
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  double cw = (double)(W - 2 * MARGIN) / GRID, ch = (double)(H - 2 * MARGIN) / GRID;
  for (long i = 0; i < GRID; i++)
    for (long j = 0; j < GRID; j++) {
      int c = (int)cls[i * GRID + j];
      c = c < 0 ? 0 : c > 2 ? 2 : c;
      cairo_set_source_rgb(cr, pale[c][0], pale[c][1], pale[c][2]);
      cairo_rectangle(cr, MARGIN + j * cw, MARGIN + i * ch, cw + 0.6, ch + 0.6);
      cairo_fill(cr);
    }
  for (long k = 0; k < n; k++) {
    int c = (int)lab[k];
    c = c < 0 ? 0 : c > 2 ? 2 : c;
    cairo_arc(cr, px(data[2 * k]), py(data[2 * k + 1]), 4.5, 0, 6.2832);
    cairo_set_source_rgb(cr, dark[c][0], dark[c][1], dark[c][2]);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 0.8);
    cairo_stroke(cr);
  }
  /* axes, ticks and labels */
  cairo_set_source_rgb(cr, 0, 0, 0);
  cairo_set_line_width(cr, 1);
  cairo_rectangle(cr, MARGIN, MARGIN, W - 2 * MARGIN, H - 2 * MARGIN);
  cairo_stroke(cr);
  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, 13);
  char s[64];
  for (int v = 1; v <= 7; v++) {
    cairo_move_to(cr, px(v), H - MARGIN);
    cairo_line_to(cr, px(v), H - MARGIN + 5);
    cairo_stroke(cr);
    snprintf(s, sizeof s, "%d", v);
    cairo_move_to(cr, px(v) - 4, H - MARGIN + 19);
    cairo_show_text(cr, s);
  }
  for (int v = 0; v <= 5; v++) {
    double y = 0.5 * v;
    cairo_move_to(cr, MARGIN, py(y));
    cairo_line_to(cr, MARGIN - 5, py(y));
    cairo_stroke(cr);
    snprintf(s, sizeof s, "%.1f", y);
    cairo_move_to(cr, MARGIN - 32, py(y) + 4);
    cairo_show_text(cr, s);
  }
  cairo_move_to(cr, W / 2 - 60, H - 18);
  cairo_show_text(cr, "petal length (cm)");
  cairo_save(cr);
  cairo_move_to(cr, 18, H / 2 + 55);
  cairo_rotate(cr, -1.5708);
  cairo_show_text(cr, "petal width (cm)");
  cairo_restore(cr);
  cairo_set_font_size(cr, 15);
  cairo_move_to(cr, MARGIN, 36);
  snprintf(s, sizeof s, "Iris, 2-16-3 network trained by gradc (%ld Adam steps)", steps);
  cairo_show_text(cr, s);
  for (int c = 0; c < 3; c++) { /* legend */
    double lx = W - MARGIN - 120, ly = MARGIN + 22 + 20 * c;
    cairo_arc(cr, lx, ly - 4, 4.5, 0, 6.2832);
    cairo_set_source_rgb(cr, dark[c][0], dark[c][1], dark[c][2]);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_move_to(cr, lx + 10, ly);
    cairo_set_font_size(cr, 13);
    cairo_show_text(cr, names[c]);
  }
  cairo_destroy(cr);
  cairo_status_t st = cairo_surface_write_to_png(surf, png);
  cairo_surface_destroy(surf);
  free(data);
  free(lab);
  free(grid);
  free(zeros);
  gradc_free(g);
  if (st != CAIRO_STATUS_SUCCESS) {
    fprintf(stderr, "iris_boundary: cannot write %s: %s\n", png, cairo_status_to_string(st));
    return 1;
  }
  printf("wrote %s\n", png);
  return 0;
}
