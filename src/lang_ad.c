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
 * E's cost. Both walk only the cone of E (the nodes E depends on), not the
 * whole DAG, so a program of many grad() calls costs linear time, not
 * quadratic. Symbolic differentiation on the graph has no perturbation
 * confusion (Siskind and Pearlmutter, 2005): the inner derivative is an
 * expression before the outer one sees it. */
#include <stdlib.h>

#include "ir.h"

/* A zero tensor of shape s. */
static NodeId zeros(Dag *g, ShapeId s) {
  return dag_bcast(g, dag_const(g, 0), s);
}

/* Node id -> node id, open addressing; memory O(cone), not O(DAG). */
typedef struct {
  uint32_t *key; /* 1 + id, 0 empty */
  NodeId *val;
  uint32_t cap, count; /* cap a power of two */
} NodeMap;

static uint32_t slot(const NodeMap *m, NodeId k) {
  uint32_t h = (uint32_t)(k * 2654435761u) & (m->cap - 1);
  while (m->key[h] && m->key[h] != k + 1)
    h = (h + 1) & (m->cap - 1);
  return h;
}

static NodeId map_get(const NodeMap *m, NodeId k) {
  if (!m->cap)
    return NO_NODE;
  uint32_t h = slot(m, k);
  return m->key[h] ? m->val[h] : NO_NODE;
}

static int map_has(const NodeMap *m, NodeId k) { return m->cap && m->key[slot(m, k)] != 0; }

/* 0, or -1 out of memory */
static int map_put(NodeMap *m, NodeId k, NodeId v) {
  if (2 * (m->count + 1) > m->cap) {
    NodeMap b = {calloc(m->cap ? 2 * m->cap : 64, sizeof *b.key),
                 malloc((m->cap ? 2 * m->cap : 64) * sizeof *b.val), m->cap ? 2 * m->cap : 64, 0};
    if (!b.key || !b.val) {
      free(b.key);
      free(b.val);
      return -1;
    }
    for (uint32_t i = 0; i < m->cap; i++)
      if (m->key[i]) {
        uint32_t h = slot(&b, m->key[i] - 1);
        b.key[h] = m->key[i];
        b.val[h] = m->val[i];
        b.count++;
      }
    free(m->key);
    free(m->val);
    *m = b;
  }
  uint32_t h = slot(m, k);
  if (!m->key[h]) {
    m->key[h] = k + 1;
    m->count++;
  }
  m->val[h] = v;
  return 0;
}

static void map_free(NodeMap *m) {
  free(m->key);
  free(m->val);
}

static int by_id(const void *a, const void *b) {
  NodeId x = *(const NodeId *)a, y = *(const NodeId *)b;
  return (x > y) - (x < y);
}

/* The nodes root depends on through differentiable operators (the nodes
 * a derivative of root can involve), ascending by id (a topological order:
 * a node's arguments come before it); malloc'd, *count of them; NULL out
 * of memory. Iterative depth-first walk. */
static NodeId *cone(const Dag *g, NodeId root, uint32_t *count) {
  NodeMap seen = {0};
  uint32_t n = 0, cap = 64, sp = 0, scap = 64;
  NodeId *out = malloc(cap * sizeof *out), *stack = malloc(scap * sizeof *stack);
  if (!out || !stack || map_put(&seen, root, 0) < 0)
    goto oom;
  stack[sp++] = root;
  while (sp) {
    NodeId v = stack[--sp];
    if (n == cap) {
      NodeId *o = realloc(out, 2 * cap * sizeof *o);
      if (!o)
        goto oom;
      out = o, cap *= 2;
    }
    out[n++] = v;
    const Node *nd = &g->nodes[v];
    if (nd->op != OP_MAXR && !ad_differentiable((OpKind)nd->op))
      continue; /* no derivative flows through it */
    for (int k = 0; k < nd->nargs; k++) {
      NodeId a = nd->arg[k];
      if (map_has(&seen, a))
        continue;
      if (map_put(&seen, a, 0) < 0)
        goto oom;
      if (sp == scap) {
        NodeId *s = realloc(stack, 2 * scap * sizeof *s);
        if (!s)
          goto oom;
        stack = s, scap *= 2;
      }
      stack[sp++] = a;
    }
  }
  map_free(&seen);
  free(stack);
  qsort(out, n, sizeof *out, by_id);
  *count = n;
  return out;
oom:
  map_free(&seen);
  free(stack);
  free(out);
  return NULL;
}

