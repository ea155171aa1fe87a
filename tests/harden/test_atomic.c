/* test_atomic.c: SPEC 2.3, "Files are written atomically (temp file, then
 * rename): a failed run leaves no half-written output". `gradc emit -o` and
 * `gradc train --save` must leave a previous file intact and no temp file
 * behind when they fail, and a gradc killed with SIGKILL while it writes
 * must leave either the old file or the complete new one. */
#include <time.h>

#include "harden.h"

static char *dir;
static void setup(void) {
  dir = scratch_dir();
  umask(022);
}
static void teardown(void) {
  rm_tree(dir);
  free(dir);
}

static const char *const OLD = "/* the previous output: must survive a failed run */\n";

/* Assert that DIR/NAME holds exactly `want`. */
static void assert_file(const char *name, const char *want) {
  char *p = hfmt("%s/%s", dir, name);
  char *got = read_all(p, NULL);
  cr_assert_not_null(got, "%s is gone", name);
  cr_assert_str_eq(got, want, "%s was changed", name);
  free(got);
  free(p);
}

/* Assert that no temp file of NAME (NAME.tmp...) is left in SUB. */
static void assert_no_temp(const char *sub, const char *name) {
  char *d = sub ? hfmt("%s/%s", dir, sub) : strdup(dir);
  char *pre = hfmt("%s.tmp", name);
  char *left = list_prefixed(d, pre);
  cr_assert_str_eq(left, "", "temp files left behind in %s: %s", d, left);
  free(left);
  free(pre);
  free(d);
}

static Run run_here(const char *const *args) {
  RunOpts o = {.cwd = dir};
  return run_gradc_opts(&o, args);
}
#define RUN_HERE(...) run_here((const char *const[]){__VA_ARGS__, NULL})

/* ---- failed runs ------------------------------------------------------------ */

TestSuite(atomic, .init = setup, .fini = teardown, .timeout = 60);

Test(atomic, emit_of_a_file_with_an_error_keeps_the_old_output) {
  write_at(dir, "bad.expr", "param w\noutput L = w*(x + \n");
  write_at(dir, "OUT.c", OLD);
  Run r = RUN_HERE("emit", "bad.expr", "-o", "OUT.c");
  cr_assert_eq(r.status, 1, "%s", r.err);
  cr_assert_str_eq(r.out, "");
  run_free(&r);
  assert_file("OUT.c", OLD);
  assert_no_temp(NULL, "OUT.c");
}

Test(atomic, emit_of_a_file_with_a_shape_error_keeps_the_old_output) {
  write_at(dir, "bad.expr", "param A[2, 3], B[2, 3]\noutput L = sum(A @ B)\n");
  write_at(dir, "OUT.c", OLD);
  write_at(dir, "OUT.h", OLD);
  Run r = RUN_HERE("emit", "bad.expr", "-o", "OUT.c", "--header", "OUT.h");
  cr_assert_eq(r.status, 1, "%s", r.err);
  run_free(&r);
  assert_file("OUT.c", OLD);
  assert_file("OUT.h", OLD);
  assert_no_temp(NULL, "OUT.c");
  assert_no_temp(NULL, "OUT.h");
}

Test(atomic, emit_into_a_directory_that_does_not_exist) {
  write_at(dir, "ok.expr", "0.5*(w*x - y)^2\n");
  Run r = RUN_HERE("emit", "ok.expr", "-o", "nodir/OUT.c");
  cr_assert_eq(r.status, 1, "%s", r.err);
  cr_assert_str_eq(r.err, "gradc: error: cannot write nodir/OUT.c: No such file or directory\n");
  cr_assert_str_eq(r.out, "");
  run_free(&r);
  struct stat st;
  char *nodir = hfmt("%s/nodir", dir);
  cr_assert_neq(stat(nodir, &st), 0, "nodir was created");
  free(nodir);
  assert_no_temp(NULL, "OUT.c");
  assert_no_temp(NULL, "nodir");
}

