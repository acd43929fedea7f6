#!/usr/bin/python3
"""ct_reference.py — the paper's CT slice preprocessing with OpenCV and scikit-image, the reference
for src/ct/preprocess.c (see docs/preprocessing.md).

    ct_reference.py gen OUTDIR [N]          write N (default 100) chest-like phantoms and the real
                                            slice CT_small.dcm (lung-windowed) as 8-bit PGMs
    ct_reference.py compare INDIR CDIR      run the reference on INDIR/*.pgm and compare with the C
                                            outputs in CDIR (<name>.thr/.mask/.out.pgm); asserts
    ct_reference.py bench INDIR REPEATS     slices/s of the reference on one core

The reference calls the library functions named in the paper (OpenCV; scikit-image for labelling),
in the order DESIGN.md gives: square crop, cv2.adaptiveThreshold (MEAN_C, BINARY, 15599, -96),
largest 4-connected component (skimage.measure.label), cv2.floodFill from the border, invert, two
largest components, cv2.dilate 5x5 x3, cv2.erode 5x5 x2, cv2.morphologyEx CLOSE 10x10 x2,
cv2.medianBlur 21, mask multiply, cv2.resize INTER_LINEAR to 200x200.
"""
import os
import sys
import time

import numpy as np

try:
    import cv2
except ImportError:  # the integration test skips (77) without OpenCV
    sys.stderr.write("SKIPPED: python3-opencv (cv2) is not installed\n")
    sys.exit(77)
from skimage import measure

OUT = 200
LUNG_CENTER, LUNG_WIDTH = -600.0, 1500.0


# ---- PGM ------------------------------------------------------------------------------------------

def pgm_write(path, img):
    img = np.ascontiguousarray(img, dtype=np.uint8)
    with open(path, "wb") as f:
        f.write(b"P5\n%d %d\n255\n" % (img.shape[1], img.shape[0]))
        f.write(img.tobytes())


def pgm_read(path):
    with open(path, "rb") as f:
        data = f.read()
    # header: P5 <ws> w <ws> h <ws> 255 <one ws>
    fields, pos = [], 0
    while len(fields) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        start = pos
        while not data[pos:pos + 1].isspace():
            pos += 1
        fields.append(data[start:pos])
    pos += 1
    assert fields[0] == b"P5" and fields[3] == b"255", path
    w, h = int(fields[1]), int(fields[2])
    return np.frombuffer(data, dtype=np.uint8, count=w * h, offset=pos).reshape(h, w).copy()


# ---- test slices ----------------------------------------------------------------------------------

def window_u8(hu, center=LUNG_CENTER, width=LUNG_WIDTH):
    """dcm_window_u8's formula: round(255 * clamp((hu - (c - w/2)) / w, 0, 1))."""
    t = np.clip((hu - (center - width / 2.0)) / width, 0.0, 1.0)
    return np.rint(255.0 * t).astype(np.uint8)


def _ellipse(hu, cx, cy, ax, ay, value, where=None):
    """Set hu to value on the ellipse ((x-cx)/ax)^2 + ((y-cy)/ay)^2 <= 1 (within where, if given),
    working on its bounding box only."""
    h, w = hu.shape
    x0, x1 = max(int(np.floor(cx - ax)), 0), min(int(np.ceil(cx + ax)) + 1, w)
    y0, y1 = max(int(np.floor(cy - ay)), 0), min(int(np.ceil(cy + ay)) + 1, h)
    if x0 >= x1 or y0 >= y1:
        return np.zeros((0, 0), bool), (slice(0, 0), slice(0, 0))
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    m = ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2 <= 1
    box = (slice(y0, y1), slice(x0, x1))
    if where is not None:
        m &= where[box]
    hu[box][m] = value
    return m, box


