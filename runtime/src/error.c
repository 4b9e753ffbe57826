/* Status names, the thread-local error message, the version. */
#include <stdio.h>

#include "internal.h"

static _Thread_local char mk_error_text[1024];
static _Thread_local int mk_error_is_loss; /* the message came from mk__fail_lost */

const char *mk_version(void) { return "0.1.0"; }

const char *mk_status_string(mk_status s) {
    switch (s) {
    case MK_OK: return "MK_OK";
    case MK_ERR_INVALID_ARGUMENT: return "MK_ERR_INVALID_ARGUMENT";
    case MK_ERR_UNSUPPORTED: return "MK_ERR_UNSUPPORTED";
    case MK_ERR_OUT_OF_MEMORY: return "MK_ERR_OUT_OF_MEMORY";
    case MK_ERR_DEVICE: return "MK_ERR_DEVICE";
    case MK_ERR_NOT_FOUND: return "MK_ERR_NOT_FOUND";
    case MK_ERR_IO: return "MK_ERR_IO";
    case MK_ERR_INTERNAL: return "MK_ERR_INTERNAL";
    }
    return "MK_ERR_UNKNOWN";
}

const char *mk_last_error(void) { return mk_error_text; }

mk_status mk__vfail(mk_status s, const char *fmt, va_list ap) {
    vsnprintf(mk_error_text, sizeof mk_error_text, fmt, ap);
    mk_error_is_loss = 0;
    return s;
}

mk_status mk__fail_lost(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mk__vfail(MK_ERR_DEVICE, fmt, ap);
    va_end(ap);
    mk_error_is_loss = 1;
    return MK_ERR_DEVICE;
}

int mk__last_error_is_loss(void) { return mk_error_is_loss; }

mk_status mk__fail(mk_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mk__vfail(s, fmt, ap);
    va_end(ap);
    return s;
}

int mk__why(char *why, size_t n, const char *fmt, ...) {
    if (why && n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, n, fmt, ap);
        va_end(ap);
    }
    return 0;
}
