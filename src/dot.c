/* dot.c: the DAG as Graphviz text (gradc dot, the REPL's :dot), issue 17.
 *
 * Every kind of node is drawn its own way, and a legend says which is
 * which: params (filled boxes), inputs (dashed boxes), constants (plain
 * text), operations (ellipses), the outputs (double octagons). With the
 * gradient (`grad`), the nodes that reverse mode adds are filled red and
 * each derivative of a scalar output with respect to a param is a node of
 * its own, labelled as the CLI prints it (dL/dw), with an edge from the
 * node that computes it; a derivative that is 0 (the output does not use
 * the param) is labelled "dL/dw = 0". Tensors show their shape: W [3, 16].
 * The graph is walked in id order (a topological order), so no
 * recursion. */
#include <stdlib.h>
#include <string.h>

#include "api.h"

#define COLOUR_PARAM "#cfe2ff"
#define COLOUR_INPUT "#eeeeee"
#define COLOUR_ADJOINT "#ffe0e0"
#define COLOUR_DERIVATIVE "#ff9c9c"
#define COLOUR_OUTPUT "#d8f0d0"

/* "W [3, 16]" for a tensor variable, "w" for a scalar. */
static void put_var(Buf *b, const Dag *d, const Var *v) {
  buf_puts(b, v->name);
  const Shape *s = shape_get(d, v->shape);
  if (s->rank == 0)
    return;
  buf_puts(b, " [");
  for (int k = 0; k < s->rank; k++) {
    char dn[128];
    dim_format(d, s->dim[k], dn, sizeof dn);
    buf_printf(b, "%s%s", k ? ", " : "", dn);
  }
  buf_puts(b, "]");
}

static void legend(Buf *b, int grad) {
  buf_puts(b, "  subgraph cluster_legend {\n    label=\"legend\";\n    fontname=\"Helvetica\";\n"
              "    color=\"#999999\";\n");
  buf_puts(b, "    legend_param [label=\"param\", shape=box, style=filled, fillcolor=\"" COLOUR_PARAM "\"];\n");
  buf_puts(b, "    legend_input [label=\"input\", shape=box, style=\"dashed,filled\", fillcolor=\"" COLOUR_INPUT
              "\"];\n");
  buf_puts(b, "    legend_const [label=\"constant\", shape=plaintext];\n");
  buf_puts(b, "    legend_op [label=\"operation\"];\n");
  buf_puts(b, "    legend_output [label=\"output\", shape=doubleoctagon, style=filled, fillcolor=\"" COLOUR_OUTPUT
              "\"];\n");
  if (grad) {
    buf_puts(b, "    legend_adjoint [label=\"operation of the gradient\", style=filled, fillcolor=\"" COLOUR_ADJOINT
                "\"];\n");
    buf_puts(b, "    legend_derivative [label=\"derivative dL/dw\", shape=doubleoctagon, style=filled, fillcolor=\""
                COLOUR_DERIVATIVE "\"];\n");
  }
  buf_puts(b, "    legend_param -> legend_input -> legend_const -> legend_op -> legend_output");
  buf_puts(b, grad ? " -> legend_adjoint -> legend_derivative [style=invis];\n" : " [style=invis];\n");
  buf_puts(b, "  }\n");
}

