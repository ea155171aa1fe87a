/* test_limits.c: every limit of SPEC 2.3 ("no input makes gradc crash,
 * hang or read out of bounds") with its exact error message: nesting
 * depth, name length, the number of DAG nodes, tensor sizes that overflow,
 * symbolic dimensions that disagree, bad CSV cells, files that are not
 * text, empty files. Command-line cases also check exit status 1. */
#include "harden.h"

#include "api.h" /* Dag.max_nodes: the node limit, lowered for a test */
#include "gradc.h"

/* ---- helpers ------------------------------------------------------------ */

/* `head` + `mid` n times + `tail`, malloc'd */
static char *repeat(const char *head, const char *mid, long n, const char *tail) {
  size_t lh = strlen(head), lm = strlen(mid), lt = strlen(tail);
  char *s = malloc(lh + lm * (size_t)n + lt + 1);
  cr_assert_not_null(s);
  char *p = s;
  memcpy(p, head, lh);
  p += lh;
  for (long i = 0; i < n; i++, p += lm)
    memcpy(p, mid, lm);
  memcpy(p, tail, lt + 1);
  return s;
}

/* Write `text` as DIR/t.expr and run `gradc CMD t.expr ARGS...` in DIR. */
static Run run_text(const char *dir, const char *text, size_t len, const char *const *args) {
  char *path = hfmt("%s/t.expr", dir);
  write_bytes(path, text, len);
  free(path);
  RunOpts o = {.cwd = dir};
  return run_gradc_opts(&o, args);
}
#define RUN_TEXT(dir, text, ...) \
  run_text(dir, text, strlen(text), (const char *const[]){__VA_ARGS__, NULL})
#define RUN_BYTES(dir, bytes, len, ...) \
  run_text(dir, bytes, len, (const char *const[]){__VA_ARGS__, NULL})

static char *dir;
static void setup(void) { dir = scratch_dir(); }
static void teardown(void) {
  rm_tree(dir);
  free(dir);
}

/* The number of lines in s */
static int lines(const char *s) {
  int n = 0;
  for (; *s; s++)
    n += *s == '\n';
  return n;
}

/* ---- nesting ------------------------------------------------------------ */

TestSuite(nesting, .init = setup, .fini = teardown, .timeout = 120);

Test(nesting, thousand_parentheses_are_allowed) {
  char *src = repeat("", "(", 1000, "x");
  char *full = repeat(src, ")", 1000, "\n");
  Run r = RUN_TEXT(dir, full, "eval", "t.expr", "x=2");
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert_str_eq(r.out, "f = 2\n");
  run_free(&r);
  free(src);
  free(full);
}

Test(nesting, parentheses_past_1000) {
  char *src = repeat("", "(", 1001, "x");
  char *full = repeat(src, ")", 1001, "\n");
  Run r = RUN_TEXT(dir, full, "eval", "t.expr", "x=2");
  ASSERT_INPUT_ERROR(r, "t.expr:1:1001: error: brackets nested too deeply (more than 1000 levels)");
  cr_assert_eq(lines(r.err), 3, "one error (message, line, caret), got:\n%.3000s", r.err);
  run_free(&r);
  free(src);
  free(full);
}

Test(nesting, square_brackets_past_1000) {
  char *src = repeat("", "[", 1001, "x");
  char *full = repeat(src, "]", 1001, "\n");
  Run r = RUN_TEXT(dir, full, "eval", "t.expr", "x=2");
  ASSERT_INPUT_ERROR(r, "t.expr:1:1001: error: brackets nested too deeply (more than 1000 levels)");
  run_free(&r);
  free(src);
  free(full);
}

Test(nesting, calls_past_1000) {
  char *src = repeat("", "sin(", 1001, "x");
  char *full = repeat(src, ")", 1001, "\n");
  Run r = RUN_TEXT(dir, full, "eval", "t.expr", "x=2");
  ASSERT_INPUT_ERROR(r, "t.expr:1:4004: error: brackets nested too deeply (more than 1000 levels)");
  run_free(&r);
  free(src);
  free(full);
}

Test(nesting, hundred_thousand_unclosed_parentheses) {
  char *src = repeat("", "(", 100000, "x\n");
  Run r = RUN_TEXT(dir, src, "eval", "t.expr", "x=2");
  ASSERT_INPUT_ERROR(r, "t.expr:1:1001: error: brackets nested too deeply (more than 1000 levels)");
  run_free(&r);
  free(src);
}

