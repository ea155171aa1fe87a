/* harden.h: helpers for the hardening tests (tests/harden): scratch
 * directories, files, and running the gradc binary with its stdout, stderr
 * and exit status captured. */
#ifndef GRADC_HARDEN_H
#define GRADC_HARDEN_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef GRADC_BIN
#error "GRADC_BIN (the gradc binary) must be defined"
#endif

#if defined(__SANITIZE_ADDRESS__)
#define HARDEN_ASAN 1
#include <sanitizer/lsan_interface.h>
#define ASSERT_NO_LEAKS() \
  cr_assert(__lsan_do_recoverable_leak_check() == 0, "memory leaked (see the LSan report above)")
#else
#define HARDEN_ASAN 0
#define ASSERT_NO_LEAKS() ((void)0)
#endif

/* printf into a malloc'd string */
static inline char *hfmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static inline char *hfmt(const char *f, ...) {
  va_list ap;
  va_start(ap, f);
  int n = vsnprintf(NULL, 0, f, ap);
  va_end(ap);
  char *s = malloc((size_t)n + 1);
  cr_assert_not_null(s);
  va_start(ap, f);
  vsnprintf(s, (size_t)n + 1, f, ap);
  va_end(ap);
  return s;
}

/* A fresh scratch directory under /tmp; remove it with rm_tree. */
static inline char *scratch_dir(void) {
  char *d = strdup("/tmp/gradc-harden-XXXXXX");
  cr_assert_not_null(d);
  cr_assert_not_null(mkdtemp(d), "mkdtemp: %s", strerror(errno));
  return d;
}

/* Remove a directory with its files (one level of subdirectories is
 * enough here). */
static inline void rm_tree(const char *dir) {
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d))) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
        continue;
      char *p = hfmt("%s/%s", dir, e->d_name);
      struct stat st;
      if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
        rm_tree(p);
      else
        unlink(p);
      free(p);
    }
    closedir(d);
  }
  rmdir(dir);
}

static inline void write_bytes(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f, "cannot write %s: %s", path, strerror(errno));
  cr_assert_eq(fwrite(data, 1, len, f), len);
  cr_assert_eq(fclose(f), 0);
}

static inline void write_text(const char *path, const char *text) {
  write_bytes(path, text, strlen(text));
}

/* Write DIR/NAME. */
static inline void write_at(const char *dir, const char *name, const char *text) {
  char *p = hfmt("%s/%s", dir, name);
  write_text(p, text);
  free(p);
}

/* The whole file, NUL-terminated; NULL if it cannot be read. */
static inline char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  size_t cap = 1 << 16, n = 0;
  char *s = malloc(cap + 1);
  cr_assert_not_null(s);
  size_t k;
  while ((k = fread(s + n, 1, cap - n, f)) > 0) {
    n += k;
    if (n == cap) {
      cap *= 2;
      s = realloc(s, cap + 1);
      cr_assert_not_null(s);
    }
  }
  fclose(f);
  s[n] = 0;
  if (len)
    *len = n;
  return s;
}

/* The names in `dir` that start with `prefix`, as one string "a b c" (or
 * "" if none): for spotting leftover temp files. */
static inline char *list_prefixed(const char *dir, const char *prefix) {
  DIR *d = opendir(dir);
  cr_assert_not_null(d);
  char *out = strdup("");
  struct dirent *e;
  while ((e = readdir(d))) {
    if (strncmp(e->d_name, prefix, strlen(prefix)))
      continue;
    char *o = hfmt("%s%s%s", out, *out ? " " : "", e->d_name);
    free(out);
    out = o;
  }
  closedir(d);
  return out;
}

/* ---- running gradc ---------------------------------------------------- */

typedef struct Run {
  int status;    /* exit code, or 128 + signal */
  char *out;     /* stdout */
  char *err;     /* stderr */
} Run;

typedef struct RunOpts {
  const char *cwd;       /* NULL: the current directory */
  const char *stdin_path; /* NULL: /dev/null */
  /* Cap the address space of gradc so that huge allocations fail quickly.
   * Under ASan, RLIMIT_AS would break its shadow memory; there the cap is
   * ASan's own max_allocation_size_mb with allocator_may_return_null. */
  long mem_limit_mb;
} RunOpts;

