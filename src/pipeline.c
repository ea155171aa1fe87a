/* pipeline.c: parsing and lowering a long source on two threads.
 *
 * A program of a million definitions spends about as long in the parser
 * as in everything else before differentiation, on one core while the
 * other waits. Here a thread parses (flex and bison, as parse_source) and
 * hands over each statement as soon as it is reduced (ast.c calls
 * pipeline_publish), while the calling thread lowers it (lower.c,
 * lower_stream_*): a producer and a consumer over the parser's own list of
 * statements, which only grows at its end.
 *
 * What the threads share: the statements and their ASTs, complete when
 * published and never written again (the release store of `published`,
 * the acquire load of the consumer); the interned names, whose Sym text the
 * parser writes before the statement that holds it is published and whose
 * `bind` field only the consumer writes. Their allocations stay apart: the
 * parser's AST and statements in its own arenas, its names in an arena of
 * the pipeline's that becomes the program's when both are done, the
 * lowering's in the program's. The parser's arenas take their blocks from
 * a pool that this thread maps and faults in while it waits (arena.c,
 * BlockPool): the kernel zeroes a few hundred MB of pages for a long AST,
 * and that is then off the parser's time. Diagnostics: the parser writes p->diags, the
 * stream its own list, and any diagnostic of the stream stops it.
 *
 * The result never depends on the pipeline: when the stream stops (see
 * lower.c) or the parse fails, the program is emptied and the caller
 * lowers the whole parse with lower_program as before. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "ir.h"

size_t pipeline_min_bytes = (size_t)1 << 20;
atomic_ulong pipeline_streamed;

/* the consumer is woken once per this many statements (and at the end) */
#define WAKE_EVERY 1024

typedef struct Pipeline {
  Parse *p;
  atomic_size_t published; /* statements complete in p's list */
  atomic_int finished;     /* the parse is over (published is final) */
  atomic_int sleeping;     /* the consumer waits on cv */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int parse_rc;
  double cpu;              /* the parsing thread's CPU seconds */
  BlockPool pool;          /* arena blocks for the parser, faulted in here */
} Pipeline;

static void wake(Pipeline *q) {
  pthread_mutex_lock(&q->mu);
  pthread_cond_broadcast(&q->cv);
  pthread_mutex_unlock(&q->mu);
}

void pipeline_publish(Pipeline *q, Stmt *s) {
  (void)s; /* the list's next statement: the consumer follows s->next */
  size_t n = atomic_load_explicit(&q->published, memory_order_relaxed) + 1;
  atomic_store(&q->published, n); /* seq_cst: ordered with `sleeping` below */
  if (n % WAKE_EVERY == 0 && atomic_load(&q->sleeping))
    wake(q);
}

static double thread_cpu(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void *parse_thread(void *arg) {
  Pipeline *q = arg;
  double t0 = thread_cpu();
  q->parse_rc = parse_source(q->p);
  q->cpu = thread_cpu() - t0;
  pthread_mutex_lock(&q->mu);
  atomic_store(&q->finished, 1);
  pthread_cond_broadcast(&q->cv);
  pthread_mutex_unlock(&q->mu);
  return NULL;
}

/* The number of statements published, waiting for more than `have` until
 * the parse is over. */
static size_t wait_for(Pipeline *q, size_t have) {
  size_t n = atomic_load(&q->published);
  if (n > have || atomic_load(&q->finished))
    return atomic_load(&q->published);
  pool_fill(&q->pool); /* idle: the parser's next arena blocks */
  if ((n = atomic_load(&q->published)) > have || atomic_load(&q->finished))
    return n;
  pthread_mutex_lock(&q->mu);
  atomic_store(&q->sleeping, 1);
  while ((n = atomic_load(&q->published)) <= have && !atomic_load(&q->finished))
    pthread_cond_wait(&q->cv, &q->mu);
  atomic_store(&q->sleeping, 0);
  pthread_mutex_unlock(&q->mu);
  return atomic_load(&q->published);
}

int pipeline_parse_lower(Parse *p, Program *prog, int *parse_rc, double *parse_cpu) {
  *parse_cpu = 0;
  if (!p->src || p->src->len < pipeline_min_bytes) {
    double t0 = thread_cpu();
    *parse_rc = parse_source(p);
    *parse_cpu = thread_cpu() - t0;
    return -1;
  }
  Pipeline q = {.p = p};
  Arena names = {0}, *prog_names = p->names;
  LowerStream *ls = lower_stream_new(prog, p);
  pthread_t th;
  if (pthread_mutex_init(&q.mu, NULL) != 0) {
    lower_stream_free(ls);
    program_free(prog);
    ls = NULL;
  } else if (pthread_cond_init(&q.cv, NULL) != 0) {
    pthread_mutex_destroy(&q.mu);
    lower_stream_free(ls);
    program_free(prog);
    ls = NULL;
  }
  if (ls) {
    p->pipe = &q;
    p->names = &names;
    pool_fill(&q.pool);
    p->arena->pool = p->stmts.pool = names.pool = &q.pool;
    if (pthread_create(&th, NULL, parse_thread, &q) != 0) {
      p->pipe = NULL;
      p->names = prog_names;
      p->arena->pool = p->stmts.pool = names.pool = NULL;
      pool_drain(&q.pool);
      lower_stream_free(ls);
      program_free(prog);
      pthread_cond_destroy(&q.cv);
      pthread_mutex_destroy(&q.mu);
      ls = NULL;
    }
  }
  if (!ls) { /* no stream: parse here */
    double t0 = thread_cpu();
    *parse_rc = parse_source(p);
    *parse_cpu = thread_cpu() - t0;
    return -1;
  }
  size_t done = 0, n;
  int stopped = 0;
  Stmt *s = NULL;
  while ((n = wait_for(&q, done)) > done) {
    for (; done < n; done++) {
      s = s ? s->next : p->first;
      if (!stopped && lower_stream_stmt(ls, s))
        stopped = 1;
    }
  }
  pthread_join(th, NULL);
  p->arena->pool = p->stmts.pool = names.pool = NULL;
  pool_drain(&q.pool);
  pthread_cond_destroy(&q.cv);
  pthread_mutex_destroy(&q.mu);
  p->pipe = NULL;
  *parse_rc = q.parse_rc;
  *parse_cpu = q.cpu;
  int rc = -1;
  if (!stopped && q.parse_rc == 0 && done == n) {
    /* every statement was published (a clean parse) and lowered */
    rc = lower_stream_end(ls, p->last);
    atomic_fetch_add(&pipeline_streamed, 1);
  } else {
    lower_stream_free(ls);
    program_free(prog);
  }
  arena_splice(prog_names, &names); /* the names outlive the AST */
  p->names = prog_names;
  return rc;
}
