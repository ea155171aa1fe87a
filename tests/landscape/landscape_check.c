/* landscape_check: the checks of tests/landscape/landscape_test.sh that
 * need JSON, exact doubles or a PNG decoder.
 *
 *   landscape_check grid GRADC EXPR GRID.json K CENTRE.json|- END.json|- [-- ARGS...]
 *       Rebuilds the params at the grid's corners, its middle point and K
 *       seeded random grid points of `gradc landscape --json` (GRID.json)
 *       from the params of CENTRE.json (- : the grid's "centre"), its
 *       directions and END.json (the PARAMS.json of --along), runs `gradc eval EXPR
 *       --inputs P.json --json` at each, and compares the output's value
 *       with the grid's: the same bits, the same 17-digit text. Exit 1 on
 *       any difference.
 *   landscape_check png FILE W H
 *       FILE is a PNG (signature, IHDR first, chunk CRCs, IEND last) that
 *       cairo decodes, W x H pixels.
 *   landscape_check permute PARAMS.json PERM OUT.json
 *       Permutes the hidden units of the Iris network (rows of V, entries
 *       of b, columns of W): new unit j is old unit PERM[j]. PERM is
 *       "i,j,..." or "random:SEED". Exit 1 if the params did not change.
 *   landscape_check bits A.json B.json NAME
 *       outputs[NAME] of two `gradc eval --json` runs: the same bits.
 *   landscape_check ulps A.json B.json NAME MAX
 *       scalar outputs[NAME] at most MAX units in the last place apart;
 *       prints the distance.
 *   landscape_check columns A.json B.json NAME PERM
 *       matrix outputs[NAME]: column j of B is column PERM[j] of A, bit for
 *       bit (the hidden units' activations follow their units).
 *
 * Compiled with -ffp-contract=off, as src/landscape.c is: the params are
 * rebuilt with the same operations in the same order. */
#include <cairo.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static json_t *load(const char *path) {
  json_error_t e;
  json_t *j = json_load_file(path, 0, &e);
  if (!j)
    fprintf(stderr, "landscape_check: %s:%d: %s\n", path, e.line, e.text);
  return j;
}

/* A number of gradc's JSON: a real, an integer, or NaN/Infinity/-Infinity. */
static int number(const json_t *j, double *x) {
  if (json_is_number(j)) {
    *x = json_number_value(j);
    return 0;
  }
  const char *s = json_string_value(j);
  if (!s)
    return -1;
  *x = !strcmp(s, "NaN") ? NAN : !strcmp(s, "Infinity") ? INFINITY : !strcmp(s, "-Infinity") ? -INFINITY : 0;
  return strcmp(s, "NaN") && strcmp(s, "Infinity") && strcmp(s, "-Infinity") ? -1 : 0;
}

static uint64_t bits(double x) {
  uint64_t u;
  memcpy(&u, &x, sizeof u);
  return u;
}

