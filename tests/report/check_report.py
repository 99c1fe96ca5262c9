#!/usr/bin/env python3
"""Checks on a report directory for tests/report/test_report.sh.

check_report.py files OUT           every output there, PNG magic, SVG parses
check_report.py expected OUT EXP    summary.json agrees with gen_results.py's expected.json
check_report.py same OUT1 OUT2      same numbers in both summaries (sources aside)
check_report.py links OUT           every local href/src of report.html exists
check_report.py dom DOM N           the browser's DOM: ready, N images, all loaded, none broken
check_report.py png FILE            a PNG of some size
Prints what is wrong and exits 1, or exits 0.
"""
import html.parser
import json
import os
import re
import sys
import urllib.parse
import xml.etree.ElementTree as ET

FIGURES = ["heatmap", "ttd-cdf", "techniques"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def fail(msg):
    print(msg)
    sys.exit(1)


def png_ok(path, min_bytes=2000):
    with open(path, "rb") as f:
        data = f.read()
    return data[:8] == PNG_MAGIC and len(data) >= min_bytes


def files(out):
    for name in ["report.html", "summary.json"] + [f"{f}.{e}" for f in FIGURES
                                                  for e in ("png", "svg")]:
        if not os.path.isfile(os.path.join(out, name)):
            fail(f"{name} missing")
    for f in FIGURES:
        if not png_ok(os.path.join(out, f + ".png")):
            fail(f"{f}.png: not a PNG (magic) or nearly empty")
        root = ET.parse(os.path.join(out, f + ".svg")).getroot()
        if not root.tag.endswith("svg"):
            fail(f"{f}.svg: root element is {root.tag}")
    json.load(open(os.path.join(out, "summary.json")))


def expected(out, exp_path):
    summary = json.load(open(os.path.join(out, "summary.json")))
    exp = json.load(open(exp_path))
    got = {p["pair"]: p for p in summary["pairs"]}
    if set(got) != set(exp):
        fail(f"pairs differ: {sorted(set(got) ^ set(exp))}")
    for name, e in exp.items():
        g = got[name]
        for k in ("attempts", "direct", "relayed", "failed"):
            if g[k] != e[k]:
                fail(f"{name}: {k} {g[k]}, want {e[k]}")
        if g["class"] != e["class"]:
            fail(f"{name}: class {g['class']}, want {e['class']}")
        if abs(g["direct_rate"] - e["direct"] / e["attempts"]) > 5e-5:
            fail(f"{name}: direct_rate {g['direct_rate']}")
        for k, gk in (("p50", "time_to_direct_p50_ms"), ("p95", "time_to_direct_p95_ms")):
            if (e[k] is None) != (g[gk] is None) or (e[k] is not None and abs(e[k] - g[gk]) > 5e-4):
                fail(f"{name}: {gk} {g[gk]}, want {e[k]}")
    total = sum(e["attempts"] for e in exp.values())
    if summary["total"]["attempts"] != total:
        fail(f"total attempts {summary['total']['attempts']}, want {total}")


def same(a, b):
    sa = json.load(open(os.path.join(a, "summary.json")))
    sb = json.load(open(os.path.join(b, "summary.json")))
    for s in (sa, sb):
        s.pop("sources")
        s["population"].pop("file", None)
    if sa != sb:
        for k in sa:
            if sa[k] != sb.get(k):
                fail(f"summaries differ in {k}")
        fail("summaries differ")


class Refs(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs = []

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("href", "src") and v:
                self.refs.append((tag, v))


def links(out):
    p = Refs()
    p.feed(open(os.path.join(out, "report.html"), encoding="utf-8").read())
    n = 0
    for tag, ref in p.refs:
        u = urllib.parse.urlparse(ref)
        if u.scheme in ("http", "https"):
            if tag != "a":
                fail(f"<{tag}> loads {ref} from outside: the page must open offline")
            continue
        if u.scheme or ref.startswith("#"):
            continue
        path = os.path.join(out, urllib.parse.unquote(u.path))
        if not os.path.exists(path):
            fail(f"<{tag}> {ref}: {path} does not exist")
        n += 1
    if n < 7:  # 3 images, 6 figure links, summary.json, pcaps
        fail(f"only {n} local references")


def dom(path, want):
    text = open(path, encoding="utf-8", errors="replace").read()
    body = re.search(r"<body([^>]*)>", text)
    if not body:
        fail("no <body> in the dumped DOM")
    attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', body.group(1)))
    if attrs.get("data-ready") != "yes":
        fail(f"the page's script did not finish: body {attrs}")
    for bad in ("data-script-error", "data-broken"):
        if bad in attrs:
            fail(f"{bad}: {attrs[bad]}")
    imgs = re.findall(r"<img\b[^>]*>", text)
    loaded = [i for i in imgs if 'data-loaded="yes"' in i]
    if len(imgs) != int(want) or attrs.get("data-images") != want:
        fail(f"{len(imgs)} images (body says {attrs.get('data-images')}), want {want}")
    if len(loaded) != len(imgs) or attrs.get("data-images-loaded") != want:
        broken = [re.search(r'src="([^"]*)"', i).group(1) for i in imgs if i not in loaded]
        fail(f"figures not loaded: {broken}")


def main():
    what = sys.argv[1]
    {"files": files, "expected": expected, "same": same, "links": links, "dom": dom,
     "png": lambda p: png_ok(p, 10000) or fail(f"{p}: not a PNG or nearly empty")}[what](*sys.argv[2:])


if __name__ == "__main__":
    main()
