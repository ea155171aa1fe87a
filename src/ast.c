/* ast.c: the small constructors that parser actions call. The AST lives in
 * the parse arena and is thrown away once lower.c has built the DAG; the
 * names it interns live on (Parse.names). */
#include <stdlib.h>
#include <string.h>

#include "ir.h"

/* A name's hash, and so its place in the table. Long programs name their
 * values t1, t2, t3 ... and mostly use the last few: names that differ
 * only in the last three bits of a trailing number share a group of eight
 * slots (two cache lines), so defining t1001 and reading t1000 or t999
 * touches memory that is already in cache, where a hash of the whole text
 * would miss twice per name in a table of millions (the slot, then the
 * Sym). The groups themselves are spread by FNV-1a and murmur3's
 * finaliser over the stem and the rest of the number. */
static uint32_t name_hash(const char *text, size_t len) {
  size_t stem = len;
  while (stem > 0 && text[stem - 1] >= '0' && text[stem - 1] <= '9' && len - stem < 9)
    stem--;
  uint32_t h = 2166136261u, n = 0;
  for (size_t i = 0; i < stem; i++)
    h = (h ^ (unsigned char)text[i]) * 16777619u;
  for (size_t i = stem; i < len; i++)
    n = n * 10 + (uint32_t)(text[i] - '0');
  h ^= (n >> 3) * 0x9e3779b9u;
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return (h & ~7u) | (n & 7u);
}

const char *ast_intern(Parse *p, const char *text, size_t len) {
  uint32_t h = name_hash(text, len);
  SymSlot *r = &p->recent[h & 255]; /* in cache, unlike the big table */
  if (r->sym && r->hash == h && r->sym->len == len && !memcmp(r->sym->name, text, len))
    return r->sym->name;
  if ((p->nsym + 1) * 2 > p->capsym) {
    /* sized from the source at first (a slot per 16 bytes of source),
     * so a large file is not rehashed as it grows */
    uint32_t cap = p->capsym ? p->capsym * 2 : 256;
    while (!p->capsym && p->src && cap < p->src->len / 16 && cap < (1u << 30))
      cap *= 2;
    SymSlot *tab = big_alloc((size_t)cap * sizeof *tab);
    if (!tab)
      return NULL;
    for (uint32_t i = 0; i < p->capsym; i++)
      if (p->syms[i].sym) {
        uint32_t j = p->syms[i].hash & (cap - 1);
        while (tab[j].sym)
          j = (j + 1) & (cap - 1);
        tab[j] = p->syms[i];
      }
    big_free(p->syms);
    p->syms = tab;
    p->capsym = cap;
  }
  uint32_t i = h & (p->capsym - 1);
  for (Sym *s; (s = p->syms[i].sym); i = (i + 1) & (p->capsym - 1))
    if (p->syms[i].hash == h && s->len == len && !memcmp(s->name, text, len)) {
      *r = p->syms[i];
      return s->name;
    }
  Sym *s = arena_alloc(p->names ? p->names : p->arena, sizeof *s + len + 1);
  if (!s)
    return NULL;
  s->len = (uint32_t)len;
  memcpy(s->name, text, len);
  s->name[len] = 0;
  p->syms[i] = *r = (SymSlot){s, h};
  p->nsym++;
  return s->name;
}

void parse_done(Parse *p) {
  big_free(p->syms);
  p->syms = NULL;
  p->nsym = p->capsym = 0;
  arena_free(&p->stmts);
  p->first = p->last = NULL;
}

Ast *ast_new(Parse *p, AstKind kind, Span span, int nkids) {
  Ast *a = arena_alloc(p->arena, sizeof *a);
  if (!a)
    return NULL;
  a->kind = (uint8_t)kind;
  a->span = span;
  a->nkids = nkids;
  if (nkids > 0)
    a->kids = arena_alloc(p->arena, (size_t)nkids * sizeof *a->kids);
  return a;
}

Ast *ast_num(Parse *p, Span span, const char *text, size_t len) {
  Ast *a = ast_new(p, AST_NUM, span, 0);
  if (a) {
    char small[64];
    char *s = len < sizeof small ? small : malloc(len + 1);
    if (s) {
      memcpy(s, text, len);
      s[len] = 0;
      a->num = strtod(s, NULL);
      if (s != small)
        free(s);
    }
  }
  return a;
}

Ast *ast_name(Parse *p, Span span, const char *text, size_t len) {
  Ast *a = ast_new(p, AST_NAME, span, 0);
  if (a)
    a->name = ast_intern(p, text, len);
  return a;
}

Ast *ast_unary(Parse *p, Span span, int op, Ast *x) {
  Ast *a = ast_new(p, AST_UNARY, span, 1);
  if (a) {
    a->op = (uint8_t)op;
    a->kids[0] = x;
  }
  return a;
}

Ast *ast_binary(Parse *p, Span span, int op, Ast *x, Ast *y) {
  Ast *a = ast_new(p, AST_BINARY, span, 2);
  if (a) {
    a->op = (uint8_t)op;
    a->kids[0] = x;
    a->kids[1] = y;
  }
  return a;
}

/* Append to a list node; capacity doubles (powers of two). */
Ast *ast_list_add(Parse *p, Ast *list, Ast *item) {
  if (!list)
    return NULL;
  int n = list->nkids;
  if ((n & (n - 1)) == 0) { /* n is 0 or a power of two: full */
    int cap = n ? 2 * n : 1;
    Ast **kids = arena_alloc(p->arena, (size_t)cap * sizeof *kids);
    if (!kids)
      return list;
    if (n)
      memcpy(kids, list->kids, (size_t)n * sizeof *kids);
    list->kids = kids;
  }
  list->kids[list->nkids++] = item;
  return list;
}

Stmt *ast_stmt(Parse *p, StmtKind kind, Span span, const char *name,
               Ast *dims, Ast *value) {
  Stmt *s = arena_alloc(&p->stmts, sizeof *s);
  if (!s)
    return NULL;
  s->kind = kind;
  s->span = span;
  s->name = name;
  s->dims = dims;
  s->value = value;
  if (p->last)
    p->last->next = s;
  else
    p->first = s;
  p->last = s;
  if (p->pipe && !p->errors && !p->fatal) /* complete: its AST is not touched again */
    pipeline_publish(p->pipe, s);
  return s;
}