Test(nesting, brackets_through_the_api) {
  char *src = repeat("", "(", 1001, "x");
  char *full = repeat(src, ")", 1001, "\n");
  Gradc *g = gradc_new();
  cr_assert_eq(gradc_compile_string(g, "deep.expr", full, strlen(full)), GRADC_ERR_INPUT);
  cr_assert_eq(gradc_diag_count(g), 1, "%s", gradc_diag_render(g));
  cr_assert_str_eq(gradc_diag_message(g, 0), "brackets nested too deeply (more than 1000 levels)");
  cr_assert_eq(gradc_diag_line(g, 0), 1);
  cr_assert_eq(gradc_diag_col(g, 0), 1001);
  gradc_free(g);
  free(src);
  free(full);
  ASSERT_NO_LEAKS();
}

/* grammar/parser.y: YYMAXDEPTH 100000 states. Each unary minus holds one
 * state on the stack, so 99996 minus signs (plus the states of the
 * program, the line and the operand) fill it exactly; one more exhausts
 * it and the parser reports "expression nested too deeply" where the
 * stack overflowed (column 99998). */
Test(nesting, unary_minus_chain_at_the_parser_limit) {
  char *src = repeat("", "-", 99996, "x\n");
  Run r = RUN_TEXT(dir, src, "grad", "t.expr", "x=2");
  cr_assert_eq(r.status, 0, "%.2000s", r.err);
  cr_assert_str_eq(r.out, "f = 2\ndf/dx = 1\n"); /* an even number of minus signs */
  run_free(&r);
  free(src);
}

Test(nesting, unary_minus_chain_past_the_parser_limit) {
  char *src = repeat("", "-", 99997, "x\n");
  Run r = RUN_TEXT(dir, src, "eval", "t.expr", "x=2");
  ASSERT_INPUT_ERROR(r, "t.expr:1:99998: error: expression nested too deeply");
  cr_assert_eq(lines(r.err), 3, "one error, got:\n%.3000s", r.err);
  run_free(&r);
  free(src);
}

Test(nesting, unary_minus_chain_far_past_the_parser_limit) {
  char *src = repeat("", "-", 1000000, "x\n");
  Run r = RUN_TEXT(dir, src, "eval", "t.expr", "x=2");
  ASSERT_INPUT_ERROR(r, "t.expr:1:99998: error: expression nested too deeply");
  cr_assert_eq(lines(r.err), 3, "one error, got:\n%.3000s", r.err);
  run_free(&r);
  free(src);
}

/* x^x^...^x is right-associative: each "x ^" holds two states, so the
 * longest chain is 49998 operators. Its parse tree is 49998 levels deep,
 * which lowering, differentiation and the emitter must survive (their
 * recursion, if any, must not overflow the C stack, also under ASan). */
Test(nesting, power_chain_at_the_parser_limit) {
  char *src = repeat("x", "^x", 49998, "\n");
  Run r = RUN_TEXT(dir, src, "grad", "t.expr", "x=1");
  cr_assert_eq(r.status, 0, "%.2000s", r.err);
  cr_assert_str_eq(r.out, "f = 1\ndf/dx = 1\n");
  run_free(&r);
  free(src);
}

Test(nesting, power_chain_past_the_parser_limit) {
  char *src = repeat("x", "^x", 49999, "\n");
  Run r = RUN_TEXT(dir, src, "eval", "t.expr", "x=1");
  ASSERT_INPUT_ERROR(r, "t.expr:1:99998: error: expression nested too deeply");
  run_free(&r);
  free(src);
}

/* three states per "^-x": 33332 fit */
Test(nesting, power_of_negation_chain) {
  char *ok = repeat("x", "^-x", 33332, "\n");
  Run r = RUN_TEXT(dir, ok, "eval", "t.expr", "x=1");
  cr_assert_eq(r.status, 0, "%.2000s", r.err);
  cr_assert_str_eq(r.out, "f = 1\n");
  run_free(&r);
  char *bad = repeat("x", "^-x", 33333, "\n");
  r = RUN_TEXT(dir, bad, "eval", "t.expr", "x=1");
  cr_assert_eq(r.status, 1);
  cr_assert(strstr(first_line(r.err), "error: expression nested too deeply"), "%.2000s", r.err);
  run_free(&r);
  free(ok);
  free(bad);
}

