#!/usr/bin/env python3
"""Independent reference values for the examples/mgh/ problems.

Each problem is written here a second time, as a loop over the residuals
exactly as printed in Moré, Garbow & Hillstrom, "Testing Unconstrained
Optimization Software", ACM TOMS 7(1):17-41, 1981 (section 3), with no code
shared with gradc. Running it prints tests/mgh/expected.txt:

  NAME f0   VALUE            f at the standard starting point x0
  NAME g0   V1 V2 ...        the gradient at x0, by forward-mode dual numbers

Standard library only (python3 tests/mgh/reference.py > tests/mgh/expected.txt).
The published optimal values f* and minimisers x* are not computed here: they
are typed into tests/mgh/mgh_test.sh with their sources.
"""
import math
import sys


class D:
    """A dual number: value and gradient (a list), for exact-to-rounding gradients."""

    def __init__(self, v, g):
        self.v, self.g = v, g

    @staticmethod
    def lift(a, n):
        return a if isinstance(a, D) else D(float(a), [0.0] * n)

    def _n(self):
        return len(self.g)

    def __add__(s, o):
        o = D.lift(o, s._n())
        return D(s.v + o.v, [a + b for a, b in zip(s.g, o.g)])

    __radd__ = __add__

    def __neg__(s):
        return D(-s.v, [-a for a in s.g])

    def __sub__(s, o):
        return s + (-D.lift(o, s._n()))

    def __rsub__(s, o):
        return D.lift(o, s._n()) + (-s)

    def __mul__(s, o):
        o = D.lift(o, s._n())
        return D(s.v * o.v, [a * o.v + s.v * b for a, b in zip(s.g, o.g)])

    __rmul__ = __mul__

    def __truediv__(s, o):
        o = D.lift(o, s._n())
        q = s.v / o.v
        return D(q, [(a - q * b) / o.v for a, b in zip(s.g, o.g)])

    def __rtruediv__(s, o):
        return D.lift(o, s._n()) / s

    def __pow__(s, k):
        if isinstance(k, D):  # a varying exponent: exp(k log s)
            return exp(k * log(s))
        if k == 0:
            return D(1.0, [0.0] * s._n())
        return D(s.v ** k, [k * s.v ** (k - 1) * a for a in s.g])

    def __lt__(s, o):
        return s.v < (o.v if isinstance(o, D) else o)

    def __gt__(s, o):
        return s.v > (o.v if isinstance(o, D) else o)


def _f(fn, dfn):
    def h(a):
        if isinstance(a, D):
            d = dfn(a.v)
            return D(fn(a.v), [d * g for g in a.g])
        return fn(a)
    return h


exp = _f(math.exp, math.exp)
log = _f(math.log, lambda v: 1.0 / v)
sin = _f(math.sin, math.cos)
cos = _f(math.cos, lambda v: -math.sin(v))
atan = _f(math.atan, lambda v: 1.0 / (1.0 + v * v))
sqrt = _f(math.sqrt, lambda v: 0.5 / math.sqrt(v))
fabs = _f(abs, lambda v: 1.0 if v > 0 else (-1.0 if v < 0 else 0.0))


def rosenbrock(x):  # 1
    return [10 * (x[1] - x[0] ** 2), 1 - x[0]]


def freudenstein_roth(x):  # 2
    x1, x2 = x
    return [-13 + x1 + ((5 - x2) * x2 - 2) * x2,
            -29 + x1 + ((x2 + 1) * x2 - 14) * x2]


def powell_badly_scaled(x):  # 3
    x1, x2 = x
    return [10000 * x1 * x2 - 1, exp(-x1) + exp(-x2) - 1.0001]


def brown_badly_scaled(x):  # 4
    x1, x2 = x
    return [x1 - 1e6, x2 - 2e-6, x1 * x2 - 2]


def beale(x):  # 5
    y = [1.5, 2.25, 2.625]
    return [y[i - 1] - x[0] * (1 - x[1] ** i) for i in (1, 2, 3)]


def jennrich_sampson(x):  # 6, m = 10
    return [2 + 2 * i - (exp(i * x[0]) + exp(i * x[1])) for i in range(1, 11)]


