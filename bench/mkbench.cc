// mkbench.cc — the one C++ file of bench/: registers C benchmark bodies with Google
// Benchmark, times their loops with mk_events (manual time), and records the device, the
// build and the host setup in the benchmark context. The C interface is mkbench.h.
// The device's measured ceilings come from the calibration cache that `medkern calibrate`
// writes (tools/medkern/calibration.c, compiled into this library); only read here.
#include "mkbench.h"

extern "C" {
#include "calibration.h" // plain C header without its own extern "C"
}

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#ifndef MEDKERN_GIT_COMMIT
#define MEDKERN_GIT_COMMIT "unknown"
#endif

struct mkb_state {
    benchmark::State *gb;
    unsigned flags;
    mk_event *ev[2];
    bool timing;       // an iteration's timing has started
    bool stopped;      // skipped or failed
    int64_t iter;
    double seconds;    // manual time of the finished iterations
    std::vector<double> times; // each finished iteration's seconds (mkb_median_seconds)
    double bytes, flops;
    int op;            // -1 = none
    std::string label;
    timespec t0;
};

namespace {

struct options {
    std::string device = "auto";
    std::string shapes = "auto";
    bool cold = false;
    bool pin = true;
};

options g_opt;
mk_context *g_ctx;
mk_device_info g_dev;
bool g_small, g_full, g_registering;
std::string g_pinned;
// The calibration cache of the device (medkern calibrate): g_cal is valid when g_have_cal.
mkcal_result g_cal;
bool g_have_cal;
std::string g_cal_source;

// Stops the run with a message; the KeepRunning loop then ends on the next mkb_next.
void stop(mkb_state *st, const std::string &msg) {
    if (st->stopped) return;
    st->stopped = true;
    st->gb->SkipWithError(msg.c_str());
}

void finish(mkb_state *st) {
    for (mk_event *&e : st->ev) {
        mk_event_destroy(e);
        e = nullptr;
    }
    if (st->stopped) return;
    benchmark::State &s = *st->gb;
    if (st->bytes > 0) {
        s.counters["bytes_per_second"] =
            benchmark::Counter(st->bytes, benchmark::Counter::kIsIterationInvariantRate);
        if (g_dev.peak_bandwidth_gbs > 0 && st->seconds > 0)
            s.counters["bw_util"] = st->bytes * (double)st->iter / st->seconds / 1e9 /
                                    g_dev.peak_bandwidth_gbs;
        if (g_have_cal && st->seconds > 0)
            s.counters["bw_frac_copy"] =
                st->bytes * (double)st->iter / st->seconds / 1e9 / g_cal.copy_gbs;
    }
    if (st->flops > 0) {
        s.counters["flop_per_second"] =
            benchmark::Counter(st->flops, benchmark::Counter::kIsIterationInvariantRate);
        if (g_dev.peak_tflops_f16 > 0 && st->seconds > 0)
            s.counters["flop_util"] = st->flops * (double)st->iter / st->seconds / 1e12 /
                                      g_dev.peak_tflops_f16;
        if (g_have_cal && st->seconds > 0)
            s.counters["flop_frac_gemm"] =
                st->flops * (double)st->iter / st->seconds / 1e9 / g_cal.gemm_f16_gflops;
    }
    std::string label;
    if (st->op >= 0) {
        const char *k = mk_last_kernel(g_ctx, (mk_op)st->op);
        label = std::string("kernel=") + (k ? k : "?");
    }
    if (!st->label.empty()) label += (label.empty() ? "" : " ") + st->label;
    if (!label.empty()) s.SetLabel(label);
}

// "opencl" + "pthread-skylake-avx512-Intel(R) Xeon(R) Processor"
//   -> "opencl-pthread-skylake-avx512-intel-r-xeon-r-processor"
std::string slug(const mk_device_info &d) {
    std::string in = std::string(d.backend) + "-" + d.name, out;
    for (char c : in) {
        if (std::isalnum((unsigned char)c)) out += (char)std::tolower((unsigned char)c);
        else if (!out.empty() && out.back() != '-') out += '-';
    }
    while (!out.empty() && out.back() == '-') out.pop_back();
    return out;
}

const char *type_name(mk_device_type t) {
    switch (t) {
    case MK_DEVICE_REF: return "ref";
    case MK_DEVICE_CPU: return "cpu";
    case MK_DEVICE_GPU: return "gpu";
    case MK_DEVICE_ACCELERATOR: return "accelerator";
    }
    return "?";
}

void usage() {
    std::printf("mkbench options (before Google Benchmark's own):\n"
                "  --device D   device for mk_context_create: auto, ref, opencl, opencl:N, cuda:N\n"
                "               (default auto)\n"
                "  --shapes S   small | full | all | auto (default: small on ref, full elsewhere)\n"
                "  --cold       rotate through input sets larger than the last-level cache\n"
                "  --no-pin     leave the main thread unbound\n"
                "A device that does not exist exits with status 77.\n\n");
}

// Removes the mkbench options from argv; returns false on a malformed one.
bool parse(int *argc, char **argv) {
    int out = 1;
    for (int i = 1; i < *argc; i++) {
        std::string a = argv[i];
        auto value = [&](const char *flag, std::string *dst) {
            size_t n = std::strlen(flag);
            if (a == flag) {
                if (i + 1 >= *argc) return -1;
                *dst = argv[++i];
                return 1;
            }
            if (a.compare(0, n, flag) == 0 && a.size() > n && a[n] == '=') {
                *dst = a.substr(n + 1);
                return 1;
            }
            return 0;
        };
        int r;
        if ((r = value("--device", &g_opt.device)) || (r = value("--shapes", &g_opt.shapes))) {
            if (r < 0) {
                std::fprintf(stderr, "mkbench: %s needs a value\n", a.c_str());
                return false;
            }
        } else if (a == "--cold") {
            g_opt.cold = true;
        } else if (a == "--no-pin") {
            g_opt.pin = false;
        } else {
            if (a == "--help" || a == "-h") usage();
            argv[out++] = argv[i];
        }
    }
    *argc = out;
    argv[out] = nullptr;
    if (g_opt.shapes != "auto" && g_opt.shapes != "small" && g_opt.shapes != "full" &&
        g_opt.shapes != "all") {
        std::fprintf(stderr, "mkbench: --shapes must be small, full, all or auto\n");
        return false;
    }
    return true;
}

// Reads the calibration cache of g_dev, if there is one that describes this device (same
// id, name and driver). Sets g_have_cal, g_cal and g_cal_source.
void load_calibration() {
    g_have_cal = false;
    std::string hint = std::string("run medkern calibrate --device ") + g_dev.id;
    char path[1400], why[1600];
    if (mkcal_path(g_dev.id, g_dev.name, path, sizeof path) != 0) {
        g_cal_source = "none (no cache directory: set MEDKERN_CACHE_DIR or HOME; " + hint + ")";
        return;
    }
    mkcal_status cs = mkcal_read(path, &g_cal, why, sizeof why);
    if (cs == MKCAL_MISSING) {
        g_cal_source = "none (" + hint + ")";
    } else if (cs != MKCAL_OK) {
        g_cal_source = std::string("none (") + why + "; " + hint + ")";
    } else if (std::strcmp(g_cal.device, g_dev.id) != 0 ||
               std::strcmp(g_cal.device_name, g_dev.name) != 0 ||
               std::strcmp(g_cal.driver, g_dev.driver) != 0) {
        g_cal_source = std::string("none (") + path + " describes another device or driver; " +
                       hint + ")";
    } else {
        g_have_cal = true;
        g_cal_source = path;
    }
}

void add_context() {
    auto add = [](const char *k, const std::string &v) { benchmark::AddCustomContext(k, v); };
    auto num = [](double v) {
        char b[64];
        std::snprintf(b, sizeof b, "%.6g", v);
        return std::string(b);
    };
    add("medkern_version", mk_version());
    add("medkern_git_commit", MEDKERN_GIT_COMMIT);
    add("device", g_dev.id);
    add("device_slug", slug(g_dev));
    add("device_name", g_dev.name);
    add("device_backend", g_dev.backend);
    add("device_vendor", g_dev.vendor);
    add("device_driver", g_dev.driver);
    add("device_type", type_name(g_dev.type));
    add("device_memory_bytes", num((double)g_dev.memory_bytes));
    add("device_compute_units", num(g_dev.compute_units));
    add("device_capability", num(g_dev.capability_major) + "." + num(g_dev.capability_minor));
    add("device_peak_bandwidth_gbs", num(g_dev.peak_bandwidth_gbs));
    add("device_peak_tflops_f16", num(g_dev.peak_tflops_f16));
    add("ceiling_copy_gbs", num(g_have_cal ? g_cal.copy_gbs : 0));
    add("ceiling_gemm_tflops", num(g_have_cal ? g_cal.gemm_f16_gflops / 1e3 : 0));
    add("ceiling_source", g_cal_source);
    if (g_have_cal)
        add("ceiling_measured", std::string(g_cal.date) + " with medkern " + g_cal.medkern_version);
    add("host_llc_bytes", num((double)mkb_host_llc_bytes()));
    add("host_pinned", g_pinned);
    add("shape_set", g_small && g_full ? "all" : g_small ? "small" : "full");
    add("cold_cache", g_opt.cold ? "on" : "off");
    add("index_checks", "always on: ops with index arrays read them back before launching "
                        "(a synchronizing copy on GPUs), inside the timed region");
    add("timing", "manual time from mk_event pairs around each iteration");
}

} // namespace