def phantom(rng, h, w):
    """A chest-like slice in HU: air, an elliptic body of soft tissue (with a fat layer), two dark
    lung ellipses (with a few brighter ground-glass blobs and vessels), an airway, a spine and ribs
    as bright dots, Gaussian noise; sometimes the scanner's circular field of view (-2048 outside)."""
    s = min(h, w)
    cy = h / 2 + rng.uniform(-0.03, 0.03) * s
    cx = w / 2 + rng.uniform(-0.03, 0.03) * s
    hu = np.full((h, w), -1000.0)
    if rng.random() < 0.3:
        yy, xx = np.mgrid[0:h, 0:w]
        hu[(xx - w / 2) ** 2 + (yy - h / 2) ** 2 > (0.5 * s) ** 2] = -2048.0
    ax, ay = s * rng.uniform(0.36, 0.45), s * rng.uniform(0.26, 0.33)
    _ellipse(hu, cx, cy, ax, ay, rng.uniform(-110, -70))                          # fat
    _ellipse(hu, cx, cy, ax * 0.938, ay * 0.938, rng.uniform(20, 60))             # soft tissue
    for side in (-1, 1):
        lx = cx + side * ax * rng.uniform(0.42, 0.5)
        ly = cy + rng.uniform(-0.05, 0.05) * ay
        la, lb = ax * rng.uniform(0.28, 0.36), ay * rng.uniform(0.55, 0.72)
        lung_value = rng.uniform(-880, -800)
        lung = np.zeros((h, w), bool)
        m, box = _ellipse(hu, lx, ly, la, lb, lung_value)
        lung[box] = m
        for _ in range(rng.integers(0, 4)):              # ground-glass / consolidation blobs
            br = s * rng.uniform(0.01, 0.04)
            _ellipse(hu, lx + rng.uniform(-0.6, 0.6) * la, ly + rng.uniform(-0.6, 0.6) * lb, br, br,
                     rng.uniform(-700, -100), lung)
        for _ in range(rng.integers(3, 10)):             # vessels
            vr = s * rng.uniform(0.003, 0.008)
            _ellipse(hu, lx + rng.uniform(-0.8, 0.8) * la, ly + rng.uniform(-0.8, 0.8) * lb, vr, vr, 40, lung)
    tr = s * 0.02                                        # trachea / airway
    _ellipse(hu, cx, cy - 0.45 * ay, tr, tr, -1000)
    sr = s * 0.045                                       # spine
    _ellipse(hu, cx, cy + 0.72 * ay, sr, sr, 700)
    for _ in range(rng.integers(8, 18)):                 # ribs
        t = rng.uniform(0, 2 * np.pi)
        r = s * rng.uniform(0.008, 0.016)
        _ellipse(hu, cx + 0.82 * ax * np.cos(t), cy + 0.82 * ay * np.sin(t), r, r, rng.uniform(400, 900))
    hu += rng.normal(0, rng.uniform(5, 30), hu.shape)
    return hu


