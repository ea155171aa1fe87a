/* fuzz_values: value text (numbers, JSON arrays) for scalar, vector and
 * matrix variables with a symbolic dimension, then binding dimensions. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gradc.h"

static const char prog[] = "input X[N, 2], y[N]\nparam w[2], s\noutput L = sum((X @ w - y)^2) * s\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  Gradc *g = gradc_new();
  if (!g || gradc_compile_string(g, "p.expr", prog, sizeof prog - 1) != GRADC_OK) {
    gradc_free(g);
    return 0;
  }
  static const char *names[] = {"X", "y", "w", "s"};
  char *text = malloc(size);
  if (!text) {
    gradc_free(g);
    return 0;
  }
  memcpy(text, data + 1, size - 1);
  text[size - 1] = 0;
  if (text[0] != '@') /* no file names from the fuzzer */
    gradc_set_value_text(g, names[data[0] % 4], text);
  gradc_set_defaults(g, data[0], 1);
  free(text);
  gradc_diag_render(g);
  gradc_free(g);
  return 0;
}