extern "C" {

void mkb_register(const char *name, mkb_fn fn, const void *arg, size_t arg_size, unsigned flags) {
    if (!g_registering) {
        std::fprintf(stderr, "mkbench: mkb_register(%s) outside registration\n", name);
        std::abort();
    }
    std::string bytes(arg_size, '\0');
    if (arg_size) std::memcpy(&bytes[0], arg, arg_size);
    benchmark::RegisterBenchmark(name, [fn, bytes, flags](benchmark::State &s) {
        mkb_state st{};
        st.gb = &s;
        st.flags = flags;
        st.op = -1;
        if ((flags & MKB_HOST_TIMER) ||
            (mkb_check(&st, mk_event_create(g_ctx, &st.ev[0]), "mk_event_create") &&
             mkb_check(&st, mk_event_create(g_ctx, &st.ev[1]), "mk_event_create")))
            fn(&st, bytes.empty() ? nullptr : bytes.data());
        finish(&st);
    })->UseManualTime()->Unit(benchmark::kMicrosecond);
}

int mkb_next(mkb_state *st) {
    if (st->timing) {
        st->timing = false;
        double s = 0;
        if (st->flags & MKB_HOST_TIMER) {
            timespec t1;
            clock_gettime(CLOCK_MONOTONIC, &t1);
            s = (double)(t1.tv_sec - st->t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - st->t0.tv_nsec);
        } else if (!st->stopped) {
            float ms = 0;
            if (mkb_check(st, mk_event_record(st->ev[1]), "mk_event_record") &&
                mkb_check(st, mk_event_elapsed_ms(st->ev[0], st->ev[1], &ms), "mk_event_elapsed_ms"))
                s = ms * 1e-3;
        }
        if (!st->stopped) {
            st->gb->SetIterationTime(s);
            st->seconds += s;
            st->times.push_back(s);
            st->iter++;
        }
    }
    if (!st->gb->KeepRunning()) return 0; // also ends the loop after a skip or failure
    if (st->flags & MKB_HOST_TIMER) {
        clock_gettime(CLOCK_MONOTONIC, &st->t0);
    } else if (!mkb_check(st, mk_event_record(st->ev[0]), "mk_event_record")) {
        st->gb->KeepRunning(); // returns false after the error: closes the loop
        return 0;
    }
    st->timing = true;
    return 1;
}

int64_t mkb_iter(const mkb_state *st) { return st->iter; }
double mkb_seconds_per_iter(const mkb_state *st) { return st->iter ? st->seconds / (double)st->iter : 0; }
double mkb_median_seconds(const mkb_state *st) {
    if (st->times.empty()) return 0;
    std::vector<double> t = st->times;
    const size_t h = t.size() / 2;
    std::nth_element(t.begin(), t.begin() + (long)h, t.end());
    if (t.size() % 2) return t[h];
    return 0.5 * (t[h] + *std::max_element(t.begin(), t.begin() + (long)h));
}
void mkb_set_bytes(mkb_state *st, double b) { st->bytes = b; }
void mkb_set_flops(mkb_state *st, double f) { st->flops = f; }
void mkb_set_op(mkb_state *st, mk_op op) { st->op = (int)op; }
void mkb_counter(mkb_state *st, const char *name, double v) { st->gb->counters[name] = v; }
void mkb_label(mkb_state *st, const char *text) { st->label = text; }
void mkb_skip(mkb_state *st, const char *why) { stop(st, std::string("skipped: ") + why); }
void mkb_fail(mkb_state *st, const char *why) { stop(st, std::string("error: ") + why); }

int mkb_check(mkb_state *st, mk_status s, const char *what) {
    if (s == MK_OK) return 1;
    std::string msg = std::string(what) + ": " + mk_status_string(s) + ": " + mk_last_error();
    if (s == MK_ERR_UNSUPPORTED) mkb_skip(st, ("unsupported: " + msg).c_str());
    else mkb_fail(st, msg.c_str());
    return 0;
}

int mkb_fits(mkb_state *st, double flops, double bytes) {
    if (g_dev.type != MK_DEVICE_REF || (flops <= 5e8 && bytes <= 1073741824.0)) return 1;
    char why[160];
    std::snprintf(why, sizeof why,
                  "%.3g GFLOP / %.3g MiB is too large for the ref device (use --shapes small "
                  "or another device)", flops / 1e9, bytes / 1048576.0);
    mkb_skip(st, why);
    return 0;
}

int mkb_sets(mkb_state *st, double set_bytes) {
    (void)st;
    if (!g_opt.cold || set_bytes <= 0) return 1;
    double want = 2.0 * (double)mkb_host_llc_bytes();
    double cap = g_dev.memory_bytes ? (double)g_dev.memory_bytes / 4 : 8.0 * 1073741824.0;
    int n = (int)std::ceil(want / set_bytes) + 1;
    int by_mem = (int)(cap / set_bytes);
    if (n > by_mem) n = by_mem;
    if (n > 64) n = 64;
    return n < 1 ? 1 : n;
}

mk_context *mkb_context(void) { return g_ctx; }
const mk_device_info *mkb_device(void) { return &g_dev; }
int mkb_small(void) { return g_small; }
int mkb_full(void) { return g_full; }
int mkb_cold(void) { return g_opt.cold; }

int mkb_main(int argc, char **argv, void (*reg)(void)) {
    if (!parse(&argc, argv)) return 2;
    int index;
    if (mk_device_find(g_opt.device.c_str(), &index) != MK_OK) {
        std::fprintf(stderr, "mkbench: %s\n", mk_last_error());
        return 77;
    }
    mk_status s = mk_context_create(g_opt.device.c_str(), &g_ctx);
    if (s == MK_OK) s = mk_context_get_device(g_ctx, &g_dev);
    if (s != MK_OK) {
        std::fprintf(stderr, "mkbench: device %s: %s: %s\n", g_opt.device.c_str(),
                     mk_status_string(s), mk_last_error());
        mk_context_destroy(g_ctx);
        return 1;
    }
    const std::string &sh = g_opt.shapes;
    g_small = sh == "small" || sh == "all" || (sh == "auto" && g_dev.type == MK_DEVICE_REF);
    g_full = sh == "full" || sh == "all" || (sh == "auto" && g_dev.type != MK_DEVICE_REF);
    char pinned[256];
    if (g_opt.pin) mkb_host_pin(&g_dev, pinned, sizeof pinned);
    else std::snprintf(pinned, sizeof pinned, "no (--no-pin)");
    g_pinned = pinned;
    load_calibration();

    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        mk_context_destroy(g_ctx);
        return 2;
    }
    g_registering = true;
    reg();
    g_registering = false;
    add_context();
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    mk_context_destroy(g_ctx);
    g_ctx = nullptr;
    return 0;
}

} // extern "C"