def helical_valley(x):  # 7
    x1, x2, x3 = x
    theta = atan(x2 / x1) / (2 * math.pi) + (0.5 if x1 < 0 else 0.0)
    return [10 * (x3 - 10 * theta), 10 * (sqrt(x1 ** 2 + x2 ** 2) - 1), x3]


BARD_Y = [0.14, 0.18, 0.22, 0.25, 0.29, 0.32, 0.35, 0.39, 0.37, 0.58,
          0.73, 0.96, 1.34, 2.10, 4.39]


def bard(x):  # 8
    r = []
    for i in range(1, 16):
        u, v = i, 16 - i
        w = min(u, v)
        r.append(BARD_Y[i - 1] - (x[0] + u / (v * x[1] + w * x[2])))
    return r


GAUSS_Y = [0.0009, 0.0044, 0.0175, 0.0540, 0.1295, 0.2420, 0.3521, 0.3989,
           0.3521, 0.2420, 0.1295, 0.0540, 0.0175, 0.0044, 0.0009]


def gaussian(x):  # 9
    return [x[0] * exp(-x[1] * (((8 - i) / 2) - x[2]) ** 2 / 2) - GAUSS_Y[i - 1]
            for i in range(1, 16)]


MEYER_Y = [34780, 28610, 23650, 19630, 16370, 13720, 11540, 9744, 8261, 7030,
           6005, 5147, 4427, 3820, 3307, 2872]


def meyer(x):  # 10
    return [x[0] * exp(x[1] / ((45 + 5 * i) + x[2])) - MEYER_Y[i - 1]
            for i in range(1, 17)]


def gulf(x):  # 11, m = 99
    r = []
    for i in range(1, 100):
        t = i / 100
        y = 25 + (-50 * math.log(t)) ** (2 / 3)
        r.append(exp(-(fabs(y - x[1]) ** x[2]) / x[0]) - t)
    return r


def box_3d(x):  # 12, m = 10
    r = []
    for i in range(1, 11):
        t = 0.1 * i
        r.append(exp(-t * x[0]) - exp(-t * x[1]) - x[2] * (math.exp(-t) - math.exp(-10 * t)))
    return r


def powell_singular(x):  # 13
    x1, x2, x3, x4 = x
    return [x1 + 10 * x2, math.sqrt(5) * (x3 - x4), (x2 - 2 * x3) ** 2,
            math.sqrt(10) * (x1 - x4) ** 2]


def wood(x):  # 14
    x1, x2, x3, x4 = x
    return [10 * (x2 - x1 ** 2), 1 - x1, math.sqrt(90) * (x4 - x3 ** 2), 1 - x3,
            math.sqrt(10) * (x2 + x4 - 2), (x2 - x4) / math.sqrt(10)]


KO_Y = [0.1957, 0.1947, 0.1735, 0.1600, 0.0844, 0.0627, 0.0456, 0.0342,
        0.0323, 0.0235, 0.0246]
KO_U = [4, 2, 1, 0.5, 0.25, 0.167, 0.125, 0.1, 0.0833, 0.0714, 0.0625]


def kowalik_osborne(x):  # 15
    return [KO_Y[i] - x[0] * (u * u + u * x[1]) / (u * u + u * x[2] + x[3])
            for i, u in enumerate(KO_U)]


def brown_dennis(x):  # 16, m = 20
    r = []
    for i in range(1, 21):
        t = i / 5
        r.append((x[0] + t * x[1] - math.exp(t)) ** 2 + (x[2] + x[3] * math.sin(t) - math.cos(t)) ** 2)
    return r


def biggs_exp6(x):  # 18, m = 13
    r = []
    for i in range(1, 14):
        t = 0.1 * i
        y = math.exp(-t) - 5 * math.exp(-10 * t) + 3 * math.exp(-4 * t)
        r.append(x[2] * exp(-t * x[0]) - x[3] * exp(-t * x[1]) + x[5] * exp(-t * x[4]) - y)
    return r


