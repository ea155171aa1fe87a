/* cli_files.c: the files commands write (SPEC 2, 2.3). Every output
 * (emit -o and --header, train --save, landscape -o) is checked before the
 * work starts: it must not be one of the run's input files (the .expr, a
 * data file read through an @FILE default or NAME=@FILE, --inputs,
 * landscape's --along), compared by device and inode so that ./f, absolute
 * paths, symlinks and hard links count, and its directory must be
 * writable. Then it is written atomically (a temporary file beside it,
 * then rename); a FIFO, a character device or a socket is written into
 * directly, and a symlink is resolved so that the link stays and its
 * target is replaced. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* A path not yet written, canonical: its directory's realpath, then its
 * last component (x.c and ./x.c, d/../x.c alike); 0 if the directory is not
 * there. */
static int canonical(const char *p, char *out, size_t n) {
  const char *slash = strrchr(p, '/');
  char dir[PATH_MAX], real[PATH_MAX];
  snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - p) + 1 : 1, slash ? p : ".");
  if (!realpath(dir, real))
    return 0;
  return snprintf(out, n, "%s/%s", real, slash ? slash + 1 : p) < (int)n;
}

int same_file(const char *a, const char *b) {
  struct stat sa, sb;
  if (!a || !b)
    return 0;
  if (!strcmp(a, b))
    return 1;
  int ea = stat(a, &sa) == 0, eb = stat(b, &sb) == 0;
  if (ea && eb)
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  char ca[PATH_MAX + 256], cb[PATH_MAX + 256]; /* not written yet: the same name? */
  return !ea && !eb && canonical(a, ca, sizeof ca) && canonical(b, cb, sizeof cb) && !strcmp(ca, cb);
}

/* A data path without its :COLS (malloc'd): data.csv:0,1 -> data.csv, as
 * values.c reads it. */
static char *data_path(const char *path) {
  char *p = strdup(path), *colon = p ? strrchr(p, ':') : NULL;
  if (colon && strstr(p, ".csv") && strstr(p, ".csv") < colon)
    *colon = 0;
  return p;
}

/* The input file that out would overwrite, or NULL; *owned says the
 * returned name is malloc'd. */
static const char *clash(Gradc *g, const Opts *o, const char *out, int *owned) {
  *owned = 0;
  const char *fixed[] = {o->file, o->inputs, o->along && strcmp(o->along, "random") ? o->along : NULL};
  for (size_t k = 0; k < sizeof fixed / sizeof *fixed; k++)
    if (same_file(out, fixed[k]))
      return fixed[k];
  /* NAME=@FILE words (values, tangents, HVP vectors), then the file's @FILE defaults */
  int nv = g ? gradc_var_count(g) : 0, nw = o->nassign + o->ntangent + o->nvector;
  for (int k = 0; k < nw + nv; k++) {
    const char *file;
    if (k < nw) {
      const char *w = k < o->nassign                ? o->assign[k]
                      : k < o->nassign + o->ntangent ? o->tangent[k - o->nassign]
                                                     : o->vector[k - o->nassign - o->ntangent];
      file = strchr(w, '=')[1] == '@' ? strchr(w, '=') + 2 : NULL;
    } else {
      file = gradc_var_data_file(g, k - nw);
    }
    char *path = file ? data_path(file) : NULL;
    if (path && same_file(out, path)) {
      *owned = 1;
      return path;
    }
    free(path);
  }
  return NULL;
}

/* Whether path can be written (its directory; not a directory itself);
 * prints why not. */
static int writable(const char *path) {
  struct stat st;
  if (stat(path, &st) == 0) {
    if (S_ISDIR(st.st_mode)) {
      fprintf(stderr, "gradc: error: cannot write %s: it is a directory\n", path);
      return 0;
    }
    if (!S_ISREG(st.st_mode)) /* a FIFO, a device: written into */
      return 1;
  }
  char real[PATH_MAX];
  struct stat lst;
  const char *target = lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode) && realpath(path, real) ? real : path;
  const char *slash = strrchr(target, '/');
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - target) + 1 : 2, slash ? target : "./");
  if (access(dir, W_OK | X_OK) != 0) {
    fprintf(stderr, "gradc: error: cannot write %s: %s\n", path, strerror(errno));
    return 0;
  }
  /* access() says yes to root on a read-only file system or in /proc: the
   * temporary file that write_atomic makes there is the real test */
  char probe[PATH_MAX + 32];
  snprintf(probe, sizeof probe, "%s.gradc-probe-XXXXXX", dir);
  int fd = mkstemp(probe);
  if (fd < 0) {
    fprintf(stderr, "gradc: error: cannot write %s: %s\n", path, strerror(errno));
    return 0;
  }
  close(fd);
  unlink(probe);
  return 1;
}

