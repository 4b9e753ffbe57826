/* Host topology for the benchmarks: last-level cache size, core count, thread pinning.
   hwloc when the build has it (MEDKERN_HAVE_HWLOC), sysconf otherwise. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mkbench.h"

#ifdef MEDKERN_HAVE_HWLOC
#include <hwloc.h>

static hwloc_topology_t topology(void) {
    static hwloc_topology_t topo;
    static int state; /* 0 = not tried, 1 = loaded, -1 = failed (single-threaded use) */
    if (state == 0) {
        state = -1;
        if (hwloc_topology_init(&topo) == 0) {
            if (hwloc_topology_load(topo) == 0) state = 1;
            else hwloc_topology_destroy(topo);
        }
    }
    return state == 1 ? topo : NULL;
}
#endif

size_t mkb_host_llc_bytes(void) {
#ifdef MEDKERN_HAVE_HWLOC
    hwloc_topology_t topo = topology();
    if (topo) {
        /* the deepest data/unified cache level present is the last level */
        static const hwloc_obj_type_t levels[] = {HWLOC_OBJ_L5CACHE, HWLOC_OBJ_L4CACHE,
                                                  HWLOC_OBJ_L3CACHE, HWLOC_OBJ_L2CACHE,
                                                  HWLOC_OBJ_L1CACHE};
        for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
            hwloc_obj_t c = hwloc_get_obj_by_type(topo, levels[i], 0);
            if (c && c->attr && c->attr->cache.size) return (size_t)c->attr->cache.size;
        }
    }
#endif
#ifdef _SC_LEVEL3_CACHE_SIZE
    long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (l3 > 0) return (size_t)l3;
#endif
    return (size_t)32 << 20;
}

int mkb_host_cores(void) {
#ifdef MEDKERN_HAVE_HWLOC
    hwloc_topology_t topo = topology();
    if (topo) {
        int n = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
        if (n > 0) return n;
    }
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int mkb_host_bind_core(int core, char *why, size_t why_len) {
#ifdef MEDKERN_HAVE_HWLOC
    hwloc_topology_t topo = topology();
    int n = topo ? hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE) : 0;
    if (n <= 0) {
        if (why) snprintf(why, why_len, "hwloc found no cores");
        return 0;
    }
    hwloc_obj_t c = hwloc_get_obj_by_type(topo, HWLOC_OBJ_CORE, (unsigned)(core % n));
    if (!c || !c->cpuset || hwloc_set_cpubind(topo, c->cpuset, HWLOC_CPUBIND_THREAD) != 0) {
        if (why) snprintf(why, why_len, "hwloc_set_cpubind failed for core %d", core % n);
        return 0;
    }
    if (why) {
        char set[64];
        hwloc_bitmap_list_snprintf(set, sizeof set, c->cpuset);
        snprintf(why, why_len, "core %u (PUs %s)", c->logical_index, set);
    }
    return 1;
#else
    (void)core;
    if (why) snprintf(why, why_len, "built without hwloc");
    return 0;
#endif
}

int mkb_host_pin(const mk_device_info *dev, char *desc, size_t desc_len) {
    int on_host = dev->type == MK_DEVICE_REF || dev->type == MK_DEVICE_CPU ||
                  (dev->features & MK_FEATURE_UNIFIED_MEMORY);
    if (!on_host) {
        snprintf(desc, desc_len, "no (discrete device: no PCI locality in mk_device_info)");
        return 0;
    }
    char why[128];
    int ok = mkb_host_bind_core(0, why, sizeof why);
    snprintf(desc, desc_len, "%s: %s", ok ? "yes" : "no", why);
    return ok;
}
