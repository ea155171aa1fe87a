/* test_numtext.c: src/numtext.c against glibc on the same values:
 * num_format_g10 must print exactly what printf("%.10g") prints, num_parse
 * must give strtod's double to the bit. Values: random bit patterns (every
 * exponent), random decimals of 1 to 20 digits at every scale, the
 * shortest (%.17g) texts of random doubles as Python's json writes them,
 * numbers just at ten-digit ties (d.dddddddd5 * 10^k), powers of ten, and
 * values next to the rounding boundaries 9999999999.5 * 10^k. */
#include <float.h>
#include <stdint.h>

#include "numtext.h"
#include "test_util.h"

static uint64_t state = 0x9e3779b97f4a7c15ull;
static uint64_t next(void) { /* splitmix64 */
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static void same_format(double x) {
  char mine[40], libc[40];
  int n = num_format_g10(mine, x);
  snprintf(libc, sizeof libc, "%.10g", x);
  cr_assert_str_eq(mine, libc, "%%.10g of %a", x);
  cr_assert_eq(n, (int)strlen(libc));
}

static void same_parse(const char *text) {
  double mine = num_parse(text, text + strlen(text));
  double libc = strtod(text, NULL);
  cr_assert(memcmp(&mine, &libc, sizeof mine) == 0, "%s: %a, strtod %a", text, mine, libc);
}

static double from_bits(uint64_t b) {
  double x;
  memcpy(&x, &b, sizeof x);
  return x;
}

Test(numtext, format_matches_printf) {
  for (long i = 0; i < 1000000; i++) {
    double x = from_bits(next());
    if (isfinite(x))
      same_format(x);
  }
  /* ordinary magnitudes, where the fast path works */
  for (long i = 0; i < 1000000; i++) {
    double x = ldexp((double)(next() >> 11), -53) * pow(10, (int)(next() % 40) - 20);
    same_format(next() & 1 ? x : -x);
  }
  /* ten-digit ties and the boundaries of rounding up to another exponent */
  for (int k = -30; k <= 30; k++) {
    double p = pow(10, k);
    double tie[] = {1.0000000005, 1.2345678905, 9.9999999995, 9.99999999949999, 9.99999999950001,
                    2.5,          0.5,          1,            9.999999999,      1.00000000049999};
    for (size_t t = 0; t < sizeof tie / sizeof tie[0]; t++)
      for (int d = -3; d <= 3; d++)
        same_format(nextafter(tie[t] * p, d < 0 ? 0 : INFINITY) + d * 0.0);
    same_format(p);
    same_format(-p);
  }
  double special[] = {0.0, -0.0, DBL_MIN, -DBL_MIN, DBL_MAX, DBL_TRUE_MIN, 1e-5, 1e-4, 9.9999999995e-5,
                      1e9, 1e10, 9999999999.5, 9999999999.4, 123456789012.0};
  for (size_t i = 0; i < sizeof special / sizeof special[0]; i++)
    same_format(special[i]);
}

Test(numtext, parse_matches_strtod) {
  char s[64];
  for (long i = 0; i < 1000000; i++) { /* Python's json.dump: repr, 17 digits */
    double x = ldexp((double)(next() >> 11), -53) * pow(10, (int)(next() % 60) - 30);
    snprintf(s, sizeof s, "%.17g", next() & 1 ? x : -x);
    same_parse(s);
    snprintf(s, sizeof s, "%.16g", x);
    same_parse(s);
  }
  for (long i = 0; i < 1000000; i++) { /* d digits, decimal point anywhere, exponent */
    int d = 1 + (int)(next() % 20), dot = (int)(next() % (uint64_t)(d + 1));
    char *o = s;
    for (int j = 0; j < d; j++) {
      if (j == dot && j > 0)
        *o++ = '.';
      *o++ = (char)('0' + next() % 10);
    }
    if (next() & 1)
      o += sprintf(o, "e%d", (int)(next() % 80) - 40);
    *o = 0;
    same_parse(s);
  }
  for (long i = 0; i < 300000; i++) { /* every bit pattern's exact %.17g and %.25g */
    double x = from_bits(next());
    if (!isfinite(x))
      continue;
    snprintf(s, sizeof s, "%.17g", x);
    same_parse(s);
    snprintf(s, sizeof s, "%.25e", x);
    same_parse(s);
  }
  /* halfway between two doubles, written exactly (%.40g of the midpoint) */
  for (long i = 0; i < 100000; i++) {
    double x = ldexp((double)(next() >> 11) + 0.0, -53) * pow(10, (int)(next() % 20) - 10);
    long double mid = ((long double)x + (long double)nextafter(x, INFINITY)) / 2;
    snprintf(s, sizeof s, "%.30Lg", mid);
    same_parse(s);
  }
  const char *texts[] = {"0",     "-0",     "0.0",   "-0.0e5", "1e-27",          "1e27", "1e28",
                         "1e-28", "00.001", "1.5e0", "9007199254740993", "1e23", "8.5e-323",
                         "1.7976931348623157e308", "2.2250738585072014e-308", "123456789012345678901"};
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
    same_parse(texts[i]);
}
