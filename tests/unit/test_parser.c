/* test_parser.c: the grammar of SPEC 1.2-1.4 and how it fails (SPEC 2.3):
 * syntax errors with positions, recovery up to 20 errors, precedence and
 * associativity, names, and inputs built to break it (deep nesting, huge
 * literals, binary garbage, empty files). */
#include <stdint.h>

#include "test_util.h"

static void expect_error_at(const char *text, int line, int col, const char *needle) {
  GradcStatus st;
  Gradc *g = compile_src(text, &st);
  cr_assert_eq(st, GRADC_ERR_INPUT, "accepted: %s", text);
  cr_assert_gt(gradc_diag_count(g), 0);
  const char *msg = gradc_diag_message(g, 0);
  cr_assert(strstr(msg, needle), "%s: message '%s' lacks '%s'", text, msg, needle);
  cr_assert_eq(gradc_diag_line(g, 0), line, "%s: line %d, want %d (%s)", text,
               gradc_diag_line(g, 0), line, msg);
  cr_assert_eq(gradc_diag_col(g, 0), col, "%s: column %d, want %d (%s)", text,
               gradc_diag_col(g, 0), col, msg);
  gradc_free(g);
}

/* A program that must fail, with its diagnostics, in a fresh buffer. */
static Gradc *compile_bad(const char *text, size_t len) {
  Gradc *g = gradc_new();
  cr_assert_not_null(g);
  GradcStatus st = gradc_compile_string(g, "t.expr", text, len);
  cr_assert_eq(st, GRADC_ERR_INPUT, "status %d", st);
  cr_assert_gt(gradc_diag_count(g), 0, "an error without a diagnostic");
  return g;
}

static int contains_ci(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (; *hay; hay++)
    if (strncasecmp(hay, needle, n) == 0)
      return 1;
  return 0;
}

/* ---- syntax errors --------------------------------------------------------- */

