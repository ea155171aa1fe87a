/* gradc_rt.h: the helper functions that generated C contains.
 *
 * Each helper is written once, as a macro, and used twice: expanded here
 * for the compiler's constant folding, and stringified by the emitter into
 * every generated file that needs it (generated C includes no gradc header,
 * so it compiles alone and links with -lm only). Both therefore compute the
 * same bits. The helpers call only libm functions that the generated file
 * declares itself.
 */
#ifndef GRADC_RT_H
#define GRADC_RT_H

/* relu, with NaN passing through (PyTorch). */
#define GRADC_RT_RELU \
  static inline double g_relu(double x) { return (x > 0.0 || x != x) ? x : 0.0; }
/* sign: -1, 0 or 1 (+0 for both zeros, as numpy); NaN stays NaN. */
#define GRADC_RT_SIGN \
  static inline double g_sign(double x) { return x > 0.0 ? 1.0 : x < 0.0 ? -1.0 : x == x ? 0.0 : x; }
/* sigmoid that does not overflow for any finite input. */
#define GRADC_RT_SIGMOID \
  static inline double g_sigmoid(double x) { \
    if (x >= 0.0) return 1.0 / (1.0 + exp(-x)); \
    { double e = exp(x); return e / (1.0 + e); } }
/* softplus = log(1 + exp(x)), stable: max(x, 0) + log1p(exp(-|x|)). */
#define GRADC_RT_SOFTPLUS \
  static inline double g_softplus(double x) { \
    return (x > 0.0 ? x : 0.0) + log1p(exp(-fabs(x))); }
/* tanh without a call or a table, so that a loop of it is cheap (the
 * tanh of a network's hidden layer was a third of a training step with
 * libm's, tests/bench/train_torch.sh): expm1(2|x|) by exp's reduction,
 * k = round(2|x| / ln 2), r = 2|x| - k ln 2 in two parts (|r| <= 0.35),
 * expm1(r) = r + r^2 q(r), q its Taylor polynomial to degree 11 (error
 * below 1e-17) in Estrin's form (a short chain of dependent operations),
 * expm1(2|x|) = 2^k expm1(r) + (2^k - 1); then tanh = e / (e + 2) with the
 * sign of x (-0 stays -0, NaN stays NaN, |x| > 20 gives +-1). Within 2.5
 * ulp of the exact tanh (tests/unit/test_tensor.c: 2.35 at worst on
 * 200,000 points of [-25, 25]; libm's tanh is within about 2). */
#define GRADC_RT_TANH \
  static inline double g_tanh(double x) { \
    union { double d; unsigned long long u; } k, s, t, sx; \
    double a = x < 0.0 ? -x : x, y, kd, r, r2, r4, q, e; \
    a = a > 20.0 ? 20.0 : a; \
    y = a + a; \
    k.d = y * 0x1.71547652b82fep0 + 0x1.8p52; \
    kd = k.d - 0x1.8p52; \
    r = (y - kd * 0x1.62e42fefa3800p-1) - kd * 0x1.ef35793c7673p-45; \
    r2 = r * r; \
    r4 = r2 * r2; \
    q = (0.5 + r * (1.0 / 6.0)) + r2 * ((1.0 / 24.0) + r * (1.0 / 120.0)) + \
        r4 * (((1.0 / 720.0) + r * (1.0 / 5040.0)) + r2 * ((1.0 / 40320.0) + r * (1.0 / 362880.0))) + \
        (r4 * r4) * (((1.0 / 3628800.0) + r * (1.0 / 39916800.0)) + \
                     r2 * ((1.0 / 479001600.0) + r * (1.0 / 6227020800.0))); \
    s.u = (k.u - 0x4338000000000000ull + 1023) << 52; \
    e = s.d * (r + (r * r) * q) + (s.d - 1.0); \
    t.d = e / (e + 2.0); \
    sx.d = x; \
    t.u |= sx.u & 0x8000000000000000ull; \
    return t.d; }
/* max and min propagate NaN (PyTorch's maximum/minimum). */
#define GRADC_RT_MAX \
  static inline double g_max(double a, double b) { return (a != a || a > b) ? a : b; }
#define GRADC_RT_MIN \
  static inline double g_min(double a, double b) { return (a != a || a < b) ? a : b; }
/* Python's a % b: the result has the sign of b (0 takes b's sign too);
 * NaN for b == 0 where Python raises. */
#define GRADC_RT_MOD \
  static inline double g_mod(double a, double b) { \
    double r = fmod(a, b); \
    if (r != 0.0) { if ((r < 0.0) != (b < 0.0)) r += b; } \
    else r = b < 0.0 ? -0.0 : 0.0; \
    return r; }
/* log(exp(a) + exp(b)) = max + log1p(exp(-|a - b|)); -inf with -inf is
 * -inf, an infinite maximum is itself, NaN spreads. */
#define GRADC_RT_LOGADDEXP \
  static inline double g_logaddexp(double a, double b) { \
    double m = a > b ? a : b; \
    if (a != a || b != b) return a + b; \
    if (m - m != 0.0) return m; \
    return m + log1p(exp(-fabs(a - b))); }

#endif
