#!/usr/bin/env python3
"""Check a synthetic archive written by `hust19 synth` with pydicom (an independent DICOM reader).

usage: synth_check.py OUT_DIR

Asserts, for every series in manifest.csv: the file count matches n_slices; each file is CT Image
Storage with 16-bit signed pixels, RescaleIntercept -1024 / slope 1, orientation 1\\0\\0\\0\\1\\0,
the fake PHI (SYNTH^PATIENT<id>, P<id>, OtherPatientIDsSequence, a private tag) and UIDs
under 2.25; z of ImagePositionPatient decreases by SliceThickness (tolerance 1e-3 mm: DS strings
carry ~16 significant digits); HU within [-1024, 3071]; lung-window HU statistics per label of
slice_labels.csv: NiCT slices have (almost) no lung-density (-900..-750 HU) pixels in the body, pCT/nCT have many.
"""
import csv
import os
import sys

import numpy as np
import pydicom


def main(out):
    man = list(csv.DictReader(open(os.path.join(out, "manifest.csv"))))
    labels = {}
    for r in csv.DictReader(open(os.path.join(out, "slice_labels.csv"))):
        labels[r["file"]] = r["label"]
    assert labels, "slice_labels.csv is empty"
    checked = 0
    for m in man:
        n = int(m["n_slices"])
        if n == 0:
            continue
        d = os.path.join(out, m["series"])
        files = sorted(f for f in os.listdir(d) if f.endswith(".dcm"))
        assert len(files) == n, f"{d}: {len(files)} files, manifest says {n}"
        zs = []
        study = None
        for k, f in enumerate(files):
            ds = pydicom.dcmread(os.path.join(d, f))
            assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2", ds.SOPClassUID
            assert ds.Modality == "CT"
            assert ds.BitsAllocated == 16 and ds.PixelRepresentation == 1
            assert float(ds.RescaleIntercept) == -1024 and float(ds.RescaleSlope) == 1
            assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
            pid = int(m["patient_id"])
            assert str(ds.PatientName) == f"SYNTH^PATIENT{pid:04d}", ds.PatientName
            assert ds.PatientID == f"P{pid:04d}"
            assert ds.OtherPatientIDsSequence[0].PatientID[:2] in ("UH", "LH")
            assert ds[0x0009, 0x1001].value == str(ds.PatientName)
            assert ds.InstitutionName == m["hospital"]
            assert ds.InstanceNumber == k + 1
            for uid in (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID):
                assert uid.startswith("2.25.") and len(uid) <= 64, uid
            study = study or ds.StudyInstanceUID
            assert ds.StudyInstanceUID == study
            hu = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
            assert hu.min() >= -1024 and hu.max() <= 3071
            zs.append(float(ds.ImagePositionPatient[2]))
            rel = os.path.join(m["series"], f)
            if rel in labels:
                # lung-density pixels (-900..-750 HU) inside the body: central 60% of the image
                h, w = hu.shape
                c = hu[int(0.2 * h):int(0.8 * h), int(0.2 * w):int(0.8 * w)]
                frac = float(((c > -900) & (c < -750)).mean())
                if labels[rel] == "NiCT":
                    assert frac < 0.03, f"{rel}: NiCT with {frac:.3f} lung-density pixels"
                elif k == n // 2:
                    assert frac > 0.08, f"{rel}: {labels[rel]} mid-series with only {frac:.3f} lung pixels"
            checked += 1
        dz = np.diff(zs)
        assert np.allclose(dz, -float(ds.SliceThickness), atol=1e-3), f"{d}: z steps {dz[:3]}"
        if m["labelled"] == "1":
            assert labels[os.path.join(m["series"], files[0])] == "NiCT"
            assert labels[os.path.join(m["series"], files[-1])] == "NiCT"
    print(f"synth_check: {checked} files of {len(man)} patients OK")


if __name__ == "__main__":
    main(sys.argv[1])
