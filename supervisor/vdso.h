/* Turning the target's vDSO clock functions into real (trapped) syscalls. */
#pragma once
#include "supervisor.h"

/* Find the patch points in our own vDSO (the kernel maps the same image in
 * every process).  Returns the number of functions found, or -1. */
int vdso_init(void);
/* Patch the vDSO of t's current image.  Idempotent. */
int vdso_patch(struct supervisor *s, struct task *t);
