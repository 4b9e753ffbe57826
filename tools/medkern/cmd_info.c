/* medkern info: devices with their features, host topology (hwloc), build features. */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"

#ifdef MEDKERN_HAVE_HWLOC
#include <hwloc.h>
#endif

static void features_text(uint32_t f, char *buf, size_t n) {
    static const struct { uint32_t bit; const char *name; } names[] = {
        {MK_FEATURE_FP16, "fp16"}, {MK_FEATURE_BF16, "bf16"}, {MK_FEATURE_INT8_DOT, "int8-dot"},
        {MK_FEATURE_SUBGROUPS, "subgroups"}, {MK_FEATURE_FP8, "fp8"},
        {MK_FEATURE_TENSOR_CORES, "tensor-cores"}, {MK_FEATURE_UNIFIED_MEMORY, "unified-memory"}};
    buf[0] = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (f & names[i].bit) {
            if (buf[0]) strncat(buf, " ", n - strlen(buf) - 1);
            strncat(buf, names[i].name, n - strlen(buf) - 1);
        }
    if (!buf[0]) snprintf(buf, n, "-");
}

static const char *type_name(mk_device_type t) {
    switch (t) {
    case MK_DEVICE_REF: return "reference";
    case MK_DEVICE_CPU: return "cpu";
    case MK_DEVICE_GPU: return "gpu";
    default: return "accelerator";
    }
}

static void host_topology(cJSON *json) {
#ifdef MEDKERN_HAVE_HWLOC
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) != 0 || hwloc_topology_load(topo) != 0) {
        printf("host: hwloc could not read the topology\n");
        return;
    }
    int packages = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PACKAGE);
    int numa = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
    int cores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
    int pus = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
    hwloc_obj_t l3 = hwloc_get_obj_by_type(topo, HWLOC_OBJ_L3CACHE, 0);
    unsigned long long l3_bytes = l3 && l3->attr ? (unsigned long long)l3->attr->cache.size : 0;
    hwloc_obj_t pkg = hwloc_get_obj_by_type(topo, HWLOC_OBJ_PACKAGE, 0);
    const char *model = pkg ? hwloc_obj_get_info_by_name(pkg, "CPUModel") : NULL;
    if (json) {
        cJSON *h = cJSON_AddObjectToObject(json, "host");
        cJSON_AddStringToObject(h, "cpu", model ? model : "unknown");
        cJSON_AddNumberToObject(h, "packages", packages);
        cJSON_AddNumberToObject(h, "numa_nodes", numa);
        cJSON_AddNumberToObject(h, "cores", cores);
        cJSON_AddNumberToObject(h, "pus", pus);
        cJSON_AddNumberToObject(h, "l3_bytes", (double)l3_bytes);
    } else {
        printf("host: %s; %d package(s), %d NUMA node(s), %d cores, %d hardware threads, L3 %llu KiB (hwloc %s)\n",
               model ? model : "unknown CPU", packages, numa, cores, pus, l3_bytes / 1024,
               HWLOC_VERSION);
    }
    hwloc_topology_destroy(topo);
#else
    if (!json) printf("host: topology unavailable (built without hwloc)\n");
#endif
}

/* One line per backend: built in, or the module it was loaded from, or why it was not. */
static void backends(cJSON *json) {
    int n = 0;
    if (mk_backend_count(&n) != MK_OK) return;
    cJSON *arr = json ? cJSON_AddArrayToObject(json, "backends") : NULL;
    for (int i = 0; i < n; i++) {
        mk_backend_info b;
        if (mk_backend_get_info(i, &b) != MK_OK) continue;
        if (arr) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", b.name);
            cJSON_AddBoolToObject(o, "loaded", b.loaded);
            cJSON_AddNumberToObject(o, "devices", b.devices);
            cJSON_AddStringToObject(o, "path", b.path);
            cJSON_AddStringToObject(o, "reason", b.reason);
            cJSON_AddItemToArray(arr, o);
        } else if (b.loaded) {
            printf("  %-8s loaded, %d device%s: %s\n", b.name, b.devices, b.devices == 1 ? "" : "s",
                   b.path[0] ? b.path : "built into libmedkern");
        } else {
            printf("  %-8s not loaded: %s\n", b.name, b.reason);
        }
    }
}

