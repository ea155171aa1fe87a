/* test_lexer.c: the tokens of SPEC 1.1, driven through gradc_compile_string
 * (the scanner has no entry point of its own): numbers, comments, statement
 * ends, newline continuation, and where unexpected characters are reported. */
#include "test_util.h"

/* The first diagnostic must be at line:col and contain `needle`. */
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

static void expect_value(const char *text, double want) {
  double got = eval_const(text);
  cr_assert(memcmp(&got, &want, sizeof got) == 0, "%s = %.17g, want %.17g", text, got, want);
}

/* ---- numbers ---------------------------------------------------------- */

Test(lexer, numbers_in_every_spec_form_read_exactly) {
  static const struct { const char *text; double want; } cases[] = {
      {"3\n", 3},           {"3.\n", 3.},        {".5\n", .5},
      {"2.5e-3\n", 2.5e-3}, {"1E6\n", 1E6},      {"1e+2\n", 1e+2},
      {"0.1\n", 0.1},       {"007\n", 7},        {"1.5E-10\n", 1.5E-10},
      {"123456789.125\n", 123456789.125},        {"4.9e-324\n", 4.9e-324},
      {"1.7976931348623157e308\n", 1.7976931348623157e308},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    expect_value(cases[i].text, cases[i].want);
  ASSERT_NO_LEAKS();
}

Test(lexer, numbers_combine_inside_expressions) {
  expect_value("3.*2\n", 6);
  expect_value(".5+.25\n", 0.75);
  expect_value("2.5e-3*1E6\n", 2500);
  expect_value("1e1-1E1\n", 0);
  ASSERT_NO_LEAKS();
}

Test(lexer, malformed_numbers_are_errors_at_their_start) {
  expect_error_at("1e\n", 1, 1, "malformed number");
  expect_error_at("x = 2x\n", 1, 5, "malformed number");
  expect_error_at("y = 1\nx = 1.5e+\n", 2, 5, "malformed number");
  ASSERT_NO_LEAKS();
}

Test(lexer, a_number_too_large_for_a_double_is_an_error) {
  expect_error_at("x = 1e999\n", 1, 5, "too large");
  ASSERT_NO_LEAKS();
}

/* ---- comments and statement ends ---------------------------------------- */

Test(lexer, comments_run_to_the_end_of_the_line) {
  expect_value("# heading\nx = 2 # two\n# another\nx*3 # the end\n", 6);
  expect_value("x = 2 # x = 5 ; x = 7\nx\n", 2);
  expect_value("x = 4\n#\nx", 4);
  ASSERT_NO_LEAKS();
}

Test(lexer, a_file_of_comments_only_is_empty) {
  GradcStatus st;
  Gradc *g = compile_src("# nothing\n   # here\n", &st);
  cr_assert_eq(st, GRADC_ERR_INPUT);
  cr_assert_geq(find_diag(g, "empty"), 0, "%s", gradc_diag_render(g));
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

Test(lexer, semicolons_separate_statements) {
  expect_value("a = 1; b = a*2; output c = b + 1\n", 3);
  expect_value("a = 2;;; a*3\n", 6);
  expect_value("a = 5;\n", 5);
  ASSERT_NO_LEAKS();
}

Test(lexer, newline_ends_a_statement_outside_brackets) {
  /* if the newline continued the statement, the output would be a = -1 */
  Gradc *g = compile_ok("a = 1\n-2\n");
  cr_assert_eq(gradc_output_count(g), 1);
  cr_assert_str_eq(gradc_output_name(g, 0), "f");
  gradc_free(g);
  expect_value("a = 1\n-2\n", -2);
  ASSERT_NO_LEAKS();
}

Test(lexer, newline_after_a_binary_operator_continues) {
  static const struct { const char *text; double want; } cases[] = {
      {"x = 7 +\n 2\nx\n", 9},   {"x = 7 -\n 2\nx\n", 5},   {"x = 7 *\n 2\nx\n", 14},
      {"x = 7 /\n 2\nx\n", 3.5}, {"x = 2 ^\n 3\nx\n", 8},   {"x = 1 <\n 2\nx\n", 1},
      {"x = 1 <=\n 2\nx\n", 1},  {"x = 1 >\n 2\nx\n", 0},   {"x = 1 >=\n 2\nx\n", 0},
      {"x = 1 ==\n 1\nx\n", 1},  {"x = 1 !=\n 1\nx\n", 0},
      {"x = 7 +\n\n\n 2\nx\n", 9},               /* blank lines too */
      {"x = 7 + # why\n 2\nx\n", 9},             /* and a comment */
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    expect_value(cases[i].text, cases[i].want);
  ASSERT_NO_LEAKS();
}

Test(lexer, newline_after_a_comma_continues) {
  Gradc *g = compile_ok("param a,\n  b\noutput L = a*b\n");
  cr_assert_eq(gradc_var_count(g), 2);
  cr_assert_str_eq(gradc_var_name(g, 1), "b");
  gradc_free(g);
  expect_value("max(1,\n 5)\n", 5);
  ASSERT_NO_LEAKS();
}

Test(lexer, newline_inside_parentheses_continues) {
  expect_value("(1\n+\n2)\n", 3);
  expect_value("x = (2\n\n*\n(3\n+\n1)\n)\nx\n", 8);
  expect_value("atan2(\n0\n,\n1\n)\n", 0);
  ASSERT_NO_LEAKS();
}

Test(lexer, missing_final_newline_is_fine) {
  expect_value("x = 2\nx*3", 6);
  expect_value("x = 2\nx*3 # comment", 6);
  expect_value("7", 7);
  /* an error on the unterminated last line keeps its position */
  expect_error_at("x = 1\ny = )", 2, 5, "unexpected");
  ASSERT_NO_LEAKS();
}

Test(lexer, crlf_line_ends_work) {
  expect_value("x = 2\r\ny = x*3\r\ny\r\n", 6);
  ASSERT_NO_LEAKS();
}

Test(lexer, names_take_letters_digits_and_underscores) {
  expect_value("_a1 = 2\nB_2c = _a1*3\nB_2c\n", 6);
  ASSERT_NO_LEAKS();
}

Test(lexer, an_overlong_name_is_an_error) {
  char text[600];
  memset(text, 'a', 400);
  strcpy(text + 400, " = 1\n");
  expect_error_at(text, 1, 1, "too long");
  ASSERT_NO_LEAKS();
}

/* ---- unexpected characters ------------------------------------------------- */

Test(lexer, unexpected_characters_are_reported_exactly) {
  static const struct { const char *text; int line, col; const char *msg; } cases[] = {
      {"x = 1 $ 2\n", 1, 7, "unexpected character '$'"},
      {"x = 1\ny = 2 ` 3\n", 2, 7, "unexpected character '`'"},
      {"x = 1\n\n\n   ?\n", 4, 4, "unexpected character '?'"},
      {"x = {1}\n", 1, 5, "unexpected character '{'"},
      {"x = 1 & 2\n", 1, 7, "unexpected character '&'"},
      {"x = 1 ! 2\n", 1, 7, "unexpected character '!'"},
      {"x = 1\x01\n", 1, 6, "unexpected character"},
      {"x = 1\ny = 2 $", 2, 7, "unexpected character '$'"}, /* no final newline */
      {"a = (1 +\n  2 $ 3)\n", 2, 5, "unexpected character '$'"}, /* continued line */
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    expect_error_at(cases[i].text, cases[i].line, cases[i].col, cases[i].msg);
  ASSERT_NO_LEAKS();
}

Test(lexer, columns_count_a_tab_as_one_and_the_caret_keeps_it) {
  GradcStatus st;
  Gradc *g = compile_src("\tx = $\n", &st);
  cr_assert_eq(st, GRADC_ERR_INPUT);
  cr_assert_eq(gradc_diag_line(g, 0), 1);
  cr_assert_eq(gradc_diag_col(g, 0), 6);
  const char *r = gradc_diag_render(g);
  const char *want = "t.expr:1:6: error: unexpected character '$'\n\tx = $\n\t    ^\n";
  cr_assert(strncmp(r, want, strlen(want)) == 0, "rendered:\n%s", r);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* One character is one error, even when UTF-8 spells it with two bytes. */
Test(lexer, a_multibyte_character_is_one_error) {
  GradcStatus st;
  Gradc *g = compile_src("x = 1 \xc3\xa9 2\n", &st);
  cr_assert_eq(st, GRADC_ERR_INPUT);
  cr_assert_eq(gradc_diag_line(g, 0), 1);
  cr_assert_eq(gradc_diag_col(g, 0), 7);
  int chars = 0;
  for (int i = 0; i < gradc_diag_count(g); i++)
    chars += strstr(gradc_diag_message(g, i), "unexpected character") != NULL;
  cr_assert_eq(chars, 1, "one character 'é', %d errors:\n%s", chars, gradc_diag_render(g));
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

Test(lexer, a_line_of_garbage_stops_at_twenty_errors) {
  GradcStatus st;
  Gradc *g = compile_src("$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$\n", &st);
  cr_assert_eq(st, GRADC_ERR_INPUT);
  cr_assert_eq(gradc_diag_count(g), 20, "%d diagnostics", gradc_diag_count(g));
  for (int i = 0; i < gradc_diag_count(g); i++)
    cr_assert_eq(gradc_diag_col(g, i), i + 1);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}
