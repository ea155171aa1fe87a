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
 * state is deleted at once. What stays is the machine code and the parts'
 * addresses, which the calling function's unit links to
 * (jit_compile_units).
 *
 * With a worker, a child process compiles units while gradc goes on
 * emitting (libtcc compiles one source at a time per process: its state
 * is global). The code memory is then a shared mapping made before the
 * fork, so it lies at the same address in both processes: the worker
 * relocates a unit straight into it, and sends back only the addresses of
 * its functions. The text of a unit reaches the worker through a slot of
 * that mapping; the pipes carry short messages. The worker runs only
 * the unit translators (x86_parts.c, else libtcc) and exits when its pipe
 * closes (or its parent dies); it is forked with jit.c's libtcc lock
 * held, so that no thread of gradc is inside libtcc at that moment. Whatever it
 * cannot do (a unit larger than a slot, a unit libtcc rejects, a crash),
 * the parent compiles itself, so the result never depends on the worker. */
#define _GNU_SOURCE /* MAP_NORESERVE, prctl */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ir.h"

#define REGION ((size_t)32 << 20)   /* private code mappings */
#define SLOTS 4                     /* units queued for the worker at most */
#define SLOT_BYTES ((size_t)8 << 20) /* the largest unit the worker takes */
#define WORKER_PATIENCE_MS 30000     /* no answer for this long: compile here */

typedef struct CodeMap {
  unsigned char *p;
  size_t size, used;
} CodeMap;

typedef struct CodeSym {
  const char *name;   /* in names */
  const void *addr;
} CodeSym;

/* The start of the shared mapping; then SLOTS slots of unit text, then
 * code from `next` on. */
typedef struct Shared {
  size_t next;        /* the first free byte of code (atomic) */
  size_t size;        /* of the mapping */
} Shared;

struct JitCode {
  Diags *diags;
  int failed;         /* libtcc rejected a unit (diags says why) */
  int oom;
  CodeMap *maps;      /* private code memory (no worker, or the shared is full) */
  int nmaps, capmaps;
  CodeSym *syms;
  size_t nsyms, capsyms;
  Arena names;
  const unsigned char *lo, *hi; /* the unit being placed */
  /* the worker */
  Shared *shared;     /* NULL: no worker was started */
  pid_t worker;       /* 0: none running */
  int to_worker, from_worker;
  int busy[SLOTS];    /* slot k holds a unit the worker has not answered */
  int in_worker;      /* this is the worker process */
};

/* ---- code memory -------------------------------------------------------------- */

static void *place_private(JitCode *c, size_t size) {
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
  return at;
}

/* Memory for a unit of `size` bytes of code and data (libtcc marks its
 * pages executable when it relocates into it): in the shared mapping if
 * there is one and it has room, else (not in the worker) private. */
