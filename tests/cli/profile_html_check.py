#!/usr/bin/env python3
"""Checks behind tests/cli/profile_html.sh (the HTML report of `medkern profile`).

  profile_html_check.py schema SCHEMA REPORT...   the reports validate against the JSON
      Schema (draft 2020-12), and broken copies of the first one do not
  profile_html_check.py dom REPORT DOM            the DOM headless Chromium built from the
      report's HTML (--dump-dom) shows what the report holds
  profile_html_check.py png REPORT PNG W H        a screenshot of that page is not blank
      and shows the phases' colours

Exit 0 when every check passed, 1 otherwise (each failure printed). Standard library
only, plus jsonschema for `schema`.
"""
import copy
import html.parser
import json
import math
import re
import struct
import sys
import zlib

FAILS = []
PHASE_COLOUR = {"prefill": (0x1F, 0x77, 0xB4), "decode": (0xD6, 0x27, 0x28)}


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what, file=sys.stderr)
    return cond


def num(v):
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


# --------------------------------------------------------------------------- schema
def cmd_schema(schema_path, reports):
    import jsonschema

    schema = json.load(open(schema_path))
    validator_cls = jsonschema.Draft202012Validator
    validator_cls.check_schema(schema)
    v = validator_cls(schema)
    docs = []
    for path in reports:
        doc = json.load(open(path))
        docs.append(doc)
        errors = [e.message for e in v.iter_errors(doc)]
        check(not errors, "%s does not validate: %s" % (path, errors[:3]))
        # what the schema cannot say: step names are unique within a phase
        seen = set()
        for row in doc.get("kernels", []):
            key = (row.get("phase"), row.get("step"))
            check(key not in seen, "%s: step %r twice in phase %r" % (path, key[1], key[0]))
            seen.add(key)

    # The schema is strict: each of these broken copies of the first report must fail.
    base = docs[0]
    assert base["kernels"] and base["ceilings"]["source"] == "calibration", "need a full report"

    def broken(name, change):
        d = copy.deepcopy(base)
        change(d)
        check(not v.is_valid(d), "schema accepts a report with %s" % name)

    broken("a missing summary.ttft_ms", lambda d: d["summary"].pop("ttft_ms"))
    broken("a missing kernels[0].bound", lambda d: d["kernels"][0].pop("bound"))
    broken("calls as a string", lambda d: d["kernels"][0].__setitem__("calls", "64"))
    broken("time_ms as NaN-like text", lambda d: d["kernels"][0].__setitem__("time_ms", "nan"))
    broken("a negative time", lambda d: d["kernels"][0].__setitem__("time_ms", -1))
    broken("phase 'warmup'", lambda d: d["kernels"][0].__setitem__("phase", "warmup"))
    broken("bound 'latency'", lambda d: d["kernels"][0].__setitem__("bound", "latency"))
    broken("a share above 1", lambda d: d["kernels"][0].__setitem__("share", 1.5))
    broken("schema medkern-profile/2", lambda d: d.__setitem__("schema", "medkern-profile/2"))
    broken("a misspelt key", lambda d: d["summary"].__setitem__("ttft", d["summary"].pop("ttft_ms")))
    broken("an extra kernel key", lambda d: d["kernels"][0].__setitem__("extra", 1))
    broken("weights 'int3'", lambda d: d["settings"].__setitem__("weights", "int3"))
    broken("kv null", lambda d: d["settings"].__setitem__("kv", None))
    broken("batch 0", lambda d: d["settings"].__setitem__("batch", 0))
    broken("batch 1.5", lambda d: d["settings"].__setitem__("batch", 1.5))
    broken("scaled as 1", lambda d: d["settings"].__setitem__("scaled", 1))
    broken("family 'bert'", lambda d: d["model"].__setitem__("family", "bert"))
    broken("source config without a path",
           lambda d: d["model"].__setitem__("source", "config"))
    broken("ceilings source 'none' with a bandwidth",
           lambda d: d["ceilings"].__setitem__("source", "none"))
    broken("validation without 'passed'", lambda d: d["validation"].pop("passed"))
    broken("warnings as a string", lambda d: d.__setitem__("warnings", "w"))
    broken("memory total null",
           lambda d: d["summary"]["memory"].__setitem__("total_bytes", None))
    broken("a date without a time", lambda d: d.__setitem__("date", "2026-11-24"))
    broken("kernels missing", lambda d: d.pop("kernels"))
    # and these changes are allowed
    ok = copy.deepcopy(base)
    ok["ceilings"].update(bandwidth_gbs=None, compute_gflops=None, source="none",
                          calibration_file=None)
    ok["validation"] = None
    ok["kernels"][0].update(bound=None, predicted_ms=None, ceiling_fraction=None, variant=None)
    ok["summary"].update(tpot_ms=None, decode_tokens_per_s=None, mbu=None)
    check(v.is_valid(ok), "schema rejects nulls the spec allows: %s"
          % [e.message for e in v.iter_errors(ok)][:3])


