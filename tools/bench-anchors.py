#!/usr/bin/env python3
"""Summarises the anchored counters of a benchmark JSON (Google Benchmark's
--benchmark_out, e.g. bench_cuda_attention's): medkern's rates beside the cuBLAS GEMM,
the attention built from cuBLAS and the device copy measured in the same run.

  bench-anchors.py [--md FILE] BENCH.json

Prints one line (nothing when no entry has an anchored counter): the anchors (cuBLAS GEMM
TFLOP/s, copy GB/s), then per group (prefill, decode, kv_append) the entry count and the
median and best of tflops / vs_cublas_gemm / vs_cublas_attention (prefill) or gbs /
vs_copy (decode, kv_append), and how many entries were skipped or failed. --md FILE also
writes a markdown table of every entry (name, kernel, ms, rate, ratios). tools/gpu-check
puts the line into its summary and the table beside it. Exit status 0, or 2 when the file
cannot be read.
"""
import argparse
import json
import statistics
import sys

RATIOS = ("vs_cublas_gemm", "vs_cublas_attention", "vs_cublas_f16", "vs_copy")


def group_of(name):
    head = name.split("/", 1)[0]
    return head if head in ("prefill", "decode", "kv_append", "qgemm", "anchor") else None


def fmt(v, digits=3):
    return "" if v is None else f"{v:.{digits}g}"


def stats(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return statistics.median(values), max(values)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--md", metavar="FILE")
    ap.add_argument("json")
    a = ap.parse_args()
    try:
        with open(a.json) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        print(f"bench-anchors: {a.json}: {e}", file=sys.stderr)
        return 2
    rows = []
    for b in doc.get("benchmarks", []):
        if b.get("run_type", "iteration") != "iteration":
            continue  # aggregates of --benchmark_repetitions
        name = b.get("name", "")
        if name.endswith("/manual_time"):
            name = name[: -len("/manual_time")]
        g = group_of(name)
        if g is None:
            continue
        rows.append((g, name, b))
    if not any(any(k in b for k in RATIOS + ("tflops", "gbs")) for _, _, b in rows):
        return 0
    anchors = {}
    for g, name, b in rows:
        if g == "anchor" and not b.get("error_occurred"):
            if "tflops" in b:
                anchors["cuBLAS GEMM"] = f"{fmt(b['tflops'], 4)} TFLOP/s"
            if "gbs" in b:
                anchors["copy"] = f"{fmt(b['gbs'], 4)} GB/s"
    parts = ["anchors: " + (", ".join(f"{k} {v}" for k, v in anchors.items()) or "none measured")]
    for g, rate, ratios in (("prefill", "tflops", ("vs_cublas_gemm", "vs_cublas_attention")),
                            ("decode", "gbs", ("vs_copy",)), ("kv_append", "gbs", ("vs_copy",)),
                            ("qgemm", "gbs", ("vs_cublas_f16", "vs_copy"))):
        entries = [b for gg, _, b in rows if gg == g]
        if not entries:
            continue
        ok = [b for b in entries if not b.get("error_occurred")]
        bad = len(entries) - len(ok)
        skipped = sum(1 for b in entries if str(b.get("error_message", "")).startswith("skipped"))
        text = f"{g} {len(ok)}/{len(entries)}"
        s = stats([b.get(rate) for b in ok])
        if s:
            text += f": {rate} median {fmt(s[0])} best {fmt(s[1])}"
        for r in ratios:
            s = stats([b.get(r) for b in ok])
            if s:
                text += f", {r} median {fmt(s[0], 2)} best {fmt(s[1], 2)}"
        if bad:
            text += f" ({skipped} skipped, {bad - skipped} failed)"
        parts.append(text)
    print("; ".join(parts))
    if a.md:
        with open(a.md, "w") as f:
            f.write("| benchmark | kernel | ms | tflops | gbs | " + " | ".join(RATIOS) + " |\n")
            f.write("| --- | --- | --- | --- | --- |" + " --- |" * len(RATIOS) + "\n")
            for _, name, b in rows:
                if b.get("error_occurred"):
                    f.write(f"| {name} | {b.get('error_message', 'error')} |" + "  |" * (3 + len(RATIOS)) + "\n")
                    continue
                label = b.get("label", "")
                kernel = label.split()[0][len("kernel="):] if label.startswith("kernel=") else ""
                cells = [fmt(b.get(k)) for k in ("ms", "tflops", "gbs") + RATIOS]
                f.write(f"| {name} | {kernel} | " + " | ".join(cells) + " |\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