static uint64_t splitmix(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* ---- grid: the landscape against gradc eval -------------------------------------- */

/* p = c + a d1 + b d2, or (1 - a) c + a e + b d2, element by element over
 * the nested arrays of one param, as landscape.c computes it. */
static json_t *point(const json_t *c, const json_t *d1, const json_t *e, const json_t *d2, double a, double b) {
  if (json_is_array(c)) {
    json_t *out = json_array();
    for (size_t i = 0; i < json_array_size(c); i++)
      json_array_append_new(out, point(json_array_get(c, i), d1 ? json_array_get(d1, i) : NULL,
                                       e ? json_array_get(e, i) : NULL, d2 ? json_array_get(d2, i) : NULL, a, b));
    return out;
  }
  double cv = 0, dv = 0, ev = 0, d2v = 0, x;
  number(c, &cv);
  if (e) {
    number(e, &ev);
    x = (1 - a) * cv + a * ev;
  } else {
    number(d1, &dv);
    x = cv + a * dv;
  }
  if (d2) {
    number(d2, &d2v);
    x = x + b * d2v;
  }
  return json_real(x);
}

static int grid(int argc, char **argv) {
  if (argc < 8) {
    fprintf(stderr, "usage: landscape_check grid GRADC EXPR GRID.json K CENTRE.json|- END.json|- [-- ARGS...]\n");
    return 2;
  }
  const char *gradc = argv[2], *expr = argv[3];
  json_t *root = load(argv[4]);
  long k = atol(argv[5]);
  const char *centrepath = strcmp(argv[6], "-") ? argv[6] : NULL, *endpath = strcmp(argv[7], "-") ? argv[7] : NULL;
  char extra[1024] = "";
  for (int i = 8; i < argc; i++)
    if (!strcmp(argv[i], "--"))
      for (int j = i + 1; j < argc; j++) {
        size_t n = strlen(extra);
        snprintf(extra + n, sizeof extra - n, " '%s'", argv[j]);
      }
  json_t *l = root ? json_object_get(root, "landscape") : NULL;
  json_t *end = endpath ? load(endpath) : NULL, *given = centrepath ? load(centrepath) : NULL;
  if (!l || (endpath && !end) || (centrepath && !given)) {
    fprintf(stderr, "landscape_check: no \"landscape\" object in %s (or a file is missing)\n", argv[4]);
    return 1;
  }
  const char *out = json_string_value(json_object_get(l, "output"));
  json_t *alpha = json_object_get(l, "alpha"), *beta = json_object_get(l, "beta");
  json_t *values = json_object_get(l, "values"), *centre = json_object_get(l, "centre");
  if (given) { /* the params of CENTRE.json, not the grid's word for them */
    json_t *c = json_object();
    const char *key;
    json_t *v;
    json_object_foreach(centre, key, v) {
      if (!json_object_get(given, key)) {
        fprintf(stderr, "landscape_check: %s has no '%s'\n", centrepath, key);
        return 1;
      }
      json_object_set(c, key, json_object_get(given, key));
    }
    centre = c;
  }
  json_t *d1 = json_object_get(l, "d1"), *d2 = json_object_get(l, "d2");
  long na = (long)json_array_size(alpha), nb = beta ? (long)json_array_size(beta) : 1;
  if (!out || na < 1 || !centre || (!d1 && !end)) {
    fprintf(stderr, "landscape_check: %s lacks output, alpha, centre or d1 (and no END.json)\n", argv[4]);
    return 1;
  }
  /* "not_finite" counts the values that are not numbers */
  long nonfinite = 0;
  for (long j = 0; j < nb; j++)
    for (long i = 0; i < na; i++) {
      double v;
      const json_t *w = beta ? json_array_get(json_array_get(values, (size_t)j), (size_t)i)
                             : json_array_get(values, (size_t)i);
      nonfinite += number(w, &v) == 0 && !isfinite(v);
    }
  if (nonfinite != json_integer_value(json_object_get(l, "not_finite"))) {
    fprintf(stderr, "landscape_check: %ld values are not finite, \"not_finite\" says %lld\n", nonfinite,
            (long long)json_integer_value(json_object_get(l, "not_finite")));
    return 1;
  }
  printf("%ld of %ld values not finite\n", nonfinite, na * nb);
  /* the corners, the middle, then K seeded random points */
  long pts[4 + 1 + 1000][2] = {{0, 0}, {na - 1, 0}, {0, nb - 1}, {na - 1, nb - 1}, {na / 2, nb / 2}};
  long npts = 5;
  uint64_t s = 12345;
  for (long i = 0; i < k && npts < 1005; i++, npts++) {
    pts[npts][0] = (long)(splitmix(&s) % (uint64_t)na);
    pts[npts][1] = (long)(splitmix(&s) % (uint64_t)nb);
  }
  char tmpl[] = "/tmp/landscape_check_XXXXXX";
  int fd = mkstemp(tmpl);
  if (fd < 0)
    return 1;
  close(fd);
  int bad = 0;
  for (long n = 0; n < npts; n++) {
    long i = pts[n][0], j = pts[n][1];
    double a, b = 0, want;
    number(json_array_get(alpha, (size_t)i), &a);
    if (beta)
      number(json_array_get(beta, (size_t)j), &b);
    const json_t *w = beta ? json_array_get(json_array_get(values, (size_t)j), (size_t)i)
                           : json_array_get(values, (size_t)i);
    if (number(w, &want) < 0) {
      fprintf(stderr, "landscape_check: values[%ld][%ld] is not a number\n", j, i);
      bad = 1;
      break;
    }
    json_t *params = json_object();
    const char *key;
    json_t *c;
    json_object_foreach(centre, key, c) {
      json_t *e = end ? json_object_get(end, key) : NULL;
      if (end && !e) {
        fprintf(stderr, "landscape_check: %s has no '%s'\n", endpath, key);
        return 1;
      }
      json_object_set_new(params, key, point(c, end ? NULL : json_object_get(d1, key), e,
                                             d2 ? json_object_get(d2, key) : NULL, a, b));
    }
    json_dump_file(params, tmpl, JSON_REAL_PRECISION(17));
    json_decref(params);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' eval '%s' --inputs '%s' --json%s", gradc, expr, tmpl, extra);
    FILE *p = popen(cmd, "r");
    json_error_t e;
    json_t *ev = p ? json_loadf(p, 0, &e) : NULL;
    int rc = p ? pclose(p) : -1;
    double got;
    if (!ev || rc != 0 || number(json_object_get(json_object_get(ev, "outputs"), out), &got) < 0) {
      fprintf(stderr, "landscape_check: %s failed (exit %d)\n", cmd, rc);
      bad = 1;
      json_decref(ev);
      break;
    }
    char ws[64], gs[64];
    snprintf(ws, sizeof ws, "%.17g", want);
    snprintf(gs, sizeof gs, "%.17g", got);
    int same = bits(want) == bits(got) && !strcmp(ws, gs);
    printf("%s a = %-22.17g b = %-22.17g landscape %-24s eval %s\n", same ? "same" : "DIFF", a, b, ws, gs);
    bad |= !same;
    json_decref(ev);
  }
  unlink(tmpl);
  if (given)
    json_decref(centre);
  json_decref(given);
  json_decref(root);
  json_decref(end);
  return bad;
}

/* ---- png ---------------------------------------------------------------------------- */

static uint32_t crc32_png(const unsigned char *d, size_t n) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; i++) {
    c ^= d[i];
    for (int k = 0; k < 8; k++)
      c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
  }
  return ~c;
}

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int png(int argc, char **argv) {
  if (argc != 5)
    return 2;
  FILE *f = fopen(argv[2], "rb");
  if (!f) {
    fprintf(stderr, "landscape_check: cannot open %s\n", argv[2]);
    return 1;
  }
  static unsigned char d[4 << 20];
  size_t n = fread(d, 1, sizeof d, f);
  fclose(f);
  static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (n < 8 || memcmp(d, sig, 8)) {
    fprintf(stderr, "landscape_check: %s: no PNG signature\n", argv[2]);
    return 1;
  }
  size_t at = 8;
  int chunks = 0, iend = 0;
  uint32_t w = 0, h = 0;
  while (at + 12 <= n && !iend) {
    uint32_t len = be32(d + at);
    if (at + 12 + len > n) {
      fprintf(stderr, "landscape_check: %s: chunk %d runs past the end\n", argv[2], chunks);
      return 1;
    }
    const unsigned char *type = d + at + 4;
    if (chunks == 0 && (memcmp(type, "IHDR", 4) || len != 13)) {
      fprintf(stderr, "landscape_check: %s: IHDR is not the first chunk\n", argv[2]);
      return 1;
    }
    if (chunks == 0) {
      w = be32(d + at + 8);
      h = be32(d + at + 12);
    }
    if (crc32_png(type, len + 4) != be32(d + at + 8 + len)) {
      fprintf(stderr, "landscape_check: %s: bad CRC in chunk %.4s\n", argv[2], (const char *)type);
      return 1;
    }
    iend = !memcmp(type, "IEND", 4);
    at += 12 + len;
    chunks++;
  }
  if (!iend || at != n) {
    fprintf(stderr, "landscape_check: %s: no IEND at the end\n", argv[2]);
    return 1;
  }
  cairo_surface_t *s = cairo_image_surface_create_from_png(argv[2]);
  int ok = cairo_surface_status(s) == CAIRO_STATUS_SUCCESS;
  int cw = ok ? cairo_image_surface_get_width(s) : -1, ch = ok ? cairo_image_surface_get_height(s) : -1;
  cairo_surface_destroy(s);
  if (!ok) {
    fprintf(stderr, "landscape_check: %s: cairo cannot decode it\n", argv[2]);
    return 1;
  }
  long W = atol(argv[3]), H = atol(argv[4]);
  printf("%s: PNG, %u x %u (IHDR), %d x %d (decoded), %d chunks, %zu bytes\n", argv[2], w, h, cw, ch, chunks, n);
  return w == W && h == H && cw == W && ch == H ? 0 : 1;
}

