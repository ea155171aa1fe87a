/* jit_units.c: a huge kernel compiled by libtcc one translation unit at a
 * time (ir.h, "jit_units.c").
 *
 * libtcc compiles a whole source into sections that it grows by doubling
 * and zero-fills (a 190 MB function takes 256 MB of section and more), then
 * copies them into the memory the code runs in, and keeps both until the
 * state is deleted; it also copies the source text first. For a program of
 * 10^6 definitions that was 600 MB on top of gradc's own. Here emit_c hands
 * over the parts of the split function (EmitOpts.unit) as soon as a unit of
 * them is written; each is compiled in a state of its own (jit.c,
 * jit_tcc_unit), relocated straight into code memory kept here, and the
 * state is deleted at once. What stays is the machine code, in mappings of
 * REGION bytes, and the parts' addresses, which the calling function's
 * unit links to (jit_compile_units). */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ir.h"

#define REGION ((size_t)32 << 20)

typedef struct CodeMap {
  unsigned char *p;
  size_t size, used;
} CodeMap;

typedef struct CodeSym {
  const char *name;   /* in names */
  const void *addr;
} CodeSym;

struct JitCode {
  Diags *diags;
  int failed;         /* libtcc rejected a unit (diags says why) */
  int oom;
  CodeMap *maps;
  int nmaps, capmaps;
  CodeSym *syms;
  size_t nsyms, capsyms;
  Arena names;
  const unsigned char *lo, *hi; /* the unit being placed */
};

JitCode *jit_code_new(Diags *diags) {
  JitCode *c = calloc(1, sizeof *c);
  if (c)
    c->diags = diags;
  return c;
}

/* Memory for a unit of `size` bytes of code and data (libtcc marks its
 * pages executable when it relocates into it). */
static void *place(void *ctx, size_t size) {
  JitCode *c = ctx;
  size = (size + 63) & ~(size_t)63;
  CodeMap *m = c->nmaps ? &c->maps[c->nmaps - 1] : NULL;
  if (!m || m->size - m->used < size) {
    if (c->nmaps == c->capmaps) {
      int cap = c->capmaps ? 2 * c->capmaps : 8;
      CodeMap *maps = realloc(c->maps, (size_t)cap * sizeof *maps);
      if (!maps)
        return NULL;
      c->maps = maps;
      c->capmaps = cap;
    }
    size_t n = size > REGION ? (size + 4095) & ~(size_t)4095 : REGION;
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
      return NULL;
    m = &c->maps[c->nmaps++];
    *m = (CodeMap){p, n, 0};
  }
  unsigned char *at = m->p + m->used;
  m->used += size;
  c->lo = at;
  c->hi = at + size;
  return at;
}

/* A global symbol of the unit just relocated: keep its functions, g_*
 * (libtcc's own, _etext or sin@plt, and the runtime's, sin or malloc, are
 * global in every state too). */
static void keep_symbol(void *ctx, const char *name, const void *addr) {
  JitCode *c = ctx;
  if (strncmp(name, "g_", 2) || strchr(name, '@') || (const unsigned char *)addr < c->lo ||
      (const unsigned char *)addr >= c->hi)
    return;
  if (c->nsyms == c->capsyms) {
    size_t cap = c->capsyms ? 2 * c->capsyms : 256;
    CodeSym *s = realloc(c->syms, cap * sizeof *s);
    if (!s) {
      c->oom = 1;
      return;
    }
    c->syms = s;
    c->capsyms = cap;
  }
  const char *copy = arena_strndup(&c->names, name, strlen(name));
  if (!copy) {
    c->oom = 1;
    return;
  }
  c->syms[c->nsyms++] = (CodeSym){copy, addr};
}

int jit_code_unit(void *code, const char *src, size_t len) {
  JitCode *c = code;
  (void)len; /* src ends in a NUL (a Buf) */
  if (c->failed || c->oom)
    return -1;
  int rc = jit_tcc_unit(src, c, place, keep_symbol, c->diags);
  if (rc == -1)
    c->failed = 1;
  else if (rc)
    c->oom = 1;
  return c->failed || c->oom ? -1 : 0;
}

int jit_code_failed(const JitCode *c) { return c->failed ? 1 : c->oom ? -1 : 0; }

void jit_code_symbols(const JitCode *c, void *s, void (*add)(void *s, const char *name, const void *addr)) {
  for (size_t i = 0; c && i < c->nsyms; i++)
    add(s, c->syms[i].name, c->syms[i].addr);
}

void *jit_code_symbol(const JitCode *c, const char *name) {
  for (size_t i = 0; c && i < c->nsyms; i++)
    if (!strcmp(c->syms[i].name, name))
      return (void *)(uintptr_t)c->syms[i].addr;
  return NULL;
}

void jit_code_free(JitCode *c) {
  if (!c)
    return;
  for (int i = 0; i < c->nmaps; i++)
    munmap(c->maps[i].p, c->maps[i].size);
  free(c->maps);
  free(c->syms);
  arena_free(&c->names);
  free(c);
}