/* ---- names -------------------------------------------------------------- */

TestSuite(names, .init = setup, .fini = teardown, .timeout = 60);

Test(names, name_of_256_characters_is_allowed) {
  char *name = repeat("", "a", 256, "");
  char *src = hfmt("%s + 1\n", name);
  char *assign = hfmt("%s=2", name);
  Run r = RUN_TEXT(dir, src, "eval", "t.expr", assign);
  cr_assert_eq(r.status, 0, "%.2000s", r.err);
  cr_assert_str_eq(r.out, "f = 3\n");
  run_free(&r);
  free(name);
  free(src);
  free(assign);
}

Test(names, name_of_257_characters) {
  char *src = repeat("", "a", 257, " + 1\n");
  Run r = RUN_TEXT(dir, src, "eval", "t.expr");
  ASSERT_INPUT_ERROR(r, "t.expr:1:1: error: name is too long (more than 256 characters)");
  cr_assert_eq(lines(r.err), 3, "one error, got:\n%.3000s", r.err);
  run_free(&r);
  free(src);
}

Test(names, long_name_in_a_declaration) {
  char *name = repeat("", "w", 100000, "");
  char *src = hfmt("param %s\noutput L = %s^2\n", name, name);
  Run r = RUN_TEXT(dir, src, "eval", "t.expr");
  ASSERT_INPUT_ERROR(r, "t.expr:1:7: error: name is too long (more than 256 characters)");
  run_free(&r);
  free(name);
  free(src);
}

Test(names, long_name_through_the_api) {
  char *src = repeat("", "b", 300, "*2\n");
  Gradc *g = gradc_new();
  cr_assert_eq(gradc_compile_string(g, "t.expr", src, strlen(src)), GRADC_ERR_INPUT);
  cr_assert_str_eq(gradc_diag_message(g, 0), "name is too long (more than 256 characters)");
  cr_assert_eq(gradc_diag_line(g, 0), 1);
  cr_assert_eq(gradc_diag_col(g, 0), 1);
  gradc_free(g);
  free(src);
  ASSERT_NO_LEAKS();
}

/* ---- the number of DAG nodes -------------------------------------------- */

/* The default limit is 64M nodes (src/dag.c DEFAULT_MAX_NODES). Reaching it
 * takes a program of tens of millions of distinct subexpressions: gigabytes
 * of source, AST and DAG (a Node is 32 bytes) and minutes of parsing, too
 * much for a test. The limit is a field of the Dag (Dag.max_nodes), so the
 * tests lower it and check what happens when it is hit, while lowering the
 * program and while building derivatives. */

/* x*0 + sin(1*x) + ... + sin(n*x): 4 nodes per term */
static char *sines(int n) {
  char *s = malloc((size_t)n * 24 + 16);
  cr_assert_not_null(s);
  char *p = s;
  for (int i = 1; i <= n; i++)
    p += sprintf(p, "%ssin(%d*x)", i > 1 ? " + " : "", i);
  strcpy(p, "\n");
  return s;
}

static Gradc *with_node_limit(uint32_t limit) {
  Gradc *g = gradc_new();
  cr_assert_not_null(g);
  g->prog.dag = dag_new();
  cr_assert_not_null(g->prog.dag);
  g->prog.dag->max_nodes = limit;
  return g;
}

TestSuite(nodes, .timeout = 60);

Test(nodes, limit_while_lowering) {
  char *src = sines(200);
  Gradc *g = with_node_limit(100);
  cr_assert_eq(gradc_compile_string(g, "t.expr", src, strlen(src)), GRADC_ERR_INPUT);
  cr_assert_eq(gradc_diag_count(g), 1, "%s", gradc_diag_render(g));
  cr_assert_str_eq(gradc_diag_message(g, 0), "the expression is too large (more than 100 nodes)");
  cr_assert_eq(gradc_node_count(g), 100);
  gradc_free(g);
  free(src);
  ASSERT_NO_LEAKS();
}

Test(nodes, just_under_the_limit) {
  char *src = sines(200); /* 799 nodes: x, 200 * (constant, product, sin), 199 sums */
  Gradc *g = with_node_limit(799);
  cr_assert_eq(gradc_compile_string(g, "t.expr", src, strlen(src)), GRADC_OK, "%s",
               gradc_diag_render(g));
  cr_assert_eq(gradc_node_count(g), 799);
  gradc_free(g);
  free(src);
  ASSERT_NO_LEAKS();
}

