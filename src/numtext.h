/* numtext.h: numbers to and from decimal text (numtext.c), the same
 * results as glibc's strtod and printf("%.10g"), fast in the common case. */
#ifndef GRADC_NUMTEXT_H
#define GRADC_NUMTEXT_H

/* The double nearest the decimal number in [p, end) (a valid number:
 * [sign] digits [. digits] [e [sign] digits]), as strtod gives it, by an
 * exact fast path when it can (Clinger 1990) and strtod otherwise. */
double num_parse(const char *p, const char *end);

/* printf("%.10g", x) into buf (at least 32 bytes): the same characters,
 * fast in the common case; returns the length. */
int num_format_g10(char *buf, double x);

/* Whether [s, end) is a number as the language writes it (SPEC 1.1: 3, 3.,
 * .5, 2.5e-3, 1E6, with a sign) or one of the words inf, infinity, nan: not
 * hexadecimal (0x10, 0x1p3) nor nan(...), which strtod also reads. */
int num_is_decimal(const char *s, const char *end);

#endif
