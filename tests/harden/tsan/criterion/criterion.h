/* A stand-in for <criterion/criterion.h>, enough for test_threads.c, so
 * that it can run under ThreadSanitizer: Criterion's own runner cannot
 * start under TSan ("Could not initialize inheritable arena"). Tests run
 * one after another in this process; a failed assertion aborts. Used by
 * tests/harden/tsan.sh only. */
#ifndef HARDEN_FAKE_CRITERION_H
#define HARDEN_FAKE_CRITERION_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct FakeTest {
  const char *suite, *name;
  void (*fn)(void);
} FakeTest;
extern FakeTest fake_tests[64];
extern int fake_ntests;

#define TestSuite(...)
#define Test(suite, name, ...)                                              \
  static void suite##_##name(void);                                         \
  __attribute__((constructor)) static void reg_##suite##_##name(void) {     \
    fake_tests[fake_ntests++] = (FakeTest){#suite, #name, suite##_##name};  \
  }                                                                         \
  static void suite##_##name(void)

#define FAKE_FAIL(...)                                                      \
  do {                                                                      \
    fprintf(stderr, "%s:%d: assertion failed: ", __FILE__, __LINE__);       \
    fprintf(stderr, "" __VA_ARGS__);                                        \
    fprintf(stderr, "\n");                                                  \
    abort();                                                                \
  } while (0)
#define cr_assert(c, ...) do { if (!(c)) FAKE_FAIL(__VA_ARGS__); } while (0)
#define cr_assert_eq(a, b, ...) cr_assert((a) == (b), __VA_ARGS__)
#define cr_assert_neq(a, b, ...) cr_assert((a) != (b), __VA_ARGS__)
#define cr_assert_lt(a, b, ...) cr_assert((a) < (b), __VA_ARGS__)
#define cr_assert_gt(a, b, ...) cr_assert((a) > (b), __VA_ARGS__)
#define cr_assert_not_null(a, ...) cr_assert((a) != NULL, __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...) cr_assert(!strcmp((a), (b)), __VA_ARGS__)
#define cr_log_info(...) ((void)0) /* the tests also print their summaries */

#endif
