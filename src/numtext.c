/* numtext.c: numbers to and from decimal text, fast and to the bit.
 *
 * A dense Jacobian of a 1000-variable map is 10^6 numbers printed, from a
 * 22 MB JSON matrix read: glibc's printf("%.10g") and strtod work exactly
 * (multi-precision arithmetic) on every number and took half of `gradc
 * jacobian`'s time. Both functions here take a short exact path when it
 * provably gives the same result, and call glibc otherwise:
 *
 * - num_parse: the decimal significand w (at most 19 digits, exact in a
 *   64-bit integer) times or divided by 10^k (exact in x87 extended
 *   precision for k <= 27) is one correctly rounded extended operation, so
 *   within half an extended ulp of the exact value; rounding that to double
 *   gives strtod's correctly rounded result unless it lies within an
 *   extended ulp of a point halfway between two doubles (Clinger's fast path,
 *   W. D. Clinger, "How to read floating point numbers accurately", PLDI
 *   1990, widened by the extended format as in Gay's strtod). Those, and
 *   subnormal, huge or long literals, go to strtod.
 * - num_format_g10: %.10g as C99 7.21.6.1 defines it (and glibc prints it,
 *   correctly rounded from the exact binary value): the ten digits are
 *   |x| * 10^(9 - e) rounded to an integer, computed by one extended
 *   operation; if its fraction is within 2^-20 of one half, where the
 *   extended result could round the other way, snprintf decides.
 *
 * Without a 64-bit extended long double (not x86), both always use glibc.
 * tests/unit/test_numtext.c compares both with glibc on millions of values. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "numtext.h"

#if LDBL_MANT_DIG == 64
#define NUMTEXT_FAST 1
/* 10^k for k = 0..27, exact in a 64-bit significand (5^27 < 2^64) */
static const long double pow10_ld[28] = {
    1e0L,  1e1L,  1e2L,  1e3L,  1e4L,  1e5L,  1e6L,  1e7L,  1e8L,  1e9L,  1e10L, 1e11L, 1e12L, 1e13L,
    1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L, 1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L, 1e26L, 1e27L};
#else
#define NUMTEXT_FAST 0
#endif

static double parse_slow(const char *p, const char *end) {
  char buf[64];
  size_t n = (size_t)(end - p);
  if (n < sizeof buf) {
    memcpy(buf, p, n);
    buf[n] = 0;
    return strtod(buf, NULL);
  }
  char *s = malloc(n + 1);
  if (!s)
    return NAN;
  memcpy(s, p, n);
  s[n] = 0;
  double x = strtod(s, NULL);
  free(s);
  return x;
}

double num_parse(const char *p, const char *end) {
#if NUMTEXT_FAST
  const char *s = p;
  int neg = 0;
  if (s < end && (*s == '-' || *s == '+'))
    neg = *s++ == '-';
  uint64_t w = 0;
  int digits = 0; /* significant digits in w (leading zeros not counted) */
  long k = 0;     /* decimal exponent: value = w * 10^k */
  int any = 0;
  for (; s < end && *s >= '0' && *s <= '9'; s++, any = 1) {
    if (w == 0 && *s == '0')
      continue;
    if (++digits > 19)
      return parse_slow(p, end);
    w = 10 * w + (uint64_t)(*s - '0');
  }
  if (s < end && *s == '.') {
    for (s++; s < end && *s >= '0' && *s <= '9'; s++, any = 1) {
      k--;
      if (w == 0 && *s == '0')
        continue;
      if (++digits > 19)
        return parse_slow(p, end);
      w = 10 * w + (uint64_t)(*s - '0');
    }
  }
  if (!any)
    return parse_slow(p, end);
  if (s < end && (*s == 'e' || *s == 'E')) {
    s++;
    int eneg = 0;
    if (s < end && (*s == '-' || *s == '+'))
      eneg = *s++ == '-';
    long e = 0;
    if (s >= end || *s < '0' || *s > '9')
      return parse_slow(p, end);
    for (; s < end && *s >= '0' && *s <= '9'; s++)
      if (e < 100000)
        e = 10 * e + (*s - '0');
    k += eneg ? -e : e;
  }
  if (s != end)
    return parse_slow(p, end);
  if (w == 0)
    return neg ? -0.0 : 0.0;
  if (k < -27 || k > 27)
    return parse_slow(p, end);
  if (w < (1ull << 53) && k >= -22 && k <= 22) { /* Clinger: both exact in double */
    double x = k >= 0 ? (double)w * (double)pow10_ld[k] : (double)w / (double)pow10_ld[-k];
    return neg ? -x : x;
  }
  long double r = k >= 0 ? (long double)w * pow10_ld[k] : (long double)w / pow10_ld[-k];
  /* r's 64-bit significand (x87 extended: the first 8 bytes, integer bit
   * explicit); r is normal and far from a double's range limits (10^-27 <=
   * r < 2^64 * 10^27), so its 11 bits below a double's 53 decide */
  uint64_t bits;
  memcpy(&bits, &r, sizeof bits);
  unsigned low = (unsigned)(bits & 0x7ff);
  if (low >= 0x3ff && low <= 0x401)
    return parse_slow(p, end); /* near a halfway point between doubles */
  double x = (double)r;
  return neg ? -x : x;
#else
  return parse_slow(p, end);
#endif
}

