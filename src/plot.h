/* plot.h: line plots and filled contour plots as PNG images, drawn with
 * cairo (plot.c). Used by the landscape command (cmd_landscape.c); the
 * PNG comes back in memory so that the caller writes it atomically. */
#ifndef GRADC_PLOT_H
#define GRADC_PLOT_H

#include <stddef.h>

/* A marked point: a vertical line at x in a line plot, a marker at (x, y)
 * in a contour plot, with its label. */
typedef struct PlotMark {
  double x, y;
  const char *label;
} PlotMark;

typedef struct Plot {
  int width, height;            /* pixels */
  const char *title, *subtitle; /* subtitle may be NULL */
  const char *xlabel, *ylabel;
  const char *zlabel;           /* contour plots: the colour bar's label */
  const double *x, *y;          /* coordinates: x[nx]; y[ny] for contours */
  long nx, ny;
  const double *z;              /* line: z[nx]; contours: z[j*nx + i] at (x[i], y[j]) */
  const PlotMark *marks;
  int nmarks;
} Plot;

/* Non-finite z values are grey gaps in the line and grey cells in the
 * contours; the caller says so in the subtitle. Ticks are round numbers;
 * contour levels too (logarithmic when the values are positive and span
 * a decade or more), each labelled on the colour bar and along its
 * line where there is room. Return 0 and a malloc'd PNG in *png, or -1 when
 * cairo fails (out of memory). */
int plot_line_png(const Plot *p, unsigned char **png, size_t *len);
int plot_contour_png(const Plot *p, unsigned char **png, size_t *len);

/* Free what cairo and fontconfig keep between plots (their font caches),
 * once no plot is being drawn: leak checkers then see nothing at exit. */
void plot_release(void);

#endif
