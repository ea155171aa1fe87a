/* pty_session.c: gradc repl on a pseudo-terminal, as a person uses it.
 *
 *   pty_session GRADC
 *
 * Starts `GRADC repl` on a pty with HOME and GRADC_HISTORY in a scratch
 * directory, waits for the prompt, types a definition and expressions,
 * recalls earlier lines with the arrow keys and edits them, makes an
 * error, continues an input on a second line, quits, and checks the
 * history file; then starts a second session and recalls the first one's
 * last line from that history; then a third: Ctrl-C while typing, in an
 * open statement and during a long command (a new prompt each time, as in
 * Python's REPL), the history file while it runs, file-name completion
 * after :load, and Ctrl-D to leave. Exits 0 when everything was seen, 1 with a
 * transcript otherwise (and always with PTY_SESSION_VERBOSE set). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define UP "\033[A"
#define LEFT "\033[D"
#define BACKSPACE "\177"
#define CTRL_C "\003"
#define CTRL_D "\004"
#define CTRL_U "\025"
#define TIMEOUT_MS 15000

typedef struct Session {
  pid_t pid;
  int fd;
  char *buf;       /* everything the terminal showed */
  size_t len, cap;
  size_t pos;      /* searches start here: after the last thing expected */
  int eof;
  const char *what;
} Session;

static char dir[256];

static void cleanup(void) {
  if (!dir[0])
    return;
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *e;
    char p[600];
    while ((e = readdir(d)))
      if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
      }
    closedir(d);
  }
  rmdir(dir);
}

/* The transcript with control characters made visible. */
static void dump(const Session *s) {
  fprintf(stderr, "--- transcript of %s (%zu bytes; >>> marks where the search started):\n", s->what, s->len);
  for (size_t i = 0; i < s->len; i++) {
    if (i == s->pos)
      fputs(">>>", stderr);
    unsigned char c = (unsigned char)s->buf[i];
    if (c == '\n')
      fputs("\\n\n", stderr);
    else if (c == '\r')
      fputs("\\r", stderr);
    else if (c == 033)
      fputs("\\e", stderr);
    else if (c < 32 || c == 127)
      fprintf(stderr, "\\x%02x", c);
    else
      fputc(c, stderr);
  }
  fputs("\n---\n", stderr);
}

static void die(Session *s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("FAIL pty_session: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  if (s) {
    dump(s);
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
  }
  cleanup();
  exit(1);
}

static long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

/* Read what is there, waiting at most ms. */
static void pump(Session *s, int ms) {
  struct pollfd p = {s->fd, POLLIN, 0};
  if (s->eof || poll(&p, 1, ms) <= 0)
    return;
  if (s->len + 4096 + 1 > s->cap) {
    s->cap = 2 * s->cap + 8192;
    s->buf = realloc(s->buf, s->cap);
    if (!s->buf)
      die(NULL, "out of memory");
  }
  ssize_t n = read(s->fd, s->buf + s->len, 4096);
  if (n > 0) {
    s->len += (size_t)n;
    s->buf[s->len] = 0;
  } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
    s->eof = 1; /* EIO: the child has gone */
  }
}

static const char *find(const Session *s, const char *text) {
  if (!s->buf)
    return NULL;
  return memmem(s->buf + s->pos, s->len - s->pos, text, strlen(text));
}

/* Wait until `text` appears after the last match; move past it. */
static void expect(Session *s, const char *text) {
  long end = now_ms() + TIMEOUT_MS;
  const char *at;
  while (!(at = find(s, text))) {
    if (s->eof || now_ms() > end)
      die(s, "%s: '%s' did not appear%s", s->what, text, s->eof ? " (gradc exited)" : " within the timeout");
    pump(s, 50);
  }
  s->pos = (size_t)(at - s->buf) + strlen(text);
}