/* The digits of %.10g from the ten-digit integer d (10^9 <= d < 10^10) and
 * the decimal exponent e of the value d * 10^(e - 9). */
static int put_g10(char *buf, int neg, uint64_t d, int e) {
  char dig[10];
  for (int i = 9; i >= 0; i--, d /= 10)
    dig[i] = (char)('0' + d % 10);
  int nd = 10; /* trailing zeros are not printed */
  while (nd > 1 && dig[nd - 1] == '0')
    nd--;
  char *o = buf;
  if (neg)
    *o++ = '-';
  if (e >= -4 && e < 10) { /* fixed: 9 - e decimals, then zeros stripped */
    if (e < 0) {
      *o++ = '0';
      *o++ = '.';
      for (int i = 0; i < -e - 1; i++)
        *o++ = '0';
      memcpy(o, dig, (size_t)nd);
      o += nd;
    } else {
      memcpy(o, dig, (size_t)e + 1);
      o += e + 1;
      if (nd > e + 1) {
        *o++ = '.';
        memcpy(o, dig + e + 1, (size_t)(nd - e - 1));
        o += nd - e - 1;
      }
    }
  } else { /* d.ddddddddde+XX */
    *o++ = dig[0];
    if (nd > 1) {
      *o++ = '.';
      memcpy(o, dig + 1, (size_t)nd - 1);
      o += nd - 1;
    }
    *o++ = 'e';
    *o++ = e < 0 ? '-' : '+';
    int a = e < 0 ? -e : e;
    if (a >= 100)
      *o++ = (char)('0' + a / 100);
    *o++ = (char)('0' + a / 10 % 10);
    *o++ = (char)('0' + a % 10);
  }
  *o = 0;
  return (int)(o - buf);
}

int num_format_g10(char *buf, double x) {
#if NUMTEXT_FAST
  if (isfinite(x) && x != 0) {
    long double a = fabsl((long double)x);
    int e = (int)floor(log10((double)a));
    for (int tries = 0; tries < 3; tries++) {
      int k = 9 - e;
      if (k > 27 || k < -27)
        break;
      long double s = k >= 0 ? a * pow10_ld[k] : a / pow10_ld[-k];
      long double f = floorl(s);
      long double frac = s - f;
      if (fabsl(frac - 0.5L) < 0x1p-20L)
        break; /* too close to a tie to trust the extended rounding */
      uint64_t d = (uint64_t)f + (frac > 0.5L);
      if (d >= 10000000000ull) {
        if (d == 10000000000ull && s < 1e10L) /* rounded up to 10^10 */
          return put_g10(buf, x < 0, 1000000000ull, e + 1);
        e++;
        continue;
      }
      if (d < 1000000000ull) {
        e--;
        continue;
      }
      return put_g10(buf, x < 0, d, e);
    }
  }
#endif
  return snprintf(buf, 32, "%.10g", x);
}

/* Whether s..end, which strtod read, is a number as the language writes
 * them (SPEC 1.1: 3, 3., .5, 2.5e-3, 1E6, with a sign) or one of the words
 * inf, infinity, nan: not hexadecimal (0x10, 0x1p3) nor nan(...). */
int num_is_decimal(const char *s, const char *end) {
  if (s < end && (*s == '+' || *s == '-'))
    s++;
  size_t n = (size_t)(end - s);
  if ((n == 3 && (!strncasecmp(s, "inf", 3) || !strncasecmp(s, "nan", 3))) ||
      (n == 8 && !strncasecmp(s, "infinity", 8)))
    return 1;
  for (; s < end; s++)
    if (!strchr("0123456789.eE+-", *s))
      return 0;
  return 1;
}
