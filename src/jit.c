/* jit.c: compile generated C and find its functions. The only file that
 * includes libtcc.h. Backend 0 compiles in memory with libtcc; backend 1
 * runs the system C compiler into a shared object and dlopens it.
 *
 * libtcc keeps global state; Debian's build serialises compiles with its
 * own semaphore (CONFIG_TCC_SEMLOCK), and each TCCState is used by one
 * thread only, so contexts on different threads are safe.
 *
 * Built with GRADC_NO_TCC (a libgradc.so made without libtcc's source,
 * cmake/install.cmake), there is no libtcc: backend 0 compiles with cc. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#ifndef GRADC_NO_TCC
#include <libtcc.h>
#else
typedef struct TCCState TCCState;
#endif
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ir.h"

extern char **environ;

#ifdef GRADC_HAVE_BLAS
#include <cblas.h>
#endif

struct JitModule {
  TCCState *tcc;
  void *so;
  char *dir;  /* temp directory of the cc backend */
  JitCode *code; /* units compiled before tcc's (jit_units.c), or NULL */
};

typedef struct TccErrors {
  Buf msgs;
} TccErrors;

/* Keep the generated source where a bug report can find it. */
static void save_source(const char *src, char *path, size_t n) {
  snprintf(path, n, "/tmp/gradc-generated-XXXXXX.c");
  int fd = mkstemps(path, 2);
  if (fd < 0) {
    snprintf(path, n, "(could not save the generated C)");
    return;
  }
  size_t len = strlen(src), off = 0;
  while (off < len) {
    ssize_t w = write(fd, src + off, len - off);
    if (w <= 0)
      break;
    off += (size_t)w;
  }
  close(fd);
}

static void internal(Diags *d, const char *src, const char *what, const char *detail) {
  char path[256];
  save_source(src, path, sizeof path);
  diag_add(d, GRADC_ERR_INTERNAL, NULL, (Span){0}, NULL,
           "%s rejected the generated C (saved as %s):\n%s", what, path,
           detail && *detail ? detail : "(no message)");
}

#ifndef GRADC_NO_TCC
static void on_tcc_error(void *opaque, const char *msg) {
  TccErrors *e = opaque;
  if (e->msgs.len < 4000) {
    buf_puts(&e->msgs, msg);
    buf_puts(&e->msgs, "\n");
  }
}

/* Every libm function that generated code may call (see emit_c.c). */
static const struct {
  const char *name;
  void *fn;
} libm_symbols[] = {
    {"exp", (void *)exp},     {"log", (void *)log},       {"sqrt", (void *)sqrt},
    {"sin", (void *)sin},     {"cos", (void *)cos},       {"tan", (void *)tan},
    {"asin", (void *)asin},   {"acos", (void *)acos},     {"atan", (void *)atan},
    {"sinh", (void *)sinh},   {"cosh", (void *)cosh},     {"tanh", (void *)tanh},
    {"erf", (void *)erf},     {"log1p", (void *)log1p},   {"expm1", (void *)expm1},
    {"fabs", (void *)fabs},   {"pow", (void *)pow},       {"atan2", (void *)atan2},
    {"floor", (void *)floor}, {"ceil", (void *)ceil},     {"rint", (void *)rint},
    {"fmod", (void *)fmod},   {"frexp", (void *)frexp},   {"ldexp", (void *)ldexp},
    {"malloc", (void *)malloc}, {"free", (void *)free},
#if JIT_SINCOS
    {"sincos", (void *)sincos},
#endif
};

/* A libtcc state for code in memory that may call libm and gradc's runtime. */
static TCCState *tcc_state(void *opaque, void (*on_err)(void *opaque, const char *msg)) {
  TCCState *s = tcc_new();
  if (!s)
    return NULL;
  tcc_set_error_func(s, opaque, on_err);
  tcc_set_output_type(s, TCC_OUTPUT_MEMORY);
  tcc_set_options(s, "-nostdlib");
  for (size_t i = 0; i < sizeof libm_symbols / sizeof *libm_symbols; i++)
    tcc_add_symbol(s, libm_symbols[i].name, libm_symbols[i].fn);
#ifdef GRADC_HAVE_BLAS
  tcc_add_symbol(s, "cblas_dgemm", (void *)cblas_dgemm);
#endif
  tcc_add_symbol(s, "gradc_rt_matmul", (void *)gradc_rt_matmul);
  tcc_add_symbol(s, "gradc_rt_tanh", (void *)gradc_rt_tanh);
  tcc_add_symbol(s, "gradc_rt_sigmoid", (void *)gradc_rt_sigmoid);
  return s;
}