Test(parser, syntax_errors_give_message_line_and_column) {
  static const struct { const char *text; int line, col; const char *msg; } cases[] = {
      {"x = 1 +* 2\n", 1, 8, "unexpected '*'"},
      {"x = )\n", 1, 5, "unexpected ')'"},
      {"x = (1 + 2))\n", 1, 12, "unexpected ')'"},
      {"y = 2\nf = max(1,)\n", 2, 11, "unexpected ')'"},
      {"x = = 1\n", 1, 5, "unexpected '='"},
      {"x = 1 < 2 < 3\n", 1, 11, "unexpected '<'"}, /* comparisons do not chain */
      {"param 3\n", 1, 7, "unexpected number"},
      {"output = 3\n", 1, 8, "unexpected '='"},
      {"a = 1\n\n  b = 2 3\n", 3, 9, "unexpected number"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    expect_error_at(cases[i].text, cases[i].line, cases[i].col, cases[i].msg);
  ASSERT_NO_LEAKS();
}

Test(parser, a_syntax_error_renders_in_spec_format_with_a_caret) {
  const char *text = "x = 1 +* 2\n";
  Gradc *g = compile_bad(text, strlen(text));
  cr_assert_str_eq(gradc_diag_render(g),
                   "t.expr:1:8: error: unexpected '*'\n"
                   "x = 1 +* 2\n"
                   "       ^\n");
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

Test(parser, every_bad_line_is_reported) {
  const char *text = "a = 1 +* 2\n"
                     "b = 2\n"
                     "c = )\n"
                     "d = b * 3\n"
                     "e = (1 2)\n"
                     "output L = b +\n"  /* continues: "d" joins it */
                     "  + d\n";
  Gradc *g = compile_bad(text, strlen(text));
  cr_assert_eq(gradc_diag_count(g), 3, "%s", gradc_diag_render(g));
  cr_assert_eq(gradc_diag_line(g, 0), 1);
  cr_assert_eq(gradc_diag_line(g, 1), 3);
  cr_assert_eq(gradc_diag_line(g, 2), 5);
  cr_assert_eq(gradc_diag_col(g, 2), 8);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* 50 bad lines, each between good ones: exactly the first 20 are reported. */
Test(parser, no_more_than_twenty_errors_from_one_file) {
  char text[4096] = "";
  for (int i = 0; i < 50; i++) {
    char line[64];
    snprintf(line, sizeof line, "v%d = %d\nbad%d = * %d\n", i, i, i, i);
    strcat(text, line);
  }
  Gradc *g = compile_bad(text, strlen(text));
  cr_assert_eq(gradc_diag_count(g), 20, "%d diagnostics", gradc_diag_count(g));
  for (int i = 0; i < 20; i++) {
    cr_assert_eq(gradc_diag_line(g, i), 2 * i + 2);
    cr_assert_eq(gradc_diag_col(g, i), 8 + (i >= 10));
  }
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* ---- precedence and associativity (SPEC 1.4) ---------------------------------- */

Test(parser, arithmetic_precedence_and_left_associativity) {
  cr_assert_eq(eval_const("2*3+1\n"), 7);
  cr_assert_eq(eval_const("1+2*3\n"), 7);
  cr_assert_eq(eval_const("1-2-3\n"), -4);
  cr_assert_eq(eval_const("8/4/2\n"), 1);
  cr_assert_eq(eval_const("2*3/4\n"), 1.5);
  cr_assert_eq(eval_const("(1+2)*3\n"), 9);
  cr_assert_eq(eval_const("2*-3\n"), -6);
  cr_assert_eq(eval_const("-2*3\n"), -6);
  cr_assert_eq(eval_const("+2\n"), 2);
  ASSERT_NO_LEAKS();
}

Test(parser, power_binds_tighter_than_unary_minus) {
  cr_assert_eq(eval_const("-3^2\n"), -9);
  cr_assert_eq(eval_const("(-3)^2\n"), 9);
  /* with a variable, so folding cannot hide the tree: -(x^2) at x = 3 is
   * -9 with derivative -2x = -6; (-x)^2 would be 9 and 6 */
  Gradc *g = compile_ok("-x^2\n");
  GradcFn *f = gradc_fn_grad(g, NULL, 0);
  cr_assert_not_null(f, "%s", gradc_diag_render(g));
  double x = 3, r[2];
  call_scalars(f, &x, r);
  cr_assert_eq(r[0], -9);
  cr_assert_eq(r[1], -6);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

Test(parser, power_takes_a_negative_exponent) {
  cr_assert_eq(eval_const("2^-1\n"), 0.5);
  cr_assert_eq(eval_const("2^-1^2\n"), 0.5); /* 2^(-(1^2)) */
  Gradc *g = compile_ok("2^-x\n");
  GradcFn *f = gradc_fn_value(g);
  cr_assert_not_null(f);
  double x = 2, r;
  call_scalars(f, &x, &r);
  cr_assert_eq(r, 0.25);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

Test(parser, power_is_right_associative) {
  cr_assert_eq(eval_const("2^3^2\n"), 512);
  cr_assert_eq(eval_const("(2^3)^2\n"), 64);
  ASSERT_NO_LEAKS();
}

Test(parser, comparisons_give_one_or_zero_and_bind_loosest) {
  static const struct { const char *text; double want; } cases[] = {
      {"1 < 2\n", 1},  {"2 < 1\n", 0},  {"2 <= 2\n", 1}, {"3 <= 2\n", 0},
      {"3 > 2\n", 1},  {"2 > 3\n", 0},  {"2 >= 2\n", 1}, {"1 >= 2\n", 0},
      {"2 == 2\n", 1}, {"2 == 3\n", 0}, {"2 != 3\n", 1}, {"2 != 2\n", 0},
      {"1 + 2 < 4\n", 1}, {"2 * 3 == 6\n", 1}, {"-1 < 0\n", 1},
      {"(1 < 2) + (2 < 1)\n", 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    cr_assert_eq(eval_const(cases[i].text), cases[i].want, "%s", cases[i].text);
  /* and not folded only: with variables */
  Gradc *g = compile_ok("output L = (a < b) + 2*(a == b) + 4*(a >= b)\n");
  GradcFn *f = gradc_fn_value(g);
  cr_assert_not_null(f);
  double ab[2] = {1, 2}, r;
  call_scalars(f, ab, &r);
  cr_assert_eq(r, 1);
  ab[0] = 2;
  call_scalars(f, ab, &r);
  cr_assert_eq(r, 6);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* ---- brackets ----------------------------------------------------------------- */

Test(parser, an_unterminated_expression_points_at_the_open_bracket) {
  expect_error_at("0.5*(w*x\n", 1, 5, "never closed");
  expect_error_at("0.5*(w*x", 1, 5, "never closed");
  expect_error_at("y = 1\nL = 0.5*(w*\n  (x - y)\n", 2, 9, "never closed");
  expect_error_at("((x)\n", 1, 1, "never closed");
  expect_error_at("f = max(1,\n", 1, 8, "never closed");
  ASSERT_NO_LEAKS();
}

static char *repeat3(const char *a, size_t na, const char *mid, const char *b, size_t nb) {
  size_t la = strlen(a), lm = strlen(mid), lb = strlen(b);
  char *s = malloc(la * na + lm + lb * nb + 2);
  cr_assert_not_null(s);
  char *p = s;
  for (size_t i = 0; i < na; i++, p += la)
    memcpy(p, a, la);
  memcpy(p, mid, lm);
  p += lm;
  for (size_t i = 0; i < nb; i++, p += lb)
    memcpy(p, b, lb);
  *p++ = '\n';
  *p = 0;
  return s;
}

static void expect_clean_error(char *text, const char *needle) {
  Gradc *g = compile_bad(text, strlen(text));
  cr_assert(contains_ci(gradc_diag_message(g, 0), needle), "message: %s",
            gradc_diag_message(g, 0));
  cr_assert_leq(gradc_diag_count(g), 20);
  const char *r = gradc_diag_render(g);
  cr_assert_lt(strlen(r), 4096, "the rendering echoes too much: %zu bytes", strlen(r));
  gradc_free(g);
  free(text);
}

Test(parser, a_hundred_thousand_nested_parentheses_give_a_clean_error) {
  expect_clean_error(repeat3("(", 100000, "x", ")", 100000), "nest");
  expect_clean_error(repeat3("(", 100000, "x", "", 0), "nest");
  expect_clean_error(repeat3("sin(", 100000, "x", ")", 100000), "nest");
  expect_clean_error(repeat3("-", 100000, "x", "", 0), "nest");
  expect_clean_error(repeat3("2^", 100000, "x", "", 0), "nest");
  ASSERT_NO_LEAKS();
}

/* Moderate nesting is fine, all the way to the C the JIT compiles. */
Test(parser, nesting_below_the_limit_compiles_and_runs) {
  char *text = repeat3("sin(", 900, "x", ")", 900);
  Gradc *g = compile_ok(text);
  free(text);
  GradcFn *f = gradc_fn_grad(g, NULL, 0);
  cr_assert_not_null(f, "%s", gradc_diag_render(g));
  double x = 0.5, r[2], v = 0.5, d = 1;
  call_scalars(f, &x, r);
  for (int i = 0; i < 900; i++) {
    d *= cos(v);
    v = sin(v);
  }
  cr_assert_eq(r[0], v);
  cr_assert_lt(rel_diff(r[1], d), 1e-12, "%.17g vs %.17g", r[1], d);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* A long flat chain is not deep: left associativity keeps the stack small. */
Test(parser, a_flat_chain_of_a_hundred_thousand_terms_parses) {
  char *text = repeat3("x*", 1, "x", "+x*x", 100000 - 1);
  Gradc *g = compile_ok(text);
  free(text);
  GradcFn *f = gradc_fn_grad(g, NULL, 0);
  cr_assert_not_null(f, "%s", gradc_diag_render(g));
  double x = 1.5, r[2];
  call_scalars(f, &x, r);
  cr_assert_lt(rel_diff(r[0], 100000 * 2.25), 1e-12, "%.17g", r[0]);
  cr_assert_lt(rel_diff(r[1], 100000 * 3.0), 1e-12, "%.17g", r[1]);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* ---- names ---------------------------------------------------------------------- */

Test(parser, an_unknown_function_suggests_the_close_one) {
  const char *text = "x = 2\nf = sqrtt(x)\n";
  Gradc *g = compile_bad(text, strlen(text));
  cr_assert_eq(gradc_diag_line(g, 0), 2);
  cr_assert_eq(gradc_diag_col(g, 0), 5);
  const char *r = gradc_diag_render(g);
  cr_assert(strstr(r, "t.expr:2:5: error: unknown function 'sqrtt'"), "%s", r);
  cr_assert(strstr(r, "did you mean 'sqrt'?"), "%s", r);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

Test(parser, an_unknown_function_far_from_any_gets_no_hint) {
  const char *text = "f = frobnicate(2)\n";
  Gradc *g = compile_bad(text, strlen(text));
  cr_assert_geq(find_diag(g, "unknown function 'frobnicate'"), 0);
  cr_assert_null(strstr(gradc_diag_render(g), "did you mean"), "%s", gradc_diag_render(g));
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

Test(parser, undeclared_names_are_errors_when_the_file_declares) {
  const char *text = "param weight\ninput x\noutput L = weigth*x + bias\n";
  Gradc *g = compile_bad(text, strlen(text));
  cr_assert_eq(gradc_diag_count(g), 2, "%s", gradc_diag_render(g));
  cr_assert_str_eq(gradc_diag_message(g, 0), "undeclared name 'weigth'");
  cr_assert_eq(gradc_diag_line(g, 0), 3);
  cr_assert_eq(gradc_diag_col(g, 0), 12);
  cr_assert_str_eq(gradc_diag_message(g, 1), "undeclared name 'bias'");
  cr_assert_eq(gradc_diag_col(g, 1), 23);
  cr_assert(strstr(gradc_diag_render(g), "did you mean 'weight'?"), "%s", gradc_diag_render(g));
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

Test(parser, free_names_are_params_in_order_of_appearance_without_declarations) {
  Gradc *g = compile_ok("0.5*(w*x-y)^2\n");
  cr_assert_eq(gradc_var_count(g), 3);
  cr_assert_str_eq(gradc_var_name(g, 0), "w");
  cr_assert_str_eq(gradc_var_name(g, 1), "x");
  cr_assert_str_eq(gradc_var_name(g, 2), "y");
  for (int i = 0; i < 3; i++)
    cr_assert(gradc_var_is_param(g, i));
  cr_assert_eq(gradc_output_count(g), 1);
  cr_assert_str_eq(gradc_output_name(g, 0), "f");
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

Test(parser, declarations_keep_their_kind_order_and_defaults) {
  Gradc *g = compile_ok("param w, b = 0.5\ninput x\nu = w*x + b\noutput L = u^2\n");
  cr_assert_eq(gradc_var_count(g), 3);
  cr_assert_str_eq(gradc_var_name(g, 0), "w");
  cr_assert_str_eq(gradc_var_name(g, 1), "b");
  cr_assert_str_eq(gradc_var_name(g, 2), "x");
  cr_assert(gradc_var_is_param(g, 0) && gradc_var_is_param(g, 1));
  cr_assert(!gradc_var_is_param(g, 2));
  double v;
  cr_assert(!gradc_var_default(g, 0, &v));
  cr_assert(gradc_var_default(g, 1, &v));
  cr_assert_eq(v, 0.5);
  cr_assert_eq(gradc_output_count(g), 1);
  cr_assert_str_eq(gradc_output_name(g, 0), "L");
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

Test(parser, a_name_used_before_its_definition_is_an_error) {
  expect_error_at("a = b + 1\nb = 2\na\n", 1, 5, "used before it is defined");
  ASSERT_NO_LEAKS();
}

/* The one real error is the use of b; a is defined on line 1, so its use on
 * line 3 must not be reported as "used before it is defined". */
Test(parser, a_failed_definition_does_not_cause_a_false_second_error) {
  const char *text = "a = b + 1\nb = 2\noutput L = a\n";
  Gradc *g = compile_bad(text, strlen(text));
  for (int i = 0; i < gradc_diag_count(g); i++)
    cr_assert(!(gradc_diag_line(g, i) == 3 && strstr(gradc_diag_message(g, i), "before it is defined")),
              "false error:\n%s", gradc_diag_render(g));
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

Test(parser, redefinitions_are_errors) {
  expect_error_at("a = 1\na = 2\na\n", 2, 1, "already defined (line 1)");
  expect_error_at("param a\na = 2\na\n", 2, 1, "already");
  expect_error_at("param a\ninput b, a\na*b\n", 2, 10, "already declared (line 1)");
  expect_error_at("output f = 1\noutput f = 2\n", 2, 8, "already defined (line 1)");
  expect_error_at("sin = 3\n", 1, 1, "built-in");
  expect_error_at("param exp\nexp*2\n", 1, 7, "built-in");
  ASSERT_NO_LEAKS();
}

Test(parser, a_second_bare_expression_is_an_error) {
  GradcStatus st;
  Gradc *g = compile_src("1 + 2\n3 + 4\n", &st);
  cr_assert_eq(st, GRADC_ERR_INPUT);
  cr_assert_eq(gradc_diag_count(g), 1, "%s", gradc_diag_render(g));
  cr_assert(strstr(gradc_diag_message(g, 0), "second bare expression"));
  cr_assert_eq(gradc_diag_line(g, 0), 2);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* ---- hostile inputs (SPEC 2.3) ---------------------------------------------------- */

Test(parser, a_ten_megabyte_number_is_an_error) {
  size_t n = 10u << 20;
  char *text = malloc(n + 2);
  cr_assert_not_null(text);
  memset(text, '7', n);
  text[n] = '\n';
  text[n + 1] = 0;
  Gradc *g = compile_bad(text, n + 1);
  cr_assert_eq(gradc_diag_line(g, 0), 1);
  cr_assert_eq(gradc_diag_col(g, 0), 1);
  cr_assert(strstr(gradc_diag_message(g, 0), "too long"), "%s", gradc_diag_message(g, 0));
  cr_assert_lt(strlen(gradc_diag_render(g)), 4096);
  gradc_free(g);
  free(text);
  ASSERT_NO_LEAKS();
}

Test(parser, binary_garbage_is_an_error_not_echoed) {
  static const char bin[] = "x = 1\n\x7f" "ELF\x02\x01\x01\x00\x00\xff\xfe\n\x89PNG";
  Gradc *g = compile_bad(bin, sizeof bin - 1);
  cr_assert_eq(gradc_diag_line(g, 0), 2);
  const char *r = gradc_diag_render(g);
  cr_assert(strstr(r, "t.expr:2:"), "%s", r);
  cr_assert_null(strchr(r, '\x7f'), "the garbage was echoed: %s", r);
  gradc_free(g);
  /* invalid UTF-8 without any NUL: a lone continuation byte, an overlong
   * form, a truncated sequence at the very end */
  static const char *const bad[] = {"x = 1 \x80\n", "x = \xc0\xaf\n", "x = 1\xe2\x82"};
  for (int i = 0; i < 3; i++) {
    g = compile_bad(bad[i], strlen(bad[i]));
    gradc_free(g);
  }
  ASSERT_NO_LEAKS();
}

Test(parser, the_empty_file_is_an_error) {
  static const char *const empty[] = {"", "\n", "\n\n\n", "   \t \n", ";;;\n"};
  for (int i = 0; i < 5; i++) {
    Gradc *g = compile_bad(empty[i], strlen(empty[i]));
    cr_assert_geq(find_diag(g, "empty"), 0, "%s", gradc_diag_render(g));
    gradc_free(g);
  }
  ASSERT_NO_LEAKS();
}

/* Random bytes and random tokens never crash the front end: each input
 * either compiles or is rejected with at least one diagnostic. */
static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint64_t next(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

Test(parser, random_inputs_never_crash) {
  static const char *const toks[] = {"x", "y", "1", ".5", "2e3", "+", "-", "*", "/", "^",
                                     "(", ")", "[", "]", ",", ";", "\n", "=", "<", "==",
                                     "param", "input", "output", "sin", "max", "where",
                                     "@", "'", ":", "#c\n", " ", "@f.csv", "g(x) = ", "g("};
  enum { NT = sizeof toks / sizeof *toks };
  char text[512];
  for (int iter = 0; iter < 1500; iter++) {
    size_t len = 0;
    if (iter % 3 == 0) { /* raw bytes */
      len = next() % 200;
      for (size_t i = 0; i < len; i++)
        text[i] = (char)(next() & 0xff);
    } else {
      int n = (int)(next() % 40);
      for (int i = 0; i < n; i++) {
        const char *t = toks[next() % NT];
        size_t k = strlen(t);
        memcpy(text + len, t, k);
        len += k;
      }
    }
    Gradc *g = gradc_new();
    GradcStatus st = gradc_compile_string(g, "fuzz", text, len);
    cr_assert(st == GRADC_OK || st == GRADC_ERR_INPUT, "status %d", st);
    if (st != GRADC_OK)
      cr_assert_gt(gradc_diag_count(g), 0, "rejected without a reason: %.*s", (int)len, text);
    (void)gradc_diag_render(g);
    gradc_free(g);
  }
  ASSERT_NO_LEAKS();
}

/* ---- user-defined functions (SPEC 1.8) -------------------------------------------- */

Test(parser, a_function_is_inlined_at_each_call) {
  cr_assert_eq(eval_const("sq(x) = x^2\noutput y = sq(3) + sq(4)\n"), 25);
  /* nested calls, a function calling an earlier one, no parameters */
  cr_assert_eq(eval_const("f(x) = x + 1\ng(x, y) = f(x) * y\nc() = 10\noutput y = g(f(1), c())\n"), 30);
  /* the body sees names defined above it; parameters shadow them */
  cr_assert_eq(eval_const("a = 5\nx = 100\nf(x) = x + a\noutput y = f(1)\n"), 6);
  /* built-in constants and keyword arguments inside */
  cr_assert_eq(eval_const("rs(r) = sum(r, axis=1, keepdims=true)\noutput y = sum(rs([[1, 2], [3, 4]]) * pi) / pi\n"),
               10);
  /* a function that is never called is fine */
  cr_assert_eq(eval_const("unused(q) = q*q\noutput y = 7\n"), 7);
  ASSERT_NO_LEAKS();
}

Test(parser, a_call_shares_nodes_like_the_written_out_expression) {
  Gradc *a = compile_ok("param x\nsq(t) = sin(t)^2\noutput y = sq(x) + sq(x) * sq(x)\n");
  Gradc *b = compile_ok("param x\noutput y = sin(x)^2 + sin(x)^2 * sin(x)^2\n");
  cr_assert_eq(gradc_node_count(a), gradc_node_count(b));
  gradc_free(a);
  gradc_free(b);
  ASSERT_NO_LEAKS();
}

Test(parser, free_names_in_a_call_are_params_without_declarations) {
  Gradc *g = compile_ok("sq(t) = t^2\nsq(w) + sq(x)\n");
  cr_assert_eq(gradc_var_count(g), 2);
  cr_assert_str_eq(gradc_var_name(g, 0), "w");
  cr_assert_str_eq(gradc_var_name(g, 1), "x");
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

Test(parser, function_errors_have_places_and_clear_messages) {
  expect_error_at("f(x, y) = x*y\noutput z = f(3)\n", 2, 12, "f() takes 2 arguments, not 1");
  expect_error_at("f(x) = x\noutput z = f(1, 2, 3)\n", 2, 12, "f() takes 1 argument, not 3");
  expect_error_at("f(x, sum) = x\noutput z = 1\n", 1, 6, "parameter 'sum' of f() shadows the built-in function sum");
  expect_error_at("f(x, pi) = x\noutput z = 1\n", 1, 6, "shadows the built-in constant pi");
  expect_error_at("f(x, y, x) = x\noutput z = 1\n", 1, 9, "parameter 'x' of f() is repeated");
  expect_error_at("f(2) = 1\noutput z = 1\n", 1, 3, "a parameter of f() must be a name");
  expect_error_at("f(x) = x\noutput z = f + 1\n", 2, 12, "'f' is a function; call it as f(...)");
  expect_error_at("param a\noutput z = a(2)\n", 2, 12, "'a' is a variable, not a function");
  expect_error_at("f(x) = x\nf(y) = 2*y\noutput z = f(1)\n", 2, 1, "'f' is already defined as a function (line 1)");
  expect_error_at("f(x) = x\nf = 2\n", 2, 1, "'f' is already defined as a function (line 1)");
  expect_error_at("f = 2\nf(x) = x\n", 2, 1, "'f' is already defined (line 1)");
  expect_error_at("sin(x) = x\noutput z = 1\n", 1, 1, "built-in");
  expect_error_at("f(x) = f(x - 1)\noutput z = f(1)\n", 1, 8, "f() calls itself: recursion is not supported");
  expect_error_at("f(x) = g(x)\ng(x) = f(x)\noutput z = f(1)\n", 1, 8,
                  "f() calls g(), which is defined below it (line 2)");
  expect_error_at("output z = g(1)\ng(x) = x\n", 1, 12, "g() is called before it is defined (line 2)");
  expect_error_at("f(g) = g(1)\noutput z = f(1)\n", 1, 8, "'g' is a parameter of f(), not a function");
  expect_error_at("f(x) = x\noutput z = f(x=3)\n", 2, 14, "f() takes no keyword arguments");
  expect_error_at("f(x) = x + u\nu = 2\noutput z = f(1)\n", 1, 12,
                  "'u' is not a parameter of f() and is defined only below it (line 2)");
  expect_error_at("f(x) = exp\noutput z = f(1)\n", 1, 8, "'exp' is a built-in function");
  ASSERT_NO_LEAKS();
}

Test(parser, an_unknown_name_in_a_body_suggests_a_parameter) {
  const char *text = "param weight\nf(value) = valeu * weigth\noutput z = f(weight)\n";
  Gradc *g = compile_bad(text, strlen(text));
  cr_assert_eq(gradc_diag_count(g), 2, "%s", gradc_diag_render(g));
  cr_assert_str_eq(gradc_diag_message(g, 0), "'valeu' is not a parameter of f() and is not defined above it");
  cr_assert_eq(gradc_diag_col(g, 0), 12);
  const char *r = gradc_diag_render(g);
  cr_assert(strstr(r, "did you mean 'value'?"), "%s", r);
  cr_assert(strstr(r, "did you mean 'weight'?"), "%s", r);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

Test(parser, an_unknown_function_suggests_a_user_function) {
  const char *text = "huber(r) = r\noutput z = hubr(1)\n";
  Gradc *g = compile_bad(text, strlen(text));
  cr_assert(strstr(gradc_diag_render(g), "did you mean 'huber'?"), "%s", gradc_diag_render(g));
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* A shape error inside a body is reported there, naming the call. */
Test(parser, an_error_inside_a_body_names_the_call) {
  const char *text = "param a[2], b[3]\nadd(p, q) = p + q\noutput z = sum(add(a, b))\n";
  Gradc *g = compile_bad(text, strlen(text));
  cr_assert_eq(gradc_diag_line(g, 0), 2, "%s", gradc_diag_render(g));
  cr_assert_eq(gradc_diag_col(g, 0), 15, "%s", gradc_diag_render(g));
  cr_assert(strstr(gradc_diag_render(g), "in the call of add() on line 3, column 16"), "%s",
            gradc_diag_render(g));
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* A chain of 2,000 functions each calling the one before: the call depth
 * is bounded with an error, not the C stack; a chain of 900 works. */
Test(parser, deep_chains_of_calls_are_bounded) {
  for (int n = 900; n <= 2000; n += 1100) {
    size_t cap = (size_t)n * 48 + 64, len = 0;
    char *text = malloc(cap);
    cr_assert_not_null(text);
    len += (size_t)snprintf(text + len, cap - len, "f0(x) = x + 1\n");
    for (int i = 1; i < n; i++)
      len += (size_t)snprintf(text + len, cap - len, "f%d(x) = f%d(x) + 1\n", i, i - 1);
    snprintf(text + len, cap - len, "output y = f%d(0)\n", n - 1);
    GradcStatus st;
    Gradc *g = compile_src(text, &st);
    free(text);
    if (n == 900) {
      cr_assert_eq(st, GRADC_OK, "%s", gradc_diag_render(g));
      GradcFn *f = gradc_fn_value(g);
      cr_assert_not_null(f, "%s", gradc_diag_render(g));
      double r[1];
      call_scalars(f, NULL, r);
      cr_assert_eq(r[0], 900);
    } else {
      cr_assert_eq(st, GRADC_ERR_INPUT);
      cr_assert_geq(find_diag(g, "function calls nested too deeply (more than 1000 levels)"), 0, "%s",
                    gradc_diag_render(g));
    }
    gradc_free(g);
  }
  ASSERT_NO_LEAKS();
}

/* f_k(x) = f_{k-1}(x) + f_{k-1}(x), 60 levels: 2^60 calls written out, but
 * a call with the same arguments is the same nodes, so it is instant. */
Test(parser, repeated_calls_do_not_blow_up, .timeout = 20) {
  char text[4096];
  size_t len = (size_t)snprintf(text, sizeof text, "param x\nf0(x) = sin(x)\n");
  for (int i = 1; i < 60; i++)
    len += (size_t)snprintf(text + len, sizeof text - len, "f%d(x) = f%d(x) + f%d(x)\n", i, i - 1, i - 1);
  snprintf(text + len, sizeof text - len, "output y = f59(x)\n");
  Gradc *g = compile_ok(text);
  cr_assert_lt(gradc_node_count(g), 200);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* A function is not a value: without an output, the last statement that is
 * not a function is the output; a file of functions only has no output. */
Test(parser, a_function_is_never_the_implicit_output) {
  cr_assert_eq(eval_const("y = 3\nf(x) = x*y\n"), 3);
  expect_error_at("f(x) = x\n", 1, 1, "the file has no output");
  ASSERT_NO_LEAKS();
}
