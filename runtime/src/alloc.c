/*
 * The library's host allocations: every malloc/calloc/realloc/aligned_alloc/strdup/free
 * of runtime/ (core and backends' host code) goes through these wrappers, so that fault
 * injection (fault.c) can fail any one of them and the accounting can tell whether
 * everything acquired was released. Same contracts as the C library's functions.
 * With no fault knob set, each is the C library call behind one branch.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Counts one allocation point; 1 when fault injection fails this one. */
static int host_fails(mk_site at) { return mk__fault_point(MK_FAULT_HOST_ALLOC, at); }

static void *counted(void *p) {
    if (p) mk__fault_live(MK_FAULT_HOST_ALLOC, 1);
    return p;
}

void *mk__malloc_at(size_t n, mk_site at) {
    if (__builtin_expect(!mk__fault_on(), 1)) return malloc(n);
    return host_fails(at) ? NULL : counted(malloc(n));
}

void *mk__calloc_at(size_t n, size_t size, mk_site at) {
    if (__builtin_expect(!mk__fault_on(), 1)) return calloc(n, size);
    return host_fails(at) ? NULL : counted(calloc(n, size));
}

void *mk__realloc_at(void *p, size_t n, mk_site at) {
    if (__builtin_expect(!mk__fault_on(), 1)) return realloc(p, n);
    if (host_fails(at)) return NULL; /* p stays valid, as with realloc */
    void *q = realloc(p, n);
    return p ? q : counted(q);
}

void *mk__aligned_alloc_at(size_t align, size_t n, mk_site at) {
    if (__builtin_expect(!mk__fault_on(), 1)) return aligned_alloc(align, n);
    return host_fails(at) ? NULL : counted(aligned_alloc(align, n));
}

char *mk__strdup_at(const char *s, mk_site at) {
    size_t n = strlen(s) + 1;
    char *p = mk__malloc_at(n, at);
    if (p) memcpy(p, s, n);
    return p;
}

void mk__free(void *p) {
    if (p && mk__fault_on()) mk__fault_live(MK_FAULT_HOST_ALLOC, -1);
    free(p);
}