Test(atomic, emit_onto_a_directory) {
  write_at(dir, "ok.expr", "0.5*(w*x - y)^2\n");
  char *sub = hfmt("%s/OUT.c", dir);
  cr_assert_eq(mkdir(sub, 0755), 0);
  write_at(dir, "OUT.c/keep", OLD);
  Run r = RUN_HERE("emit", "ok.expr", "-o", "OUT.c");
  cr_assert_eq(r.status, 1, "%s", r.err);
  cr_assert(strstr(r.err, "gradc: error: cannot write OUT.c: "), "%s", r.err);
  run_free(&r);
  assert_file("OUT.c/keep", OLD);
  assert_no_temp(NULL, "OUT.c");
  free(sub);
}

/* The header is written, then the source fails: the run failed, so
 * neither file may change (a new header with the old source is a
 * half-written output of a run that reported an error). */
Test(atomic, emit_whose_source_fails_keeps_the_old_header) {
  write_at(dir, "ok.expr", "0.5*(w*x - y)^2\n");
  write_at(dir, "OUT.h", OLD);
  Run r = RUN_HERE("emit", "ok.expr", "--header", "OUT.h", "-o", "nodir/OUT.c");
  cr_assert_eq(r.status, 1, "%s", r.err);
  run_free(&r);
  assert_no_temp(NULL, "OUT.h");
  assert_file("OUT.h", OLD);
}

Test(atomic, emit_replaces_the_old_output_with_the_complete_new_one) {
  write_at(dir, "ok.expr", "0.5*(w*x - y)^2\n");
  write_at(dir, "OUT.c", OLD);
  Run ref = RUN_HERE("emit", "ok.expr");
  cr_assert_eq(ref.status, 0, "%s", ref.err);
  Run r = RUN_HERE("emit", "ok.expr", "-o", "OUT.c");
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert_str_eq(r.out, "");
  assert_file("OUT.c", ref.out);
  assert_no_temp(NULL, "OUT.c");
  /* the mode a plain fopen() would give: 0666 less the umask (022) */
  struct stat st;
  char *p = hfmt("%s/OUT.c", dir);
  cr_assert_eq(stat(p, &st), 0);
  cr_assert_eq(st.st_mode & 0777, 0644, "mode %o", st.st_mode & 0777);
  free(p);
  run_free(&r);
  run_free(&ref);
}

static const char *const TRAINABLE = "param w = 0.5, b = 0\noutput L = (w*2 + b - 3)^2\n";

Test(atomic, train_save_into_a_directory_that_does_not_exist) {
  write_at(dir, "t.expr", TRAINABLE);
  Run r = RUN_HERE("train", "t.expr", "--steps", "5", "--save", "nodir/p.json");
  cr_assert_eq(r.status, 1, "%s", r.err);
  cr_assert_str_eq(r.err, "gradc: error: cannot write nodir/p.json: No such file or directory\n");
  cr_assert_null(strstr(r.out, "saved the params"), "%s", r.out);
  run_free(&r);
  assert_no_temp(NULL, "p.json");
  assert_no_temp(NULL, "nodir");
}

Test(atomic, train_of_a_file_with_an_error_keeps_the_old_params) {
  write_at(dir, "t.expr", "param w = 0.5\noutput L = (w*2 - 3)^2 + q\n");
  write_at(dir, "p.json", OLD);
  Run r = RUN_HERE("train", "t.expr", "--steps", "5", "--save", "p.json");
  cr_assert_eq(r.status, 1, "%s", r.err);
  run_free(&r);
  assert_file("p.json", OLD);
  assert_no_temp(NULL, "p.json");
}

/* a value error found only when training starts */
Test(atomic, train_with_a_bad_value_keeps_the_old_params) {
  write_at(dir, "t.expr", TRAINABLE);
  write_at(dir, "p.json", OLD);
  Run r = RUN_HERE("train", "t.expr", "w=[1,2]", "--steps", "5", "--save", "p.json");
  cr_assert_eq(r.status, 1, "%s", r.err);
  run_free(&r);
  assert_file("p.json", OLD);
  assert_no_temp(NULL, "p.json");
}