OSB2_Y = [1.366, 1.191, 1.112, 1.013, 0.991, 0.885, 0.831, 0.847, 0.786,
          0.725, 0.746, 0.679, 0.608, 0.655, 0.616, 0.606, 0.602, 0.626,
          0.651, 0.724, 0.649, 0.649, 0.694, 0.644, 0.624, 0.661, 0.612,
          0.558, 0.533, 0.495, 0.500, 0.423, 0.395, 0.375, 0.372, 0.391,
          0.396, 0.405, 0.428, 0.429, 0.523, 0.562, 0.607, 0.653, 0.672,
          0.708, 0.633, 0.668, 0.645, 0.632, 0.591, 0.559, 0.597, 0.625,
          0.739, 0.710, 0.729, 0.720, 0.636, 0.581, 0.428, 0.292, 0.162,
          0.098, 0.054]


def osborne_2(x):  # 19
    r = []
    for i in range(1, 66):
        t = (i - 1) / 10
        r.append(OSB2_Y[i - 1] - (x[0] * exp(-t * x[4]) + x[1] * exp(-(t - x[8]) ** 2 * x[5])
                                  + x[2] * exp(-(t - x[9]) ** 2 * x[6])
                                  + x[3] * exp(-(t - x[10]) ** 2 * x[7])))
    return r


def watson(x):  # 20, m = 31
    n = len(x)
    r = []
    for i in range(1, 30):
        t = i / 29
        s1 = sum((j - 1) * x[j - 1] * t ** (j - 2) for j in range(2, n + 1))
        s2 = sum(x[j - 1] * t ** (j - 1) for j in range(1, n + 1))
        r.append(s1 - s2 ** 2 - 1)
    r.append(x[0])
    r.append(x[1] - x[0] ** 2 - 1)
    return r


def extended_rosenbrock(x):  # 21
    r = []
    for i in range(0, len(x), 2):
        r += [10 * (x[i + 1] - x[i] ** 2), 1 - x[i]]
    return r


def extended_powell_singular(x):  # 22
    r = []
    for i in range(0, len(x), 4):
        r += powell_singular(x[i:i + 4])
    return r


def penalty_1(x):  # 23
    a = 1e-5
    return [math.sqrt(a) * (xi - 1) for xi in x] + [sum(xi ** 2 for xi in x) - 0.25]


def penalty_2(x):  # 24
    a, n = 1e-5, len(x)
    r = [x[0] - 0.2]
    for i in range(2, n + 1):
        y = math.exp(i / 10) + math.exp((i - 1) / 10)
        r.append(math.sqrt(a) * (exp(x[i - 1] / 10) + exp(x[i - 2] / 10) - y))
    for i in range(n + 1, 2 * n):
        r.append(math.sqrt(a) * (exp(x[i - n] / 10) - math.exp(-1 / 10)))
    r.append(sum((n - j + 1) * x[j - 1] ** 2 for j in range(1, n + 1)) - 1)
    return r


def variably_dimensioned(x):  # 25
    s = sum(j * (x[j - 1] - 1) for j in range(1, len(x) + 1))
    return [xi - 1 for xi in x] + [s, s ** 2]


def trigonometric(x):  # 26
    n = len(x)
    c = sum(cos(xj) for xj in x)
    return [n - c + i * (1 - cos(x[i - 1])) - sin(x[i - 1]) for i in range(1, n + 1)]


def brown_almost_linear(x):  # 27
    n = len(x)
    s = sum(x)
    p = x[0]
    for xj in x[1:]:
        p = p * xj
    return [x[i] + s - (n + 1) for i in range(n - 1)] + [p - 1]


def discrete_boundary_value(x):  # 28
    n = len(x)
    h = 1 / (n + 1)
    xx = [0.0] + list(x) + [0.0]
    return [2 * xx[i] - xx[i - 1] - xx[i + 1] + h ** 2 * (xx[i] + i * h + 1) ** 3 / 2
            for i in range(1, n + 1)]


def discrete_integral_equation(x):  # 29
    n = len(x)
    h = 1 / (n + 1)
    t = [j * h for j in range(1, n + 1)]
    g = [(x[j] + t[j] + 1) ** 3 for j in range(n)]
    r = []
    for i in range(n):
        s1 = sum(t[j] * g[j] for j in range(i + 1))
        s2 = sum((1 - t[j]) * g[j] for j in range(i + 1, n))
        r.append(x[i] + h * ((1 - t[i]) * s1 + t[i] * s2) / 2)
    return r


