/* fuzz_jit: every program that compiles must give C that libtcc accepts:
 * the value, gradient and JVP functions are JIT-compiled (not run). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 4096) /* keep each run fast */
    return 0;
  Gradc *g = gradc_new();
  if (!g)
    return 0;
  if (gradc_compile_string(g, "fuzz.expr", (const char *)data, size) == GRADC_OK) {
    GradcFn *f = gradc_fn_value(g);
    GradcFn *d = f ? gradc_fn_grad(g, NULL, 0) : NULL;
    GradcFn *j = d ? gradc_fn_jvp(g, NULL, 0) : NULL;
    if (!j) {
      const char *msg = gradc_diag_render(g);
      if (strstr(msg, "internal error")) { /* generated C rejected: a bug */
        fprintf(stderr, "%s", msg);
        abort();
      }
    }
  }
  gradc_free(g);
  return 0;
}
