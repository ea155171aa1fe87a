/* test_pipeline.c: parsing on one thread while another lowers (pipeline.c)
 * gives the program that parsing then lowering gives: the same DAG node by
 * node, the same variables and outputs, the same diagnostics, whether the
 * stream takes the whole program or stops and hands it back. */
#define TEST_UTIL_RANDOM
#include "test_util.h"

#include "../../src/api.h"
#include "../../src/ir.h"

/* Compiles text with the pipeline forced off or on; *streamed: whether the
 * stream lowered it. */
static Gradc *compile_way(const char *text, int pipelined, GradcStatus *st, int *streamed) {
  pipeline_min_bytes = pipelined ? 0 : SIZE_MAX;
  unsigned long before = pipeline_streamed;
  Gradc *g = gradc_new();
  cr_assert_not_null(g);
  *st = gradc_compile_string(g, "t.expr", text, strlen(text));
  *streamed = pipeline_streamed != before;
  pipeline_min_bytes = (size_t)1 << 20;
  return g;
}

static void same_program(const Gradc *a, const Gradc *b, const char *text) {
  cr_assert_eq(gradc_diag_count(a), gradc_diag_count(b), "diagnostics %d vs %d for:\n%s",
               gradc_diag_count(a), gradc_diag_count(b), text);
  for (int i = 0; i < gradc_diag_count(a); i++) {
    cr_assert_str_eq(gradc_diag_message(a, i), gradc_diag_message(b, i), "for:\n%s", text);
    cr_assert_eq(gradc_diag_line(a, i), gradc_diag_line(b, i));
    cr_assert_eq(gradc_diag_col(a, i), gradc_diag_col(b, i));
  }
  const Program *p = &a->prog, *q = &b->prog;
  cr_assert_eq(!p->dag, !q->dag);
  if (p->dag) {
    cr_assert_eq(p->dag->count, q->dag->count, "nodes %u vs %u for:\n%s", p->dag->count, q->dag->count,
                 text);
    for (uint32_t i = 0; i < p->dag->count; i++) {
      const Node *x = &p->dag->nodes[i], *y = &q->dag->nodes[i];
      cr_assert(x->op == y->op && x->nargs == y->nargs && x->flags == y->flags && x->shape == y->shape &&
                    !memcmp(x->arg, y->arg, sizeof x->arg) && !memcmp(&x->v, &y->v, sizeof x->v),
                "node %u differs for:\n%s", i, text);
    }
  }
  cr_assert_eq(p->declared, q->declared);
  cr_assert_eq(p->nvars, q->nvars);
  for (int i = 0; i < p->nvars; i++) {
    cr_assert_str_eq(p->vars[i].name, q->vars[i].name);
    cr_assert_eq(p->vars[i].node, q->vars[i].node);
  }
  cr_assert_eq(p->nouts, q->nouts);
  for (int i = 0; i < p->nouts; i++) {
    cr_assert_str_eq(p->outs[i].name, q->outs[i].name);
    cr_assert_eq(p->outs[i].node, q->outs[i].node);
  }
  cr_assert_eq(p->ndefs, q->ndefs);
  for (int i = 0; i < p->ndefs; i++)
    cr_assert_str_eq(p->defs[i].name, q->defs[i].name);
}

/* Both ways; returns whether the stream lowered it. */
static int both_ways(const char *text, GradcStatus want) {
  GradcStatus sa, sb;
  int streamed_a, streamed_b;
  Gradc *a = compile_way(text, 0, &sa, &streamed_a);
  Gradc *b = compile_way(text, 1, &sb, &streamed_b);
  cr_assert_not(streamed_a);
  cr_assert_eq(sa, want, "status %d, want %d, for:\n%s\n%s", sa, want, text, gradc_diag_render(a));
  cr_assert_eq(sb, sa, "pipelined status %d vs %d for:\n%s", sb, sa, text);
  same_program(a, b, text);
  if (sa == GRADC_OK) { /* and the same values and gradients, to the bit */
    GradcFn *fa = gradc_fn_grad(a, NULL, 0), *fb = gradc_fn_grad(b, NULL, 0);
    cr_assert(fa && fb);
    cr_assert_eq(gradc_set_defaults(a, 1, 1), GRADC_OK);
    cr_assert_eq(gradc_set_defaults(b, 1, 1), GRADC_OK);
    cr_assert_eq(gradc_run(fa, NULL), GRADC_OK);
    cr_assert_eq(gradc_run(fb, NULL), GRADC_OK);
    cr_assert_eq(gradc_fn_res_count(fa), gradc_fn_res_count(fb));
    for (int r = 0; r < gradc_fn_res_count(fa); r++) {
      long da[8], db[8];
      int rank = gradc_fn_res_shape(fa, r, da);
      cr_assert_eq(rank, gradc_fn_res_shape(fb, r, db));
      long n = 1;
      for (int k = 0; k < rank; k++)
        n *= da[k];
      cr_assert(!memcmp(gradc_fn_res_data(fa, r), gradc_fn_res_data(fb, r), (size_t)n * sizeof(double)),
                "result %d differs for:\n%s", r, text);
    }
  }
  gradc_free(a);
  gradc_free(b);
  return streamed_b;
}

