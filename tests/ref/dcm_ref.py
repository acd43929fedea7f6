#!/usr/bin/env python3
"""dcm_ref.py — pydicom references for the DICOM tests (tests/unit/test_dcm_ref.c, test_dcm_deid.c).

  dcm_ref.py hu IN.dcm OUT.f32     HU = pixel_array * RescaleSlope + RescaleIntercept (pydicom),
                                   written as little-endian float32, row-major, rows*cols values
  dcm_ref.py j2k IN.dcm OUT.dcm    re-encode IN's pixels as a JPEG 2000 lossless codestream
                                   (OpenCV's OpenJPEG) in an encapsulated file with transfer
                                   syntax 1.2.840.10008.1.2.4.90, for the "unsupported" error test
  dcm_ref.py forge IN.dcm OUT.dcm UID
                                   copy IN with the meta header's TransferSyntaxUID set to UID
                                   (the data set stays Explicit VR Little Endian)
  dcm_ref.py pid IN.dcm            print PatientID, PatientIdentityRemoved, StudyInstanceUID
"""
import sys

import numpy as np
import pydicom


def hu(src, dst):
    ds = pydicom.dcmread(src)
    slope = float(getattr(ds, "RescaleSlope", 1.0))
    icpt = float(getattr(ds, "RescaleIntercept", 0.0))
    a = ds.pixel_array.astype(np.float64) * slope + icpt
    a.astype("<f4").tofile(dst)


def jp2_codestream(b):
    """The contiguous codestream box ('jp2c') of a JP2 file (ISO/IEC 15444-1 Annex I): DICOM
    encapsulates the bare codestream, OpenCV writes the JP2 container."""
    i = 0
    while i + 8 <= len(b):
        n = int.from_bytes(b[i:i + 4], "big")
        typ = b[i + 4:i + 8]
        hdr = 8
        if n == 1:
            n = int.from_bytes(b[i + 8:i + 16], "big")
            hdr = 16
        elif n == 0:
            n = len(b) - i
        if typ == b"jp2c":
            cs = b[i + hdr:i + n]
            if cs[:2] != b"\xff\x4f":
                sys.exit("jp2c box does not start with SOC")
            return cs
        i += n
    sys.exit("no jp2c box in OpenCV's JPEG 2000 output")


def j2k(src, dst):
    import cv2
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEG2000Lossless

    ds = pydicom.dcmread(src)
    px = ds.pixel_array
    # OpenJPEG takes unsigned 16-bit; shift signed values into range (the test checks the error,
    # not the decoded values).
    u16 = (px.astype(np.int32) - int(px.min())).astype(np.uint16)
    ok, buf = cv2.imencode(".jp2", u16)
    if not ok:
        sys.exit("OpenCV could not encode JPEG 2000")
    ds.PixelData = encapsulate([jp2_codestream(buf.tobytes())])
    ds["PixelData"].is_undefined_length = True
    ds["PixelData"].VR = "OB"
    ds.PixelRepresentation = 0
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
    ds.is_implicit_VR = False
    ds.is_little_endian = True
    ds.save_as(dst, write_like_original=False)


def forge(src, dst, uid):
    """Rewrite the meta header's (0002,0010) in the raw bytes (pydicom refuses to write a
    mismatching transfer syntax) and fix the group length (0002,0000)."""
    b = open(src, "rb").read()
    assert b[128:132] == b"DICM", "needs a Part 10 file"
    glen_at = 132 + 8  # (0002,0000) UL 4 <value> right after the magic
    assert b[132:136] == b"\x02\x00\x00\x00" and b[136:138] == b"UL"
    glen = int.from_bytes(b[glen_at:glen_at + 4], "little")
    meta_end = glen_at + 4 + glen
    i = glen_at + 4
    out = bytearray(b[:i])
    while i < meta_end:
        tag, vr = b[i:i + 4], b[i + 4:i + 6]
        if vr in (b"OB", b"OW", b"UN", b"SQ", b"UT"):
            n, hdr = int.from_bytes(b[i + 8:i + 12], "little"), 12
        else:
            n, hdr = int.from_bytes(b[i + 6:i + 8], "little"), 8
        if tag == b"\x02\x00\x10\x00":
            v = uid.encode() + (b"\0" if len(uid) % 2 else b"")
            out += tag + b"UI" + len(v).to_bytes(2, "little") + v
        else:
            out += b[i:i + hdr + n]
        i += hdr + n
    new_glen = len(out) - (glen_at + 4)
    out[glen_at:glen_at + 4] = new_glen.to_bytes(4, "little")
    out += b[meta_end:]
    open(dst, "wb").write(bytes(out))


def pid(src):
    ds = pydicom.dcmread(src)
    print(ds.get("PatientID", ""), ds.get("PatientIdentityRemoved", ""), ds.get("StudyInstanceUID", ""))


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "hu" and len(sys.argv) == 4:
        hu(sys.argv[2], sys.argv[3])
    elif cmd == "j2k" and len(sys.argv) == 4:
        j2k(sys.argv[2], sys.argv[3])
    elif cmd == "forge" and len(sys.argv) == 5:
        forge(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "pid" and len(sys.argv) == 3:
        pid(sys.argv[2])
    else:
        sys.exit(__doc__)
