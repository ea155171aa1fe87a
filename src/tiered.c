/* tiered.c: the tiered JIT (GRADC_BACKEND_TIERED). A function's first
 * calls run libtcc's code, compiled in milliseconds, while a background
 * thread compiles the C source of the cc backend (the very text that
 * GRADC_BACKEND_CC would compile, so the same cached shared object) with
 * cc -O2. The call that starts after that compile ended switches the
 * function to the cc code: f->mod, f->call and f->work_size change between
 * calls, on the thread that calls, never during a call, so from that call
 * on every result is the cc backend's to the bit.
 *
 * The thread only compiles: it reads its own copy of the source and
 * writes its module, published by an atomic store (release) that the
 * caller's atomic load (acquire) pairs with; it never touches the context.
 * A compile that fails (no cc on PATH, a compiler error) is dropped
 * silently: the function stays on libtcc. Compiles of one process run one
 * at a time (compile_lock), in the order the functions were built, so a
 * command that builds several functions keeps one core for its calls.
 * Freeing the function kills a compiler still running and joins the
 * thread. */
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"

enum { TIER_RUNNING, TIER_READY, TIER_FAILED, TIER_SWITCHED };

struct Tier {
  pthread_t thread;
  char *src;           /* the cc backend's source (owned by the thread until it ends) */
  JitModule *mod;      /* the cc code, once state is TIER_READY */
  atomic_int state;
  int joined;          /* the caller joined the thread (read and written by it only) */
  JitCancel cancel;
};

static pthread_mutex_t compile_lock = PTHREAD_MUTEX_INITIALIZER;

static void *compile_thread(void *arg) {
  Tier *t = arg;
  JitModule *m = NULL;
  for (;;) { /* one compile at a time; a cancelled one stops waiting for its turn */
    pthread_mutex_lock(&t->cancel.lock);
    int stop = t->cancel.cancelled;
    pthread_mutex_unlock(&t->cancel.lock);
    if (stop)
      break;
    if (pthread_mutex_trylock(&compile_lock) == 0) {
      m = jit_compile_cc_quiet(t->src, &t->cancel);
      pthread_mutex_unlock(&compile_lock);
      break;
    }
    struct timespec ts = {0, 5000000}; /* 5 ms */
    nanosleep(&ts, NULL);
  }
  free(t->src);
  t->src = NULL;
  t->mod = m;
  atomic_store_explicit(&t->state, m ? TIER_READY : TIER_FAILED, memory_order_release);
  return NULL;
}

int tiered_start(GradcFn *f, const char *cc_src) {
  Tier *t = calloc(1, sizeof *t);
  if (!t)
    return -1;
  t->src = strdup(cc_src);
  atomic_init(&t->state, TIER_RUNNING);
  if (!t->src || pthread_mutex_init(&t->cancel.lock, NULL) != 0) {
    free(t->src);
    free(t);
    return -1;
  }
  if (pthread_create(&t->thread, NULL, compile_thread, t) != 0) {
    pthread_mutex_destroy(&t->cancel.lock);
    free(t->src);
    free(t);
    return -1; /* no thread: the function stays on libtcc */
  }
  f->tier = t;
  return 0;
}

/* Put the cc code in place of libtcc's (state TIER_READY, no call running). */
static void switch_to_cc(GradcFn *f) {
  Tier *t = f->tier;
  JitThunk call = jit_lookup(t->mod, "g_fn"), ws = jit_lookup(t->mod, "g_fn_work");
  if (!call) { /* cannot happen: the same source as libtcc's entry point */
    jit_free(t->mod);
    t->mod = NULL;
    atomic_store_explicit(&t->state, TIER_FAILED, memory_order_relaxed);
    return;
  }
  if (!t->joined)
    pthread_join(t->thread, NULL);
  t->joined = 1;
  jit_free(f->mod);
  f->mod = t->mod;
  t->mod = NULL;
  f->call = call;
  memcpy(&f->work_size, &ws, sizeof ws);
  f->backend = GRADC_BACKEND_CC;
  atomic_store_explicit(&t->state, TIER_SWITCHED, memory_order_relaxed);
}

void tiered_poll(GradcFn *f) {
  if (f->tier && atomic_load_explicit(&f->tier->state, memory_order_acquire) == TIER_READY)
    switch_to_cc(f);
}

void tiered_free(GradcFn *f) {
  Tier *t = f->tier;
  if (!t)
    return;
  if (!t->joined) { /* the thread may still run: stop its compiler */
    pthread_mutex_lock(&t->cancel.lock);
    t->cancel.cancelled = 1;
    if (t->cancel.child > 0)
      kill(t->cancel.child, SIGKILL);
    pthread_mutex_unlock(&t->cancel.lock);
    pthread_join(t->thread, NULL);
  }
  jit_free(t->mod);
  free(t->src);
  pthread_mutex_destroy(&t->cancel.lock);
  free(t);
  f->tier = NULL;
}

GradcBackend gradc_fn_backend(const GradcFn *f) { return (GradcBackend)f->backend; }

GradcBackend gradc_fn_tier_wait(GradcFn *f, double seconds) {
  Tier *t = f->tier;
  double waited = 0;
  while (t && !t->joined && atomic_load_explicit(&t->state, memory_order_acquire) == TIER_RUNNING &&
         (seconds < 0 || waited < seconds)) {
    struct timespec ts = {0, 5000000}; /* 5 ms */
    nanosleep(&ts, NULL);
    waited += 0.005;
  }
  tiered_poll(f);
  if (t && !t->joined && atomic_load_explicit(&t->state, memory_order_acquire) == TIER_RUNNING)
    return GRADC_BACKEND_TIERED; /* still compiling */
  return gradc_fn_backend(f);
}
