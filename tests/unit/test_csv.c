/* test_csv.c: numbers in CSV data (values.c, read with libcsv) have the
 * limits of numbers in .expr files (SPEC 1.1, 1.6): decimal only (no
 * 0x10, no hex floats 0x1p3, no 1_000), finite, not too large, blanks
 * around a cell allowed; a NUL byte, an empty quoted cell and a cell that
 * only looks like a number are errors at FILE:LINE:COL, never dropped or
 * read as something else. The same words on the command line. */
#include <unistd.h>

#include "test_util.h"

static char path[64];

/* Compile a one-input program, give x the CSV's first column; the sum of
 * x, or NaN with the diagnostics in *why (owned by g until freed). */
static double sum_of(const char *csv, size_t len, char **why) {
  snprintf(path, sizeof path, "/tmp/gradc-test-csv-%d.csv", (int)getpid());
  FILE *f = fopen(path, "wb");
  cr_assert(f);
  cr_assert(fwrite(csv, 1, len, f) == len);
  fclose(f);
  Gradc *g = gradc_new();
  const char *prog = "input x[N]\noutput s = sum(x)\n";
  cr_assert(gradc_compile_string(g, "t.expr", prog, strlen(prog)) == GRADC_OK);
  char spec[80];
  snprintf(spec, sizeof spec, "@%s:0", path);
  double s = NAN;
  *why = NULL;
  if (gradc_set_value_text(g, "x", spec) == GRADC_OK) {
    cr_assert(gradc_set_defaults(g, 0, 0) == GRADC_OK);
    GradcFn *fn = gradc_fn_value(g);
    cr_assert(fn && gradc_run(fn, NULL) == GRADC_OK);
    s = gradc_fn_res_data(fn, 0)[0];
  } else {
    *why = strdup(gradc_diag_render(g));
  }
  gradc_free(g);
  unlink(path);
  return s;
}

static void expect_error(const char *csv, size_t len, const char *where, const char *what) {
  char *why;
  double s = sum_of(csv, len, &why);
  cr_assert(why, "%s: read as data (sum %g), want an error", csv, s);
  char want[128];
  snprintf(want, sizeof want, "%s:%s: error: ", path, where);
  cr_expect(strstr(why, want) != NULL, "%s: want the error at %s, got: %s", csv, where, why);
  cr_expect(strstr(why, what) != NULL, "%s: want '%s' in: %s", csv, what, why);
  free(why);
}

static void expect_sum(const char *csv, double want) {
  char *why;
  double s = sum_of(csv, strlen(csv), &why);
  cr_assert(!why, "%s: %s", csv, why ? why : "");
  cr_expect(s == want, "%s: sum %.17g, want %.17g", csv, s, want);
}

#define ERR(lit, where, what) expect_error(lit, sizeof lit - 1, where, what)

Test(csv, not_decimal_is_an_error_at_its_cell) {
  ERR("1\n0x10\n", "2:1", "'0x10' is not a number");
  ERR("0x10\n1\n", "1:1", "'0x10' is not a number"); /* looks like a number: not a header */
  ERR("1\n0x1p3\n", "2:1", "'0x1p3' is not a number");
  ERR("1\n-0X1P3\n", "2:1", "is not a number");
  ERR("1\n1_000\n", "2:1", "'1_000' is not a number");
  ERR("1\nnan\n", "2:1", "'nan' is not a number");
  ERR("1\nnan(12)\n", "2:1", "is not a number");
  ERR("1\ninf\n", "2:1", "'inf' is not a finite number");
  ERR("1\n-Infinity\n", "2:1", "is not a finite number");
  ERR("1\n1e400\n", "2:1", "too large for a double");
  ERR("1\n1 2\n", "2:1", "is not a number");
}

Test(csv, nul_byte_and_empty_cells_are_errors) {
  ERR("1\n2\0003\n4\n", "2:1", "NUL byte");
  ERR("1\n\"\"\n2\n", "2:1", "the cell '' is not a number");
  ERR("\"\"\n1\n", "1:1", "the cell '' is not a number"); /* not a header of one empty name */
  ERR("1\n\"\"\n", "2:1", "the cell '' is not a number");
  ERR("1,2\n,3\n", "2:1", "the cell '' is not a number");
}

Test(csv, decimal_numbers_blanks_and_empty_lines_are_read) {
  expect_sum("1\n2.5\n", 3.5);
  expect_sum(" 1 \n\t2\t\n", 3);
  expect_sum("+1.5\n-.5e1\n3.\n1E2\n", 1.5 - 5 + 3 + 100);
  expect_sum("1\n\n2\n", 3);   /* an empty line is no row */
  expect_sum("1\n   \n2\n", 3);
  expect_sum("\"1\"\n\"2\"\n", 3); /* quoted numbers */
  expect_sum("x\n4\n", 4);        /* a header */
  expect_sum("1e-400\n1\n", 1);   /* an underflow is 0, as in a file */
}

Test(csv, command_line_numbers_are_decimal) {
  Gradc *g = gradc_new();
  const char *prog = "param w\noutput s = w\n";
  cr_assert(gradc_compile_string(g, "t.expr", prog, strlen(prog)) == GRADC_OK);
  cr_expect(gradc_set_value_text(g, "w", "0x10") != GRADC_OK);
  cr_expect(strstr(gradc_diag_render(g), "w=0x10") != NULL, "%s", gradc_diag_render(g));
  gradc_diag_clear(g);
  cr_expect(gradc_set_value_text(g, "w", "0x1p3") != GRADC_OK);
  gradc_diag_clear(g);
  cr_expect(gradc_set_value_text(g, "w", "1e400") != GRADC_OK);
  gradc_diag_clear(g);
  cr_expect(gradc_set_value_text(g, "w", "-2.5e1") == GRADC_OK);
  cr_expect(gradc_set_value_text(g, "w", "-inf") == GRADC_OK); /* the words stand for themselves */
  gradc_free(g);
}