static inline void run_free(Run *r) {
  free(r->out);
  free(r->err);
  r->out = r->err = NULL;
}

/* Run gradc with argv (NULL-terminated, without argv[0]). */
static inline Run run_gradc_opts(const RunOpts *o, const char *const *args) {
  char *outp = strdup("/tmp/gradc-harden-out-XXXXXX");
  char *errp = strdup("/tmp/gradc-harden-err-XXXXXX");
  int fo = mkstemp(outp), fe = mkstemp(errp);
  cr_assert(fo >= 0 && fe >= 0);
  int n = 0;
  while (args[n])
    n++;
  const char **argv = calloc((size_t)n + 2, sizeof *argv);
  cr_assert_not_null(argv);
  argv[0] = GRADC_BIN;
  for (int i = 0; i < n; i++)
    argv[i + 1] = args[i];
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    int fi = open(o && o->stdin_path ? o->stdin_path : "/dev/null", O_RDONLY);
    if (fi < 0)
      _exit(126);
    dup2(fi, 0);
    dup2(fo, 1);
    dup2(fe, 2);
    if (o && o->cwd && chdir(o->cwd) != 0)
      _exit(126);
#if HARDEN_ASAN
    /* the tests themselves run with leak_check_at_exit=0; gradc must not:
     * a leak in gradc makes its exit status non-zero */
    if (o && o->mem_limit_mb > 0)
      putenv(hfmt("ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:"
                  "max_allocation_size_mb=%ld", o->mem_limit_mb));
    else
      putenv("ASAN_OPTIONS=detect_leaks=1");
#else
    if (o && o->mem_limit_mb > 0) {
      struct rlimit rl = {(rlim_t)o->mem_limit_mb << 20, (rlim_t)o->mem_limit_mb << 20};
      setrlimit(RLIMIT_AS, &rl);
    }
#endif
    execv(GRADC_BIN, (char *const *)argv);
    _exit(127);
  }
  free(argv);
  close(fo);
  close(fe);
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
    ;
  Run r;
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  r.out = read_all(outp, NULL);
  r.err = read_all(errp, NULL);
  unlink(outp);
  unlink(errp);
  free(outp);
  free(errp);
  cr_assert(r.out && r.err);
#if HARDEN_ASAN
  /* allocator_may_return_null=1 makes ASan warn about each failed
   * allocation; that is ASan talking, not gradc */
  if (o && o->mem_limit_mb > 0) {
    char *w = r.err;
    for (const char *line = r.err; *line;) {
      size_t n = strcspn(line, "\n") + (line[strcspn(line, "\n")] == '\n');
      if (!(line[0] == '=' && strstr(line, "WARNING: AddressSanitizer failed to allocate") &&
            strstr(line, "WARNING: AddressSanitizer failed to allocate") < line + n)) {
        memmove(w, line, n);
        w += n;
      }
      line += n;
    }
    *w = 0;
  }
#endif
  return r;
}

#define RUN(...) run_gradc_opts(NULL, (const char *const[]){__VA_ARGS__, NULL})
#define RUN_OPTS(o, ...) run_gradc_opts(o, (const char *const[]){__VA_ARGS__, NULL})

/* The first line of s (a static copy, for messages). */
static inline const char *first_line(const char *s) {
  static char buf[512];
  size_t n = strcspn(s, "\n");
  if (n >= sizeof buf)
    n = sizeof buf - 1;
  memcpy(buf, s, n);
  buf[n] = 0;
  return buf;
}

/* Assert an input error: exit 1 and a first stderr line equal to `line`. */
#define ASSERT_INPUT_ERROR(r, line)                                                       \
  do {                                                                                    \
    cr_expect_eq((r).status, 1, "exit status %d, expected 1; stderr:\n%.2000s", (r).status, \
                 (r).err);                                                                \
    cr_assert_str_eq(first_line((r).err), (line), "stderr was:\n%.2000s", (r).err);        \
  } while (0)

#endif
