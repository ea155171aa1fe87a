/* fuzz_compile: the scanner, parser and lowering, then C emission, on
 * arbitrary bytes. Nothing may crash, hang or leak. */
#include <stdint.h>
#include <stdlib.h>

#include "gradc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Gradc *g = gradc_new();
  if (!g)
    return 0;
  if (gradc_compile_string(g, "fuzz.expr", (const char *)data, size) == GRADC_OK) {
    char *src = NULL, *hdr = NULL;
    if (gradc_emit(g, "fuzz", &src, &hdr, "fuzz.h") == GRADC_OK) {
      free(src);
      free(hdr);
    }
  }
  gradc_diag_render(g);
  gradc_free(g);
  return 0;
}
