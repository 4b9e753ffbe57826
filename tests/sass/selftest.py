#!/usr/bin/env python3
"""ctest sass_report_selftest: tools/cuda-sass-report on tests/sass/fixture.cu.

Compiles the fixture with nvcc for sm_80 and sm_90a (ptxas -v on), then checks the
report against what is known of it: spill bytes equal ptxas's, static shared memory,
block size from __launch_bounds__, LDGSTS in fx_cp_async's main loop and LDG.128 (no
LDGSTS) in fx_plain's; and every way --check passes or fails (pipelined kernels, spills
of a kernel that grew, of a new kernel, a removed kernel, a pattern that matches nothing).

  tests/sass/selftest.py NVCC
"""
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
REPORT = os.path.join(ROOT, "tools", "cuda-sass-report")
failures = []


def expect(cond, what):
    print("%s: %s" % ("ok" if cond else "FAIL", what))
    if not cond:
        failures.append(what)


def report(*args):
    r = subprocess.run([sys.executable, REPORT] + list(args), capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


def main():
    nvcc = sys.argv[1] if len(sys.argv) > 1 else "nvcc"
    tmp = tempfile.mkdtemp(prefix="sass-selftest.")
    obj = os.path.join(tmp, "fixture.o")
    r = subprocess.run([nvcc, "-gencode", "arch=compute_80,code=sm_80", "-gencode",
                        "arch=compute_90a,code=sm_90a", "-Xptxas", "-v", "-c",
                        os.path.join(HERE, "fixture.cu"), "-o", obj], capture_output=True, text=True)
    if r.returncode:
        print(r.stdout + r.stderr)
        return 1
    ptxas = {}  # (mangled, arch) -> (spill stores, spill loads)
    func = arch = None
    for line in (r.stdout + r.stderr).splitlines():
        m = re.search(r"Compiling entry function '(\S+)' for '(sm_\w+)'", line)
        if m:
            func, arch = m.groups()
        m = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m and func:
            ptxas[(func, arch)] = (int(m.group(1)), int(m.group(2)))

    none = os.path.join(tmp, "none.txt")
    open(none, "w").close()
    rc, out = report(obj, "--expect", none, "--out", os.path.join(tmp, "fx"))
    expect(rc == 0, "report runs (%s)" % out.strip().splitlines()[-1:])
    with open(os.path.join(tmp, "fx.json")) as f:
        doc = json.load(f)
    ks = {(k["kernel"], k["arch"]): k for k in doc["kernels"]}
    expect(sorted(ks) == sorted((n, a) for n in ("fx_cp_async", "fx_plain", "fx_spill")
                                for a in ("sm_80", "sm_90a")), "3 kernels x 2 archs: %s" % sorted(ks))
    for (name, a), k in sorted(ks.items()):
        want = ptxas.get((k["mangled"], a))
        got = (k["spill_store_bytes"], k["spill_load_bytes"])
        expect(want == got, "%s %s spills %s = ptxas -v %s" % (name, a, got, want))
    for a in ("sm_80", "sm_90a"):
        spill = ks[("fx_spill", a)]
        expect(spill["spill_store_bytes"] > 0, "fx_spill %s spills" % a)
        expect(spill["block"] == 256 and spill["block_source"] == "launch_bounds",
               "fx_spill %s block 256 from __launch_bounds__" % a)
        cp, plain = ks[("fx_cp_async", a)], ks[("fx_plain", a)]
        expect(cp["smem_static"] == 2048, "fx_cp_async %s static smem 2048 (got %d, ELF %d)"
               % (a, cp["smem_static"], cp["smem_static_elf"]))
        ml = cp["main_loop"]["counts"]
        expect(ml.get("ldgsts", 0) > 0 and ml.get("bar", 0) > 0,
               "fx_cp_async %s: LDGSTS and BAR in the main loop %s" % (a, ml))
        ml = plain["main_loop"]["counts"]
        expect(ml.get("ldg", {}).get("128", 0) > 0 and not ml.get("ldgsts"),
               "fx_plain %s: LDG.128, no LDGSTS in the main loop %s" % (a, ml))
        # 4 warps a block: 32 registers or fewer fit 16 blocks (64 warps), 33..40 fit 12
        regs = plain["registers"]
        want = 100.0 if regs <= 32 else 75.0 if regs <= 40 else None
        expect(want is None or plain["occupancy"]["percent"] == want,
               "fx_plain %s: %d registers -> %s%% occupancy (got %s)" % (a, regs, want, plain["occupancy"]))

    def manifest(text):
        p = os.path.join(tmp, "expect.txt")
        with open(p, "w") as f:
            f.write(text)
        return p

    def baseline(edit):
        d = json.loads(json.dumps(doc))
        edit(d)
        p = os.path.join(tmp, "base.json")
        with open(p, "w") as f:
            json.dump(d, f)
        return p

    same = os.path.join(tmp, "fx.json")
    rc, out = report(obj, "--check", "--baseline", same, "--expect", manifest("fx_cp_async pipelined\n"))
    expect(rc == 0, "check: itself as baseline, fx_cp_async pipelined -> 0 (%d)" % rc)
    rc, out = report(obj, "--check", "--baseline", same, "--expect", manifest("fx_cp_async pipelined\nfx_plain pipelined\n"))
    expect(rc == 1 and "FAIL pipelined: fx_plain sm_80" in out, "check: fx_plain listed as pipelined -> 1")
    rc, out = report(obj, "--check", "--baseline", same, "--expect", manifest("fa2_mma_kernel* pipelined\n"))
    expect(rc == 1 and "matches no kernel" in out, "check: a pipelined pattern that matches nothing -> 1")

    def fewer_spills(d):
        for k in d["kernels"]:
            if k["kernel"] == "fx_spill" and k["arch"] == "sm_90a":
                k["spill_store_bytes"] -= 4
    rc, out = report(obj, "--check", "--baseline", baseline(fewer_spills), "--expect", none)
    expect(rc == 1 and "FAIL spills: fx_spill sm_90a" in out, "check: more spill bytes than the baseline -> 1")

    def no_spill_kernel(d):
        d["kernels"] = [k for k in d["kernels"] if k["kernel"] != "fx_spill"]
    rc, out = report(obj, "--check", "--baseline", baseline(no_spill_kernel), "--expect", none)
    expect(rc == 1 and "(new) spills" in out, "check: a new kernel that spills -> 1")

    def no_plain_kernel(d):
        d["kernels"] = [k for k in d["kernels"] if k["kernel"] != "fx_plain"]
    rc, out = report(obj, "--check", "--baseline", baseline(no_plain_kernel), "--expect", none)
    expect(rc == 0 and "not in the baseline" in out, "check: a new kernel without spills -> 0, listed")

    def extra_kernel(d):
        k = dict(d["kernels"][0], kernel="fx_gone")
        d["kernels"].append(k)
    rc, out = report(obj, "--check", "--baseline", baseline(extra_kernel), "--expect", none)
    expect(rc == 0 and "fx_gone" in out, "check: a removed kernel -> 0, listed")
    rc, out = report(obj, "--check", "--baseline", baseline(extra_kernel), "--expect", manifest("fx_gone pipelined\n"))
    expect(rc == 1 and "removed: fx_gone" in out, "check: a removed kernel listed as pipelined -> 1")

    print("sass selftest: %s" % ("FAILED: " + "; ".join(failures) if failures else "all passed"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