int cmd_info(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        printf("usage: medkern info [--json]\n\n"
               "Lists every device medkern can use (the ref device always; CUDA, OpenCL and\n"
               "other devices when their backend module loads and finds them), their features\n"
               "and peaks; each backend module, where it was loaded from or why it was not\n"
               "(modules are looked for in MEDKERN_BACKEND_PATH, then beside libmedkern); the\n"
               "host topology (hwloc) and the features this build was configured with.\n");
        return MK_EXIT_OK;
    }
    int as_json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) as_json = 1;
        else {
            fprintf(stderr, "medkern info: unknown option \"%s\"\n", argv[i]);
            return MK_EXIT_USAGE;
        }
    }
    int n = 0;
    if (mk_device_count(&n) != MK_OK) {
        fprintf(stderr, "medkern info: %s\n", mk_last_error());
        return MK_EXIT_FAIL;
    }
    cJSON *root = as_json ? cJSON_CreateObject() : NULL;
    cJSON *devs = root ? cJSON_AddArrayToObject(root, "devices") : NULL;
    if (root) {
        cJSON_AddStringToObject(root, "version", mk_version());
        cJSON_AddStringToObject(root, "commit", MEDKERN_GIT_COMMIT);
        cJSON_AddStringToObject(root, "build", MEDKERN_BUILD_FEATURES);
    } else {
        printf("medkern %s (commit %s); build: %s\n\n", mk_version(), MEDKERN_GIT_COMMIT,
               MEDKERN_BUILD_FEATURES);
        printf("%-10s %-11s %-44s %10s %5s  %s\n", "device", "type", "name", "memory", "CUs", "features");
    }
    for (int i = 0; i < n; i++) {
        mk_device_info d;
        if (mk_device_get_info(i, &d) != MK_OK) continue;
        char feat[160];
        features_text(d.features, feat, sizeof feat);
        if (root) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "id", d.id);
            cJSON_AddStringToObject(o, "backend", d.backend);
            cJSON_AddStringToObject(o, "type", type_name(d.type));
            cJSON_AddStringToObject(o, "name", d.name);
            cJSON_AddStringToObject(o, "vendor", d.vendor);
            cJSON_AddStringToObject(o, "driver", d.driver);
            cJSON_AddNumberToObject(o, "memory_bytes", (double)d.memory_bytes);
            cJSON_AddNumberToObject(o, "compute_units", d.compute_units);
            char cap[32];
            snprintf(cap, sizeof cap, "%d.%d", d.capability_major, d.capability_minor);
            cJSON_AddStringToObject(o, "capability", cap);
            cJSON_AddStringToObject(o, "features", feat);
            cJSON_AddNumberToObject(o, "peak_bandwidth_gbs", d.peak_bandwidth_gbs);
            cJSON_AddNumberToObject(o, "peak_tflops_f16", d.peak_tflops_f16);
            cJSON_AddItemToArray(devs, o);
        } else {
            printf("%-10s %-11s %-44.44s %7.1f GiB %5d  %s\n", d.id, type_name(d.type), d.name,
                   (double)d.memory_bytes / (1024.0 * 1024 * 1024), d.compute_units, feat);
            printf("%-10s %-11s vendor %s; driver %s; capability %d.%d", "", "", d.vendor, d.driver,
                   d.capability_major, d.capability_minor);
            if (d.peak_bandwidth_gbs > 0) printf("; peak %.0f GB/s", d.peak_bandwidth_gbs);
            if (d.peak_tflops_f16 > 0) printf("; peak %.0f TFLOP/s f16", d.peak_tflops_f16);
            printf("\n");
        }
    }
    if (!root) printf("\nbackends:\n");
    backends(root);
    if (!root) printf("\n");
    host_topology(root);
    if (root) {
        char *text = cJSON_Print(root);
        printf("%s\n", text);
        cJSON_free(text);
        cJSON_Delete(root);
    }
    return MK_EXIT_OK;
}
