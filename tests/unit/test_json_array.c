/* test_json_array.c: the fast reader of numeric JSON arrays (src/json_array.c)
 * against jansson on the same texts: the same numbers, bit for bit, and the
 * same shape where it accepts a text; anything else is left to jansson. */
#include <jansson.h>

#include "ir.h"
#include "test_util.h"

/* jansson's reading: rank, dims and the numbers row-major; -1 if the text
 * is not a regular nested array of numbers (or one number). */
static int by_jansson(const char *text, double *d, long *dims, int *rank) {
  json_error_t err;
  json_t *j = json_loads(text, JSON_DECODE_ANY, &err);
  if (!j)
    return -1;
  *rank = 0;
  for (json_t *p = j; json_is_array(p); p = json_array_get(p, 0)) {
    if (*rank == MAX_RANK || json_array_size(p) == 0) {
      json_decref(j);
      return -1;
    }
    dims[(*rank)++] = (long)json_array_size(p);
  }
  long n = 1, idx[MAX_RANK] = {0};
  for (int i = 0; i < *rank; i++)
    n *= dims[i];
  for (long e = 0; e < n; e++) {
    json_t *q = j;
    for (int i = 0; i < *rank; i++) {
      if (!json_is_array(q) || (long)json_array_size(q) != dims[i]) {
        json_decref(j);
        return -1;
      }
      q = json_array_get(q, (size_t)idx[i]);
    }
    if (json_is_number(q))
      d[e] = json_number_value(q);
    else if (json_is_string(q) && !strcmp(json_string_value(q), "NaN"))
      d[e] = NAN;
    else if (json_is_string(q) && !strcmp(json_string_value(q), "Infinity"))
      d[e] = INFINITY;
    else if (json_is_string(q) && !strcmp(json_string_value(q), "-Infinity"))
      d[e] = -INFINITY;
    else {
      json_decref(j);
      return -1;
    }
    for (int i = *rank - 1; i >= 0; i--) {
      if (++idx[i] < dims[i])
        break;
      idx[i] = 0;
    }
  }
  json_decref(j);
  return (int)n;
}

Test(json_array, agrees_with_jansson) {
  static const char *const texts[] = {
      "1", " -0 ", "2.5e-3", "1E6", "-1.25E+2", "[1, 2, 3]", "[[1, 2], [3, 4]]\n",
      "[[[1], [2]], [[3], [4]], [[5], [6]]]", "[[[[1, 2]]]]", "[\"NaN\", \"Infinity\", \"-Infinity\", 0]",
      "[0.1, 0.2, 0.30000000000000004, 1e308, 4.9e-324, 2.2250738585072011e-308]",
      "[123456789012345678901234567890123456789012345678901234567890123456789, 1]",
      "[\t1 ,\r\n 2 ]",
      /* not plain numeric arrays: left to jansson */
      "", "[]", "[[]]", "[1, ]", "[1 2]", "[01]", "[1.]", "[.5]", "[+1]", "[1e]", "[-]", "[[1, 2], [3]]",
      "[[1], [2, 3]]", "[1, [2]]", "[[1], 2]", "[[[[[1]]]]]", "[\"nan\"]", "[true]", "[null]", "[1] x",
      "[1]]", "[[1]", "{\"a\": 1}", "[0x10]", "[Infinity]", "[NaN]", "[1,2],", "-", "[\"NaN]"};
  for (size_t t = 0; t < sizeof texts / sizeof *texts; t++) {
    double want[64], *got = NULL;
    long wd[MAX_RANK], gd[MAX_RANK];
    int wr = 0, gr = 0;
    int n = by_jansson(texts[t], want, wd, &wr);
    int rc = json_numeric_array(texts[t], strlen(texts[t]), &got, gd, &gr);
    if (n < 0) {
      cr_assert_eq(rc, 1, "'%s' is not a numeric array, yet it was read", texts[t]);
      continue;
    }
    cr_assert_eq(rc, 0, "'%s' was not read", texts[t]);
    cr_assert_eq(gr, wr, "'%s': rank %d, jansson %d", texts[t], gr, wr);
    for (int i = 0; i < wr; i++)
      cr_assert_eq(gd[i], wd[i], "'%s': dimension %d", texts[t], i);
    for (int e = 0; e < n; e++)
      cr_assert(memcmp(&got[e], &want[e], sizeof *got) == 0 || (isnan(got[e]) && isnan(want[e])),
                "'%s': element %d is %a, jansson %a", texts[t], e, got[e], want[e]);
    free(got);
  }
}

/* Random matrices printed with 17 digits read back exactly. */
Test(json_array, random_round_trip) {
  unsigned long long s = 12345;
  char *text = malloc(1 << 20);
  double x[2000];
  for (int rep = 0; rep < 20; rep++) {
    int rows = 1 + rep % 7, cols = 1 + (rep * 13) % 50, len = 0;
    len += sprintf(text + len, "[");
    for (int i = 0; i < rows; i++) {
      len += sprintf(text + len, "%s[", i ? ", " : "");
      for (int j = 0; j < cols; j++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        double v = ldexp((double)(s >> 11), -53) * pow(10, (int)(s % 41) - 20) * (s & 1 ? -1 : 1);
        x[i * cols + j] = v;
        len += sprintf(text + len, "%s%.17g", j ? ", " : "", v);
      }
      len += sprintf(text + len, "]");
    }
    len += sprintf(text + len, "]");
    double *got;
    long dims[MAX_RANK];
    int rank;
    cr_assert_eq(json_numeric_array(text, (size_t)len, &got, dims, &rank), 0);
    cr_assert(rank == 2 && dims[0] == rows && dims[1] == cols);
    for (int e = 0; e < rows * cols; e++)
      cr_assert_eq(got[e], x[e], "element %d", e);
    free(got);
  }
  free(text);
}