def gen(outdir, n):
    os.makedirs(outdir, exist_ok=True)
    rng = np.random.default_rng(20200101)
    sizes = []
    for i in range(n):
        if i % 10 == 7:
            sizes.append([(512, 600), (600, 512), (480, 512), (512, 385)][(i // 10) % 4])
        elif i % 10 in (0, 2, 5, 9):
            sizes.append((128, 128))
        else:
            sizes.append((512, 512))
    for i, (h, w) in enumerate(sizes):
        pgm_write(os.path.join(outdir, "ph%03d.pgm" % i), window_u8(phantom(rng, h, w)))
    dcm = os.path.join(os.environ.get("HUST19_SHARED", "/work/shared"), "data/dicom/CT_small.dcm")
    try:
        import pydicom
        d = pydicom.dcmread(dcm)
        hu = d.pixel_array.astype(np.float64) * float(getattr(d, "RescaleSlope", 1)) + \
            float(getattr(d, "RescaleIntercept", 0))
        pgm_write(os.path.join(outdir, "ct_small.pgm"), window_u8(hu))
    except (ImportError, OSError) as e:
        sys.stderr.write("note: no real slice (%s)\n" % e)


# ---- the reference pipeline -----------------------------------------------------------------------

def square_crop(img):
    h, w = img.shape
    s = min(h, w)
    y0, x0 = (h - s) // 2, (w - s) // 2
    return np.ascontiguousarray(img[y0:y0 + s, x0:x0 + s])


def keep_largest(binary, k):
    """The k largest 4-connected components (skimage.measure.label, connectivity=1) as 0/255;
    equal areas: the component whose first pixel comes first in raster order."""
    lab = measure.label(binary, connectivity=1)
    labels, first, area = np.unique(lab.ravel(), return_index=True, return_counts=True)
    fg = labels != 0
    labels, first, area = labels[fg], first[fg], area[fg]
    order = np.lexsort((first, -area))[:k]
    return np.where(np.isin(lab, labels[order]), 255, 0).astype(np.uint8)


def fill_border(img):
    """cv2.floodFill (4-connected, newVal 255) from every border pixel that is still 0."""
    img = img.copy()
    h, w = img.shape
    mask = np.zeros((h + 2, w + 2), np.uint8)
    border = [(x, 0) for x in range(w)] + [(x, h - 1) for x in range(w)] + \
             [(0, y) for y in range(h)] + [(w - 1, y) for y in range(h)]
    for (x, y) in border:
        if img[y, x] == 0:
            cv2.floodFill(img, mask, (x, y), 255, flags=4)
    return img


def threshold(crop):
    return cv2.adaptiveThreshold(crop, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 15599, -96)


def reference(img):
    """Returns (threshold, mask, out) as the C code's .thr / .mask / .out images."""
    crop = square_crop(img)
    thr = threshold(crop)
    body = keep_largest(thr > 0, 1)
    filled = fill_border(body)
    lungs = keep_largest((255 - filled) > 0, 2)
    m = cv2.dilate(lungs, np.ones((5, 5), np.uint8), iterations=3)
    m = cv2.erode(m, np.ones((5, 5), np.uint8), iterations=2)
    m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, np.ones((10, 10), np.uint8), iterations=2)
    m = cv2.medianBlur(m, 21)
    masked = cv2.bitwise_and(crop, crop, mask=m)
    out = cv2.resize(masked, (OUT, OUT), interpolation=cv2.INTER_LINEAR)
    return thr, m, out


def dice(a, b):
    a, b = a > 0, b > 0
    s = int(a.sum()) + int(b.sum())
    return 1.0 if s == 0 else 2.0 * int((a & b).sum()) / s


def names_in(d):
    return sorted(f[:-4] for f in os.listdir(d) if f.endswith(".pgm"))


def compare(indir, cdir):
    cv2.setNumThreads(1)
    names = names_in(indir)
    assert len(names) >= 100, "need at least 100 slices, got %d" % len(names)
    dices, thr_exact, mask_exact, out_exact, out_maxdiff = [], 0, 0, 0, 0
    for nm in names:
        img = pgm_read(os.path.join(indir, nm + ".pgm"))
        thr, mask, out = reference(img)
        cthr = pgm_read(os.path.join(cdir, nm + ".thr.pgm"))
        cmask = pgm_read(os.path.join(cdir, nm + ".mask.pgm"))
        cout = pgm_read(os.path.join(cdir, nm + ".out.pgm"))
        assert cthr.shape == thr.shape and cmask.shape == mask.shape and cout.shape == out.shape, nm
        d = dice(mask, cmask)
        dices.append(d)
        thr_exact += np.array_equal(thr, cthr)
        mask_exact += np.array_equal(mask, cmask)
        out_exact += np.array_equal(out, cout)
        out_maxdiff = max(out_maxdiff, int(np.abs(out.astype(int) - cout.astype(int)).max()))
        if d < 0.98 or not np.array_equal(thr, cthr):
            print("  %s: dice %.4f, threshold pixels differing %d" % (nm, d, int((thr != cthr).sum())))
    n = len(names)
    print("slices %d" % n)
    print("threshold exact-match fraction %.4f (%d/%d)" % (thr_exact / n, thr_exact, n))
    print("mask Dice mean %.6f min %.6f; masks identical %d/%d" % (np.mean(dices), min(dices), mask_exact, n))
    print("output 200x200 identical %d/%d, max |diff| %d" % (out_exact, n, out_maxdiff))
    # Tolerances: the brief's mean Dice >= 0.98 against OpenCV/scikit-image; the threshold is claimed
    # bit-exact (same box-filter rounding as OpenCV's double path), so every slice must match.
    ok = np.mean(dices) >= 0.98 and thr_exact == n
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def bench(indir, repeats):
    """Rates per CPU second (the one-core figure: cv2 runs single-threaded) and per wall second."""
    cv2.setNumThreads(1)
    imgs = [pgm_read(os.path.join(indir, nm + ".pgm")) for nm in names_in(indir)]
    reference(imgs[0])
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        for im in imgs:
            reference(im)
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    k = repeats * len(imgs)
    print("ref_slices_per_s %.2f cpu %.2f wall (%d slices, %.3f s cpu, %.3f s wall)" % (k / dc, k / dt, k, dc, dt))
    return 0


def main(argv):
    if len(argv) >= 3 and argv[1] == "gen":
        gen(argv[2], int(argv[3]) if len(argv) > 3 else 100)
        return 0
    if len(argv) == 4 and argv[1] == "compare":
        return compare(argv[2], argv[3])
    if len(argv) == 4 and argv[1] == "bench":
        return bench(argv[2], int(argv[3]))
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