/* The program fits, its gradient does not: the message should name the
 * limit, as when lowering, not claim that memory ran out. */
Test(nodes, limit_while_building_derivatives) {
  char *src = sines(200);
  Gradc *g = with_node_limit(1000);
  cr_assert_eq(gradc_compile_string(g, "t.expr", src, strlen(src)), GRADC_OK, "%s",
               gradc_diag_render(g));
  cr_assert_null(gradc_fn_grad(g, NULL, 0));
  cr_assert_geq(gradc_diag_count(g), 1);
  cr_assert_str_eq(gradc_diag_message(g, 0), "the expression is too large (more than 1000 nodes)",
                   "got: %s", gradc_diag_render(g));
  gradc_free(g);
  free(src);
  ASSERT_NO_LEAKS();
}

/* ---- tensor sizes --------------------------------------------------------- */

TestSuite(tensors, .init = setup, .fini = teardown, .timeout = 120);

static void too_large(const char *decl, int col) {
  char *src = hfmt("param A[%s]\noutput s = sum(A)\n", decl);
  Run r = RUN_TEXT(dir, src, "eval", "t.expr");
  char *want = hfmt("t.expr:1:%d: error: the tensor is too large (more than 2^40 elements)", col);
  ASSERT_INPUT_ERROR(r, want);
  run_free(&r);
  free(want);
  free(src);
}

Test(tensors, product_of_a_million_cubed) { too_large("1000000, 1000000, 1000000", 27); }
/* 2^32 * 2^32 is 0 in 64-bit arithmetic, 3037000500^2 is negative */
Test(tensors, product_wraps_to_zero) { too_large("4294967296, 4294967296", 21); }
Test(tensors, product_wraps_negative) { too_large("3037000500, 3037000500", 21); }
Test(tensors, product_of_rank_4) { too_large("1048576, 1048576, 1048576, 1048576", 27); }
Test(tensors, dimension_past_int64) { too_large("99999999999999999999", 9); }

/* The declaration is rejected; the uses of A that follow are not errors
 * of their own ("undeclared name 'A'" is wrong: it is declared). */
Test(tensors, no_follow_on_error_for_the_rejected_declaration) {
  Run r = RUN_TEXT(dir, "param A[1000000, 1000000, 1000000]\noutput s = sum(A)\n", "eval", "t.expr");
  ASSERT_INPUT_ERROR(r, "t.expr:1:27: error: the tensor is too large (more than 2^40 elements)");
  cr_expect_null(strstr(r.err, "undeclared name 'A'"), "a spurious second error:\n%s", r.err);
  cr_assert_eq(lines(r.err), 3, "one error, got:\n%s", r.err);
  run_free(&r);
}

/* Inputs of 8 MB whose broadcast product has 2^60 elements: the shape of
 * an intermediate result is past the limit too. */
Test(tensors, intermediate_result_too_large) {
  Run r = RUN_TEXT(dir,
                   "param a[1048576, 1, 1] = zeros, b[1048576, 1] = zeros, c[1048576] = zeros\n"
                   "output s = sum(a*b*c)\n",
                   "eval", "t.expr");
  cr_assert_eq(r.status, 1, "exit %d (139 = SIGSEGV); stderr:\n%.2000s", r.status, r.err);
  ASSERT_INPUT_ERROR(r, "t.expr:2:19: error: '*': the result (1048576, 1048576, 1048576) is too "
                        "large (more than 2^40 elements)");
  run_free(&r);
}

/* (65536, 1) @ (1, 65536) has 2^32 elements, under 2^40 but past INT_MAX:
 * the workspace is 32 GB, more than gradc may have here, which must be a
 * clean "out of memory", not a crash. */
Test(tensors, outer_product_of_2_to_the_32_elements) {
  write_at(dir, "t.expr", "param a[65536, 1] = zeros\noutput s = sum(a @ a')\n");
  RunOpts o = {.cwd = dir, .mem_limit_mb = 4096};
  Run r = RUN_OPTS(&o, "eval", "t.expr");
  cr_assert_eq(r.status, 1, "exit %d (139 = SIGSEGV); stderr:\n%.2000s", r.status, r.err);
  cr_assert_str_eq(r.err, "gradc: error: out of memory for the workspace\n");
  run_free(&r);
}

