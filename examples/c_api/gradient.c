/* gradient.c: compile an expression from a string and evaluate its value
 * and gradient with libgradc (README, "Using gradc from C").
 *   cc gradient.c $(pkg-config --cflags --libs gradc) -o gradient */
#include <gradc.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  const char *src = "0.5*(w*x - y)^2";   /* no declarations: w, x, y are params */
  Gradc *g = gradc_new();
  GradcFn *f = NULL;
  if (gradc_compile_string(g, "f.expr", src, strlen(src)) != GRADC_OK ||
      gradc_set_value_text(g, "w", "2") != GRADC_OK || gradc_set_value_text(g, "x", "3") != GRADC_OK ||
      gradc_set_value_text(g, "y", "1") != GRADC_OK || gradc_set_defaults(g, 0, 0) != GRADC_OK ||
      !(f = gradc_fn_grad(g, NULL, 0)) || gradc_run(f, NULL) != GRADC_OK) {
    fputs(gradc_diag_render(g), stderr);   /* FILE:LINE:COL: error: ... */
    return 1;
  }
  for (int i = 0; i < gradc_fn_res_count(f); i++)   /* f, then df/dw, df/dx, df/dy */
    printf("%s = %g\n", gradc_fn_res_name(f, i), gradc_fn_res_data(f, i)[0]);
  gradc_free(g);
  return 0;
}
