/* x86_parts.c: the parts of a streamed kernel (emit_c's split, EmitOpts.unit)
 * translated to x86-64 machine code directly, without libtcc (ir.h,
 * "x86_parts.c").
 *
 * A part of a huge scalar kernel is straight-line code over four kinds of
 * places: `t[N]` (the kernel's slots), `a[K][N]` (its arguments), `r[K][N]`
 * (its results) and locals `double g_lN = E;`, with E made of double
 * literals, + - * /, unary minus, parentheses and calls of libm's functions
 * (and g_tanh, g_sigmoid: gradc_rt_tanh, gradc_rt_sigmoid), and `sincos(E, &P, &Q);` of two such places
 * (t[N], or locals declared `double g_lN;`); it ends with `return 0;`.
 * libtcc reads such C at about 25 MB/s, and a program of 10^6 definitions
 * gives 120 MB of it: most of `gradc grad`'s time. This reads the same
 * text in one pass and writes SSE2 code for it, each operation the IEEE
 * operation tcc's code performs (the same operands, the same order,
 * unary minus as -0.0 - x as tcc does, literals read by strtod as tcc
 * does, the same libm functions called), so the results are the same bits.
 * Anything else in a unit (a ternary, a helper such as g_relu, a loop, a
 * literal that is not a double) and the unit goes to libtcc as before.
 *
 * Registers: rbx holds a, r12 holds t, r13 holds r (callee-saved, so
 * calls keep them); a[K] or r[K] is loaded into rax just before the
 * element is read or written; an expression is evaluated on a stack of xmm
 * registers, depth d in xmm<d>, a leaf right operand read straight from
 * memory; a call saves the live registers below it in the frame. Frame:
 * 16 spill slots, then one slot per local. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ir.h"

#if defined(__x86_64__) && defined(__linux__)

#define NREGS 16
#define MAX_NEST 64           /* parentheses and calls inside each other */
#define MAX_LOCALS (1 << 16)  /* per part */
#define MAX_SLOT ((int64_t)1 << 27) /* 8 * N fits a disp32 */

typedef struct Gen {
  const char *p;           /* the cursor in the unit's text */
  Buf code;
  int tanh_is_rt;          /* the prelude defines g_tanh as gradc_rt_tanh */
  int sigmoid_is_rt;       /* and g_sigmoid as gradc_rt_sigmoid */
  int nest;
  /* the current part's locals: g_lN -> frame slot, open addressing */
  int64_t *lname;          /* -1: empty */
  int *lslot;
  int lcap, nlocals;
  int bad;                 /* not a form this file translates */
} Gen;

/* ---- machine code ------------------------------------------------------------- */

static void byte(Gen *g, unsigned b) {
  char c = (char)(unsigned char)b;
  buf_putn(&g->code, &c, 1);
}

static void u32(Gen *g, uint32_t v) { buf_putn(&g->code, (const char *)&v, 4); }

/* [rax + d] (after rax = a[K] or r[K]), [r12 + d], [rsp + d] */
enum { BASE_RAX, BASE_T, BASE_FRAME };

/* An SSE2 instruction `prefix 0F op` of xmm<reg> with a memory operand. */
static void sse_mem(Gen *g, unsigned prefix, unsigned op, int reg, int base, int64_t disp) {
  unsigned char ins[16];
  int n = 0;
  ins[n++] = (unsigned char)prefix;
  unsigned rex = 0x40 | (reg >= 8 ? 4 : 0) | (base == BASE_T ? 1 : 0);
  if (rex != 0x40)
    ins[n++] = (unsigned char)rex;
  ins[n++] = 0x0f;
  ins[n++] = (unsigned char)op;
  if (base == BASE_RAX) {
    ins[n++] = (unsigned char)(0x80 | (unsigned)(reg & 7) << 3 | 0); /* mod 10, rm rax */
  } else {
    ins[n++] = (unsigned char)(0x80 | (unsigned)(reg & 7) << 3 | 4); /* mod 10, rm SIB */
    ins[n++] = 0x24;                                                 /* base r12 / rsp, no index */
  }
  int32_t d = (int32_t)disp;
  memcpy(ins + n, &d, 4);
  buf_putn(&g->code, (const char *)ins, (size_t)n + 4);
}