Test(atomic, train_save_onto_a_directory) {
  write_at(dir, "t.expr", TRAINABLE);
  char *sub = hfmt("%s/p.json", dir);
  cr_assert_eq(mkdir(sub, 0755), 0);
  Run r = RUN_HERE("train", "t.expr", "--steps", "5", "--save", "p.json");
  cr_assert_eq(r.status, 1, "%s", r.err);
  cr_assert(strstr(r.err, "gradc: error: cannot write p.json: "), "%s", r.err);
  run_free(&r);
  assert_no_temp(NULL, "p.json");
  free(sub);
}

Test(atomic, train_save_replaces_the_old_params) {
  write_at(dir, "t.expr", TRAINABLE);
  write_at(dir, "p.json", OLD);
  Run r = RUN_HERE("train", "t.expr", "--steps", "50", "--lr", "0.05", "--optimizer", "gd", "--save",
                   "p.json");
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert(strstr(r.out, "saved the params to p.json\n"), "%s", r.out);
  run_free(&r);
  assert_no_temp(NULL, "p.json");
  char *p = hfmt("%s/p.json", dir);
  char *saved = read_all(p, NULL);
  cr_assert_not_null(saved);
  cr_assert(saved[0] == '{' && strstr(saved, "\"w\"") && strstr(saved, "\"b\""), "%s", saved);
  cr_assert_eq(saved[strlen(saved) - 1], '\n');
  /* the saved params read back: the loss at them is small */
  Run e = RUN_HERE("eval", "t.expr", "--inputs", "p.json", "--json");
  cr_assert_eq(e.status, 0, "%s", e.err);
  double L = 1;
  const char *k = strstr(e.out, "\"L\":");
  cr_assert_not_null(k, "%s", e.out);
  L = strtod(k + 4, NULL);
  cr_assert_lt(L, 1e-3, "%s", e.out);
  run_free(&e);
  free(saved);
  free(p);
}

/* ---- SIGKILL while writing --------------------------------------------------- */

/* 100,000 terms: about 24 MB of C, so the write takes long enough to be
 * hit; each emit takes a second or two of CPU (more under ASan). */
#define KILL_TERMS 100000

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void sleep_us(long us) {
  struct timespec t = {us / 1000000, (us % 1000000) * 1000};
  while (nanosleep(&t, &t) < 0 && errno == EINTR)
    ;
}

/* The size of the first DIR/OUT.c.tmp* file, or -1 if there is none. */
static long temp_size(void) {
  DIR *d = opendir(dir);
  cr_assert_not_null(d);
  long size = -1;
  struct dirent *e;
  while ((e = readdir(d)) && size < 0) {
    if (strncmp(e->d_name, "OUT.c.tmp", 9))
      continue;
    char *p = hfmt("%s/%s", dir, e->d_name);
    struct stat st;
    if (stat(p, &st) == 0)
      size = (long)st.st_size;
    free(p);
  }
  closedir(d);
  return size;
}

static pid_t spawn_emit(const char *out) {
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    int fd = open("/dev/null", O_RDWR);
    dup2(fd, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    if (chdir(dir) != 0)
      _exit(126);
#if HARDEN_ASAN
    putenv("ASAN_OPTIONS=detect_leaks=0");
#endif
    execl(GRADC_BIN, GRADC_BIN, "emit", "big.expr", "-o", out, (char *)NULL);
    _exit(127);
  }
  return pid;
}

/* Wait for the temp file of OUT.c (its size), or for the end of the run
 * (-1, *st set). */
static long wait_for_temp(pid_t pid, int *st, double t0) {
  long size;
  while ((size = temp_size()) < 0) {
    cr_assert_lt(now() - t0, 600.0, "no temp file after 600 s");
    if (waitpid(pid, st, WNOHANG) == pid)
      return -1;
    sleep_us(500);
  }
  return size;
}

static void wait_exit(pid_t pid, int *st) {
  while (waitpid(pid, st, 0) < 0 && errno == EINTR)
    ;
}

