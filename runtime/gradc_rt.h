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
