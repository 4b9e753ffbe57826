#!/usr/bin/env python3
"""Smoke run of one benchmark program: runs it with JSON output and checks the file.

  smoke.py --out FILE [--no-skips] [--calibrate MEDKERN] --expect PREFIX... -- PROGRAM ARGS...

Checks: the program exits 0 (77 = device absent: passed on as ctest's skip code); the
JSON has a "context" with the medkern keys and a "benchmarks" list; every benchmark the
program lists (--benchmark_list_tests) ran; each PREFIX starts at least one name; no
benchmark failed ("error: ..."); with --no-skips, none was skipped either. Timings are
never checked.

--calibrate MEDKERN: first runs `MEDKERN calibrate --device D` (D: the program's --device,
else auto) with MEDKERN_CACHE_DIR set to a new temporary directory, runs the program with
the same environment, and also checks that it read that cache: the context's
ceiling_source names a file in it, ceiling_copy_gbs and ceiling_gemm_tflops are positive
numbers, at least one benchmark has bw_frac_copy, and every benchmark with
flop_per_second has flop_frac_gemm.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

CONTEXT_KEYS = ["medkern_version", "medkern_git_commit", "device", "device_slug",
                "device_name", "device_driver", "host_pinned", "shape_set", "ceiling_source"]


def positive(text):
    try:
        return float(text) > 0
    except (TypeError, ValueError):
        return False


def device_arg(cmd):
    for i, c in enumerate(cmd):
        if c == "--device" and i + 1 < len(cmd):
            return cmd[i + 1]
        if c.startswith("--device="):
            return c.split("=", 1)[1]
    return "auto"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--expect", nargs="*", default=[])
    ap.add_argument("--no-skips", action="store_true")
    ap.add_argument("--calibrate", metavar="MEDKERN")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    if not a.calibrate:
        return check(a, cmd, None)
    with tempfile.TemporaryDirectory(prefix="mkbench-cal-") as cache:
        env = dict(os.environ, MEDKERN_CACHE_DIR=cache)
        dev = device_arg(cmd)
        cal = subprocess.run([a.calibrate, "calibrate", "--device", dev], env=env,
                             capture_output=True, text=True)
        if cal.returncode == 2 and dev != "ref":
            print(cal.stderr.strip() or "device not present")
            return 77
        if cal.returncode != 0:
            print(f"medkern calibrate failed ({cal.returncode}):\n{cal.stdout}{cal.stderr}")
            return 1
        print(cal.stdout.strip())
        return check(a, cmd, env, cache)


def check(a, cmd, env, cache=None):

    listed = subprocess.run(cmd + ["--benchmark_list_tests=true"], capture_output=True,
                            text=True, env=env)
    if listed.returncode == 77:
        print(listed.stderr.strip() or "device not present")
        return 77
    if listed.returncode != 0:
        print(f"listing failed ({listed.returncode}):\n{listed.stdout}{listed.stderr}")
        return 1
    names = [l.strip() for l in listed.stdout.splitlines() if l.strip()]

    run = subprocess.run(cmd + ["--benchmark_format=json", f"--benchmark_out={a.out}",
                                "--benchmark_out_format=json"], capture_output=True, text=True,
                         env=env)
    sys.stderr.write(run.stderr)
    if run.returncode != 0:
        print(f"run failed ({run.returncode}):\n{run.stdout[-4000:]}")
        return 1
    with open(a.out) as f:
        doc = json.load(f)

    problems = []
    ctx = doc.get("context")
    if not isinstance(ctx, dict):
        problems.append("no context object")
        ctx = {}
    problems += [f"context lacks {k}" for k in CONTEXT_KEYS if not ctx.get(k)]
    benches = doc.get("benchmarks")
    if not isinstance(benches, list) or not benches:
        problems.append("no benchmarks list")
        benches = []
    ran = {b.get("name") for b in benches}
    problems += [f"listed but not run: {n}" for n in names if n not in ran]
    problems += [f"no benchmark named {p}*" for p in a.expect
                 if not any(n.startswith(p) for n in ran)]
    skipped = 0
    for b in benches:
        if not b.get("error_occurred"):
            if b.get("iterations", 0) < 1 or "real_time" not in b:
                problems.append(f"{b.get('name')}: no iterations or time")
            continue
        msg = b.get("error_message", "")
        if msg.startswith("skipped:") and not a.no_skips:
            skipped += 1
            print(f"  {b['name']}: {msg}")
        else:
            problems.append(f"{b['name']}: {msg}")

    if cache is not None:
        src = ctx.get("ceiling_source", "")
        if not src.startswith(os.path.join(cache, "calibration") + os.sep):
            problems.append(f"ceiling_source is {src!r}, not the cache in {cache}")
        for k in ("ceiling_copy_gbs", "ceiling_gemm_tflops"):
            if not positive(ctx.get(k)):
                problems.append(f"context {k} is {ctx.get(k)!r}, not a positive number")
        ok = [b for b in benches if not b.get("error_occurred")]
        if not any("bw_frac_copy" in b for b in ok):
            problems.append("no benchmark has bw_frac_copy")
        problems += [f"{b['name']}: flop_per_second without flop_frac_gemm" for b in ok
                     if "flop_per_second" in b and "flop_frac_gemm" not in b]

    print(f"{len(benches)} benchmarks on {ctx.get('device')} ({ctx.get('device_name')}), "
          f"{skipped} skipped, {len(problems)} problems; JSON in {a.out}")
    for p in problems:
        print("  FAIL", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
