/* arena.c: bump allocation for the AST and names, and a growable buffer. */
#define _GNU_SOURCE /* mremap */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ir.h"

struct ArenaBlock {
  ArenaBlock *next;
  size_t used, size;
  _Alignas(16) unsigned char data[];
};

/* Large arrays (the DAG of a million-node expression, its emitted C) are
 * backed by transparent huge pages where the kernel offers them: the first
 * touch of every 4 KiB page is a page fault, and on a virtual machine those
 * cost as much as the compiler's own work (bench_compile: the parse stage
 * of 10^6 nodes takes 3x longer on 4 KiB pages). A hint, never required. */
void mem_hint_huge(void *p, size_t n) {
#ifdef MADV_HUGEPAGE
  if (!p || n < ((size_t)4 << 20))
    return;
  uintptr_t lo = ((uintptr_t)p + 4095) & ~(uintptr_t)4095, hi = ((uintptr_t)p + n) & ~(uintptr_t)4095;
  if (hi > lo)
    (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
#else
  (void)p;
  (void)n;
#endif
}

/* Big arrays live in their own mappings: zeroed by the kernel, grown by
 * mremap without a copy, advised to huge pages. (malloc would put arrays
 * below its dynamic mmap threshold, up to 32 MiB, in the heap, where every
 * doubling copies into fresh, page-faulting memory.) A 64-byte header
 * holds the mapping's size. */
#define BIG_HDR 64

void *big_alloc(size_t n) { return big_grow(NULL, n); }

#if defined(__SANITIZE_ADDRESS__) /* gcc */
#define GRADC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) /* clang (the fuzzers) */
#define GRADC_ASAN 1
#endif
#endif

#ifdef GRADC_ASAN
/* Under AddressSanitizer the same contract on malloc, so that overflows
 * of these arrays are still caught: the header holds the usable size. */
void *big_grow(void *p, size_t n) {
  if (n > SIZE_MAX - BIG_HDR)
    return NULL;
  unsigned char *m = p ? (unsigned char *)p - BIG_HDR : NULL;
  size_t have = m ? *(size_t *)m : 0;
  if (m && n <= have)
    return p;
  m = realloc(m, n + BIG_HDR);
  if (!m)
    return NULL;
  memset(m + BIG_HDR + have, 0, n - have);
  *(size_t *)m = n;
  return m + BIG_HDR;
}

void big_free(void *p) {
  if (p)
    free((unsigned char *)p - BIG_HDR);
}
#else
void *big_grow(void *p, size_t n) {
  if (n > SIZE_MAX - BIG_HDR - 4095)
    return NULL;
  size_t want = (n + BIG_HDR + 4095) & ~(size_t)4095;
  unsigned char *m;
  if (!p) {
    m = mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  } else {
    m = (unsigned char *)p - BIG_HDR;
    size_t have = *(size_t *)m;
    if (want <= have)
      return p;
    m = mremap(m, have, want, MREMAP_MAYMOVE);
  }
  if (m == MAP_FAILED)
    return NULL;
  *(size_t *)m = want;
  mem_hint_huge(m, want);
  return m + BIG_HDR;
}

void big_free(void *p) {
  if (p) {
    unsigned char *m = (unsigned char *)p - BIG_HDR;
    munmap(m, *(size_t *)m);
  }
}
#endif

void pool_fill(BlockPool *bp) {
  for (int k = 0; k < POOL_SLOTS; k++) {
    if (atomic_load(&bp->slot[k]))
      continue;
    ArenaBlock *b = big_alloc(POOL_BLOCK);
    if (!b)
      return;
#ifdef MADV_POPULATE_WRITE
    if (madvise((void *)(((uintptr_t)b + 4095) & ~(uintptr_t)4095), POOL_BLOCK - 4096, MADV_POPULATE_WRITE) != 0)
#endif
      for (size_t off = 0; off < POOL_BLOCK; off += 4096) /* the kernel's zero pages, written */
        ((volatile unsigned char *)b)[off] = 0;
    b->size = POOL_BLOCK - sizeof(ArenaBlock);
    atomic_store(&bp->slot[k], b);
  }
}

void pool_drain(BlockPool *bp) {
  for (int k = 0; k < POOL_SLOTS; k++)
    big_free(atomic_exchange(&bp->slot[k], NULL));
}

/* a ready block of the pool that holds size bytes, or NULL */
static ArenaBlock *pool_take(BlockPool *bp, size_t size) {
  if (size > POOL_BLOCK - sizeof(ArenaBlock))
    return NULL;
  for (int k = 0; k < POOL_SLOTS; k++) {
    ArenaBlock *b = atomic_exchange(&bp->slot[k], NULL);
    if (b)
      return b;
  }
  return NULL;
}

void *arena_alloc(Arena *a, size_t size) {
  size = (size + 15) & ~(size_t)15;
  ArenaBlock *b = a->head;
  if ((!b || b->size - b->used < size) && a->pool && (b = pool_take(a->pool, size))) {
    a->total += b->size;
    b->used = 0;
    b->next = a->head;
    a->head = b;
  } else if (!b || b->size - b->used < size) {
    /* blocks grow with the arena (an eighth of it, 64 KiB to 16 MiB), so a
     * large AST takes few, huge-page-backed blocks */
    size_t bs = a->total / 8;
    bs = bs < 64 * 1024 ? 64 * 1024 : bs > ((size_t)16 << 20) ? (size_t)16 << 20 : bs;
    bs -= sizeof(ArenaBlock);
    if (size > bs)
      bs = size;
    b = big_alloc(sizeof(ArenaBlock) + bs);
    if (!b)
      return NULL;
    a->total += bs;
    b->size = bs;
    b->used = 0;
    b->next = a->head;
    a->head = b;
  }
  void *p = b->data + b->used;
  b->used += size;
  return p; /* the block came zeroed from the kernel */
}

char *arena_strndup(Arena *a, const char *s, size_t n) {
  char *p = arena_alloc(a, n + 1);
  if (p) {
    memcpy(p, s, n);
    p[n] = 0;
  }
  return p;
}

void arena_free(Arena *a) {
  while (a->head) {
    ArenaBlock *next = a->head->next;
    big_free(a->head);
    a->head = next;
  }
  a->total = 0;
}

/* from's blocks become into's (freed with it); from is left empty */
void arena_splice(Arena *into, Arena *from) {
  ArenaBlock *b = from->head;
  if (!b)
    return;
  while (b->next)
    b = b->next;
  /* into's head block stays first: arena_alloc goes on filling it */
  if (into->head) {
    b->next = into->head->next;
    into->head->next = from->head;
  } else {
    into->head = from->head;
  }
  into->total += from->total;
  from->head = NULL;
  from->total = 0;
}

static int grow(Buf *b, size_t extra) {
  if (b->oom)
    return 0;
  if (b->len + extra + 1 <= b->cap)
    return 1;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + extra + 1)
    cap *= 2;
  char *d = b->big ? big_grow(b->data, cap) : realloc(b->data, cap);
  if (!d) {
    b->oom = 1;
    return 0;
  }
  b->data = d;
  b->cap = cap;
  return 1;
}

void buf_putn_grow(Buf *b, const char *s, size_t n) {
  if (!grow(b, n))
    return;
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = 0;
}

/* A decimal integer: the emitter writes millions of slot indices, and
 * printf's format parsing was a tenth of its time. */
void buf_int(Buf *b, long long v) {
  char s[24], *p = s + sizeof s;
  unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
  do
    *--p = (char)('0' + u % 10);
  while (u /= 10);
  if (v < 0)
    *--p = '-';
  buf_putn(b, p, (size_t)(s + sizeof s - p));
}

void buf_printf(Buf *b, const char *fmt, ...) {
  char small[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  if ((size_t)n < sizeof small) {
    buf_putn(b, small, (size_t)n);
    return;
  }
  if (!grow(b, (size_t)n))
    return;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

void buf_free(Buf *b) {
  int big = b->big;
  if (big)
    big_free(b->data);
  else
    free(b->data);
  memset(b, 0, sizeof *b);
  b->big = big;
}