Test(pipeline, a_program_that_declares_first_is_lowered_by_the_stream) {
  cr_assert(both_ways("param a = 1, b = 2\nt = a*b + sin(a)\nu = t*t - b\noutput f = u + t\n", GRADC_OK));
  cr_assert(both_ways("param a = 0.5; input x[3] = [1, 2, 3]\ns = sum(x*a)\ns^2\n", GRADC_OK));
  cr_assert(both_ways("# a comment\nparam w = 2\n\nt = w*\n  3\nt + 1\n", GRADC_OK)); /* continuation */
  cr_assert(both_ways("param a = 3\nt = a^2\n", GRADC_OK)); /* the last definition is the output */
  ASSERT_NO_LEAKS();
}

Test(pipeline, what_the_stream_does_not_take_is_lowered_whole_with_the_same_result) {
  /* each stops the stream; the result is lower_program's */
  static const char *const ok[] = {
      "t = a*b\nparam a = 1, b = 2\nf = t + a\n",         /* a declaration after a definition */
      "param a = 1\nt = a\nparam b = 2\nf = t*b\n",         /* ... after definitions */
      "param a = 1\nsq(x) = x*x\nf = sq(a) + 1\n",          /* a function */
      "t = a*b + 1\nt^2\n",                                  /* free names, no declaration */
  };
  for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
    cr_assert_not(both_ways(ok[i], GRADC_OK), "streamed: %s", ok[i]);
  static const char *const bad[] = {
      "param a = 1\nt = u + a\nu = a*2\nf = t\n",           /* used before it is defined */
      "param a = 1\nt = b + a\n",                            /* undeclared */
      "param a = 1\nt = a\nt = 2*a\n",                       /* defined twice */
      "param a = 1, a = 2\nf = a\n",                         /* declared twice */
      "param a = 1\na = 3\n",                                /* a variable redefined */
      "param a = 1\nsin = a\n",                              /* a built-in as a name */
      "param a = 1\na + 1\na + 2\n",                         /* a second bare expression */
      "param a = 1\nt = a + \n",                             /* a syntax error at the end */
      "param a = 1\nt = a +* 2\nu = ) \nf = t\n",            /* syntax errors */
      "param x[3] = [1, 2, 3]\nt = x[5]\n",                  /* an index out of range */
      "param a = 1\nt = log(a, a, a)\n",                     /* a call of the wrong arity */
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    cr_assert_not(both_ways(bad[i], GRADC_ERR_INPUT), "streamed: %s", bad[i]);
  /* a stream that ends without an output: its end says so, as lower_program */
  cr_assert(both_ways("param a = 1, b = 2\n", GRADC_ERR_INPUT));
  cr_assert(both_ways("param a = 1\nsq(x) = x*x\n", GRADC_ERR_INPUT) == 0);
  ASSERT_NO_LEAKS();
}

/* Long programs, so the threads really overlap (the consumer waits and is
 * woken many times), with the stream's stopping points anywhere. */
Test(pipeline, long_generated_programs_give_the_same_dag) {
  for (int round = 0; round < 6; round++) {
    Str s = {0};
    put(&s, "param");
    for (int i = 0; i < 20; i++)
      put(&s, "%s a%d = %g", i ? "," : "", i, uniform(-1, 1));
    put(&s, "\n");
    int n = 3000 + pick(3000), stop = round >= 2 ? pick(n) : -1;
    for (int k = 0; k < n; k++) {
      if (k == stop) { /* rounds 2..5: something that stops the stream, or an error */
        static const char *const spoil[] = {"param late = 1\n", "sq(x) = x*x\n", "t%d = zz + 1\n",
                                            "t%d = 1 +* 2\n"};
        put(&s, spoil[round - 2], k);
        if (round >= 4)
          continue;
      }
      int i = pick(20), j = k ? pick(k) : 0;
      switch (pick(4)) {
      case 0: put(&s, "t%d = tanh(a%d + %s)\n", k, i, k ? "t0" : "a0"); break;
      case 1: put(&s, "t%d = 0.5*a%d", k, i); if (k) put(&s, " + t%d*a%d", j, i); put(&s, "\n"); break;
      case 2: put(&s, "t%d = sin(a%d) * %s%d\n", k, i, k ? "t" : "a", k ? j : 1); break;
      default: put(&s, "t%d = a%d * a%d\n", k, i, (i + 1) % 20); break;
      }
    }
    put(&s, "output f = t%d + t%d\n", n - 1, n / 2);
    int streamed = both_ways(s.s, round >= 4 ? GRADC_ERR_INPUT : GRADC_OK);
    cr_assert_eq(streamed, round < 2, "round %d: streamed %d", round, streamed);
    free(s.s);
  }
  ASSERT_NO_LEAKS();
}