/* ---- permutations ---------------------------------------------------------------------- */

static int perm_parse(const char *s, long n, long *perm) {
  if (!strncmp(s, "random:", 7)) {
    uint64_t st = strtoull(s + 7, NULL, 10) * 0x2545f4914f6cdd1dull + 99;
    for (long i = 0; i < n; i++)
      perm[i] = i;
    for (long i = n - 1; i > 0; i--) {
      long j = (long)(splitmix(&st) % (uint64_t)(i + 1)), t = perm[i];
      perm[i] = perm[j];
      perm[j] = t;
    }
    return 0;
  }
  long k = 0;
  for (const char *p = s; *p && k < n; k++) {
    char *e;
    perm[k] = strtol(p, &e, 10);
    if (e == p)
      return -1;
    p = *e == ',' ? e + 1 : e;
  }
  /* a permutation of 0..n-1 */
  char *seen = calloc((size_t)n, 1);
  int ok = k == n && seen;
  for (long i = 0; ok && i < n; i++) {
    ok = perm[i] >= 0 && perm[i] < n && !seen[perm[i]];
    if (ok)
      seen[perm[i]] = 1;
  }
  free(seen);
  return ok ? 0 : -1;
}

static int permute(int argc, char **argv) {
  if (argc != 5)
    return 2;
  json_t *p = load(argv[2]);
  json_t *V = p ? json_object_get(p, "V") : NULL, *b = p ? json_object_get(p, "b") : NULL;
  json_t *W = p ? json_object_get(p, "W") : NULL;
  long m = (long)json_array_size(b);
  if (!V || !b || !W || (long)json_array_size(V) != m || m < 2) {
    fprintf(stderr, "landscape_check: %s needs V[M, D], b[M], W[K, M]\n", argv[2]);
    return 1;
  }
  long perm[4096];
  if (m > 4096 || perm_parse(argv[3], m, perm) < 0) {
    fprintf(stderr, "landscape_check: '%s' is not a permutation of 0..%ld\n", argv[3], m - 1);
    return 1;
  }
  json_t *V2 = json_array(), *b2 = json_array(), *W2 = json_array();
  for (long j = 0; j < m; j++) {
    json_array_append(V2, json_array_get(V, (size_t)perm[j]));
    json_array_append(b2, json_array_get(b, (size_t)perm[j]));
  }
  for (size_t r = 0; r < json_array_size(W); r++) {
    json_t *row = json_array_get(W, r), *row2 = json_array();
    for (long j = 0; j < m; j++)
      json_array_append(row2, json_array_get(row, (size_t)perm[j]));
    json_array_append_new(W2, row2);
  }
  json_t *q = json_deep_copy(p);
  json_object_set_new(q, "V", V2);
  json_object_set_new(q, "b", b2);
  json_object_set_new(q, "W", W2);
  int differ = !json_equal(p, q);
  json_dump_file(q, argv[4], JSON_REAL_PRECISION(17) | JSON_PRESERVE_ORDER);
  printf("permutation:");
  for (long j = 0; j < m; j++)
    printf(" %ld", perm[j]);
  printf("; the params %s\n", differ ? "differ" : "are the same");
  json_decref(p);
  json_decref(q);
  return differ ? 0 : 1;
}

