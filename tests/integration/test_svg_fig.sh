#!/bin/bash
# it/svg_fig — the scatter plot (src/eval/svg_fig.c) and the confusion heatmap written by
# tests/unit/test_svg_fig.c are well-formed XML (python3's xml.etree), with the expected markers,
# legend entries (an empty class included) and cells, and every point inside the frame.
set -euo pipefail
work="$1"; mkdir -p "$work"
"$HUST19_BUILD/tests/test_svg_fig" "$work"
"$PYTHON" - "$work" <<'PY'
import sys, xml.etree.ElementTree as ET
S = "{http://www.w3.org/2000/svg}"
d = sys.argv[1]
root = ET.parse(f"{d}/scatter.svg").getroot()
assert root.tag == S + "svg", root.tag
circles = [c for c in root.iter(S + "circle") if c.get("class", "").startswith("pt ")]
assert len(circles) == 90, len(circles)
by = {}
for c in circles:
    by.setdefault(c.get("class"), []).append(c)
assert {k: len(v) for k, v in by.items()} == {"pt c0": 20, "pt c1": 20, "pt c2": 20, "pt c3": 30}, by.keys()
assert all(c.get("fill") == "none" for c in by["pt c3"])             # suspected: hollow
assert all(c.get("fill") != "none" for k in ("pt c0", "pt c1", "pt c2") for c in by[k])
frame = [r for r in root.iter(S + "rect") if r.get("class") == "frame"][0]
x0, y0 = float(frame.get("x")), float(frame.get("y"))
x1, y1 = x0 + float(frame.get("width")), y0 + float(frame.get("height"))
for c in circles:
    assert x0 <= float(c.get("cx")) <= x1 and y0 <= float(c.get("cy")) <= y1, c.attrib
texts = [t.text or "" for t in root.iter(S + "text")]
for want in ("Control (20)", "Type I (20)", "Type II (20)", "Suspected <unlabelled> (30)",
             "Empty & unused (0)", "t-SNE of the six scores", "t-SNE 1", "t-SNE 2"):
    assert want in texts, (want, texts)
empty = ET.parse(f"{d}/scatter_empty.svg").getroot()
assert not [c for c in empty.iter(S + "circle") if c.get("class", "").startswith("pt ")]
cm = ET.parse(f"{d}/cm.svg").getroot()
cells = [r for r in cm.iter(S + "rect") if r.get("class") == "cell"]
assert len(cells) == 9, len(cells)
ct = [t.text for t in cm.iter(S + "text")]
assert ct.count("0.0%") == 3 and "83.3%" in ct and "30" in ct, ct
print("svg_fig: scatter.svg 90 points (30 hollow), 5 legend entries; cm.svg 9 cells; all well-formed")
PY