GradcStatus gradc_dot(Gradc *g, int grad, char **text) {
  *text = NULL;
  Program *prog = &g->prog;
  if (!prog->dag || prog->nouts == 0) {
    gradc_error(g, GRADC_ERR_USAGE, "no program has been compiled");
    return GRADC_ERR_USAGE;
  }
  Dag *d = prog->dag;
  uint32_t nprimal = d->count;
  size_t nder = grad ? (size_t)prog->nouts * (size_t)prog->nvars : 0;
  /* der[o * nvars + v]: the node of dL_o/dv (NO_NODE: 0); only for scalar
   * outputs and params */
  NodeId *der = malloc((nder + 1) * sizeof *der);
  if (!der)
    return GRADC_ERR_NOMEM;
  for (size_t k = 0; k < nder; k++)
    der[k] = NO_NODE;
  for (int o = 0; grad && o < prog->nouts; o++) {
    if (dag_shape(d, prog->outs[o].node) != SHAPE_SCALAR)
      continue;
    uint32_t n;
    NodeId *adj = ad_reverse(d, prog->outs[o].node, NO_NODE, &n);
    if (!adj) {
      free(der);
      return GRADC_ERR_NOMEM;
    }
    for (int v = 0; v < prog->nvars; v++)
      if (prog->vars[v].kind == VAR_PARAM)
        der[(size_t)o * (size_t)prog->nvars + (size_t)v] = adj[prog->vars[v].node];
    free(adj);
  }
  uint8_t *live = calloc(d->count ? d->count : 1, 1);
  if (!live) {
    free(der);
    return GRADC_ERR_NOMEM;
  }
  for (int o = 0; o < prog->nouts; o++)
    live[prog->outs[o].node] = 1;
  for (size_t k = 0; k < nder; k++)
    if (der[k] != NO_NODE)
      live[der[k]] = 1;
  for (uint32_t i = d->count; i-- > 0;)
    if (live[i])
      for (int k = 0; k < d->nodes[i].nargs; k++)
        live[d->nodes[i].arg[k]] = 1;
  Buf b = {0};
  buf_puts(&b, "digraph gradc {\n  rankdir=BT;\n  node [fontname=\"Helvetica\"];\n");
  for (uint32_t i = 0; i < d->count; i++) {
    if (!live[i])
      continue;
    const Node *nd = &d->nodes[i];
    buf_printf(&b, "  n%u [label=\"", i);
    const Var *v = nd->op == OP_VAR && nd->v.idx < prog->nvars ? &prog->vars[nd->v.idx] : NULL;
    if (nd->op == OP_CONST) {
      buf_printf(&b, "%.10g\", shape=plaintext", nd->v.num);
    } else if (v) {
      put_var(&b, d, v);
      buf_puts(&b, v->kind == VAR_PARAM ? "\", shape=box, style=filled, fillcolor=\"" COLOUR_PARAM "\""
                                        : "\", shape=box, style=\"dashed,filled\", fillcolor=\"" COLOUR_INPUT "\"");
    } else {
      buf_printf(&b, "%s\"", nd->op == OP_NEG ? "neg" : op_info[nd->op].spell);
    }
    if (i >= nprimal && nd->op != OP_CONST)
      buf_puts(&b, ", style=filled, fillcolor=\"" COLOUR_ADJOINT "\"");
    buf_puts(&b, "];\n");
    for (int k = 0; k < nd->nargs; k++)
      buf_printf(&b, "  n%u -> n%u;\n", nd->arg[k], i);
  }
  for (int o = 0; o < prog->nouts; o++)
    buf_printf(&b,
               "  out%d [label=\"%s\", shape=doubleoctagon, style=filled, fillcolor=\"" COLOUR_OUTPUT
               "\"];\n  n%u -> out%d;\n",
               o, prog->outs[o].name, prog->outs[o].node, o);
  for (int o = 0; grad && o < prog->nouts; o++)
    for (int v = 0; v < prog->nvars; v++) {
      if (dag_shape(d, prog->outs[o].node) != SHAPE_SCALAR || prog->vars[v].kind != VAR_PARAM)
        continue;
      NodeId x = der[(size_t)o * (size_t)prog->nvars + (size_t)v];
      buf_printf(&b,
                 "  d%d_%d [label=\"d%s/d%s%s\", shape=doubleoctagon, style=filled, fillcolor=\"" COLOUR_DERIVATIVE
                 "\"];\n",
                 o, v, prog->outs[o].name, prog->vars[v].name, x == NO_NODE ? " = 0" : "");
      if (x != NO_NODE)
        buf_printf(&b, "  n%u -> d%d_%d;\n", x, o, v);
    }
  legend(&b, grad);
  buf_puts(&b, "}\n");
  free(live);
  free(der);
  if (b.oom) {
    buf_free(&b);
    gradc_error(g, GRADC_ERR_NOMEM, "out of memory");
    return GRADC_ERR_NOMEM;
  }
  *text = b.data;
  return GRADC_OK;
}
