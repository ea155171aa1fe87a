/* diff_cmd.c: gradc diff FILE --wrt NAME[,NAME...] [--output NAME]: the
 * derivative of a scalar output as a simplified expression in the
 * language (gradc_diff_text, SPEC 2.4), for scripts. No values are
 * needed: nothing is evaluated. With --json (SPEC 2.2):
 *   {"derivatives": {"L": {"w": {"let": {"t1": "..."}, "expression": "..."}}}}
 * the let lines in order, then the derivative, each as text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* "let t1 = A\n...dL/dw = E\n" as {"let": {"t1": "A", ...}, "expression": "E"} */
static json_t *diff_json(const char *text) {
  json_t *d = json_object(), *let = json_object();
  json_object_set_new(d, "let", let);
  for (const char *line = text; *line;) {
    const char *nl = strchr(line, '\n'), *end = nl ? nl : line + strlen(line);
    const char *eq = strstr(line, " = ");
    if (eq && eq < end) {
      char *rhs = strndup(eq + 3, (size_t)(end - eq - 3));
      if (!strncmp(line, "let ", 4)) {
        char *name = strndup(line + 4, (size_t)(eq - line - 4));
        json_object_set_new(let, name ? name : "?", json_string(rhs ? rhs : ""));
        free(name);
      } else {
        json_object_set_new(d, "expression", json_string(rhs ? rhs : ""));
      }
      free(rhs);
    }
    line = nl ? nl + 1 : end;
  }
  return d;
}

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
    return EXIT_USAGE;
  }
  int rc = 0;
  json_t *root = o->json ? json_object() : NULL;
  json_t *ders = root ? jobj(jobj(root, "derivatives"), gradc_output_name(g, out)) : NULL;
  for (int k = 0; k < nwrt && !rc; k++) {
    char *text = NULL;
    if (gradc_diff_text(g, out, wrt[k], &text) != GRADC_OK)
      rc = report(g);
    else if (!root)
      fputs(text, stdout);
    else
      json_object_set_new(ders, gradc_var_name(g, wrt[k]), diff_json(text));
    free(text);
  }
  if (root && !rc)
    json_print(root);
  else
    json_decref(root);
  free(wrt);
  return rc;
}