static void add_symbol(void *s, const char *name, const void *addr) { tcc_add_symbol(s, name, addr); }

/* code: units compiled already, whose functions src may call; the module
 * owns it from here on. */
void *jit_runtime_symbol(const char *name) {
  for (size_t i = 0; i < sizeof libm_symbols / sizeof *libm_symbols; i++)
    if (!strcmp(libm_symbols[i].name, name))
      return libm_symbols[i].fn;
  if (!strcmp(name, "gradc_rt_tanh"))
    return (void *)gradc_rt_tanh;
  if (!strcmp(name, "gradc_rt_sigmoid"))
    return (void *)gradc_rt_sigmoid;
  return NULL;
}

/* libtcc serialises its compiles with a semaphore of its own
 * (CONFIG_TCC_SEMLOCK) and keeps global state while it compiles; 0.9.27
 * (Debian's) does not serialise tcc_new and tcc_delete, which also touch
 * its global allocator and preprocessor state (8 threads compiling and
 * freeing at once freed a define from another state's pool: ASan,
 * harden_threads). gradc holds this lock around each of its uses of
 * libtcc (creating, compiling, deleting a state) and around the fork of
 * jit_units.c's worker, so no thread of gradc is inside libtcc (its
 * semaphore taken, its globals half-written) in the child's copy. */
static pthread_mutex_t tcc_lock = PTHREAD_MUTEX_INITIALIZER;
void jit_tcc_lock(void) { pthread_mutex_lock(&tcc_lock); }
void jit_tcc_unlock(void) { pthread_mutex_unlock(&tcc_lock); }

static JitModule *compile_tcc(const char *src, Diags *diags, JitCode *code) {
  JitModule *m = calloc(1, sizeof *m);
  TccErrors errs = {{0}};
  if (!m) {
    jit_code_free(code);
    return NULL;
  }
  m->code = code;
  jit_tcc_lock();
  m->tcc = tcc_state(&errs, on_tcc_error);
  int ok = m->tcc != NULL;
  if (ok) {
    jit_code_symbols(code, m->tcc, add_symbol);
    ok = tcc_compile_string(m->tcc, src) == 0 && tcc_relocate(m->tcc, TCC_RELOCATE_AUTO) >= 0;
    if (!ok)
      internal(diags, src, "libtcc", errs.msgs.data);
  }
  jit_tcc_unlock();
  buf_free(&errs.msgs);
  if (!ok) {
    jit_free(m);
    return NULL;
  }
  return m;
}
#endif

static int write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f)
    return -1;
  size_t n = strlen(text);
  int ok = fwrite(text, 1, n, f) == n;
  ok &= fclose(f) == 0;
  return ok ? 0 : -1;
}

/* The compile cache of the cc backend: shared objects named by a hash of
 * the compiler and the generated source, in $GRADC_CACHE_DIR, else
 * $XDG_CACHE_HOME/gradc, else ~/.cache/gradc. NULL: no cache. */
