#!/usr/bin/env python3
"""Checks on a report directory for tests/report/test_report.sh.

check_report.py files OUT [FIG...]  every output there, PNG magic, SVG parses (FIGs: the
                                    figures' names, default heatmap ttd-cdf techniques)
check_report.py kinds OUT EXP       summary.json by kind agrees with expected-kinds.json
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


def files(out, *figures):
    figures = list(figures) or FIGURES
    for name in ["report.html", "summary.json"] + [f"{f}.{e}" for f in figures
                                                  for e in ("png", "svg")]:
        if not os.path.isfile(os.path.join(out, name)):
            fail(f"{name} missing")
    for f in figures:
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


def kinds(out, exp_path):
    summary = json.load(open(os.path.join(out, "summary.json")))
    exp = json.load(open(exp_path))
    got = {k["kind"]: k for k in summary.get("kinds", [])}
    want = exp["kinds"]
    if list(got) != ["natlab"] + sorted(k for k in want if k != "natlab"):
        fail(f"kinds {list(got)}, want natlab first, then {sorted(want)} by name")
    if os.path.exists(os.path.join(out, "heatmap.png")):
        fail("heatmap.png: one heatmap of every kind pooled, want one per kind")
    page = open(os.path.join(out, "report.html"), encoding="utf-8").read()
    for name, pairs in want.items():
        k = got[name]
        version = exp["versions"].get(name)
        if k["version"] != version:
            fail(f"{name}: version {k['version']}, want {version}")
        if k["heatmap"] != f"heatmap-{name}":
            fail(f"{name}: heatmap {k['heatmap']}")
        title = f"{name} {version}" if version else name
        if f"<h3>Success-rate heatmap: {title}</h3>" not in page:
            fail(f"report.html: no heatmap titled {title}")
        if k["attempts"] != sum(e["attempts"] for e in pairs.values()):
            fail(f"{name}: {k['attempts']} attempts")
        gp = {p["pair"]: p for p in k["pairs"]}
        if set(gp) != set(pairs):
            fail(f"{name}: pairs differ: {sorted(set(gp) ^ set(pairs))}")
        for pair, e in pairs.items():
            for f in ("attempts", "direct", "relayed", "failed"):
                if gp[pair][f] != e[f]:
                    fail(f"{name} {pair}: {f} {gp[pair][f]}, want {e[f]}")
            if (e["p50"] is None) != (gp[pair]["time_to_direct_p50_ms"] is None) or \
                    (e["p50"] is not None and abs(e["p50"] - gp[pair]["time_to_direct_p50_ms"]) > 5e-4):
                fail(f"{name} {pair}: p50 {gp[pair]['time_to_direct_p50_ms']}, want {e['p50']}")
            if f'<tr data-pair="{pair}">' not in page:
                fail(f"report.html: {pair} missing from the pairs by kind")
    differ = {d["pair"]: [x["kinds"] for x in d["differences"]] for d in summary["differing_pairs"]}
    if differ != exp["differing"]:
        fail(f"differing pairs {differ}, want {exp['differing']}")
    for pair in differ:
        if f'<tr data-differ="{pair}">' not in page:
            fail(f"report.html: {pair} not listed where the kinds differ")
    own = {k: v for k, v in got["natlab"]["population"].items()}
    top = {k: v for k, v in summary["population"].items() if k in own}
    if own != top:
        fail(f"population estimate {top}, want natlab's own {own}")


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
    {"files": files, "kinds": kinds, "expected": expected, "same": same, "links": links, "dom": dom,
     "png": lambda p: png_ok(p, 10000) or fail(f"{p}: not a PNG or nearly empty")}[what](*sys.argv[2:])


if __name__ == "__main__":
    main()