/* Type keys (no newline added). */
static void type(Session *s, const char *keys) {
  size_t n = strlen(keys);
  while (n > 0) {
    ssize_t w = write(s->fd, keys, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      die(s, "cannot write to the pty: %s", strerror(errno));
    keys += w;
    n -= (size_t)w;
  }
  pump(s, 20);
}

/* Wait until the terminal has been quiet for 200 ms (after a key whose
 * redraw need not show any particular text: libedit rewrites only the
 * characters that change). */
static void settle(Session *s) {
  long end = now_ms() + TIMEOUT_MS;
  size_t len;
  do {
    len = s->len;
    pump(s, 200);
  } while (s->len != len && !s->eof && now_ms() < end);
}

/* Type a line and press Enter; wait for `result` (if any), then the prompt. */
static void line(Session *s, const char *text, const char *result) {
  type(s, text);
  type(s, "\r");
  if (result)
    expect(s, result);
  expect(s, "gradc> ");
}

/* history: GRADC_HISTORY, or NULL for the scratch directory's file */
static Session start_with(const char *gradc, const char *what, const char *history) {
  Session s = {0};
  s.what = what;
  struct winsize ws = {.ws_row = 24, .ws_col = 100};
  char hist[300];
  snprintf(hist, sizeof hist, "%s", history ? history : "");
  if (!history)
    snprintf(hist, sizeof hist, "%s/history", dir);
  s.pid = forkpty(&s.fd, NULL, NULL, &ws);
  if (s.pid < 0)
    die(NULL, "forkpty: %s", strerror(errno));
  if (s.pid == 0) {
    setenv("HOME", dir, 1);
    setenv("GRADC_HISTORY", hist, 1);
    setenv("TERM", "xterm", 1);
    unsetenv("EDITRC");
    execl(gradc, gradc, "repl", (char *)NULL);
    fprintf(stderr, "cannot run %s: %s\n", gradc, strerror(errno));
    _exit(127);
  }
  return s;
}

static Session start(const char *gradc, const char *what) { return start_with(gradc, what, NULL); }

/* Quit and return the exit status. */
static int finish(Session *s) {
  long end = now_ms() + TIMEOUT_MS;
  int status;
  for (;;) {
    pid_t w = waitpid(s->pid, &status, WNOHANG);
    if (w == s->pid)
      break;
    if (now_ms() > end)
      die(s, "%s: gradc did not exit after :quit", s->what);
    pump(s, 50);
  }
  while (!s->eof) /* the rest of the output */
    pump(s, 50);
  close(s->fd);
  if (!WIFEXITED(status))
    die(s, "%s: gradc ended by signal %d", s->what, WTERMSIG(status));
  return WEXITSTATUS(status);
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  char *b = calloc(1, 1 << 20);
  size_t n = b ? fread(b, 1, (1 << 20) - 1, f) : 0;
  (void)n;
  fclose(f);
  return b;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s GRADC\n", argv[0]);
    return 2;
  }
  const char *gradc = argv[1];
  const char *t = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/gradc-pty-XXXXXX", t && *t ? t : "/tmp");
  if (!mkdtemp(dir)) {
    dir[0] = 0;
    die(NULL, "mkdtemp: %s", strerror(errno));
  }

  /* ---- the first session ------------------------------------------------ */
  Session s = start(gradc, "the first session");
  expect(&s, "type :help for commands");
  expect(&s, "gradc> ");
  settle(&s);
  line(&s, "v = w + 1", NULL);
  line(&s, ":set w=5", NULL); /* w is a variable once the session uses it */
  line(&s, "v*w", "f = 30\r\n");
  line(&s, "w*2", "f = 10\r\n");
  /* up-arrow recalls w*2; backspace, 3, Enter gives w*3 */
  type(&s, UP);
  expect(&s, "w*2");
  settle(&s);
  type(&s, BACKSPACE);
  settle(&s);
  line(&s, "3", "f = 15\r\n");
  /* three lines up is v*w; go left past 'w' and '*' and insert "+1" */
  type(&s, UP);
  settle(&s);
  type(&s, UP);
  settle(&s);
  type(&s, UP);
  settle(&s);
  type(&s, LEFT LEFT);
  settle(&s);
  line(&s, "+1", "f = 11\r\n"); /* v+1*w = 6 + 5 */
  /* an error: reported, and the session goes on */
  line(&s, "foo(w)", "error: unknown function 'foo'");
  line(&s, "w+1", "f = 6\r\n");
  /* an open bracket continues the input on a second line */
  type(&s, "(w +\r");
  expect(&s, "...> ");
  line(&s, "2)*v", "f = 42\r\n");
  /* a redefinition replaces the old one */
  line(&s, "v = w - 1", NULL);
  line(&s, "v*w", "f = 20\r\n");
  type(&s, ":quit\r");
  int rc = finish(&s);
  if (getenv("PTY_SESSION_VERBOSE"))
    dump(&s);
  if (rc != 0 && rc != 1) /* 1: a line failed in the session */
    die(&s, "the first session exited with %d", rc);

  /* ---- the history file ---------------------------------------------------- */
  char hist[300];
  snprintf(hist, sizeof hist, "%s/history", dir);
  char *h = slurp(hist);
  if (!h)
    die(&s, "no history file at $GRADC_HISTORY after :quit");
  const char *want[] = {"w*3", "v+1*w", "foo(w)", ":set", "2)*v", ":quit"};
  for (size_t i = 0; i < sizeof want / sizeof *want; i++)
    if (!strstr(h, want[i])) {
      fprintf(stderr, "--- history file:\n%s\n---\n", h);
      die(&s, "the history file lacks '%s'", want[i]);
    }
  free(h);
  DIR *d = opendir(dir);
  struct dirent *e;
  while (d && (e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "history"))
      die(&s, "a file besides the history is left in $HOME: %s", e->d_name);
  if (d)
    closedir(d);
  free(s.buf);

  /* ---- a second session reads the history ---------------------------------- */
  Session s2 = start(gradc, "the second session");
  expect(&s2, "gradc> ");
  settle(&s2); /* let libedit put the terminal in raw mode first */
  type(&s2, UP); /* the first session's last line */
  expect(&s2, ":quit");
  type(&s2, "\r");
  rc = finish(&s2);
  if (getenv("PTY_SESSION_VERBOSE"))
    dump(&s2);
  if (rc != 0)
    die(&s2, "the second session exited with %d", rc);
  free(s2.buf);

  /* ---- keys: Ctrl-C and Ctrl-D as in Python's REPL ---------------------------------- */
  Session s3 = start(gradc, "the third session (Ctrl-C, Ctrl-D, history, completion)");
  expect(&s3, "gradc> ");
  settle(&s3);
  /* Ctrl-C while typing abandons the line: what follows is a new input */
  type(&s3, "w + ");
  settle(&s3);
  type(&s3, CTRL_C);
  expect(&s3, "KeyboardInterrupt");
  expect(&s3, "gradc> ");
  settle(&s3);
  line(&s3, "1+1", "f = 2\r\n");
  /* and in the middle of an open statement */
  type(&s3, "(1 +\r");
  expect(&s3, "...> ");
  settle(&s3);
  type(&s3, CTRL_C);
  expect(&s3, "KeyboardInterrupt");
  expect(&s3, "gradc> ");
  settle(&s3);
  line(&s3, "2*3", "f = 6\r\n");
  line(&s3, "_ + 1", "f = 7\r\n"); /* _ comes back from the process that computed it */
  /* history is written as lines are entered, not only at the end */
  h = slurp(hist);
  if (!h || !strstr(h, "2*3"))
    die(&s3, "the history file lacks '2*3' while the session is still running");
  free(h);
  /* Ctrl-C interrupts a long command (central differences of a function
   * of 1000 variables that builds a 1000 x 1000 matrix: minutes) and the
   * session goes on with its definitions */
  line(&s3, "param x[1000] = randn(1)", NULL);
  line(&s3, "g = sum((x[:, None] * x[None, :])^2)", NULL);
  type(&s3, ":check g\r");
  long t0 = now_ms();
  while (now_ms() - t0 < 1000)
    pump(&s3, 100);
  type(&s3, CTRL_C);
  expect(&s3, "KeyboardInterrupt");
  expect(&s3, "gradc> ");
  if (now_ms() - t0 > 8000)
    die(&s3, "Ctrl-C took %ld ms to stop the command", now_ms() - t0);
  settle(&s3);
  line(&s3, "g > 0", "f = 1\r\n");
  /* file names complete after :load */
  type(&s3, ":load ");
  type(&s3, dir);
  type(&s3, "/hist\t");
  expect(&s3, "ory"); /* libedit writes only what the completion adds to "hist" */
  settle(&s3);
  type(&s3, CTRL_U);
  settle(&s3);
  /* Ctrl-D at an empty prompt ends the session */
  type(&s3, CTRL_D);
  rc = finish(&s3);
  if (getenv("PTY_SESSION_VERBOSE"))
    dump(&s3);
  if (rc != 0) /* Ctrl-C is no error */
    die(&s3, "the third session exited with %d after Ctrl-D", rc);
  free(s3.buf);

  /* ---- Ctrl-C of a command, then :quit: exit status 0 ---------------------------------- */
  Session s4 = start(gradc, "the fourth session (Ctrl-C of a command, then :quit)");
  expect(&s4, "gradc> ");
  settle(&s4);
  line(&s4, "param x[1000] = randn(1)", NULL);
  line(&s4, "g = sum((x[:, None] * x[None, :])^2)", NULL);
  type(&s4, ":check g\r");
  t0 = now_ms();
  while (now_ms() - t0 < 1000)
    pump(&s4, 100);
  type(&s4, CTRL_C);
  expect(&s4, "KeyboardInterrupt");
  expect(&s4, "gradc> ");
  settle(&s4);
  type(&s4, "w + ");
  settle(&s4);
  type(&s4, CTRL_C); /* and of a line being typed */
  expect(&s4, "KeyboardInterrupt");
  expect(&s4, "gradc> ");
  settle(&s4);
  type(&s4, ":quit\r");
  rc = finish(&s4);
  if (getenv("PTY_SESSION_VERBOSE"))
    dump(&s4);
  if (rc != 0)
    die(&s4, "the fourth session exited with %d after Ctrl-C and :quit", rc);
  free(s4.buf);

  /* ---- a history that cannot be saved: one warning, the session goes on ---------------- */
  char nohist[300];
  snprintf(nohist, sizeof nohist, "%s/no-such-directory/history", dir);
  Session s5 = start_with(gradc, "the fifth session (history not writable)", nohist);
  expect(&s5, "gradc> ");
  settle(&s5);
  line(&s5, "1+1", "f = 2");
  line(&s5, "2+3", "f = 5");
  type(&s5, ":quit\r");
  rc = finish(&s5);
  if (rc != 0)
    die(&s5, "the fifth session exited with %d", rc);
  const char *w1 = strstr(s5.buf, "cannot save the history");
  if (!w1 || strstr(w1 + 1, "cannot save the history"))
    die(&s5, "the fifth session: want one warning that the history cannot be saved");
  free(s5.buf);
  cleanup();
  puts("ok pty_session");
  return 0;
}
