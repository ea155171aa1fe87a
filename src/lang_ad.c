/* lang_ad.c: grad(E, x) and jvp(E, x, v) inside the language (SPEC 1.8).
 *
 * Each is a DAG transform applied where the call is lowered: a reverse
 * sweep seeded at E (ad_reverse) or a forward sweep with x's tangent v
 * (ad_forward), over the DAG as it stands, whose result is an ordinary
 * node. So a derivative is folded, hash-consed and shared with the primal
 * code, keeps the rules of derivative code (strong zeros, the stable
 * forms, SPEC 1.6), and can be differentiated again, by a later grad() or
 * jvp() or by any command: jvp(grad(E, x), x, v) is a Hessian-vector
 * product, forward over reverse (Pearlmutter, "Fast exact multiplication
 * by the Hessian", Neural Computation 6(1), 1994), at a small multiple of
 * E's cost. Symbolic differentiation on the graph has no perturbation
 * confusion (Siskind and Pearlmutter, 2005): the inner derivative is an
 * expression before the outer one sees it. */
#include <stdlib.h>

#include "ir.h"

/* A zero tensor of shape s. */
static NodeId zeros(Dag *g, ShapeId s) {
  return dag_bcast(g, dag_const(g, 0), s);
}

NodeId lang_grad(Dag *g, NodeId e, NodeId x) {
  if (e == NO_NODE || x == NO_NODE || g->oom)
    return NO_NODE;
  uint32_t n;
  NodeId *adj = ad_reverse(g, e, NO_NODE, &n);
  if (!adj) {
    g->oom = 1;
    return NO_NODE;
  }
  NodeId r = x < n ? adj[x] : NO_NODE;
  free(adj);
  return r == NO_NODE ? zeros(g, dag_shape(g, x)) : r;
}

NodeId lang_jvp(Dag *g, NodeId e, NodeId x, NodeId v) {
  if (e == NO_NODE || x == NO_NODE || v == NO_NODE || g->oom)
    return NO_NODE;
  int k = (int)g->nodes[x].v.idx; /* x is a variable: its index */
  NodeId *tangent = malloc(((size_t)k + 1) * sizeof *tangent);
  if (!tangent) {
    g->oom = 1;
    return NO_NODE;
  }
  for (int i = 0; i < k; i++)
    tangent[i] = NO_NODE;
  tangent[k] = v;
  uint32_t n;
  NodeId *tan = ad_forward(g, tangent, k + 1, &e, 1, &n);
  free(tangent);
  if (!tan) {
    g->oom = 1;
    return NO_NODE;
  }
  NodeId r = e < n ? tan[e] : NO_NODE;
  free(tan);
  return r == NO_NODE ? zeros(g, dag_shape(g, e)) : r;
}
