/* json_array.c: a fast reader for the common case of a JSON data file, a
 * regular nested array of numbers (a 1000 x 1000 matrix is 22 MB of text:
 * jansson builds a tree of a million nodes and reads the file a character
 * at a time through a locked getc, about 1 s; this is about 0.15 s). It
 * accepts exactly JSON's number syntax, the strings "NaN", "Infinity" and
 * "-Infinity" (SPEC 2.2), brackets, commas and whitespace; anything else,
 * or an irregular or empty array, is left to jansson (values.c), whose
 * messages say what is wrong. Numbers are converted as jansson does:
 * integers by strtoll (an integer beyond a long long is jansson's error),
 * the others correctly rounded, as strtod (numtext.c's num_parse). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "numtext.h"

static const char *skip_ws(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    p++;
  return p;
}

/* The end of the JSON number at p, or NULL if there is none. */
static const char *number_end(const char *p, const char *end) {
  if (p < end && *p == '-')
    p++;
  if (p >= end || *p < '0' || *p > '9')
    return NULL;
  if (*p == '0')
    p++;
  else
    while (p < end && *p >= '0' && *p <= '9')
      p++;
  if (p < end && *p == '.') {
    p++;
    if (p >= end || *p < '0' || *p > '9')
      return NULL;
    while (p < end && *p >= '0' && *p <= '9')
      p++;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < end && (*p == '+' || *p == '-'))
      p++;
    if (p >= end || *p < '0' || *p > '9')
      return NULL;
    while (p < end && *p >= '0' && *p <= '9')
      p++;
  }
  return p;
}

typedef struct Out {
  double *d;
  long n, cap;
} Out;

static int push(Out *o, double x) {
  if (o->n == o->cap) {
    long cap = o->cap ? 2 * o->cap : 1024;
    double *d = realloc(o->d, (size_t)cap * sizeof *d);
    if (!d)
      return -1;
    o->d = d;
    o->cap = cap;
  }
  o->d[o->n++] = x;
  return 0;
}

/* One element: a number or one of the three strings; NULL if not. */
static const char *element(const char *p, const char *end, Out *o) {
  static const struct {
    const char *text;
    double x;
  } special[] = {{"\"NaN\"", NAN}, {"\"Infinity\"", INFINITY}, {"\"-Infinity\"", -INFINITY}};
  if (p < end && *p == '"') {
    for (int i = 0; i < 3; i++) {
      size_t n = strlen(special[i].text);
      if ((size_t)(end - p) >= n && !memcmp(p, special[i].text, n))
        return push(o, special[i].x) < 0 ? NULL : p + n;
    }
    return NULL;
  }
  const char *e = number_end(p, end);
  if (!e)
    return NULL;
  char buf[64];
  size_t n = (size_t)(e - p);
  if (!memchr(p, '.', n) && !memchr(p, 'e', n) && !memchr(p, 'E', n)) {
    /* an integer, which jansson reads as a long long and converts: -0 is
     * 0, and one out of its range is jansson's error */
    if (n >= sizeof buf)
      return NULL;
    memcpy(buf, p, n);
    buf[n] = 0;
    errno = 0;
    long long v = strtoll(buf, NULL, 10);
    if (errno)
      return NULL;
    return push(o, (double)v) < 0 ? NULL : e;
  }
  double x = num_parse(p, e); /* strtod's result, fast (numtext.c) */
  /* too large for a double: jansson's error, as for a literal in a file */
  return !isfinite(x) || push(o, x) < 0 ? NULL : e;
}

int json_numeric_array(const char *text, size_t len, double **data, long *dims, int *rank) {
  const char *p = text, *end = text + len;
  Out o = {0};
  long count[MAX_RANK] = {0}; /* elements so far at each open depth */
  int depth = 0, r = -1;      /* r: the rank, known at the first element */
  p = skip_ws(p, end);
  if (p < end && *p != '[') { /* a bare number */
    p = element(p, end, &o);
    r = 0;
    goto done;
  }
  for (;;) {
    p = skip_ws(p, end);
    if (!p || p >= end)
      goto fail;
    if (*p == '[') {
      if (depth == MAX_RANK || (r >= 0 && depth >= r))
        goto fail;
      if (depth > 0)
        count[depth - 1]++;
      count[depth++] = 0;
      p++;
      continue;
    }
    if (*p == ']') {
      if (depth == 0 || count[depth - 1] == 0) /* [] */
        goto fail;
      if (r < 0 || count[depth - 1] != dims[depth - 1])
        goto fail;
      depth--;
      p++;
    } else {
      if (r < 0) { /* the first element: the depth is the rank */
        r = depth;
        for (int i = 0; i < r; i++)
          dims[i] = -1;
      }
      if (depth != r || !(p = element(p, end, &o)))
        goto fail;
      count[depth - 1]++;
    }
    /* after an element or a closed array: the length of this level */
    if (depth == 0)
      break;
    p = skip_ws(p, end);
    if (p >= end)
      goto fail;
    if (*p == ',') {
      p++;
      continue;
    }
    if (*p != ']')
      goto fail;
    /* the level ends: fix or check its length */
    if (dims[depth - 1] < 0)
      dims[depth - 1] = count[depth - 1];
  }
done:
  if (!p || r < 0 || skip_ws(p, end) != end)
    goto fail;
  *rank = r;
  *data = o.d ? o.d : malloc(sizeof(double));
  return *data ? 0 : -1;
fail:
  free(o.d);
  return 1;
}

int json_array_file(const char *path, double **data, long *dims, int *rank) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return 1;
  char *text = NULL;
  size_t len = 0, cap = 0, n;
  int rc = 1;
  for (;;) {
    if (len + 65536 > cap) {
      cap = 2 * cap + 65536;
      char *t = realloc(text, cap);
      if (!t)
        goto out;
      text = t;
    }
    n = fread(text + len, 1, cap - len, f);
    if (n == 0)
      break;
    len += n;
  }
  if (!ferror(f))
    rc = json_numeric_array(text, len, data, dims, rank);
out:
  fclose(f);
  free(text);
  return rc;
}