/* SPEC 3: the emitted C compiles with -Wall -Wextra -pedantic -Werror,
 * also when a tensor has more than INT_MAX elements (sizes in long). */
Test(tensors, emitted_sizes_past_int_max_compile_cleanly) {
  Run r = RUN_TEXT(dir, "param a[65536, 1]\noutput s = sum(a @ a')\n", "emit", "t.expr", "-o", "t.c");
  cr_assert_eq(r.status, 0, "%s", r.err);
  run_free(&r);
  char *cmd = hfmt("cd %s && cc -std=c99 -Wall -Wextra -pedantic -Werror -c t.c -o t.o 2>cc.log", dir);
  int rc = system(cmd);
  char *logp = hfmt("%s/cc.log", dir);
  char *log = read_all(logp, NULL);
  free(logp);
  cr_assert_eq(rc, 0, "cc rejected the emitted C:\n%.2000s", log ? log : "");
  free(log);
  free(cmd);
}

/* 2^39 zeros (4 TB) for a declared default: an error that says so, not a
 * silent exit status 1. */
Test(tensors, default_too_large_for_memory) {
  write_at(dir, "t.expr", "param A[1048576, 524288] = zeros\noutput s = sum(A)\n");
  RunOpts o = {.cwd = dir, .mem_limit_mb = 4096};
  Run r = RUN_OPTS(&o, "eval", "t.expr");
  cr_assert_eq(r.status, 1, "%.2000s", r.err);
  cr_assert_str_eq(r.err, "gradc: error: out of memory for the default value of 'A' "
                          "(549755813888 numbers)\n");
  run_free(&r);
}

/* ---- symbolic dimensions -------------------------------------------------- */

TestSuite(dims, .init = setup, .fini = teardown, .timeout = 60);

static const char *const regression =
    "input X[N, 2], y[N]\nparam w[2]\noutput L = sum((X @ w - y)^2)\n";

Test(dims, mismatch_on_the_command_line) {
  Run r = RUN_TEXT(dir, regression, "eval", "t.expr", "X=[[1,2],[3,4],[5,6]]", "y=[1,2]", "w=[1,1]");
  ASSERT_INPUT_ERROR(r, "gradc: error: dimension N is 3 in 'X' but 2 in 'y'");
  run_free(&r);
  /* the same sizes agree */
  r = RUN_TEXT(dir, regression, "eval", "t.expr", "X=[[1,2],[3,4]]", "y=[1,2]", "w=[1,1]");
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert_str_eq(r.out, "L = 29\n");
  run_free(&r);
}

Test(dims, mismatch_between_inputs_file_and_command_line) {
  write_at(dir, "in.json", "{\"X\": [[1,2],[3,4],[5,6]], \"w\": [1, 1]}\n");
  Run r = RUN_TEXT(dir, regression, "grad", "t.expr", "--inputs", "in.json", "y=[1,2,3,4]");
  ASSERT_INPUT_ERROR(r, "gradc: error: dimension N is 3 in 'X' but 4 in 'y'");
  run_free(&r);
}

Test(dims, mismatch_between_default_data_files) {
  write_at(dir, "x.csv", "a,b\n1,2\n3,4\n5,6\n");
  write_at(dir, "y.csv", "y\n1\n2\n");
  Run r = RUN_TEXT(dir,
                   "input X[N, 2] = @x.csv:a,b\ninput y[N] = @y.csv:y\nparam w[2] = ones\n"
                   "output L = sum((X @ w - y)^2)\n",
                   "eval", "t.expr");
  ASSERT_INPUT_ERROR(r, "gradc: error: dimension N is 3 in 'X' but 2 in 'y'");
  run_free(&r);
}

