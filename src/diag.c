/* diag.c: diagnostics as values, rendered as FILE:LINE:COL: error: MESSAGE
 * with the source line and a caret under the column (SPEC section 2.3). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

static char *vformat(const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0)
    return NULL;
  char *s = malloc((size_t)n + 1);
  if (s)
    vsnprintf(s, (size_t)n + 1, fmt, ap);
  return s;
}

void diag_add(Diags *d, GradcStatus kind, const Source *src, Span span,
              const char *hint, const char *fmt, ...) {
  if (d->count == d->cap) {
    int cap = d->cap ? d->cap * 2 : 8;
    Diag *items = realloc(d->items, (size_t)cap * sizeof *items);
    if (!items)
      return;
    d->items = items;
    d->cap = cap;
  }
  va_list ap;
  va_start(ap, fmt);
  char *msg = vformat(fmt, ap);
  va_end(ap);
  if (!msg)
    return;
  Diag *g = &d->items[d->count++];
  g->kind = kind;
  g->src = src;
  g->span = span;
  g->msg = msg;
  g->hint = hint ? strdup(hint) : NULL;
  g->no_excerpt = 0;
  g->file = NULL;
}

/* Drops the diagnostics after the first `count`. */
void diags_truncate(Diags *d, int count) {
  for (int i = count; i < d->count; i++) {
    free(d->items[i].msg);
    free(d->items[i].hint);
    free(d->items[i].file);
  }
  if (count < d->count)
    d->count = count;
}

void diags_free(Diags *d) {
  for (int i = 0; i < d->count; i++) {
    free(d->items[i].msg);
    free(d->items[i].hint);
    free(d->items[i].file);
  }
  free(d->items);
  memset(d, 0, sizeof *d);
}

/* Print one byte of a source line so that the terminal shows it safely. */
static void put_visible(Buf *out, unsigned char c) {
  if (c == '\t' || (c >= 0x20 && c < 0x7f) || c >= 0x80)
    buf_putn(out, (const char *)&c, 1);
  else
    buf_putn(out, "?", 1);
}

void diag_file(Diags *d, const char *file, int line, int col, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *msg = vformat(fmt, ap);
  va_end(ap);
  if (!msg)
    return;
  diag_add(d, GRADC_ERR_INPUT, NULL, (Span){line, col, line, col}, NULL, "%s", msg);
  free(msg);
  if (d->count)
    d->items[d->count - 1].file = strdup(file);
}

void diag_render(const Diag *d, Buf *out) {
  const char *what = d->kind == GRADC_ERR_INTERNAL ? "internal error" : "error";
  if (d->file && d->span.col > 0)
    buf_printf(out, "%s:%d:%d: %s: %s", d->file, d->span.line, d->span.col, what, d->msg);
  else if (d->file && d->span.line > 0)
    buf_printf(out, "%s:%d: %s: %s", d->file, d->span.line, what, d->msg);
  else if (d->file)
    buf_printf(out, "%s: %s: %s", d->file, what, d->msg);
  else if (d->src && d->span.line > 0)
    buf_printf(out, "%s:%d:%d: %s: %s", d->src->name, d->span.line,
               d->span.col, what, d->msg);
  else if (d->src)
    buf_printf(out, "%s: %s: %s", d->src->name, what, d->msg);
  else
    buf_printf(out, "gradc: %s: %s", what, d->msg);
  if (d->hint)
    buf_printf(out, " (%s)", d->hint);
  buf_puts(out, "\n");
  if (!d->src || d->span.line <= 0 || d->no_excerpt)
    return;
  /* find the line */
  const char *s = d->src->text, *end = s + d->src->len;
  for (int line = 1; line < d->span.line && s < end; s++)
    if (*s == '\n')
      line++;
  const char *e = s;
  while (e < end && *e != '\n')
    e++;
  size_t linelen = (size_t)(e - s), len = linelen;
  if (len > 500) /* a huge line: show the part around the column */
    len = 500;
  size_t col = d->span.col > 0 ? (size_t)d->span.col - 1 : 0;
  if (col > linelen) /* just past the end of the line */
    col = linelen;
  size_t from = 0;
  if (col > 400) {
    from = col - 200;
    len = (size_t)(e - s) - from < 500 ? (size_t)(e - s) - from : 500;
    buf_puts(out, "...");
  }
  for (size_t i = 0; i < len; i++)
    put_visible(out, (unsigned char)s[from + i]);
  buf_puts(out, "\n");
  if (from)
    buf_puts(out, "   ");
  for (size_t i = from; i < col && i < (size_t)(e - s); i++)
    buf_putn(out, s[i] == '\t' ? "\t" : " ", 1);
  buf_puts(out, "^\n");
}

/* Levenshtein distance, capped: small strings only. */
static int distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 64 || lb > 64)
    return 99;
  int row[65];
  for (size_t j = 0; j <= lb; j++)
    row[j] = (int)j;
  for (size_t i = 1; i <= la; i++) {
    int prev = row[0];
    row[0] = (int)i;
    for (size_t j = 1; j <= lb; j++) {
      int cur = row[j];
      int sub = prev + (a[i - 1] != b[j - 1]);
      int del = row[j] + 1, ins = row[j - 1] + 1;
      row[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
      prev = cur;
    }
  }
  return row[lb];
}

const char *diag_closest(const char *name, const char *const *cands, int n) {
  const char *best = NULL;
  int bestd = 99;
  size_t len = strlen(name), bestp = 0;
  int limit = len <= 1 ? 0 : len <= 3 ? 1 : len <= 6 ? 2 : 3; /* one letter: no guess */
  for (int i = 0; i < n; i++) {
    if (!cands[i] || !strcmp(cands[i], name))
      continue;
    int d = distance(name, cands[i]);
    size_t p = 0; /* on a tie, the one that starts like the name wins */
    while (name[p] && name[p] == cands[i][p])
      p++;
    if (d < bestd || (d == bestd && p > bestp)) {
      bestd = d;
      best = cands[i];
      bestp = p;
    }
  }
  return bestd <= limit ? best : NULL;
}