/* outputs[name] of an eval --json file */
static json_t *output(const char *path, const char *name, json_t **root) {
  *root = load(path);
  json_t *o = *root ? json_object_get(json_object_get(*root, "outputs"), name) : NULL;
  if (!o)
    fprintf(stderr, "landscape_check: %s has no output '%s'\n", path, name);
  return o;
}

static int same_bits(const json_t *a, const json_t *b) {
  if (json_is_array(a) || json_is_array(b)) {
    if (!json_is_array(a) || !json_is_array(b) || json_array_size(a) != json_array_size(b))
      return 0;
    for (size_t i = 0; i < json_array_size(a); i++)
      if (!same_bits(json_array_get(a, i), json_array_get(b, i)))
        return 0;
    return 1;
  }
  double x, y;
  return number(a, &x) == 0 && number(b, &y) == 0 && bits(x) == bits(y);
}

static int bits_cmd(int argc, char **argv) {
  if (argc != 5)
    return 2;
  json_t *ra, *rb, *a = output(argv[2], argv[4], &ra), *b = output(argv[3], argv[4], &rb);
  int same = a && b && same_bits(a, b);
  printf("%s: %s\n", argv[4], same ? "the same bits" : "different bits");
  json_decref(ra);
  json_decref(rb);
  return !same;
}