Test(dims, mismatch_through_the_api) {
  Gradc *g = gradc_new();
  cr_assert_eq(gradc_compile_string(g, "t.expr", regression, strlen(regression)), GRADC_OK);
  cr_assert_eq(gradc_set_value_text(g, "X", "[[1,2],[3,4],[5,6]]"), GRADC_OK);
  cr_assert_eq(gradc_set_value_text(g, "y", "[1,2]"), GRADC_OK);
  cr_assert_eq(gradc_set_value_text(g, "w", "[1,1]"), GRADC_OK);
  cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_ERR_INPUT);
  cr_assert_eq(gradc_diag_count(g), 1, "%s", gradc_diag_render(g));
  cr_assert_str_eq(gradc_diag_message(g, 0), "dimension N is 3 in 'X' but 2 in 'y'");
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* Symbolic dimensions are compared by name when the program is compiled */
Test(dims, different_names_do_not_broadcast) {
  Run r = RUN_TEXT(dir, "input X[N, 2], Y[M, 2]\noutput s = sum(X + Y)\n", "eval", "t.expr",
                   "X=[[1,2]]", "Y=[[1,2]]");
  ASSERT_INPUT_ERROR(r, "t.expr:2:18: error: '+': cannot broadcast shapes (N, 2) and (M, 2)");
  run_free(&r);
}

/* the operator is named once: "'@': inner dimensions ...", not "'@': '@': ..." */
Test(dims, matrix_product_of_different_dimensions) {
  Run r = RUN_TEXT(dir, "input X[N, 2], Y[M, 2]\noutput s = sum(X @ Y)\n", "eval", "t.expr",
                   "X=[[1,2]]", "Y=[[1,2],[3,4]]");
  ASSERT_INPUT_ERROR(r, "t.expr:2:18: error: '@': inner dimensions differ for (N, 2) and (M, 2)");
  run_free(&r);
}

Test(dims, mismatch_inside_one_tensor_and_a_vector) {
  Run r = RUN_TEXT(dir, "input X[N, M], v[M]\noutput s = sum(X @ v)\n", "eval", "t.expr",
                   "X=[[1,2]]", "v=[1,2,3]");
  ASSERT_INPUT_ERROR(r, "gradc: error: dimension M is 2 in 'X' but 3 in 'v'");
  run_free(&r);
}

/* ---- CSV cells ------------------------------------------------------------- */

TestSuite(csv, .init = setup, .fini = teardown, .timeout = 60);

static void bad_cell(const char *csv, const char *want) {
  write_at(dir, "d.csv", csv);
  Run r = RUN_TEXT(dir, "input X[N, 2]\noutput s = sum(X)\n", "eval", "t.expr", "X=@d.csv");
  ASSERT_INPUT_ERROR(r, want);
  cr_assert_eq(lines(r.err), 1, "%s", r.err);
  run_free(&r);
}

Test(csv, nan_cell) {
  bad_cell("a,b\n1,2\n3,NaN\n5,6\n", "d.csv:3:2: error: the cell 'NaN' in column b is not a number");
}
Test(csv, lowercase_nan_cell) {
  bad_cell("a,b\n1,2\n3,nan\n5,6\n", "d.csv:3:2: error: the cell 'nan' in column b is not a number");
}
Test(csv, empty_cell) {
  bad_cell("a,b\n1,2\n3,\n5,6\n", "d.csv:3:2: error: the cell '' in column b is not a number");
}
Test(csv, empty_cell_without_header) {
  bad_cell("1,2\n,4\n", "d.csv:2:1: error: the cell '' is not a number");
}

Test(csv, nan_cell_in_default_data) {
  write_at(dir, "d.csv", "a,b\n1,2\nNaN,4\n");
  Run r = RUN_TEXT(dir, "input X[N, 2] = @d.csv:a,b\noutput s = sum(X)\n", "eval", "t.expr");
  ASSERT_INPUT_ERROR(r, "d.csv:3:1: error: the cell 'NaN' in column a is not a number");
  cr_assert(strstr(r.err, "t.expr:1:17: error: in the default data of 'X'\n"), "%s", r.err);
  run_free(&r);
}