static void *place(void *ctx, size_t size) {
  JitCode *c = ctx;
  size = (size + 63) & ~(size_t)63;
  unsigned char *at = NULL;
  if (c->shared) {
    size_t off = __atomic_fetch_add(&c->shared->next, size, __ATOMIC_RELAXED);
    if (off <= c->shared->size && c->shared->size - off >= size)
      at = (unsigned char *)c->shared + off;
  }
  if (!at && !c->in_worker)
    at = place_private(c, size);
  c->lo = at;
  c->hi = at ? at + size : NULL;
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

/* Compile a unit here. */
static int compile_here(JitCode *c, const char *src) {
  int rc = jit_tcc_unit(src, c, place, keep_symbol, c->diags);
  if (rc == -1)
    c->failed = 1;
  else if (rc)
    c->oom = 1;
  return c->failed || c->oom ? -1 : 0;
}

/* ---- the worker ---------------------------------------------------------------- */

static int write_all(int fd, const void *p, size_t n) {
  const char *s = p;
  while (n) {
    ssize_t w = write(fd, s, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    s += w;
    n -= (size_t)w;
  }
  return 0;
}

static int read_all(int fd, void *p, size_t n) {
  char *s = p;
  while (n) {
    ssize_t r = read(fd, s, n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return -1;
    s += r;
    n -= (size_t)r;
  }
  return 0;
}

static char *slot_text(const JitCode *c, int k) {
  return (char *)c->shared + 4096 + (size_t)k * SLOT_BYTES;
}

/* A request is {slot, length}; an answer {slot, status, bytes} and then
 * `bytes` of symbols: {address, name length, name} each. */
typedef struct Answer {
  int32_t slot, status;
  uint32_t bytes;
} Answer;

static void worker_main(JitCode *c) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  signal(SIGPIPE, SIG_DFL);
  c->in_worker = 1;
  c->diags = NULL; /* the parent compiles a rejected unit again, to report it */
  int32_t req[2];
  while (read_all(c->to_worker, req, sizeof req) == 0) {
    c->nsyms = 0;
    c->failed = c->oom = 0;
    int rc = jit_tcc_unit(slot_text(c, req[0]), c, place, keep_symbol, NULL);
    Buf b = {0};
    for (size_t i = 0; rc == 0 && !c->oom && i < c->nsyms; i++) {
      uint64_t addr = (uint64_t)(uintptr_t)c->syms[i].addr;
      uint16_t len = (uint16_t)strlen(c->syms[i].name);
      buf_putn(&b, (const char *)&addr, sizeof addr);
      buf_putn(&b, (const char *)&len, sizeof len);
      buf_putn(&b, c->syms[i].name, len);
    }
    Answer a = {req[0], rc == 0 && !c->oom && !b.oom ? 0 : -1, (uint32_t)b.len};
    if (a.status)
      a.bytes = 0;
    if (write_all(c->from_worker, &a, sizeof a) || write_all(c->from_worker, b.data, a.bytes))
      _exit(1);
    buf_free(&b);
    arena_free(&c->names);
  }
  _exit(0);
}

/* The worker is gone: units it held are compiled here. */
static void worker_lost(JitCode *c) {
  if (c->worker <= 0)
    return;
  close(c->to_worker);
  close(c->from_worker);
  kill(c->worker, SIGKILL);
  while (waitpid(c->worker, NULL, 0) < 0 && errno == EINTR)
    ;
  c->worker = 0;
  for (int k = 0; k < SLOTS; k++)
    if (c->busy[k]) {
      c->busy[k] = 0;
      compile_here(c, slot_text(c, k));
    }
}

/* One answer of the worker (blocking): its functions, or the unit
 * compiled here when the worker could not. */
static void take_answer(JitCode *c) {
  Answer a;
  if (read_all(c->from_worker, &a, sizeof a) || a.slot < 0 || a.slot >= SLOTS || !c->busy[a.slot]) {
    worker_lost(c);
    return;
  }
  char *b = a.bytes ? malloc(a.bytes) : NULL;
  if ((a.bytes && !b) || read_all(c->from_worker, b, a.bytes)) {
    free(b);
    worker_lost(c);
    return;
  }
  c->busy[a.slot] = 0;
  if (a.status) {
    compile_here(c, slot_text(c, a.slot)); /* rejected, or out of shared memory */
  } else {
    c->lo = (const unsigned char *)c->shared; /* keep_symbol's bounds: the mapping */
    c->hi = c->lo + c->shared->size;
    for (size_t at = 0; at + 10 <= a.bytes;) {
      uint64_t addr;
      uint16_t len;
      memcpy(&addr, b + at, sizeof addr);
      memcpy(&len, b + at + 8, sizeof len);
      if (at + 10 + len > a.bytes)
        break;
      char name[256];
      snprintf(name, sizeof name, "%.*s", (int)len, b + at + 10);
      keep_symbol(c, name, (const void *)(uintptr_t)addr);
      at += 10 + len;
    }
  }
  free(b);
}

/* Answers that have come (all of them with `wait`). */
static void take_answers(JitCode *c, int wait) {
  for (;;) {
    int any = 0;
    for (int k = 0; k < SLOTS; k++)
      any |= c->busy[k];
    if (!any || c->worker <= 0)
      return;
    struct pollfd p = {c->from_worker, POLLIN, 0};
    int r = poll(&p, 1, wait ? WORKER_PATIENCE_MS : 0);
    if (r < 0 && errno == EINTR)
      continue;
    if (r == 0 && wait) { /* a unit takes a fraction of a second: the worker is
                             stuck (libtcc's semaphore copied held, from a
                             thread of the caller's, not gradc's, that was
                             compiling when it was forked) */
      worker_lost(c);
      return;
    }
    if (r == 0)
      return;
    if (r < 0 || !(p.revents & (POLLIN | POLLHUP | POLLERR))) {
      worker_lost(c);
      return;
    }
    take_answer(c);
  }
}

static int start_worker(JitCode *c, uint32_t nodes) {
  /* libtcc's code for a DAG node is about 30 bytes: room for four times that */
  size_t size = 4096 + SLOTS * SLOT_BYTES + (size_t)nodes * 128 + ((size_t)64 << 20);
  void *m = mmap(NULL, size, PROT_READ | PROT_WRITE | PROT_EXEC,
                 MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED)
    return -1;
  c->shared = m;
  c->shared->size = size;
  c->shared->next = 4096 + SLOTS * SLOT_BYTES;
  int to[2], from[2]; /* close-on-exec: a compiler spawned meanwhile keeps no end */
  if (pipe2(to, O_CLOEXEC))
    return -1;
  if (pipe2(from, O_CLOEXEC)) {
    close(to[0]);
    close(to[1]);
    return -1;
  }
  /* gradc may have threads by now (the tiered JIT's cc thread, OpenBLAS's,
   * a caller's): the child is a copy of this one alone. It runs only
   * read/write on its pipes, malloc (fork-safe in glibc) and the unit
   * translators; libtcc's state is whole in it because no thread of gradc
   * is inside libtcc while this lock is held (jit.c). */
  jit_tcc_lock();
  pid_t pid = fork();
  jit_tcc_unlock(); /* in both: the child's copy was taken by its own thread */
  if (pid == 0) {
    close(to[1]);
    close(from[0]);
    c->to_worker = to[0];
    c->from_worker = from[1];
    worker_main(c);
  }
  close(to[0]);
  close(from[1]);
  if (pid < 0) {
    close(to[1]);
    close(from[0]);
    return -1;
  }
  c->worker = pid;
  c->to_worker = to[1];
  c->from_worker = from[0];
  return 0;
}

/* ---- the interface ------------------------------------------------------------- */

JitCode *jit_code_new(Diags *diags, uint32_t nodes, int worker) {
  JitCode *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  c->diags = diags;
  if (worker && start_worker(c, nodes) != 0 && c->shared) { /* no worker: all here */
    munmap(c->shared, c->shared->size);
    c->shared = NULL;
  }
  return c;
}

int jit_code_unit(void *code, const char *src, size_t len) {
  JitCode *c = code;
  if (c->failed || c->oom)
    return -1;
  if (c->worker > 0) {
    take_answers(c, 0);
    for (int k = 0; k < SLOTS && c->worker > 0; k++)
      if (!c->busy[k] && len < SLOT_BYTES) { /* to the worker */
        memcpy(slot_text(c, k), src, len);
        slot_text(c, k)[len] = 0;
        int32_t req[2] = {k, (int32_t)len};
        c->busy[k] = 1;
        if (write_all(c->to_worker, req, sizeof req))
          worker_lost(c);
        return c->failed || c->oom ? -1 : 0;
      }
  }
  return compile_here(c, src); /* the worker has enough to do */
}

int jit_code_finish(JitCode *c) {
  take_answers(c, 1);
  if (c->worker > 0) { /* no more units: the worker exits */
    close(c->to_worker);
    close(c->from_worker);
    while (waitpid(c->worker, NULL, 0) < 0 && errno == EINTR)
      ;
    c->worker = 0;
  }
  return c->failed ? 1 : c->oom ? -1 : 0;
}

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
  if (c->worker > 0) {
    close(c->to_worker);
    close(c->from_worker);
    kill(c->worker, SIGKILL);
    while (waitpid(c->worker, NULL, 0) < 0 && errno == EINTR)
      ;
  }
  if (c->shared)
    munmap(c->shared, c->shared->size);
  for (int i = 0; i < c->nmaps; i++)
    munmap(c->maps[i].p, c->maps[i].size);
  free(c->maps);
  free(c->syms);
  arena_free(&c->names);
  free(c);
}
