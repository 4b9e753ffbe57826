/*
 * The device extensions the faster OpenCL variants use, and how their programs are built.
 *
 *   OCL_EXT_FP16       cl_khr_fp16 with round-to-nearest half arithmetic
 *                      -> "-DMK_HALF=1"
 *   OCL_EXT_SUBGROUPS  cl_khr_subgroups (OpenCL C 2.0 or 3.0: built with -cl-std=CL2.0 /
 *                      CL3.0, the versions that declare its built-ins) or
 *                      cl_intel_subgroups (any version) -> "... -DMK_SUBGROUPS=1"
 *   OCL_EXT_INT_DOT    cl_khr_integer_dot_product with the 4x8-bit packed inputs
 *                      -> "-DMK_INT_DOT=1", with -cl-std=CL3.0 where the device's compiler
 *                      has OpenCL C 3.0 (whose feature macros declare the built-ins);
 *                      common.clh falls back to the same sum of four products where the
 *                      compiler does not declare them.
 *
 * A variant that needs one asks ocl_ext_supports() from its supports() (the reason names
 * the extension the device lacks) and builds its program with ocl_ext_options(), so the
 * extension code is compiled only on devices that have the extension (the device code
 * is guarded by the same macros in common.clh).
 *
 * Testing knob: MEDKERN_OCL_ASSUME_EXTENSIONS="cl_khr_integer_dot_product ..." (read once,
 * at enumeration) adds those names to every device's extension list, and the programs of
 * the variants that need them get -D<name>=1 so the guards pass. It lets CI run a variant
 * on a device that does not advertise the extension but compiles its code: PoCL builds
 * opencl.qgemv_dot8 (with common.clh's MK_DOT4X8 fallback, its compiler not declaring the
 * built-in), so test_opencl_ext_variants_assumed checks it against the reference. PoCL's
 * CPU kernel library has no sub-group functions and its compiler no half type, so those
 * variants fail to build under the knob there (the build log says why). Testing only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CL/cl_ext.h>

#include "opencl/ocl_internal.h"

/* OpenCL 3.0 queries (the headers are used with CL_TARGET_OPENCL_VERSION 120). */
#define OCL_DEVICE_OPENCL_C_ALL_VERSIONS 0x1066
#define OCL_VERSION_MAJOR(v) ((v) >> 22)
#define OCL_VERSION_MINOR(v) (((v) >> 12) & 0x3FFu)
#define OCL_DEVICE_INT_DOT_CAPABILITIES 0x1073
#define OCL_INT_DOT_4X8_PACKED (1u << 0)

typedef struct {
    cl_uint version;
    char name[64];
} ocl_name_version;

int ocl_has_ext(const char *list, const char *ext) {
    size_t len = strlen(ext);
    for (const char *p = list; (p = strstr(p, ext)) != NULL; p += len)
        if ((p == list || p[-1] == ' ') && (p[len] == ' ' || p[len] == 0)) return 1;
    return 0;
}

/* The extension names behind each ocl_ext. */
static const char *const ext_names[3][2] = {
    {"cl_khr_fp16", NULL}, {"cl_khr_subgroups", "cl_intel_subgroups"}, {"cl_khr_integer_dot_product", NULL}};

/* Appends the assumed extensions to od->extensions; "-D<name>=1 " of those added to
   defs[e] (n bytes each), by the ocl_ext they belong to. */
static void assume_extensions(ocl_device *od, char defs[3][128], size_t n) {
    const char *env = getenv("MEDKERN_OCL_ASSUME_EXTENSIONS");
    for (int e = 0; e < 3; e++) defs[e][0] = 0;
    if (!env) return;
    char list[512];
    snprintf(list, sizeof list, "%s", env);
    char *save = NULL;
    for (char *name = strtok_r(list, " ,", &save); name; name = strtok_r(NULL, " ,", &save)) {
        size_t len = strlen(od->extensions);
        if (ocl_has_ext(od->extensions, name) || len + strlen(name) + 2 > sizeof od->extensions) continue;
        snprintf(od->extensions + len, sizeof od->extensions - len, "%s%s", len ? " " : "", name);
        for (int e = 0; e < 3; e++)
            for (int j = 0; j < 2; j++)
                if (ext_names[e][j] && !strcmp(ext_names[e][j], name)) {
                    size_t used = strlen(defs[e]);
                    snprintf(defs[e] + used, n - used, "-D%s=1 ", name);
                }
    }
}