/* An SSE2 instruction `prefix 0F op` of xmm<dst>, xmm<src>. */
static void sse_reg(Gen *g, unsigned prefix, unsigned op, int dst, int src) {
  unsigned char ins[8];
  int n = 0;
  ins[n++] = (unsigned char)prefix;
  unsigned rex = 0x40 | (dst >= 8 ? 4 : 0) | (src >= 8 ? 1 : 0);
  if (rex != 0x40)
    ins[n++] = (unsigned char)rex;
  ins[n++] = 0x0f;
  ins[n++] = (unsigned char)op;
  ins[n++] = (unsigned char)(0xc0 | (unsigned)(dst & 7) << 3 | (unsigned)(src & 7));
  buf_putn(&g->code, (const char *)ins, (size_t)n);
}

#define F2 0xf2
#define OP_LOAD 0x10  /* movsd xmm, m64 */
#define OP_STORE 0x11 /* movsd m64, xmm */

static void mov_reg(Gen *g, int dst, int src) {
  if (dst != src)
    sse_reg(g, 0x66, 0x28, dst, src); /* movapd */
}

/* xmm<reg> = the double with these bits: mov rax, imm64; movq xmm, rax */
static void load_bits(Gen *g, int reg, uint64_t bits) {
  unsigned char ins[15] = {0x48, 0xb8};
  memcpy(ins + 2, &bits, 8);
  ins[10] = 0x66;
  ins[11] = (unsigned char)(0x48 | (reg >= 8 ? 4 : 0));
  ins[12] = 0x0f;
  ins[13] = 0x6e;
  ins[14] = (unsigned char)(0xc0 | (unsigned)(reg & 7) << 3);
  buf_putn(&g->code, (const char *)ins, sizeof ins);
}

static void load_double(Gen *g, int reg, double x) {
  uint64_t bits;
  memcpy(&bits, &x, sizeof bits);
  load_bits(g, reg, bits);
}

static void call_abs(Gen *g, const void *fn) {
  uint64_t a = (uint64_t)(uintptr_t)fn;
  unsigned char ins[12] = {0x48, 0xb8}; /* mov rax, fn; call rax */
  memcpy(ins + 2, &a, 8);
  ins[10] = 0xff;
  ins[11] = 0xd0;
  buf_putn(&g->code, (const char *)ins, sizeof ins);
}

/* ---- the text ----------------------------------------------------------------- */

static void skip_space(Gen *g) {
  for (;;) {
    while (*g->p == ' ' || *g->p == '\n' || *g->p == '\t' || *g->p == '\r')
      g->p++;
    if (g->p[0] == '/' && g->p[1] == '*') {
      const char *end = strstr(g->p + 2, "*/");
      if (!end) {
        g->bad = 1;
        return;
      }
      g->p = end + 2;
    } else {
      return;
    }
  }
}

static int accept(Gen *g, char c) {
  skip_space(g);
  if (*g->p != c)
    return 0;
  g->p++;
  return 1;
}