Test(csv, nan_cell_through_the_api) {
  write_at(dir, "d.csv", "a,b\n1,NaN\n");
  const char *src = "input X[N, 2]\noutput s = sum(X)\n";
  Gradc *g = gradc_new();
  cr_assert_eq(gradc_compile_string(g, "t.expr", src, strlen(src)), GRADC_OK);
  char *val = hfmt("@%s/d.csv", dir);
  cr_assert_eq(gradc_set_value_text(g, "X", val), GRADC_ERR_INPUT);
  cr_assert_str_eq(gradc_diag_message(g, 0), "the cell 'NaN' in column b is not a number");
  free(val);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* ---- files that are not text, empty files ---------------------------------- */

TestSuite(text, .init = setup, .fini = teardown, .timeout = 60);

/* The whole of stderr: one line, no echo of the bytes. */
static void not_text(const char *bytes, size_t len, const char *want) {
  Run r = RUN_BYTES(dir, bytes, len, "eval", "t.expr", "x=1");
  cr_assert_eq(r.status, 1, "%s", r.err);
  char *w = hfmt("%s\n", want);
  cr_assert_str_eq(r.err, w);
  free(w);
  run_free(&r);
}

Test(text, nul_byte) {
  not_text("x + 1\n\0y\n", 9, "t.expr:2:1: error: this is not a text file (byte 0x00 is not UTF-8 text)");
}
Test(text, byte_ff) {
  not_text("x + \xff" "1\n", 7, "t.expr:1:5: error: this is not a text file (byte 0xff is not UTF-8 text)");
}
Test(text, truncated_sequence_at_the_end) {
  not_text("x + \xc3", 5, "t.expr:1:5: error: this is not a text file (byte 0xc3 is not UTF-8 text)");
}
Test(text, lone_continuation_byte) {
  not_text("x + \x80\n", 6, "t.expr:1:5: error: this is not a text file (byte 0x80 is not UTF-8 text)");
}
Test(text, overlong_encoding) {
  not_text("x + \xc0\xaf\n", 7, "t.expr:1:5: error: this is not a text file (byte 0xc0 is not UTF-8 text)");
}
/* RFC 3629: UTF-8 has no surrogates (U+D800..U+DFFF) and nothing past
 * U+10FFFF; these are not text either */
Test(text, encoded_surrogate) {
  not_text("x + \xed\xa0\x80\n", 8, "t.expr:1:5: error: this is not a text file (byte 0xed is not UTF-8 text)");
}
Test(text, past_u10ffff) {
  not_text("x + \xf4\x90\x80\x80\n", 9, "t.expr:1:5: error: this is not a text file (byte 0xf4 is not UTF-8 text)");
}
Test(text, elf_binary) {
  size_t len;
  char *bin = read_all(GRADC_BIN, &len);
  cr_assert_not_null(bin);
  Run r = RUN_BYTES(dir, bin, len, "eval", "t.expr");
  cr_assert_eq(r.status, 1);
  cr_assert_eq(lines(r.err), 1, "%.2000s", r.err);
  cr_assert(strstr(r.err, "t.expr:1:"), "%s", r.err);
  cr_assert(strstr(r.err, "error: this is not a text file (byte 0x"), "%s", r.err);
  run_free(&r);
  free(bin);
}

/* valid UTF-8 in a comment is fine */
Test(text, utf8_comment_is_text) {
  Run r = RUN_TEXT(dir, "x + 1  # caf\xc3\xa9, \xe2\x88\x82" "f/\xe2\x88\x82" "x\n", "eval", "t.expr", "x=1");
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert_str_eq(r.out, "f = 2\n");
  run_free(&r);
}

Test(text, empty_file) {
  Run r = RUN_BYTES(dir, "", 0, "eval", "t.expr");
  ASSERT_INPUT_ERROR(r, "t.expr:1:1: error: the file is empty: nothing to compute");
  run_free(&r);
}

Test(text, only_comments) {
  Run r = RUN_TEXT(dir, "# a comment\n# another\n\n", "grad", "t.expr");
  ASSERT_INPUT_ERROR(r, "t.expr:1:1: error: the file is empty: nothing to compute");
  run_free(&r);
}

Test(text, comment_without_final_newline) {
  Run r = RUN_TEXT(dir, "# nothing else", "emit", "t.expr");
  ASSERT_INPUT_ERROR(r, "t.expr:1:1: error: the file is empty: nothing to compute");
  run_free(&r);
}

Test(text, only_blank_lines_and_semicolons) {
  Run r = RUN_TEXT(dir, "\n  \t\n;;\n", "eval", "t.expr");
  ASSERT_INPUT_ERROR(r, "t.expr:1:1: error: the file is empty: nothing to compute");
  run_free(&r);
}

Test(text, empty_through_the_api) {
  Gradc *g = gradc_new();
  cr_assert_eq(gradc_compile_string(g, "e.expr", "", 0), GRADC_ERR_INPUT);
  cr_assert_eq(gradc_diag_count(g), 1);
  cr_assert_str_eq(gradc_diag_message(g, 0), "the file is empty: nothing to compute");
  gradc_free(g);
  ASSERT_NO_LEAKS();
}