def broyden_tridiagonal(x):  # 30
    n = len(x)
    xx = [0.0] + list(x) + [0.0]
    return [(3 - 2 * xx[i]) * xx[i] - xx[i - 1] - 2 * xx[i + 1] + 1 for i in range(1, n + 1)]


def broyden_banded(x):  # 31, ml = 5, mu = 1
    n = len(x)
    r = []
    for i in range(1, n + 1):
        s = 0
        for j in range(max(1, i - 5), min(n, i + 1) + 1):
            if j != i:
                s = s + x[j - 1] * (1 + x[j - 1])
        r.append(x[i - 1] * (2 + 5 * x[i - 1] ** 2) + 1 - s)
    return r


def linear_full_rank(x, m):  # 32
    n = len(x)
    s = sum(x)
    return [x[i] - 2 * s / m - 1 for i in range(n)] + [-2 * s / m - 1] * (m - n)


def f_of(res, x):
    r = res(x)
    total = r[0] ** 2
    for ri in r[1:]:
        total = total + ri ** 2
    return total


def seeded(x0):
    n = len(x0)
    return [D(float(v), [1.0 if k == i else 0.0 for k in range(n)]) for i, v in enumerate(x0)]


# name, residual function, x0 (n as in the MGH paper's tables where n varies)
PROBLEMS = [
    ("rosenbrock", rosenbrock, [-1.2, 1]),
    ("freudenstein_roth", freudenstein_roth, [0.5, -2]),
    ("powell_badly_scaled", powell_badly_scaled, [0, 1]),
    ("brown_badly_scaled", brown_badly_scaled, [1, 1]),
    ("beale", beale, [1, 1]),
    ("jennrich_sampson", jennrich_sampson, [0.3, 0.4]),
    ("helical_valley", helical_valley, [-1, 0, 0]),
    ("bard", bard, [1, 1, 1]),
    ("gaussian", gaussian, [0.4, 1, 0]),
    ("meyer", meyer, [0.02, 4000, 250]),
    ("gulf", gulf, [5, 2.5, 0.15]),
    ("box_3d", box_3d, [0, 10, 20]),
    ("powell_singular", powell_singular, [3, -1, 0, 1]),
    ("wood", wood, [-3, -1, -3, -1]),
    ("kowalik_osborne", kowalik_osborne, [0.25, 0.39, 0.415, 0.39]),
    ("brown_dennis", brown_dennis, [25, 5, -5, 1]),
    ("biggs_exp6", biggs_exp6, [1, 2, 1, 1, 1, 1]),
    ("osborne_2", osborne_2, [1.3, 0.65, 0.65, 0.7, 0.6, 3, 5, 7, 2, 4.5, 5.5]),
    ("watson", watson, [0] * 6),
    ("extended_rosenbrock", extended_rosenbrock, [-1.2, 1] * 5),
    ("extended_powell_singular", extended_powell_singular, [3, -1, 0, 1] * 2),
    ("penalty_1", penalty_1, [1, 2, 3, 4]),
    ("penalty_2", penalty_2, [0.5] * 4),
    ("variably_dimensioned", variably_dimensioned, [1 - j / 10 for j in range(1, 11)]),
    ("trigonometric", trigonometric, [1 / 10] * 10),
    ("brown_almost_linear", brown_almost_linear, [0.5] * 10),
    ("discrete_boundary_value", discrete_boundary_value,
     [(j / 11) * (j / 11 - 1) for j in range(1, 11)]),
    ("discrete_integral_equation", discrete_integral_equation,
     [(j / 11) * (j / 11 - 1) for j in range(1, 11)]),
    ("broyden_tridiagonal", broyden_tridiagonal, [-1] * 10),
    ("broyden_banded", broyden_banded, [-1] * 10),
    ("linear_full_rank", lambda x: linear_full_rank(x, 20), [1] * 10),
]

if __name__ == "__main__":
    only = sys.argv[1:]
    for name, res, x0 in PROBLEMS:
        if only and name not in only:
            continue
        print("%s f0 %s" % (name, repr(float(f_of(res, [float(v) for v in x0])))))
        g = f_of(res, seeded(x0)).g
        print("%s g0 %s" % (name, " ".join(repr(float(v)) for v in g)))