/* The reverse sweep of ad_reverse (the same terms, accumulated in the same
 * order), over E's cone only and only through nodes that depend on x. */
NodeId lang_grad(Dag *g, NodeId e, NodeId x) {
  if (e == NO_NODE || x == NO_NODE || g->oom)
    return NO_NODE;
  uint32_t n = 0;
  NodeId *c = cone(g, e, &n);
  NodeMap active = {0}, adj = {0};
  NodeId r = NO_NODE;
  if (!c)
    goto oom;
  for (uint32_t j = 0; j < n; j++) { /* active: depends on x */
    const Node *nd = &g->nodes[c[j]];
    int act = c[j] == x;
    if (!act && nd->op != OP_VAR && ad_differentiable((OpKind)nd->op))
      for (int k = 0; k < nd->nargs && !act; k++)
        act = map_has(&active, nd->arg[k]);
    if (act && map_put(&active, c[j], 1) < 0)
      goto oom;
  }
  if (map_has(&active, e) &&
      map_put(&adj, e, dag_bcast(g, dag_const(g, 1), g->nodes[e].shape)) < 0)
    goto oom;
  for (uint32_t j = n; j-- > 0;) {
    NodeId i = c[j], ai = map_get(&adj, i);
    if (ai == NO_NODE)
      continue;
    const Node nd = g->nodes[i];
    if (nd.op == OP_VAR || !ad_differentiable((OpKind)nd.op))
      continue;
    for (int k = 0; k < nd.nargs; k++) {
      NodeId a = nd.arg[k];
      if (!map_has(&active, a))
        continue;
      if (map_put(&adj, a, ad_accumulate(g, map_get(&adj, a), ad_term(g, i, k, ai, 1))) < 0)
        goto oom;
    }
  }
  r = map_get(&adj, x);
  free(c);
  map_free(&active);
  map_free(&adj);
  if (g->oom)
    return NO_NODE;
  return r == NO_NODE ? zeros(g, dag_shape(g, x)) : r;
oom:
  free(c);
  map_free(&active);
  map_free(&adj);
  g->oom = 1;
  return NO_NODE;
}

/* The forward sweep of ad_forward with x's tangent v, over E's cone only. */
NodeId lang_jvp(Dag *g, NodeId e, NodeId x, NodeId v) {
  if (e == NO_NODE || x == NO_NODE || v == NO_NODE || g->oom)
    return NO_NODE;
  int k = (int)g->nodes[x].v.idx; /* x is a variable: its index */
  uint32_t n = 0;
  NodeId *c = cone(g, e, &n);
  NodeMap tan = {0};
  if (!c)
    goto oom;
  for (uint32_t j = 0; j < n; j++) {
    NodeId i = c[j], t;
    const Node *nd = &g->nodes[i];
    if (nd->op == OP_VAR) {
      t = nd->v.idx == (uint32_t)k && !(dag_is_const(g, v) && dag_num(g, v) == 0) ? v : NO_NODE;
    } else {
      NodeId targ[3] = {NO_NODE, NO_NODE, NO_NODE};
      int any = 0;
      for (int a = 0; a < nd->nargs; a++)
        any |= (targ[a] = map_get(&tan, nd->arg[a])) != NO_NODE;
      t = any ? ad_forward_node(g, i, targ) : NO_NODE;
    }
    if (t != NO_NODE && map_put(&tan, i, t) < 0)
      goto oom;
  }
  NodeId r = map_get(&tan, e);
  free(c);
  map_free(&tan);
  if (g->oom)
    return NO_NODE;
  return r == NO_NODE ? zeros(g, dag_shape(g, e)) : r;
oom:
  free(c);
  map_free(&tan);
  g->oom = 1;
  return NO_NODE;
}