static int ulps(int argc, char **argv) {
  if (argc != 6)
    return 2;
  json_t *ra, *rb, *a = output(argv[2], argv[4], &ra), *b = output(argv[3], argv[4], &rb);
  double x, y;
  int ok = a && b && number(a, &x) == 0 && number(b, &y) == 0 && isfinite(x) && isfinite(y) && x > 0 && y > 0;
  uint64_t d = ok ? (bits(x) > bits(y) ? bits(x) - bits(y) : bits(y) - bits(x)) : 0;
  if (ok)
    printf("%s: %.17g and %.17g, %" PRIu64 " units in the last place apart\n", argv[4], x, y, d);
  json_decref(ra);
  json_decref(rb);
  return ok && d <= (uint64_t)atol(argv[5]) ? 0 : 1;
}

static int columns(int argc, char **argv) {
  if (argc != 6)
    return 2;
  json_t *ra, *rb, *a = output(argv[2], argv[4], &ra), *b = output(argv[3], argv[4], &rb);
  long m = a ? (long)json_array_size(json_array_get(a, 0)) : 0, perm[4096];
  int ok = a && b && m > 0 && m <= 4096 && perm_parse(argv[5], m, perm) == 0 &&
           json_array_size(a) == json_array_size(b);
  long rows = ok ? (long)json_array_size(a) : 0, differ = 0;
  for (long r = 0; ok && r < rows; r++)
    for (long j = 0; j < m; j++)
      if (!same_bits(json_array_get(json_array_get(b, (size_t)r), (size_t)j),
                     json_array_get(json_array_get(a, (size_t)r), (size_t)perm[j])))
        differ++;
  if (ok)
    printf("%s: %ld x %ld, %ld entries differ from the permuted columns\n", argv[4], rows, m, differ);
  json_decref(ra);
  json_decref(rb);
  return ok && differ == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
  const char *c = argc > 1 ? argv[1] : "";
  if (!strcmp(c, "grid"))
    return grid(argc, argv);
  if (!strcmp(c, "png"))
    return png(argc, argv);
  if (!strcmp(c, "permute"))
    return permute(argc, argv);
  if (!strcmp(c, "bits"))
    return bits_cmd(argc, argv);
  if (!strcmp(c, "ulps"))
    return ulps(argc, argv);
  if (!strcmp(c, "columns"))
    return columns(argc, argv);
  fprintf(stderr, "usage: landscape_check grid|png|permute|bits|ulps|columns ...\n");
  return 2;
}
