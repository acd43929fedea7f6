#!/usr/bin/python3
"""Contact sheet of preprocessed slices from a hust19 archive (docs/img/preprocessed_contact.jpg):
four labelled slices of each class (NiCT, pCT, nCT) as the slice CNN sees them (200x200, lungs
masked). Usage: /usr/bin/python3 scripts/contact_sheet.py results/demo/archive.h5 OUT.jpg"""
import sys
import cv2
import h5py
import numpy as np

arc, out = sys.argv[1], sys.argv[2]
with h5py.File(arc, "r") as f:
    lab = f["/ct/label"][:]
    rows = []
    for code, name in ((0, "NiCT"), (1, "pCT"), (2, "nCT")):
        idx = np.flatnonzero(lab == code)
        pick = idx[np.linspace(0, len(idx) - 1, 4).astype(int)] if len(idx) else []
        tiles = []
        for i in pick:
            t = f["/ct/slices"][i].copy()
            cv2.putText(t, name, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 255, 1, cv2.LINE_AA)
            tiles.append(np.pad(t, 4))
        while len(tiles) < 4:
            tiles.append(np.zeros((208, 208), np.uint8))
        rows.append(np.hstack(tiles))
cv2.imwrite(out, np.vstack(rows), [cv2.IMWRITE_JPEG_QUALITY, 88])
print(f"{out}: {sum(len(r) for r in rows)} rows")