void ocl_ext_probe(ocl_device *od) {
    char defs[3][128];
    assume_extensions(od, defs, sizeof defs[0]);
    od->has_fp16 = ocl_has_ext(od->extensions, "cl_khr_fp16");
    od->has_subgroups = ocl_has_ext(od->extensions, "cl_khr_subgroups") ||
                        ocl_has_ext(od->extensions, "cl_intel_subgroups");
    od->has_int_dot = ocl_has_ext(od->extensions, "cl_khr_integer_dot_product");

    /* the highest OpenCL C version: CL_DEVICE_OPENCL_C_VERSION (capability_major/minor,
       which OpenCL 3.0 drivers may leave at 1.2) and, on 3.0 drivers, the list of all */
    od->c_version = od->info.capability_major * 10 + od->info.capability_minor;
    ocl_name_version all[16];
    size_t bytes = 0;
    if (clGetDeviceInfo(od->device, OCL_DEVICE_OPENCL_C_ALL_VERSIONS, sizeof all, all, &bytes) == CL_SUCCESS &&
        bytes <= sizeof all)
        for (size_t i = 0; i < bytes / sizeof all[0]; i++) {
            int v = (int)(OCL_VERSION_MAJOR(all[i].version) * 10 + OCL_VERSION_MINOR(all[i].version));
            if (v > od->c_version && v < 100) od->c_version = v;
        }
    cl_device_fp_config half = 0;
    if (od->has_fp16 &&
        (clGetDeviceInfo(od->device, CL_DEVICE_HALF_FP_CONFIG, sizeof half, &half, NULL) != CL_SUCCESS ||
         (half == 0 && defs[OCL_EXT_FP16][0])))
        half = CL_FP_ROUND_TO_NEAREST; /* the minimum cl_khr_fp16 requires (or an assumed fp16) */
    od->half_config = (unsigned long long)half;
    cl_bitfield dot = 0;
    if (od->has_int_dot &&
        clGetDeviceInfo(od->device, OCL_DEVICE_INT_DOT_CAPABILITIES, sizeof dot, &dot, NULL) != CL_SUCCESS)
        dot = OCL_INT_DOT_4X8_PACKED; /* required by the extension */
    od->int_dot_packed = (dot & OCL_INT_DOT_4X8_PACKED) != 0;

    /* the build options of each extension's programs */
    int khr = ocl_has_ext(od->extensions, "cl_khr_subgroups") && od->c_version >= 20;
    snprintf(od->ext_options[OCL_EXT_FP16], sizeof od->ext_options[0], "%s-DMK_HALF=1", defs[OCL_EXT_FP16]);
    snprintf(od->ext_options[OCL_EXT_SUBGROUPS], sizeof od->ext_options[0], "%s%s-DMK_SUBGROUPS=1",
             defs[OCL_EXT_SUBGROUPS], !khr ? "" : od->c_version >= 30 ? "-cl-std=CL3.0 " : "-cl-std=CL2.0 ");
    snprintf(od->ext_options[OCL_EXT_INT_DOT], sizeof od->ext_options[0], "%s%s-DMK_INT_DOT=1",
             defs[OCL_EXT_INT_DOT], od->c_version >= 30 ? "-cl-std=CL3.0 " : "");
}

static const char *ext_name(ocl_ext e) {
    return e == OCL_EXT_SUBGROUPS ? "cl_khr_subgroups or cl_intel_subgroups" : ext_names[e][0];
}

int ocl_ext_supports(const mk_context *ctx, ocl_ext e, char *why, size_t n) {
    const ocl_device *dev = ocl_of(ctx)->dev;
    switch (e) {
    case OCL_EXT_FP16:
        if (!dev->has_fp16) break;
        if (!(dev->half_config & CL_FP_ROUND_TO_NEAREST))
            return mk__why(why, n, "the device's half arithmetic does not round to nearest");
        return 1;
    case OCL_EXT_SUBGROUPS:
        if (ocl_has_ext(dev->extensions, "cl_intel_subgroups")) return 1;
        if (!ocl_has_ext(dev->extensions, "cl_khr_subgroups")) break;
        if (dev->c_version < 20)
            return mk__why(why, n, "cl_khr_subgroups needs OpenCL C 2.0 or later, the device compiles %d.%d",
                           dev->c_version / 10, dev->c_version % 10);
        return 1;
    case OCL_EXT_INT_DOT:
        if (!dev->has_int_dot) break;
        if (!dev->int_dot_packed) return mk__why(why, n, "cl_khr_integer_dot_product without 4x8-bit packed inputs");
        return 1;
    }
    return mk__why(why, n, "device lacks %s", ext_name(e));
}

const char *ocl_ext_options(const mk_context *ctx, ocl_ext e) { return ocl_of(ctx)->dev->ext_options[e]; }
