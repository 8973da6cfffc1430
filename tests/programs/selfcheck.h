/* Shared by the self-checking programs: how a check fails. */
#pragma once
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* One line "FAIL: ..." on stderr, exit status 1. */
static _Noreturn __attribute__((format(printf, 1, 2), unused)) void fail(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fputs("FAIL: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}