int check_outputs(Gradc *g, const Opts *o) {
  char sp[32];
  snprintf(sp, sizeof sp, "%s ", o->cmd);
  const char *opt[] = {"-o", "--header", "--save"};
  const char *path[] = {o->out, o->header, o->save};
  for (int k = 0; k < 3; k++) {
    if (!path[k])
      continue;
    if (!*path[k]) {
      usage_error(sp, "%s needs a file name, not ''", opt[k]);
      return EXIT_USAGE;
    }
    int owned;
    const char *in = clash(g, o, path[k], &owned);
    if (in) {
      usage_error(sp, "%s %s would overwrite the input file %s", opt[k], path[k], in);
      if (owned)
        free((char *)in);
      return EXIT_USAGE;
    }
    for (int j = 0; j < k; j++)
      if (path[j] && same_file(path[j], path[k])) {
        usage_error(sp, "%s and %s name the same file %s", opt[j], opt[k], path[k]);
        return EXIT_USAGE;
      }
    if (!writable(path[k]))
      return EXIT_INPUT;
  }
  return 0;
}

/* ---- writing ----------------------------------------------------------------------- */

/* Write all of data to fd; 0 or -1 (errno). */
static int write_all(int fd, const void *data, size_t len) {
  const char *p = data;
  while (len) {
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

/* Into a FIFO, device or socket as it is: opened without blocking (a FIFO
 * with no reader is an error, not a hang), then written in blocking mode. */
static int write_direct(const char *path, const void *data, size_t len) {
  int fd = open(path, O_WRONLY | O_NOCTTY | O_NONBLOCK);
  int ok = fd >= 0;
  if (ok) {
    int fl = fcntl(fd, F_GETFL);
    ok = fl >= 0 && fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == 0 && write_all(fd, data, len) == 0;
  }
  int err = errno;
  if (fd >= 0 && close(fd) != 0 && ok) {
    ok = 0;
    err = errno;
  }
  if (!ok)
    fprintf(stderr, "gradc: error: cannot write %s: %s\n", path,
            err == ENXIO ? "no process reads the FIFO" : strerror(err));
  return ok ? 0 : -1;
}

int write_begin(const char *path, const void *data, size_t len, Pending *p) {
  p->tmp = p->target = NULL;
  struct stat st, lst;
  if (stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
    return write_direct(path, data, len);
  char real[PATH_MAX];
  /* a symlink: its target is replaced, the link stays */
  const char *target = lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode) && realpath(path, real) ? real : path;
  size_t n = strlen(target);
  p->target = strdup(target);
  p->tmp = malloc(n + 16);
  if (!p->target || !p->tmp) {
    write_abort(p);
    return -1;
  }
  snprintf(p->tmp, n + 16, "%s.tmpXXXXXX", target);
  int fd = mkstemp(p->tmp);
  if (fd < 0) {
    fprintf(stderr, "gradc: error: cannot write %s: %s\n", path, strerror(errno));
    free(p->tmp);
    p->tmp = NULL;
    write_abort(p);
    return -1;
  }
  mode_t mask = umask(0); /* mkstemp makes 0600; a plain file gets 0666 less the umask */
  umask(mask);
  fchmod(fd, 0666 & ~mask);
  int ok = write_all(fd, data, len) == 0 && fsync(fd) == 0;
  int err = errno;
  if (close(fd) != 0 && ok) {
    ok = 0;
    err = errno;
  }
  if (!ok) {
    fprintf(stderr, "gradc: error: cannot write %s: %s\n", path, strerror(err));
    write_abort(p);
    return -1;
  }
  return 0;
}

int write_commit(Pending *p, const char *path) {
  if (!p->tmp) /* written directly */
    return 0;
  int rc = rename(p->tmp, p->target);
  if (rc != 0)
    fprintf(stderr, "gradc: error: cannot write %s: %s\n", path, strerror(errno));
  if (rc != 0)
    unlink(p->tmp);
  free(p->tmp);
  free(p->target);
  p->tmp = p->target = NULL;
  return rc == 0 ? 0 : -1;
}

void write_abort(Pending *p) {
  if (p->tmp)
    unlink(p->tmp);
  free(p->tmp);
  free(p->target);
  p->tmp = p->target = NULL;
}

int write_atomic(const char *path, const char *text) {
  return write_atomic_data(path, text, strlen(text));
}

int write_atomic_data(const char *path, const void *data, size_t len) {
  Pending p;
  if (write_begin(path, data, len, &p) < 0)
    return -1;
  return write_commit(&p, path);
}
