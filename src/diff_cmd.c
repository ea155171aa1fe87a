/* diff_cmd.c: gradc diff FILE --wrt NAME[,NAME...] [--output NAME]: the
 * derivative of a scalar output as a simplified expression in the
 * language (gradc_diff_text, SPEC 2.4), for scripts. No values are
 * needed: nothing is evaluated. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_diff(Run *r) {
  Gradc *g = r->g;
  const Opts *o = r->o;
  if (!o->wrt) {
    usage_error("diff ", "diff needs --wrt NAME (the variable to differentiate by)");
    return EXIT_USAGE;
  }
  int out = 0;
  if (o->output) {
    out = gradc_output_index(g, o->output);
    if (out < 0) {
      usage_error("diff ", "--output: %s has no output '%s'", o->file, o->output);
      return EXIT_USAGE;
    }
  } else {
    while (out < gradc_output_count(g) && !is_scalar_output(g, out))
      out++;
    if (out == gradc_output_count(g)) {
      fprintf(stderr, "gradc: error: diff: %s has no scalar output\n", o->file);
      return EXIT_INPUT;
    }
  }
  if (!is_scalar_output(g, out)) {
    usage_error("diff ", "--output: '%s' is not a scalar: diff writes the derivative of a scalar", o->output);
    return EXIT_USAGE;
  }
  int *wrt = NULL, nwrt = 0;
  if (parse_wrt(g, o->file, o->wrt, &wrt, &nwrt) < 0) {
    free(wrt);
    return EXIT_INPUT;
  }
  int rc = 0;
  for (int k = 0; k < nwrt && !rc; k++) {
    char *text = NULL;
    if (gradc_diff_text(g, out, wrt[k], &text) != GRADC_OK)
      rc = report(g);
    else
      fputs(text, stdout);
    free(text);
  }
  free(wrt);
  return rc;
}