static char *cache_path(const char *cc, const char *src) {
  uint64_t h = 14695981039346656037ull;
  for (const char *p = cc; *p; p++)
    h = (h ^ (unsigned char)*p) * 1099511628211ull;
  for (const char *p = src; *p; p++)
    h = (h ^ (unsigned char)*p) * 1099511628211ull;
  char dir[4096];
  const char *env = getenv("GRADC_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
  if (env && *env)
    snprintf(dir, sizeof dir, "%s", env);
  else if (xdg && *xdg)
    snprintf(dir, sizeof dir, "%s/gradc", xdg);
  else if (home && *home)
    snprintf(dir, sizeof dir, "%s/.cache/gradc", home);
  else
    return NULL;
  /* make the directory and its parents */
  for (char *p = dir + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      mkdir(dir, 0777);
      *p = '/';
    }
  if (mkdir(dir, 0777) < 0 && errno != EEXIST)
    return NULL;
  size_t n = strlen(dir) + 32;
  char *path = malloc(n);
  if (path)
    snprintf(path, n, "%s/%016llx.so", dir, (unsigned long long)h);
  return path;
}

/* Copy the compiled object into the cache (a temp file, then rename). */
static void cache_store(const char *so, const char *path) {
  size_t n = strlen(path) + 16;
  char *tmp = malloc(n);
  if (!tmp)
    return;
  snprintf(tmp, n, "%s.tmpXXXXXX", path);
  int out = mkstemp(tmp);
  FILE *in = fopen(so, "rb");
  int ok = out >= 0 && in;
  char buf[65536];
  size_t k;
  while (ok && (k = fread(buf, 1, sizeof buf, in)) > 0)
    ok = write(out, buf, k) == (ssize_t)k;
  if (in)
    fclose(in);
  if (out >= 0) {
    ok &= fchmod(out, 0755) == 0;
    ok &= close(out) == 0;
  }
  if (!ok || rename(tmp, path) != 0)
    unlink(tmp);
  free(tmp);
}

/* The compiler's process: started by posix_spawnp (fork is unsafe once
 * other threads may hold locks: the tiered JIT compiles on a thread), its
 * stderr in logpath; a JitCancel sees its pid while it runs. */
static int run_cc(const char *cc, char *const *argv, const char *logpath, JitCancel *cancel) {
  posix_spawn_file_actions_t fa;
  if (posix_spawn_file_actions_init(&fa) != 0)
    return -1;
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid = -1;
  int rc = -1;
  if (cancel)
    pthread_mutex_lock(&cancel->lock);
  if (!(cancel && cancel->cancelled) && posix_spawnp(&pid, cc, &fa, NULL, argv, environ) == 0 && cancel)
    cancel->child = pid;
  if (cancel)
    pthread_mutex_unlock(&cancel->lock);
  posix_spawn_file_actions_destroy(&fa);
  int status = 0;
  if (pid > 0) {
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
      ;
    rc = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
  }
  if (cancel) {
    pthread_mutex_lock(&cancel->lock);
    cancel->child = 0;
    pthread_mutex_unlock(&cancel->lock);
  }
  return rc;
}

static JitModule *compile_cc(const char *src, Diags *diags, JitCancel *cancel) {
  JitModule *m = calloc(1, sizeof *m);
  if (!m)
    return NULL;
  const char *ccname = getenv("CC");
  char *cached = cache_path(ccname && *ccname ? ccname : "cc", src);
  if (cached && access(cached, R_OK) == 0 && (m->so = dlopen(cached, RTLD_NOW | RTLD_LOCAL))) {
    free(cached);
    return m; /* compiled before */
  }
  char tmpl[] = "/tmp/gradc-cc-XXXXXX";
  if (!mkdtemp(tmpl)) {
    if (diags)
      diag_add(diags, GRADC_ERR_INTERNAL, NULL, (Span){0}, NULL,
             "cannot make a temporary directory: %s", strerror(errno));
    free(cached);
    free(m);
    return NULL;
  }
  m->dir = strdup(tmpl);
  char cpath[64], sopath[64], logpath[64];
  snprintf(cpath, sizeof cpath, "%s/g.c", tmpl);
  snprintf(sopath, sizeof sopath, "%s/g.so", tmpl);
  snprintf(logpath, sizeof logpath, "%s/cc.log", tmpl);
  if (!m->dir || write_file(cpath, src) < 0) {
    if (diags)
      diag_add(diags, GRADC_ERR_INTERNAL, NULL, (Span){0}, NULL,
             "cannot write %s", cpath);
    free(cached);
    jit_free(m);
    return NULL;
  }
  const char *cc = getenv("CC");
  if (!cc || !*cc)
    cc = "cc";
  char *argv[12];
  int na = 0;
  argv[na++] = (char *)cc;
  argv[na++] = "-std=c99";
  argv[na++] = "-O2";
  argv[na++] = "-shared";
  argv[na++] = "-fPIC";
  argv[na++] = "-o";
  argv[na++] = sopath;
  argv[na++] = cpath;
#ifdef GRADC_HAVE_BLAS
  if (strstr(src, "cblas_dgemm"))
    argv[na++] = "-lopenblas";
#endif
  argv[na++] = "-lm";
  argv[na] = NULL;
  if (run_cc(cc, argv, logpath, cancel) != 0) {
    if (!diags) { /* quiet (the tiered JIT): no message, no saved source */
      free(cached);
      jit_free(m);
      return NULL;
    }
    char detail[2048] = "";
    FILE *f = fopen(logpath, "r");
    if (f) {
      size_t n = fread(detail, 1, sizeof detail - 1, f);
      detail[n] = 0;
      fclose(f);
    }
    char what[128];
    snprintf(what, sizeof what, "the C compiler '%s'", cc);
    internal(diags, src, what, detail);
    free(cached);
    jit_free(m);
    return NULL;
  }
  if (cached)
    cache_store(sopath, cached);
  free(cached);
  cached = NULL;
  m->so = dlopen(sopath, RTLD_NOW | RTLD_LOCAL);
  if (!m->so) {
    if (diags)
      internal(diags, src, "dlopen", dlerror());
    free(cached);
    jit_free(m);
    return NULL;
  }
  return m;
}

#ifdef GRADC_NO_TCC
void *jit_runtime_symbol(const char *name) {
  (void)name;
  return NULL;
}
void jit_tcc_lock(void) {}
void jit_tcc_unlock(void) {}
#endif

int jit_x86_parts = 1;

JitModule *jit_compile(const char *src, int backend, Diags *diags) {
#ifdef GRADC_NO_TCC
  (void)backend;
  return compile_cc(src, diags, NULL);
#else
  return backend == 1 ? compile_cc(src, diags, NULL) : compile_tcc(src, diags, NULL);
#endif
}

JitModule *jit_compile_units(const char *src, JitCode *code, Diags *diags) {
#ifdef GRADC_NO_TCC
  jit_code_free(code);
  return compile_cc(src, diags, NULL);
#else
  return compile_tcc(src, diags, code);
#endif
}

/* One unit of a streamed kernel (jit_units.c): compiled in a libtcc state
 * of its own, relocated into the memory place() gives for its size, its
 * global symbols passed to sym(); then the state is deleted. -1: libtcc
 * rejected it (an internal error in diags, if not NULL), -2: out of
 * memory (place() failed). */
int jit_tcc_unit(const char *src, void *ctx, void *(*place)(void *ctx, size_t size),
                 void (*sym)(void *ctx, const char *name, const void *addr), Diags *diags) {
#ifdef GRADC_NO_TCC
  (void)src, (void)ctx, (void)place, (void)sym;
  if (diags)
    diag_add(diags, GRADC_ERR_INTERNAL, NULL, (Span){0}, NULL, "this build has no libtcc");
  return -1;
#else
  int rc = jit_x86_parts ? x86_parts_compile(src, ctx, place, sym) : -1;
  if (rc != -1) /* translated without libtcc (x86_parts.c), or out of memory */
    return rc;
  TccErrors errs = {{0}};
  jit_tcc_lock();
  TCCState *s = tcc_state(&errs, on_tcc_error);
  if (!s) {
    jit_tcc_unlock();
    return -2;
  }
  if (tcc_compile_string(s, src) == 0) {
    int size = tcc_relocate(s, NULL);
    void *mem = size > 0 ? place(ctx, (size_t)size) : NULL;
    if (size > 0 && !mem)
      rc = -2;
    else if (mem && tcc_relocate(s, mem) == 0) {
      tcc_list_symbols(s, ctx, sym);
      rc = 0;
    }
  }
  if (rc == -1 && diags)
    internal(diags, src, "libtcc", errs.msgs.data);
  tcc_delete(s);
  jit_tcc_unlock();
  buf_free(&errs.msgs);
  return rc;
#endif
}

JitModule *jit_compile_cc_quiet(const char *src, JitCancel *cancel) { return compile_cc(src, NULL, cancel); }

JitThunk jit_lookup(JitModule *m, const char *name) {
#ifdef GRADC_NO_TCC
  void *p = dlsym(m->so, name);
#else
  void *p = m->tcc ? tcc_get_symbol(m->tcc, name) : dlsym(m->so, name);
  if (!p && m->code)
    p = jit_code_symbol(m->code, name);
#endif
  JitThunk f;
  memcpy(&f, &p, sizeof f);
  return p ? f : NULL;
}

static void remove_dir(const char *dir) {
  static const char *const files[] = {"g.c", "g.so", "cc.log"};
  char path[96];
  for (int i = 0; i < 3; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, files[i]);
    unlink(path);
  }
  rmdir(dir);
}

void jit_free(JitModule *m) {
  if (!m)
    return;
#ifndef GRADC_NO_TCC
  if (m->tcc) {
    jit_tcc_lock();
    tcc_delete(m->tcc);
    jit_tcc_unlock();
  }
  jit_code_free(m->code);
#endif
  if (m->so)
    dlclose(m->so);
  if (m->dir) {
    remove_dir(m->dir);
    free(m->dir);
  }
  free(m);
}

int jit_have_blas(void) {
#ifdef GRADC_HAVE_BLAS
  return 1;
#else
  return 0;
#endif
}

int jit_have_tcc(void) {
#ifdef GRADC_NO_TCC
  return 0;
#else
  return 1;
#endif
}
