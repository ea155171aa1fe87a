/* gradient.c: compile an expression and evaluate its gradient with
 * libgradc (README, "Using gradc from C"). Build it against an installed
 * gradc:  cc gradient.c $(pkg-config --cflags --libs gradc) -o gradient */
#include <gradc.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  const char *src = "0.5*(w*x - y)^2";          /* no declarations: w, x, y are params */
  Gradc *g = gradc_new();
  gradc_compile_string(g, "f.expr", src, strlen(src));
  gradc_set_value_text(g, "w", "2");
  gradc_set_value_text(g, "x", "3");
  gradc_set_value_text(g, "y", "1");
  gradc_set_defaults(g, 0, 0);                  /* binds and checks the values */
  GradcFn *f = gradc_fn_grad(g, NULL, 0);       /* value and gradient, JIT-compiled */
  if (gradc_diag_count(g) || !f || gradc_run(f, NULL) != GRADC_OK) {
    fputs(gradc_diag_render(g), stderr);        /* FILE:LINE:COL: error: ... */
    return 1;
  }
  for (int i = 0; i < gradc_fn_res_count(f); i++)   /* f, df/dw, df/dx, df/dy */
    printf("%s = %g\n", gradc_fn_res_name(f, i), gradc_fn_res_data(f, i)[0]);
  gradc_free(g);
  return 0;
}