Test(atomic, sigkill_while_writing_never_leaves_a_truncated_file, .timeout = 900) {
  /* sin(1*x)*y + sin(2*x)*y + ...: every term distinct */
  size_t cap = (size_t)KILL_TERMS * 24 + 16;
  char *src = malloc(cap), *p = src;
  cr_assert_not_null(src);
  for (int i = 1; i <= KILL_TERMS; i++)
    p += sprintf(p, "%ssin(%d*x)*y", i > 1 ? " + " : "", i);
  strcpy(p, "\n");
  write_at(dir, "big.expr", src);
  free(src);

  /* The complete new content, from a run that is not interrupted, which
   * also measures how long the write takes: from the temp file's
   * appearance to the end of the run. */
  char *outp = hfmt("%s/OUT.c", dir);
  write_at(dir, "OUT.c", OLD);
  int st = 0;
  double t0 = now();
  pid_t pid = spawn_emit("OUT.c");
  double write_time = 0;
  if (wait_for_temp(pid, &st, t0) >= 0) {
    double t1 = now();
    wait_exit(pid, &st);
    write_time = now() - t1;
  }
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "gradc emit failed");
  size_t new_len;
  char *new_text = read_all(outp, &new_len);
  cr_assert_not_null(new_text);
  cr_assert_gt(new_len, 1000000u);
  cr_assert_str_neq(new_text, OLD);

  /* Kill points: 0.2 s after the start (before the temp file exists);
   * as soon as the temp file appears; when it holds 10%, 50% or 90% of
   * the new content; when it holds all of it (before or around the
   * rename); and after a delay of half the measured write time. */
  static const double at[] = {-1, 0, 0.1, 0.5, 0.9, 1.0, 2};
  const int n = sizeof at / sizeof *at;
  int olds = 0, news = 0, mid_write = 0, finished = 0, temps_left = 0;
  for (int i = 0; i < n; i++) {
    write_at(dir, "OUT.c", OLD);
    t0 = now();
    pid = spawn_emit("OUT.c");
    long tsize = -1;
    int done = 0;
    if (at[i] < 0) {
      sleep_us(200000);
    } else {
      done = wait_for_temp(pid, &st, t0) < 0;
      if (at[i] > 1) {
        sleep_us((long)(0.5 * write_time * 1e6));
      } else if (at[i] > 0) {
        /* poll the temp file's size; stop if it is renamed or gradc ends */
        long want = (long)(at[i] * (double)new_len);
        while (!done && (tsize = temp_size()) >= 0 && tsize < want) {
          done = waitpid(pid, &st, WNOHANG) == pid;
          sleep_us(50);
        }
      }
      tsize = temp_size();
    }
    if (!done) {
      kill(pid, SIGKILL);
      wait_exit(pid, &st);
    }
    if (WIFEXITED(st)) {
      cr_assert_eq(WEXITSTATUS(st), 0, "gradc emit failed");
      finished++;
    } else {
      cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    }
    if (tsize > 0 && (size_t)tsize < new_len)
      mid_write++;
    size_t len;
    char *got = read_all(outp, &len);
    cr_assert_not_null(got, "OUT.c is gone after kill point %d", i);
    if (!strcmp(got, OLD)) {
      olds++;
    } else {
      cr_assert(len == new_len && !memcmp(got, new_text, len),
                "OUT.c is neither the old nor the complete new content after kill point %d "
                "(temp file %ld bytes): %zu of %zu bytes", i, tsize, len, new_len);
      news++;
    }
    free(got);
    /* a killed process cannot remove its temp file; count and remove them */
    char *left = list_prefixed(dir, "OUT.c.tmp");
    for (char *tok = strtok(left, " "); tok; tok = strtok(NULL, " ")) {
      char *tp = hfmt("%s/%s", dir, tok);
      unlink(tp);
      free(tp);
      temps_left++;
    }
    free(left);
  }
  char *summary = hfmt("harden: emit of %d terms, %zu bytes, write %.3f s; SIGKILL runs %d: "
                       "OUT.c old %d, complete new %d; killed with a partial temp file %d; "
                       "finished before the kill %d; temp files left by killed runs %d",
                       KILL_TERMS, new_len, write_time, n, olds, news, mid_write, finished,
                       temps_left);
  cr_log_info("%s", summary);
  fprintf(stderr, "%s\n", summary);
  free(summary);
  free(outp);
  free(new_text);
}