static void expect(Gen *g, char c) {
  if (!accept(g, c))
    g->bad = 1;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_ident_char(char c) { return is_alpha(c) || is_digit(c); }

/* The identifier at the cursor (its length; 0 if none), not consumed. */
static size_t ident_len(Gen *g) {
  skip_space(g);
  if (!is_alpha(*g->p))
    return 0;
  size_t n = 1;
  while (is_ident_char(g->p[n]))
    n++;
  return n;
}

static int accept_word(Gen *g, const char *w) {
  size_t n = ident_len(g);
  if (n != strlen(w) || memcmp(g->p, w, n))
    return 0;
  g->p += n;
  return 1;
}

/* A decimal integer (an index or a local's number). */
static int64_t integer(Gen *g) {
  skip_space(g);
  if (!is_digit(*g->p)) {
    g->bad = 1;
    return 0;
  }
  int64_t v = 0;
  while (is_digit(*g->p) && v < MAX_SLOT)
    v = 10 * v + (*g->p++ - '0');
  if (v >= MAX_SLOT || is_ident_char(*g->p))
    g->bad = 1;
  return v;
}

/* ---- locals ------------------------------------------------------------------- */

static int *local_at(Gen *g, int64_t name, int insert) {
  if (insert && 2 * (g->nlocals + 1) > g->lcap) {
    int cap = g->lcap ? 2 * g->lcap : 1024;
    int64_t *nm = malloc((size_t)cap * sizeof *nm);
    int *sl = malloc((size_t)cap * sizeof *sl);
    if (!nm || !sl) {
      free(nm);
      free(sl);
      g->code.oom = 1;
      return NULL;
    }
    for (int i = 0; i < cap; i++)
      nm[i] = -1;
    for (int i = 0; i < g->lcap; i++)
      if (g->lname[i] >= 0) {
        int j = (int)((uint64_t)g->lname[i] * 0x9e3779b97f4a7c15u >> 40) & (cap - 1);
        while (nm[j] >= 0)
          j = (j + 1) & (cap - 1);
        nm[j] = g->lname[i];
        sl[j] = g->lslot[i];
      }
    free(g->lname);
    free(g->lslot);
    g->lname = nm;
    g->lslot = sl;
    g->lcap = cap;
  }
  if (!g->lcap)
    return NULL;
  int j = (int)((uint64_t)name * 0x9e3779b97f4a7c15u >> 40) & (g->lcap - 1);
  while (g->lname[j] >= 0 && g->lname[j] != name)
    j = (j + 1) & (g->lcap - 1);
  if (g->lname[j] == name)
    return insert ? NULL : &g->lslot[j]; /* declared twice: not ours */
  if (!insert)
    return NULL;
  g->lname[j] = name;
  g->lslot[j] = g->nlocals++;
  return &g->lslot[j];
}

static int64_t local_disp(int slot) { return 8 * (int64_t)(NREGS + slot); }

/* A double in memory: [base + disp], where BASE_RAX is the array
 * [ptr + 8 K] (ptr: rbx for a, r13 for r) loaded into rax first. */
typedef struct Place {
  int base;
  int64_t disp;
  int ptr_r13;   /* BASE_RAX: r[K], not a[K] */
  int64_t ptr_disp;
} Place;

/* rax = a[K] or r[K] for a place through a pointer. */
static void load_ptr(Gen *g, const Place *pl) {
  if (pl->base != BASE_RAX)
    return;
  /* mov rax, [rbx + disp32] / mov rax, [r13 + disp32] */
  unsigned char ins[7] = {(unsigned char)(pl->ptr_r13 ? 0x49 : 0x48), 0x8b,
                          (unsigned char)(pl->ptr_r13 ? 0x85 : 0x83)};
  int32_t d = (int32_t)pl->ptr_disp;
  memcpy(ins + 3, &d, 4);
  buf_putn(&g->code, (const char *)ins, sizeof ins);
}

/* An SSE2 instruction with the place as memory operand. */
static void sse_place(Gen *g, unsigned prefix, unsigned op, int reg, const Place *pl) {
  load_ptr(g, pl);
  sse_mem(g, prefix, op, reg, pl->base, pl->disp);
}

/* A place at the cursor: t[N], a[K][N], r[K][N] or g_lN; 1 if there is
 * one. Nothing is written. */
static int place_ref(Gen *g, Place *pl) {
  size_t n = ident_len(g);
  if (n == 1 && g->p[0] == 't') {
    g->p++;
    expect(g, '[');
    pl->base = BASE_T, pl->disp = 8 * integer(g);
    expect(g, ']');
    return 1;
  }
  if (n == 1 && (g->p[0] == 'a' || g->p[0] == 'r')) {
    pl->ptr_r13 = g->p[0] == 'r';
    g->p++;
    expect(g, '[');
    pl->base = BASE_RAX, pl->ptr_disp = 8 * integer(g);
    expect(g, ']');
    expect(g, '[');
    pl->disp = 8 * integer(g);
    expect(g, ']');
    return 1;
  }
  if (n > 3 && !memcmp(g->p, "g_l", 3) && is_digit(g->p[3])) {
    g->p += 3;
    int *slot = local_at(g, integer(g), 0);
    if (!slot) {
      g->bad = 1;
      return 1;
    }
    pl->base = BASE_FRAME, pl->disp = local_disp(*slot);
    return 1;
  }
  return 0;
}

/* A double literal (it has a point or an exponent, as emit_c writes
 * them: an integer literal would be an int in C). */
static int literal(Gen *g, double *x) {
  skip_space(g);
  if (!is_digit(*g->p) && *g->p != '.')
    return 0;
  char *end;
  *x = strtod(g->p, &end);
  int dbl = 0;
  for (const char *s = g->p; s < end; s++) {
    dbl |= *s == '.' || *s == 'e' || *s == 'E';
    g->bad |= !is_digit(*s) && !strchr(".eE+-", *s); /* hex, inf, nan */
  }
  if (!dbl || end == g->p || is_ident_char(*end) || *end == '.')
    g->bad = 1;
  g->p = end;
  return 1;
}

/* ---- expressions -------------------------------------------------------------- */

typedef struct Callee {
  const char *name;
  int nargs;
} Callee;

static const Callee callees[] = {
    {"exp", 1},   {"log", 1},   {"sqrt", 1},  {"sin", 1},   {"cos", 1},   {"tan", 1},
    {"asin", 1},  {"acos", 1},  {"atan", 1},  {"sinh", 1},  {"cosh", 1},  {"tanh", 1},
    {"erf", 1},   {"log1p", 1}, {"expm1", 1}, {"fabs", 1},  {"floor", 1}, {"ceil", 1},
    {"rint", 1},  {"pow", 2},   {"atan2", 2}, {"fmod", 2},  {"g_tanh", 1}, {"g_sigmoid", 1},
};

static void expr(Gen *g, int d, int minprec);

/* f(args) into xmm<d>, f's name at the cursor (n characters) */
static void call(Gen *g, int d, size_t n) {
  const Callee *c = NULL;
  for (size_t i = 0; i < sizeof callees / sizeof *callees; i++)
    if (strlen(callees[i].name) == n && !memcmp(callees[i].name, g->p, n))
      c = &callees[i];
  const void *fn = NULL;
  if (c && !strcmp(c->name, "g_tanh"))
    fn = g->tanh_is_rt ? jit_runtime_symbol("gradc_rt_tanh") : NULL;
  else if (c && !strcmp(c->name, "g_sigmoid"))
    fn = g->sigmoid_is_rt ? jit_runtime_symbol("gradc_rt_sigmoid") : NULL;
  else if (c)
    fn = jit_runtime_symbol(c->name);
  if (!fn || d + c->nargs > NREGS) {
    g->bad = 1;
    return;
  }
  g->p += n;
  expect(g, '(');
  for (int a = 0; a < c->nargs && !g->bad; a++) {
    if (a)
      expect(g, ',');
    expr(g, d + a, 0);
  }
  expect(g, ')');
  for (int r = 0; r < d; r++) /* the callee may change every xmm register */
    sse_mem(g, F2, OP_STORE, r, BASE_FRAME, 8 * r);
  for (int a = 0; a < c->nargs; a++)
    mov_reg(g, a, d + a);
  call_abs(g, fn);
  mov_reg(g, d, 0);
  for (int r = 0; r < d; r++)
    sse_mem(g, F2, OP_LOAD, r, BASE_FRAME, 8 * r);
}

/* A unary expression into xmm<d>. */
static void unary(Gen *g, int d) {
  if (g->bad)
    return;
  if (++g->nest > MAX_NEST) {
    g->bad = 1;
    return;
  }
  Place pl;
  double x;
  if (accept(g, '-')) {
    if (*g->p == '-') { /* C's --, not two minus signs */
      g->bad = 1;
      return;
    }
    /* tcc: -x is -0.0 - x (a literal: folded, the same value) */
    const char *at = g->p;
    if (literal(g, &x)) {
      load_double(g, d, -0.0 - x);
    } else {
      g->p = at;
      if (d + 1 >= NREGS) {
        g->bad = 1;
      } else {
        unary(g, d);
        load_bits(g, d + 1, (uint64_t)1 << 63);
        sse_reg(g, F2, 0x5c, d + 1, d); /* subsd */
        mov_reg(g, d, d + 1);
      }
    }
  } else if (accept(g, '(')) {
    expr(g, d, 0);
    expect(g, ')');
  } else if (literal(g, &x)) {
    load_double(g, d, x);
  } else if (place_ref(g, &pl)) {
    if (!g->bad)
      sse_place(g, F2, OP_LOAD, d, &pl);
  } else {
    size_t n = ident_len(g);
    const char *after = g->p + n;
    while (*after == ' ')
      after++;
    if (n && *after == '(')
      call(g, d, n);
    else
      g->bad = 1;
  }
  g->nest--;
}

static int binop_prec(Gen *g, unsigned *op) {
  skip_space(g);
  switch (*g->p) {
  case '+': *op = 0x58; return 1;
  case '-': *op = 0x5c; return 1;
  case '*': *op = 0x59; return 2;
  case '/': *op = 0x5e; return 2;
  default: return 0;
  }
}

/* An expression of operators binding at least minprec into xmm<d>
 * (precedence climbing; + - and * / are left-associative). */
static void expr(Gen *g, int d, int minprec) {
  unary(g, d);
  unsigned op;
  int prec;
  while (!g->bad && (prec = binop_prec(g, &op)) != 0 && prec >= minprec) {
    g->p++;
    /* a place as right operand, not followed by an operator that binds
     * tighter: read from memory */
    const char *at = g->p;
    Place pl;
    unsigned op2;
    if (place_ref(g, &pl) && !g->bad && binop_prec(g, &op2) <= prec) {
      sse_place(g, F2, op, d, &pl);
      continue;
    }
    if (g->bad)
      return;
    g->p = at;
    if (d + 1 >= NREGS) {
      g->bad = 1;
      return;
    }
    expr(g, d + 1, prec + 1);
    sse_reg(g, F2, op, d, d + 1);
  }
}

/* ---- sincos(E, &P, &Q); ------------------------------------------------------- */

/* rdi (reg 7) or rsi (reg 6) = the address of a place in t[] or the frame:
 * lea r64, [r12 + disp32] / [rsp + disp32] */
static void lea_place(Gen *g, int reg, const Place *pl) {
  unsigned char ins[8] = {(unsigned char)(pl->base == BASE_T ? 0x49 : 0x48), 0x8d,
                          (unsigned char)(0x84 | (unsigned)(reg & 7) << 3), 0x24};
  int32_t d = (int32_t)pl->disp;
  memcpy(ins + 4, &d, 4);
  buf_putn(&g->code, (const char *)ins, sizeof ins);
}

/* The rest of `sincos(E, &P, &Q);` (emit_c's pair of sin and cos of one
 * operand), P and Q in t[] or locals: xmm0 = E, rdi = &P, rsi = &Q, the
 * call of libm's sincos, as tcc's code makes it. */
static void sincos_statement(Gen *g) {
  const void *fn = jit_runtime_symbol("sincos");
  Place ps = {0}, pc = {0};
  if (!fn) {
    g->bad = 1;
    return;
  }
  expect(g, '(');
  expr(g, 0, 0);
  expect(g, ',');
  expect(g, '&');
  if (g->bad || !place_ref(g, &ps) || ps.base == BASE_RAX) {
    g->bad = 1;
    return;
  }
  expect(g, ',');
  expect(g, '&');
  if (g->bad || !place_ref(g, &pc) || pc.base == BASE_RAX) {
    g->bad = 1;
    return;
  }
  expect(g, ')');
  expect(g, ';');
  if (g->bad)
    return;
  lea_place(g, 7, &ps);
  lea_place(g, 6, &pc);
  call_abs(g, fn);
}

/* ---- parts -------------------------------------------------------------------- */

/* The words and punctuation of `seq` (separated by spaces) at the cursor. */
static int accept_seq(Gen *g, const char *seq) {
  char w[16];
  for (const char *s = seq; *s;) {
    size_t n = strcspn(s, " ");
    if (n == 1 && !is_alpha(*s)) {
      if (!accept(g, *s))
        return 0;
    } else {
      if (n >= sizeof w)
        return 0;
      memcpy(w, s, n);
      w[n] = 0;
      if (!accept_word(g, w))
        return 0;
    }
    s += n;
    while (*s == ' ')
      s++;
  }
  return 1;
}

/* One part: `int NAME(const long *d, const double *const *a, double *const
 * *r, double *t, double *const *g_bv) { ... return 0; }`; its name (n
 * characters at *name) for the symbol. */
static void part(Gen *g, const char **name, size_t *n) {
  if (!accept_word(g, "int")) {
    g->bad = 1;
    return;
  }
  *n = ident_len(g);
  *name = g->p;
  if (*n < 3 || memcmp(*name, "g_", 2)) {
    g->bad = 1;
    return;
  }
  g->p += *n;
  if (!accept_seq(g, "( const long * d , const double * const * a , double * const * r , double * t , "
                     "double * const * g_bv ) {")) {
    g->bad = 1;
    return;
  }
  for (int i = 0; i < g->lcap; i++)
    g->lname[i] = -1;
  g->nlocals = 0;
  /* push rbx; push r12; push r13; sub rsp, FRAME */
  static const unsigned char pro[] = {0x53, 0x41, 0x54, 0x41, 0x55, 0x48, 0x81, 0xec};
  buf_putn(&g->code, (const char *)pro, sizeof pro);
  size_t frame_at = g->code.len;
  u32(g, 0);
  /* mov rbx, rsi (a); mov r12, rcx (t); mov r13, rdx (r) */
  static const unsigned char mov[] = {0x48, 0x89, 0xf3, 0x49, 0x89, 0xcc, 0x49, 0x89, 0xd5};
  buf_putn(&g->code, (const char *)mov, sizeof mov);
  int returned = 0;
  while (!g->bad && !returned) {
    if (accept(g, '(')) { /* (void)d; and so on */
      if (!accept_word(g, "void") || !accept(g, ')') ||
          !(accept_word(g, "d") || accept_word(g, "a") || accept_word(g, "r") || accept_word(g, "t") ||
            accept_word(g, "g_bv")) ||
          !accept(g, ';'))
        g->bad = 1;
      continue;
    }
    if (accept_word(g, "return")) { /* return 0; } */
      skip_space(g);
      if (g->p[0] != '0' || is_ident_char(g->p[1]) || g->p[1] == '.')
        g->bad = 1;
      g->p++;
      if (!accept(g, ';') || !accept(g, '}'))
        g->bad = 1;
      returned = 1;
      continue;
    }
    if (accept_word(g, "sincos")) {
      sincos_statement(g);
      continue;
    }
    Place pl = {0};
    if (accept_word(g, "double")) { /* double g_lN = E;  or  double g_lN; */
      size_t k = ident_len(g);
      if (k <= 3 || memcmp(g->p, "g_l", 3)) {
        g->bad = 1;
        break;
      }
      g->p += 3;
      int64_t nm = integer(g);
      int *slot = g->bad || g->nlocals >= MAX_LOCALS ? NULL : local_at(g, nm, 1);
      if (!slot) {
        g->bad = 1;
        break;
      }
      pl.base = BASE_FRAME, pl.disp = local_disp(*slot);
      if (accept(g, ';'))
        continue; /* written by a sincos after it */
    } else if (!place_ref(g, &pl) || (pl.base == BASE_RAX && !pl.ptr_r13)) {
      g->bad = 1; /* not a place, or a[K][N]: the arguments are const */
      break;
    }
    expect(g, '=');
    expr(g, 0, 0);
    expect(g, ';');
    sse_place(g, F2, OP_STORE, 0, &pl);
  }
  /* the frame: spill slots and locals, rsp 16-aligned at calls (0 mod 16
   * after the three pushes) */
  uint32_t frame = 8 * (uint32_t)(NREGS + g->nlocals);
  if (frame % 16)
    frame += 8;
  if (!g->code.oom)
    memcpy(g->code.data + frame_at, &frame, 4);
  /* xor eax, eax; add rsp, FRAME; pop r13; pop r12; pop rbx; ret */
  byte(g, 0x31), byte(g, 0xc0);
  byte(g, 0x48), byte(g, 0x81), byte(g, 0xc4);
  u32(g, frame);
  byte(g, 0x41), byte(g, 0x5d), byte(g, 0x41), byte(g, 0x5c), byte(g, 0x5b), byte(g, 0xc3);
  while (g->code.len % 16) /* the next function 16-aligned: int3 between */
    byte(g, 0xcc);
}

typedef struct PartSym {
  const char *name;
  size_t len, at;
} PartSym;

int x86_parts_compile(const char *src, void *ctx, void *(*place)(void *ctx, size_t size),
                      void (*sym)(void *ctx, const char *name, const void *addr)) {
  /* the prelude: declarations up to the first part */
  const char *start = strstr(src, "\nint g_");
  if (!start)
    return -1;
  Gen g = {.p = start + 1}; /* malloc's heap: reused from unit to unit, no fresh pages each time */
  const char *def = strstr(src, "#define g_tanh gradc_rt_tanh\n");
  g.tanh_is_rt = def && def < start;
  def = strstr(src, "#define g_sigmoid gradc_rt_sigmoid\n");
  g.sigmoid_is_rt = def && def < start;
  int defines = 0; /* no macro but that one: the parts mean what they say */
  for (const char *s = src; (s = strstr(s, "#define")) && s < start; s++)
    defines++;
  if (defines > g.tanh_is_rt + g.sigmoid_is_rt)
    return -1;
  PartSym *parts = NULL;
  size_t nparts = 0, cap = 0;
  int rc = -1;
  for (skip_space(&g); *g.p && !g.bad && !g.code.oom; skip_space(&g)) {
    if (nparts == cap) {
      cap = cap ? 2 * cap : 64;
      PartSym *ps = realloc(parts, cap * sizeof *ps);
      if (!ps) {
        g.code.oom = 1;
        break;
      }
      parts = ps;
    }
    PartSym *ps = &parts[nparts++];
    ps->at = g.code.len;
    part(&g, &ps->name, &ps->len);
  }
  if (g.code.oom) {
    rc = -2;
  } else if (!g.bad && nparts) {
    unsigned char *mem = place(ctx, g.code.len);
    if (!mem) {
      rc = -2;
    } else {
      memcpy(mem, g.code.data, g.code.len);
      /* libtcc marks its code executable the same way */
      uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
      uintptr_t lo = (uintptr_t)mem & ~(page - 1), hi = ((uintptr_t)mem + g.code.len + page - 1) & ~(page - 1);
      if (mprotect((void *)lo, hi - lo, PROT_READ | PROT_WRITE | PROT_EXEC) != 0) {
        rc = -2;
      } else {
        __builtin___clear_cache((char *)mem, (char *)mem + g.code.len);
        char name[256];
        rc = 0;
        for (size_t i = 0; i < nparts; i++) {
          if (parts[i].len >= sizeof name) {
            rc = -1; /* (not reached: emit_c's part names are short) */
            continue;
          }
          memcpy(name, parts[i].name, parts[i].len);
          name[parts[i].len] = 0;
          sym(ctx, name, mem + parts[i].at);
        }
      }
    }
  }
  free(parts);
  free(g.lname);
  free(g.lslot);
  buf_free(&g.code);
  return rc;
}

#else /* not x86-64 Linux: libtcc compiles every unit */

int x86_parts_compile(const char *src, void *ctx, void *(*place)(void *ctx, size_t size),
                      void (*sym)(void *ctx, const char *name, const void *addr)) {
  (void)src, (void)ctx, (void)place, (void)sym;
  return -1;
}

#endif
