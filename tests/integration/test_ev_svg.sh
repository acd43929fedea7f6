#!/bin/bash
# it/ev_svg — the SVG ROC and confusion-matrix writers produce well-formed XML (parsed by
# python3's xml.etree) with one ROC path per curve and K*K heatmap cells.
set -euo pipefail
work="$1"; mkdir -p "$work"
"$HUST19_BUILD/tests/test_ev_ref" svg "$work"
"$PYTHON" - "$work" <<'PY'
import sys, xml.etree.ElementTree as ET
ns = {"s": "http://www.w3.org/2000/svg"}
d = sys.argv[1]
roc = ET.parse(f"{d}/roc.svg").getroot()
assert roc.tag == "{http://www.w3.org/2000/svg}svg", roc.tag
paths = roc.findall(".//s:path", ns)
assert len(paths) == 3 and all(p.get("class") == "roc" for p in paths), len(paths)
texts = [t.text or "" for t in roc.iter("{http://www.w3.org/2000/svg}text")]
legend = [t for t in texts if " AUC " in t]
assert len(legend) == 3 and legend[1].startswith("CF & <clinical> AUC "), legend
assert all("\u2013" in t for t in legend), legend
for p in paths:  # every coordinate inside the plot box
    nums = [float(v) for v in p.get("d").replace("M", " ").replace("L", " ").split()]
    assert all(80 - 1e-9 <= x <= 500 + 1e-9 for x in nums[0::2]) and all(50 - 1e-9 <= y <= 470 + 1e-9 for y in nums[1::2])
cm = ET.parse(f"{d}/cm.svg").getroot()
cells = [r for r in cm.iter("{http://www.w3.org/2000/svg}rect") if r.get("class") == "cell"]
assert len(cells) == 9, len(cells)
print("ev_svg: roc.svg 3 curves, cm.svg 9 cells, both well-formed")
PY