# --------------------------------------------------------------------------- DOM
class Node:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent = tag, dict(attrs), parent
        self.children, self.text = [], []

    def all_text(self):
        out = list(self.text)
        for c in self.children:
            out.append(c.all_text())
        return "".join(out)

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()

    def find(self, tag=None, **attrs):
        for n in self.walk():
            if (tag is None or n.tag == tag) and all(
                    (n.attrs.get(k.rstrip("_")) or "").split().count(v) if k == "class_"
                    else n.attrs.get(k) == v for k, v in attrs.items()):
                yield n


VOID = {"meta", "br", "hr", "img", "input", "link", "area", "base", "col", "embed",
        "source", "track", "wbr"}


class Tree(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", [], None)
        self.cur = self.root

    def handle_starttag(self, tag, attrs):
        n = Node(tag, attrs, self.cur)
        self.cur.children.append(n)
        if tag not in VOID:
            self.cur = n

    def handle_startendtag(self, tag, attrs):
        self.cur.children.append(Node(tag, attrs, self.cur))

    def handle_endtag(self, tag):
        n = self.cur
        while n is not self.root and n.tag != tag:
            n = n.parent
        if n is not self.root:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.text.append(data)


def shown(s):
    """How the page shows a report string: control characters become spaces."""
    return "".join(" " if ord(ch) < 0x20 or ord(ch) == 0x7F else ch for ch in s)


def sorted_rows(report):
    """Kernel rows per phase as the renderers order them: prefill, decode, others; by time
    (largest first, unknown last), ties in report order."""
    rows = report.get("kernels") or []
    phases = ["prefill", "decode"]
    for r in rows:
        p = r.get("phase") if isinstance(r.get("phase"), str) else "-"
        if p not in phases:
            phases.append(p)
    out = []
    for p in phases:
        mine = [(i, r) for i, r in enumerate(rows)
                if (r.get("phase") if isinstance(r.get("phase"), str) else "-") == p]
        mine.sort(key=lambda ir: (num(ir[1].get("time_ms")) is None,
                                  -(num(ir[1].get("time_ms")) or 0), ir[0]))
        if mine:
            out.append((p, [r for _, r in mine]))
    return out


def fit_axis(pairs, what):
    """pairs of (log10 value, pixel): pixel = a + b * log; returns (a, b) or None."""
    distinct = sorted({(round(l, 9), p) for l, p in pairs})
    if len({l for l, _ in distinct}) < 2:
        return None
    (l0, p0), (l1, p1) = distinct[0], distinct[-1]
    b = (p1 - p0) / (l1 - l0)
    a = p0 - b * l0
    for l, p in pairs:
        check(abs(a + b * l - p) <= 0.25, "%s: point at %.2f px, log-linear axis puts it at %.2f"
              % (what, p, a + b * l))
    return a, b


def cmd_dom(report_path, dom_path):
    report = json.load(open(report_path))
    tree = Tree()
    tree.feed(open(dom_path, encoding="utf-8").read())
    root = tree.root
    model, settings = report.get("model") or {}, report.get("settings") or {}
    title = "%s on %s" % (model.get("name", "-"), settings.get("device", "-"))
    want = "medkern profile: " + shown(title)

    titles = [n for n in root.find("title") if n.parent.tag == "head"]
    check(len(titles) == 1 and titles[0].all_text() == want,
          "page title %r, want %r" % ([t.all_text() for t in titles], want))
    h1 = list(root.find("h1"))
    check(len(h1) == 1 and h1[0].all_text() == want, "h1 %r" % [n.all_text() for n in h1])
    check(not list(root.find("script")), "a <script> element in the page")
    for n in root.walk():
        for a in ("src", "href", "xlink:href"):
            check(a not in n.attrs, "<%s %s=...> refers outside the page" % (n.tag, a))
        check(not any(k.startswith("on") for k in n.attrs), "<%s> has an event handler" % n.tag)

    svgs = list(root.find("svg"))
    check(len(svgs) == (2 if report.get("kernels") else 1), "%d <svg> elements" % len(svgs))
    for s in svgs:
        vb = (s.attrs.get("viewbox") or "").split()
        check(len(vb) == 4 and float(vb[2]) > 0 and float(vb[3]) > 0,
              "svg %s viewBox %r" % (s.attrs.get("id"), vb))

    # ---- roofline points: one per row with a positive intensity and gflops
    groups = sorted_rows(report)
    plottable = [(p, r) for p, rows in groups for r in rows
                 if (num(r.get("intensity")) or 0) > 0 and (num(r.get("gflops")) or 0) > 0]
    roof = next(root.find("svg", id="roofline-plot"), None)
    check(roof is not None, "no roofline svg")
    if roof is None:
        return
    pts = list(roof.find("circle", class_="pt"))
    check(len(pts) == len(plottable), "%d roofline points, want %d" % (len(pts), len(plottable)))
    xs, ys = [], []
    for c, (phase, row) in zip(pts, plottable):
        tip = "".join(t.all_text() for t in c.find("title"))
        head = "%s %s (" % (phase, shown(row["step"]))
        check(tip.startswith(head), "point tooltip %r, want it to start with %r" % (tip, head))
        colour = "#%02x%02x%02x" % PHASE_COLOUR[phase] if phase in PHASE_COLOUR else None
        if colour:
            check(c.attrs.get("fill") == colour, "point of %s filled %s" % (phase, c.attrs.get("fill")))
        xs.append((math.log10(row["intensity"]), float(c.attrs["cx"])))
        ys.append((math.log10(row["gflops"]), float(c.attrs["cy"])))
    fx, fy = fit_axis(xs, "roofline x"), fit_axis(ys, "roofline y")
    if fx:
        check(fx[1] > 0, "roofline x axis runs right to left")
    if fy:
        check(fy[1] < 0, "roofline y axis runs downwards")

    # ---- the roof, from the ceilings
    ceil = report.get("ceilings") or {}
    bw, cp = num(ceil.get("bandwidth_gbs")), num(ceil.get("compute_gflops"))
    lines = {n.attrs.get("id"): n for n in roof.find("line", class_="roof")}
    check(("roof-bandwidth" in lines) == bool(bw), "bandwidth roof drawn: %s, ceiling %s"
          % ("roof-bandwidth" in lines, bw))
    check(("roof-compute" in lines) == bool(cp), "compute roof drawn: %s, ceiling %s"
          % ("roof-compute" in lines, cp))
    if fx and fy:
        def back(px, py):  # pixel -> log10 values
            return (px - fx[0]) / fx[1], (py - fy[0]) / fy[1]
        if "roof-bandwidth" in lines:
            n = lines["roof-bandwidth"]
            (x1, y1), (x2, y2) = (back(float(n.attrs["x1"]), float(n.attrs["y1"])),
                                  back(float(n.attrs["x2"]), float(n.attrs["y2"])))
            for x, y in ((x1, y1), (x2, y2)):
                check(abs(y - (math.log10(bw) + x)) < 0.01,
                      "bandwidth roof passes (%.3f, %.3f), not on y = %g * x" % (x, y, bw))
        if "roof-compute" in lines:
            n = lines["roof-compute"]
            for k in ("y1", "y2"):
                y = back(0, float(n.attrs[k]))[1]
                check(abs(y - math.log10(cp)) < 0.01, "compute roof at 10^%.3f, want %g" % (y, cp))
        if bw and cp:
            xr = back(float(lines["roof-bandwidth"].attrs["x2"]), 0)[0]
            check(abs(xr - math.log10(cp / bw)) < 0.01, "ridge point at 10^%.3f, want %g"
                  % (xr, cp / bw))

    # ---- time breakdown: one bar per row, length proportional to the share
    nrows = sum(len(rows) for _, rows in groups)
    chart = next(root.find("svg", id="breakdown-chart"), None)
    check((chart is not None) == (nrows > 0), "breakdown chart present with %d rows" % nrows)
    if chart is not None:
        bars = list(chart.find("rect", class_="bar"))
        check(len(bars) == nrows, "%d bars, want %d" % (len(bars), nrows))
        ordered = [(p, r) for p, rows in groups for r in rows]
        scale = None
        for b, (p, r) in zip(bars, ordered):
            share = num(r.get("share"))
            w = float(b.attrs["width"])
            if share and share > 0.01:
                scale = scale or w / share
                check(abs(w - share * scale) <= 0.2, "bar of %s is %.1f px for share %g (scale %.1f)"
                      % (r["step"], w, share, scale))

    # ---- kernel tables: rows in the renderer's order, names as in the report
    tables = list(root.find("table", class_="kernels"))
    check(len(tables) == len(groups), "%d kernel tables, want %d" % (len(tables), len(groups)))
    for t, (p, rows) in zip(tables, groups):
        body = [tr for tr in t.find("tr") if tr.parent.tag == "tbody"]
        steps = [next(tr.find("td")).all_text() for tr in body]
        check(steps == [shown(r["step"]) for r in rows],
              "%s table steps %r, want %r" % (p, steps, [shown(r["step"]) for r in rows]))
        for tr in body:
            check(len(list(tr.find("td"))) == 11, "a kernel table row without 11 cells")

    warns = [li.all_text() for li in root.find("li") if li.parent.attrs.get("class") == "warn"]
    want_w = [shown(w) for w in report.get("warnings") or [] if isinstance(w, str)]
    check(warns == want_w, "warnings %r, want %r" % (warns, want_w))


# --------------------------------------------------------------------------- PNG
def read_png(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    w, h, depth, ctype, _, _, interlace = ihdr
    assert depth == 8 and ctype in (2, 6) and interlace == 0, "unsupported PNG %r" % (ihdr,)
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(h):
        ftype, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        if ftype == 2:
            line = bytearray((x + y) & 255 for x, y in zip(line, prev))
        elif ftype == 1:
            for x in range(bpp, stride):
                line[x] = (line[x] + line[x - bpp]) & 255
        elif ftype in (3, 4):
            for x in range(stride):
                a = line[x - bpp] if x >= bpp else 0
                b = prev[x]
                if ftype == 3:
                    line[x] = (line[x] + (a + b) // 2) & 255
                    continue
                c = prev[x - bpp] if x >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, bpp, rows


def cmd_png(report_path, png_path, want_w, want_h):
    report = json.load(open(report_path))
    w, h, bpp, rows = read_png(png_path)
    check((w, h) == (int(want_w), int(want_h)), "screenshot %dx%d, want %sx%s" % (w, h, want_w, want_h))
    counts, n, s, s2 = {}, 0, 0.0, 0.0
    for line in rows:
        for x in range(0, w * bpp, bpp):
            px = tuple(line[x:x + 3])
            counts[px] = counts.get(px, 0) + 1
            lum = 0.299 * px[0] + 0.587 * px[1] + 0.114 * px[2]
            n += 1
            s += lum
            s2 += lum * lum
    sd = math.sqrt(max(s2 / n - (s / n) ** 2, 0))
    white = counts.get((255, 255, 255), 0) / n
    check(len(counts) > 50, "screenshot has %d colours: blank?" % len(counts))
    check(white < 0.98, "screenshot is %.1f %% white" % (100 * white))
    check(sd > 5, "screenshot luminance spread %.2f: blank?" % sd)
    # the bars and points of each phase are drawn in its colour
    for phase in {r.get("phase") for r in report.get("kernels") or []}:
        if phase in PHASE_COLOUR:
            got = counts.get(PHASE_COLOUR[phase], 0)
            check(got >= 20, "%d pixels of the %s colour in the screenshot" % (got, phase))
    if not report.get("kernels"):
        for phase, rgb in PHASE_COLOUR.items():
            check(counts.get(rgb, 0) == 0, "%s colour in a report without kernels" % phase)


def main(argv):
    if len(argv) >= 3 and argv[1] == "schema":
        cmd_schema(argv[2], argv[3:])
    elif len(argv) == 4 and argv[1] == "dom":
        cmd_dom(argv[2], argv[3])
    elif len(argv) == 6 and argv[1] == "png":
        cmd_png(argv[2], argv[3], argv[4], argv[5])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
