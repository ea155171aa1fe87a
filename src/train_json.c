/* train_json.c: `gradc train --json` as JSON Lines (SPEC 2, issue 17): one
 * object per reported step, {"step": S, "outputs": {"L": ..., "acc": ...}}
 * with every scalar output on the whole data, then one summary object:
 *   {"summary": {"loss": "L", "optimizer": "adam", "lr": 0.01,
 *                "batch": null, "steps": 2000, "stopped": "done",
 *                "outputs": {...}, "saved": "p.json"}}
 * ("saved": null and "save_error" when --save could not be written)
 * "stopped" is "done", "interrupted" (Ctrl-C) or "nonfinite" (then
 * "message" says what was not finite and the exit code is 4); "steps" is
 * the number of steps whose params are kept, "outputs" their metrics.
 * Nothing in it depends on the clock, so a seeded run prints the same
 * bytes every time. Numbers as in SPEC 2.2 (17 digits, "NaN" and
 * "Infinity" as strings); each object is one line. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static void put_line(json_t *root) {
  char *s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
  json_decref(root);
  if (s) {
    puts(s);
    free(s);
  }
  fflush(stdout);
}

/* The scalar outputs' values m[o] (tensor outputs are left out). */
static json_t *metrics_object(Gradc *g, const double *m) {
  json_t *o = json_object();
  for (int i = 0; i < gradc_output_count(g); i++)
    if (is_scalar_output(g, i))
      json_object_set_new(o, gradc_output_name(g, i), jnum(m[i]));
  return o;
}

void train_json_step(Gradc *g, long step, const double *m) {
  json_t *root = json_object();
  json_object_set_new(root, "step", json_integer(step));
  json_object_set_new(root, "outputs", metrics_object(g, m));
  put_line(root);
}

void train_json_summary(Gradc *g, const TrainSummary *s) {
  json_t *root = json_object(), *sum = json_object();
  json_object_set_new(root, "summary", sum);
  json_object_set_new(sum, "loss", json_string(gradc_output_name(g, s->loss)));
  json_object_set_new(sum, "optimizer", json_string(s->optimizer));
  json_object_set_new(sum, "lr", jnum(s->lr));
  json_object_set_new(sum, "batch", s->batch > 0 ? json_integer(s->batch) : json_null());
  json_object_set_new(sum, "steps", json_integer(s->steps));
  json_object_set_new(sum, "stopped", json_string(s->stopped));
  if (s->message)
    json_object_set_new(sum, "message", json_string(s->message));
  if (s->metrics)
    json_object_set_new(sum, "outputs", metrics_object(g, s->metrics));
  json_object_set_new(sum, "saved", s->saved ? json_string(s->saved) : json_null());
  if (s->save_failed) /* why is on stderr; the exit code is 1 */
    json_object_set_new(sum, "save_error", json_string("could not be written"));
  put_line(root);
}
