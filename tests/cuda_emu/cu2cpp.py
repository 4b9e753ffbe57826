#!/usr/bin/env python3
"""medkern's CUDA emulator: rewrites one .cu file into host C++ for the emulator build.

Only two constructs change, each in place on its own lines (line numbers are kept, and a
#line directive names the original file, so compiler messages, ASan reports and emulator
faults point at the .cu source):
  KERNEL<<<grid, block[, smem[, stream]]>>>(args)
      -> ::mkemu::launch(KERNEL, "KERNEL", __FILE__, __LINE__, ::mkemu::cfg(grid, ...), args)
  __shared__ [__align__(n)] T a[N], b[M];      (static shared memory, per block)
      -> auto &a = ::mkemu::shared_var<T[N]>("a@LINE", MKEMU_HERE, n); auto &b = ...;
  extern __shared__ [__align__(n)] T s[];      (dynamic shared memory)
      -> T *const s = ::mkemu::dynamic_shared<T>(n);
Everything else is compiled as it is, against tests/cuda_emu/include/cuda_emu_device.h.
Usage: cu2cpp.py IN.cu OUT.cc
"""
import os
import re
import sys


def fail(path, text, pos, msg):
    line = text.count("\n", 0, pos) + 1
    sys.exit(f"{path}:{line}: cu2cpp: {msg}")


def kernel_expr_start(text, end):
    """Start of the kernel expression that ends just before `end` (the '<<<')."""
    i = end
    while i > 0 and text[i - 1].isspace():
        i -= 1
    if i > 0 and text[i - 1] == ">":  # template arguments
        depth = 0
        while i > 0:
            i -= 1
            c = text[i]
            if c == ">":
                depth += 1
            elif c == "<":
                depth -= 1
                if depth == 0:
                    break
    while i > 0 and (text[i - 1].isalnum() or text[i - 1] in "_:"):
        i -= 1
    return i


def matching_paren(text, open_pos):
    depth = 0
    for i in range(open_pos, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1


def rewrite_launches(path, text):
    out = []
    pos = 0
    while True:
        k = text.find("<<<", pos)
        if k < 0:
            out.append(text[pos:])
            return "".join(out)
        s = kernel_expr_start(text, k)
        kexpr = text[s:k].strip()
        if not kexpr:
            fail(path, text, k, "no kernel name before <<<")
        e = text.find(">>>", k)
        if e < 0:
            fail(path, text, k, "<<< without >>>")
        cfg = text[k + 3:e]
        p = e + 3
        while p < len(text) and text[p].isspace():
            p += 1
        if p >= len(text) or text[p] != "(":
            fail(path, text, e, "kernel launch without an argument list")
        close = matching_paren(text, p)
        if close < 0:
            fail(path, text, p, "unbalanced launch arguments")
        args = text[p + 1:close]
        name = re.sub(r"\s+", " ", kexpr).replace('"', "")
        out.append(text[pos:s])
        out.append(f'::mkemu::launch({kexpr}, "{name}", __FILE__, __LINE__, ::mkemu::cfg({cfg})')
        out.append(text[e + 3:p])  # whitespace (newlines kept)
        if args.strip():
            out.append(", " + args)
        else:
            out.append(args)
        out.append(")")
        pos = close + 1


SHARED = re.compile(r"\b(extern\s+)?__shared__\s+(__align__\s*\(\s*(\d+)\s*\)\s*)?([^;]*);")


def split_top(s):
    parts, depth, cur = [], 0, ""
    for c in s:
        if c in "([<{":
            depth += 1
        elif c in ")]>}":
            depth -= 1
        if c == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += c
    parts.append(cur)
    return parts


DECL = re.compile(r"^\s*(.*?)\b([A-Za-z_]\w*)\s*((?:\[[^\]]*\]\s*)*)$", re.S)


def rewrite_shared(path, text):
    def repl(m):
        ext, align, body = m.group(1), m.group(3) or "0", m.group(4)
        line = text.count("\n", 0, m.start()) + 1
        nl = "\n" * m.group(0).count("\n")
        parts = split_top(body)
        first = DECL.match(parts[0])
        if not first or not first.group(1).strip():
            fail(path, text, m.start(), "cannot read this __shared__ declaration")
        ctype = first.group(1).strip()
        decls = []
        for i, part in enumerate(parts):
            d = DECL.match(part) if i == 0 else re.match(r"^\s*()([A-Za-z_]\w*)\s*((?:\[[^\]]*\]\s*)*)$", part, re.S)
            if not d:
                fail(path, text, m.start(), "cannot read this __shared__ declarator")
            name, dims = d.group(2), re.sub(r"\s+", " ", d.group(3).strip())
            if ext:
                if dims != "[]":
                    fail(path, text, m.start(), "extern __shared__ must be an array of unknown size")
                decls.append(f"{ctype} *const {name} = ::mkemu::dynamic_shared<{ctype}>({align});")
            else:
                decls.append(
                    f'auto &{name} = ::mkemu::shared_var<{ctype}{dims}>("{name}@{path}:{line}", MKEMU_HERE, {align});'
                )
        return " ".join(decls) + nl

    return SHARED.sub(repl, text)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: cu2cpp.py IN.cu OUT.cc")
    src, dst = sys.argv[1], sys.argv[2]
    with open(src, encoding="utf-8") as f:
        text = f.read()
    text = rewrite_shared(src, text)
    text = rewrite_launches(src, text)
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    with open(dst, "w", encoding="utf-8") as f:
        f.write(f'#line 1 "{src}"\n' + text)


if __name__ == "__main__":
    main()
