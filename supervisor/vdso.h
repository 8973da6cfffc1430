/* Turning the target's vDSO clock functions into real (trapped) syscalls. */
#pragma once
#include "supervisor.h"

/* Find the patch points in our own vDSO (the kernel maps the same image in
 * every process).  Returns the number of functions found, or -1. */
int vdso_init(void);
/* Patch the vDSO of t's current image.  Idempotent. */
int vdso_patch(struct supervisor *s, struct task *t);

/* The clock page a target reads virtual time from (vclock_blob.S). */
struct vclock_page {
    int64_t mono_ns;
    int64_t real_ns;
    uint32_t reads; /* since the supervisor last wrote the page */
    uint32_t limit; /* reads served before one traps */
};
#define VCLOCK_READ_LIMIT 1000

/* Where a trapped clock read came from. */
enum vclock_site {
    VCLOCK_ELSEWHERE, /* a plain syscall, or no fast path */
    VCLOCK_REGISTER,  /* the first read of an image: args[5] is its clock page */
    VCLOCK_FALLBACK,  /* the fast path declined (read limit, CPU clock, NULL) */
};
enum vclock_site vclock_site(const struct task *t);
void vclock_register(struct task *t);
/* Bring t's clock page up to date before t resumes. */
void vclock_sync(struct supervisor *s, struct task *t);
