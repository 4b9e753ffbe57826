#!/usr/bin/env python3
"""Seeds known mistakes into copies of the CUDA kernels, one at a time, and records which
emulator schedule's run of test_backend_ops on the CUDA backend catches each (a seeded bug
nothing catches is a gap in the suite).
Usage: python3 tests/cuda_emu/seeded_bugs.py [WORKDIR] [--bug NAME]
It copies the source tree into WORKDIR (default a temporary folder), builds the emulator
tree there once (OpenCL and benchmarks off), then per bug patches one file, rebuilds
incrementally and runs `test_backend_ops --backend cuda --only GROUP` under the forward
and the warp-serial schedules. Prints a markdown table; exits 1 if some bug was caught by neither."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# name, file, old text, new text, test group
BUGS = [
    ("dropped barrier (block_sum's last __syncthreads: the next reduction overwrites red[0] before every warp read it)",
     "kernels/cuda/block_reduce.cuh",
     "    const float total = red[0];\n    __syncthreads(); /* red may be reused by the caller's next reduction */",
     "    const float total = red[0];", "norms"),
    ("ldmatrix without .trans (V operand of O += P V)",
     "kernels/cuda/attention_prefill.cu", "mkc::ptx::ldmatrix_x4_trans(bf,", "mkc::ptx::ldmatrix_x4(bf,",
     "attention_prefill"),
    ("wrong B register (b0/b1 of the second n8 tile of S swapped)",
     "kernels/cuda/attention_prefill.cu",
     "mkc::ptx::mma_m16n8k16<BF16>(s[t + 1], af, bf[2], bf[3]);",
     "mkc::ptx::mma_m16n8k16<BF16>(s[t + 1], af, bf[3], bf[2]);", "attention_prefill"),
    ("causal off by one (one key past the diagonal visible)",
     "kernels/cuda/attention_prefill.cu",
     "return a.causal ? min((int64_t)sk, (int64_t)i + shift + 1) : (int64_t)sk;",
     "return a.causal ? min((int64_t)sk, (int64_t)i + shift + 2) : (int64_t)sk;", "attention_prefill"),
    ("wrong nibble order (W4 B fragment pairs swapped)",
     "kernels/cuda/qgemm_w4a16.cu",
     "b0 = F::w4(words[ks], 8 * ns, zz[ns]);\n                    b1 = F::w4(words[ks], 8 * ns + 4, zz[ns]);",
     "b0 = F::w4(words[ks], 8 * ns + 4, zz[ns]);\n                    b1 = F::w4(words[ks], 8 * ns, zz[ns]);",
     "qgemm"),
    ("missing shared-memory opt-in (fa2 prefill with > 48 KB, D >= 128)",
     "kernels/cuda/attention_prefill.cu", "if (smem > 48 * 1024) {", "if (smem > 1024 * 1024) {",
     "attention_prefill"),
    ("reduction over the wrong lane width (warp_sum over 16 lanes)",
     "kernels/cuda/block_reduce.cuh",
     "static __device__ __forceinline__ float warp_sum(float v) {\n#pragma unroll\n    for (int off = 16;",
     "static __device__ __forceinline__ float warp_sum(float v) {\n#pragma unroll\n    for (int off = 8;", "norms"),
    ("off by one at a tail (elementwise writes one pack past the row)",
     "kernels/cuda/elementwise.cu", "c < npacks; c += step)", "c <= npacks; c += step)", "elementwise"),
    ("off by one at a tail (decode reads one key past its split)",
     "kernels/cuda/attention_decode.cu", "const int nk = min(BK, k_end - j0);",
     "const int nk = min(BK, k_end - j0 + 1);", "attention_decode"),
    ("GQA head mapping (query head h reads kv head h % Hkv)",
     "kernels/cuda/attention_prefill.cu", "hk = h / (a.num_q_heads / a.num_kv_heads);",
     "hk = h % a.num_kv_heads;", "attention_prefill"),
]

SCHEDULES = ["forward", "warp-serial"]


def run(cmd, cwd, env=None, timeout=1800):
    return subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    only = sys.argv[sys.argv.index("--bug") + 1] if "--bug" in sys.argv else None
    if only:
        args = [a for a in args if a != only]
    work = args[0] if args else tempfile.mkdtemp(prefix="medkern-seeded.")
    src, build = os.path.join(work, "src"), os.path.join(work, "build")
    if not os.path.isdir(src):
        files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, text=True,
                               stdout=subprocess.PIPE, check=True).stdout.split()
        for f in files:
            if os.path.isfile(os.path.join(ROOT, f)):
                os.makedirs(os.path.dirname(os.path.join(src, f)), exist_ok=True)
                shutil.copy2(os.path.join(ROOT, f), os.path.join(src, f))
    cfg = run(["cmake", "-S", src, "-B", build, "-DMEDKERN_CUDA_EMU=ON", "-DMEDKERN_OPENCL=OFF",
               "-DMEDKERN_BENCH=OFF", "-DMEDKERN_HWLOC=OFF"], work)
    if cfg.returncode:
        sys.exit(cfg.stdout[-3000:])
    jobs = str(os.cpu_count() or 2)
    b = run(["cmake", "--build", build, "-j", jobs, "--target", "test_backend_ops"], work)
    if b.returncode:
        sys.exit(b.stdout[-3000:])
    rows, missed = [], 0
    for name, path, old, new, group in BUGS:
        if only and only not in name:
            continue
        fpath = os.path.join(src, path)
        pristine = open(fpath).read()
        if old not in pristine:
            sys.exit(f"seeded bug '{name}': the text to change is no longer in {path}; update this script")
        open(fpath, "w").write(pristine.replace(old, new, 1))
        try:
            b = run(["cmake", "--build", build, "-j", jobs, "--target", "test_backend_ops"], work)
            if b.returncode:
                result = {s: "build failed" for s in SCHEDULES}
            else:
                result = {}
                for s in SCHEDULES:
                    env = dict(os.environ, MEDKERN_EMU_SCHEDULE=s)
                    t0 = time.time()
                    r = run([os.path.join(build, "tests", "test_backend_ops"), "--backend", "cuda",
                             "--only", group], work, env)
                    fails = [l for l in r.stdout.splitlines() if l.startswith("FAIL") or "cuda-emu: error" in l]
                    if r.returncode != 0:
                        first = fails[0] if fails else r.stdout.strip().splitlines()[-1]
                        result[s] = "caught: " + first.split("): ", 1)[-1][:110].replace("|", "/")
                    else:
                        result[s] = "passed (not caught)"
                    result[s] += f" ({time.time() - t0:.0f} s)"
        finally:
            open(fpath, "w").write(pristine)
        caught = any(v.startswith("caught") or v.startswith("build") for v in result.values())
        missed += not caught
        rows.append((name, path, group, result))
        print(f"- {name}: " + "; ".join(f"{s}: {result[s]}" for s in SCHEDULES), flush=True)
    run(["cmake", "--build", build, "-j", jobs, "--target", "test_backend_ops"], work)
    print("\n| seeded bug | file | group | " + " | ".join(SCHEDULES) + " |")
    print("|---|---|---|" + "---|" * len(SCHEDULES))
    for name, path, group, result in rows:
        print(f"| {name} | {path} | {group} | " + " | ".join(result[s] for s in SCHEDULES) + " |")
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
