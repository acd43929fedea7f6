#!/usr/bin/python3
"""Check configs/cf_catalog.yaml against the iCTCF clinical-feature table.

What it verifies (exit 1 on any failure, 0 otherwise):
  * schema: exactly the keys the lead's strict loader accepts (see docs/cf_catalog.md), version 1,
    known categories and kinds, numeric features without levels/other, binary features with
    levels (values 0/1) and optional `other` (0/1), `normal` a pair of numbers with min < max;
  * coverage: every column header of the CSV, except the id column and the excluded
    label/label-leaking columns, has exactly one entry, and no entry names a column not in the CSV;
  * abbreviations unique;
  * every non-empty cell parses: numeric cells as `x`, `x ↑`, `x ↓`, `<x`, `>x` (optionally followed by
    the feature's unit, as in `38.5°C`); binary cells map through `levels` or `other`;
  * agreement with the hospitals' own flags: a value printed with ↑ lies above that hospital's upper
    reference limit, ↓ below its lower limit, an unflagged value inside. For every numeric feature
    with a catalog range, the fraction of flagged/unflagged values the catalog range classifies the
    same way (below min / inside [min, max] / above max) must be at least
    min(--min-agreement, best - --slack), where `best` is the highest agreement any single range can
    reach on these data (it is lower than 1 where the two hospitals' ranges differ). Censored cells
    (`<x`, `>x`) carry no flag and are left out of the agreement.
  * a feature whose cells carry at least --min-flags (5) flags must have a `normal` range; the
    agreement threshold applies to those features only (a handful of values says little).

It also prints, per feature, the bracket that each hospital's flags imply for its limits
(max ↓ < lower <= min unflagged; max unflagged <= upper < min ↑) and the agreement, as a Markdown
table (--table FILE writes the same table to a file; docs/cf_catalog.md quotes it).

Usage: cf_catalog_check.py --csv raw_cf_data.csv --catalog configs/cf_catalog.yaml [--table out.md]
"""
import argparse
import bisect
import csv
import functools
import math
import re
import sys

try:
    import yaml  # Debian: python3-yaml
except ImportError:  # pragma: no cover - environment problem, reported clearly
    sys.stderr.write("cf_catalog_check: python3-yaml is missing (apt-get install python3-yaml)\n")
    sys.exit(2)
# The C-accelerated loader where python3-yaml was built with libyaml (Debian's is); same semantics.
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class SafeLoader(_BaseLoader):
    """Safe loader that rejects a key repeated in one mapping, as the strict C loader (cfg.h) does;
    PyYAML would silently keep the last value."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, "duplicate key %r" % (key,), key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# Columns that are labels (morbidity, mortality), label-leaking diagnostic results (SARS-CoV-2 RNA,
# CT verdict) or a site identifier (Hospital): never clinical-feature inputs.
EXCLUDED = {"Hospital", "SARS-CoV-2 nucleic acids", "Computed tomography (CT)",
            "Morbidity outcome", "Mortality outcome"}
CATEGORIES = {"basic", "routine_blood", "inflammation", "coagulation", "biochemical",
              "immune_cell", "cytokine", "autoimmune", "urine"}
KINDS = {"numeric", "binary"}
TOP_KEYS = {"version", "features"}
REQUIRED = {"column", "abbr", "name", "category", "kind", "unit"}
OPTIONAL = {"normal", "levels", "other"}
ABBR_RE = re.compile(r"^[A-Z0-9][A-Za-z0-9+\-/_.]*$")
# A laboratory cell: optional censoring sign, a non-negative decimal, optional flag.
CELL_RE = re.compile(r"^([<>])?([0-9]+(?:\.[0-9]+)?)(?: ([\u2191\u2193]))?$")
UP, DOWN = "\u2191", "\u2193"


class Errors:
    def __init__(self):
        self.items = []

    def add(self, msg):
        self.items.append(msg)


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_schema(doc, err):
    """Validate the catalog structure; return the list of feature dicts that are well-formed."""
    if not isinstance(doc, dict):
        err.add("catalog: top level is not a mapping")
        return []
    for k in doc:
        if k not in TOP_KEYS:
            err.add("catalog: unknown top-level key %r" % (k,))
    if doc.get("version") != 1:
        err.add("catalog: version must be 1, got %r" % (doc.get("version"),))
    feats = doc.get("features")
    if not isinstance(feats, list) or not feats:
        err.add("catalog: features must be a non-empty list")
        return []
    good = []
    for i, f in enumerate(feats):
        where = "catalog: features[%d]" % i
        if not isinstance(f, dict):
            err.add(where + " is not a mapping")
            continue
        where += " (%s)" % f.get("column", "?")
        ok = True
        for k in f:
            if k not in REQUIRED and k not in OPTIONAL:
                err.add("%s: unknown key %r" % (where, k))
                ok = False
        for k in REQUIRED:
            if k not in f:
                err.add("%s: missing key %r" % (where, k))
                ok = False
            elif not isinstance(f[k], str):
                err.add("%s: %s must be a string" % (where, k))
                ok = False
        if not ok:
            continue
        if not f["column"] or not f["name"]:
            err.add(where + ": empty column or name")
            ok = False
        if not ABBR_RE.match(f["abbr"]):
            err.add("%s: abbr %r is not a short upper-case token" % (where, f["abbr"]))
            ok = False
        if f["category"] not in CATEGORIES:
            err.add("%s: unknown category %r" % (where, f["category"]))
            ok = False
        if f["kind"] not in KINDS:
            err.add("%s: unknown kind %r" % (where, f["kind"]))
            ok = False
        elif f["kind"] == "numeric":
            for k in ("levels", "other"):
                if k in f:
                    err.add("%s: %r is allowed only for kind binary" % (where, k))
                    ok = False
        else:
            if "normal" in f:
                err.add(where + ": normal is allowed only for kind numeric")
                ok = False
            lv = f.get("levels")
            if not isinstance(lv, dict) or not lv:
                err.add(where + ": binary feature needs a non-empty levels mapping")
                ok = False
            else:
                for t, c in lv.items():
                    if not isinstance(t, str) or not t or c not in (0, 1) or isinstance(c, bool):
                        err.add("%s: levels entry %r: %r must map text to 0 or 1" % (where, t, c))
                        ok = False
            if "other" in f and (f["other"] not in (0, 1) or isinstance(f["other"], bool)):
                err.add("%s: other must be 0 or 1, got %r" % (where, f["other"]))
                ok = False
        if "normal" in f:
            n = f["normal"]
            if not (isinstance(n, list) and len(n) == 2 and all(is_number(v) for v in n)):
                err.add("%s: normal must be [min, max] numbers, got %r" % (where, n))
                ok = False
            elif not n[0] < n[1]:
                err.add("%s: normal min %r is not < max %r" % (where, n[0], n[1]))
                ok = False
        if ok:
            good.append(f)
    # Uniqueness over all entries that have the key, even malformed ones.
    for key in ("abbr", "column"):
        seen = {}
        for f in feats:
            if isinstance(f, dict) and isinstance(f.get(key), str):
                seen.setdefault(f[key], 0)
                seen[f[key]] += 1
        for v, c in seen.items():
            if c > 1:
                err.add("catalog: %s %r appears %d times" % (key, v, c))
    return good


_TABLES = {}


def read_table(path):
    """(header, rows) of the CSV; cached, so a caller checking many catalogs in one process (the
    mutation test) reads the table once. The rows are never modified."""
    if path not in _TABLES:
        with open(path, encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
        _TABLES[path] = (rows[0], rows[1:])
    return _TABLES[path]


@functools.lru_cache(maxsize=None)
def parse_cell(text, unit):
    """Return (value, flag, censored) for a laboratory cell, or None if it does not parse.
    flag is '+', '-' or ''; censored is '<', '>' or ''."""
    t = text.strip()
    if unit and t.endswith(unit):
        t = t[: -len(unit)].strip()
    m = CELL_RE.match(t)
    if not m:
        return None
    flag = {UP: "+", DOWN: "-"}.get(m.group(3), "")
    return float(m.group(2)), flag, m.group(1) or ""


def classify(x, lo, hi):
    return "-" if x < lo else "+" if x > hi else ""


def best_agreement(obs):
    """Highest agreement any range [lo, hi] can reach on (value, flag) pairs, with a range reaching it.

    Errors split exactly into a lower part f(lo) = #(↓ with x >= lo) + #(unflagged with x < lo) and an
    upper part g(hi) = #(unflagged with x > hi) + #(↑ with x <= hi), so each is minimised on its own
    over thresholds at the observed values (any threshold between two consecutive values counts the
    same as one at the upper of them for lo, at the lower of them for hi). Returns
    (agreement, lo, hi); lo is the smallest minimiser, hi the largest."""
    if not obs:
        return None
    down = sorted(x for x, fl in obs if fl == "-")
    inside = sorted(x for x, fl in obs if fl == "")
    up = sorted(x for x, fl in obs if fl == "+")
    xs = sorted({x for x, _ in obs})
    f, lo = min((len(down) - bisect.bisect_left(down, t) + bisect.bisect_left(inside, t), t)
                for t in xs + [math.inf])
    g, hi = min((len(inside) - bisect.bisect_right(inside, t) + bisect.bisect_right(up, t), -t)
                for t in [-math.inf] + xs)
    return 1.0 - (f + g) / len(obs), lo, -hi


def bracket(obs):
    """Limits implied by one hospital's flags: (lower_lo, lower_hi, upper_lo, upper_hi) with
    lower in (max ↓, min unflagged] and upper in [max unflagged, min ↑); None where unknown."""
    down = [x for x, fl in obs if fl == "-"]
    inside = [x for x, fl in obs if fl == ""]
    up = [x for x, fl in obs if fl == "+"]
    return (max(down) if down else None, min(inside) if inside else None,
            max(inside) if inside else None, min(up) if up else None)


def fmt(v):
    return "" if v is None else ("%g" % v)


def fmt_bracket(b):
    dlo, dhi, ulo, uhi = b
    lower = "(%s, %s]" % (fmt(dlo) or "?", fmt(dhi) or "?") if dlo is not None else \
        ("≤%s" % fmt(dhi) if dhi is not None else "?")
    upper = "[%s, %s)" % (fmt(ulo) or "?", fmt(uhi) or "?") if uhi is not None else \
        ("≥%s" % fmt(ulo) if ulo is not None else "?")
    return "lo %s hi %s" % (lower, upper)


def short(hospital):
    return hospital.replace("HUST-", "").replace(" Hospital", "")


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--csv", required=True)
    ap.add_argument("--catalog", required=True)
    ap.add_argument("--table", help="also write the agreement table (Markdown) to this file")
    ap.add_argument("--min-agreement", type=float, default=0.95)
    ap.add_argument("--slack", type=float, default=0.02,
                    help="allowed shortfall from the best single-range agreement")
    ap.add_argument("--min-flags", type=int, default=5,
                    help="features with at least this many flagged cells must have a range, and "
                         "only those are held to the agreement threshold")
    ap.add_argument("--suggest", action="store_true",
                    help="print to stderr a best single range where the catalog's is below it")
    args = ap.parse_args(argv)
    err = Errors()

    with open(args.catalog, encoding="utf-8") as fh:
        try:
            doc = yaml.load(fh, Loader=SafeLoader)
        except yaml.YAMLError as e:
            print("FAIL catalog: not valid YAML: %s" % e)
            return 1
    header, body = read_table(args.csv)
    if header[0] != "" or "Hospital" not in header:
        print("FAIL csv: expected an unnamed id column then Hospital, got %r" % header[:2])
        return 1
    col = {h: i for i, h in enumerate(header)}
    hosp_i = col["Hospital"]
    # Larger hospital first (HUST-Union), so the table reads in order of weight.
    counts = {}
    for r in body:
        counts[r[hosp_i]] = counts.get(r[hosp_i], 0) + 1
    hospitals = sorted(counts, key=lambda k: (-counts[k], k))

    feats = check_schema(doc, err)
    # Coverage: every non-excluded header exactly once (duplicates were reported above).
    wanted = [h for h in header[1:] if h not in EXCLUDED]
    have = {f["column"] for f in feats}
    listed = {f.get("column") for f in (doc.get("features") or []) if isinstance(f, dict)} \
        if isinstance(doc, dict) else set()
    for h in wanted:
        if h not in listed:
            err.add("coverage: CSV column %r has no catalog entry" % h)
    for h in listed:
        if h in EXCLUDED:
            err.add("coverage: %r is a label or label-leaking column and must not be a feature" % h)
        elif h not in col:
            err.add("coverage: catalog column %r is not in the CSV header" % (h,))

    table = ["| column | abbr | category | catalog normal | n (flagged) | "
             + " | ".join("bracket %s" % short(h) for h in hospitals)
             + " | agreement | " + " | ".join("agr. %s" % short(h) for h in hospitals)
             + " | best possible |",
             "| --- | --- | --- | --- | --- | " + " | ".join("---" for _ in hospitals)
             + " | --- | " + " | ".join("---" for _ in hospitals) + " | --- |"]
    n_checked = 0
    worst = []
    for f in feats:
        h = f["column"]
        if h not in col or h in EXCLUDED:
            continue
        ci = col[h]
        cells = [(r[hosp_i], r[ci]) for r in body if r[ci].strip()]
        if f["kind"] == "binary":
            lv, other = f["levels"], f.get("other")
            bad = sorted({t for _, t in cells if t not in lv and other is None})
            if bad:
                err.add("%s: cells %r match no level and there is no `other`" % (h, bad[:5]))
            unused = [t for t in lv if t not in {c for _, c in cells}]
            if unused:
                err.add("%s: levels %r never occur in the table" % (h, unused))
            codes = {lv[t] if t in lv else other for _, t in cells} - {None}
            if codes != {0, 1}:
                err.add("%s: binary coding yields %r, expected both 0 and 1" % (h, sorted(codes)))
            continue
        per = {hh: [] for hh in hospitals}
        for hh, t in cells:
            p = parse_cell(t, f["unit"])
            if p is None:
                err.add("%s: cell %r does not parse as a number" % (h, t))
                continue
            x, flag, cens = p
            if not cens:
                per[hh].append((x, flag))
        obs = [o for hh in hospitals for o in per[hh]]
        nflag = sum(1 for _, fl in obs if fl)
        best, best_lo, best_hi = best_agreement(obs) if nflag else (None, None, None)
        agree = None
        agree_h = {hh: None for hh in hospitals}
        if "normal" in f:
            lo, hi = f["normal"]
            # Agreement only means something where the table flags this feature at all (Body
            # temperature, for instance, is never flagged, so "unflagged" there is not "normal").
            if nflag:
                agree = sum(1 for x, fl in obs if classify(x, lo, hi) == fl) / len(obs)
                for hh in hospitals:
                    if any(fl for _, fl in per[hh]):
                        agree_h[hh] = sum(1 for x, fl in per[hh]
                                          if classify(x, lo, hi) == fl) / len(per[hh])
            if args.suggest and nflag and agree < best:
                print("suggest %s: [%g, %g] reaches %.3f (catalog %.3f)"
                      % (h, best_lo, best_hi, best, agree), file=sys.stderr)
            # Fewer than --min-flags flags (a handful of values) make the fraction meaningless.
            if nflag >= args.min_flags:
                n_checked += 1
                need = min(args.min_agreement, best - args.slack)
                if agree < need - 1e-12:
                    err.add("%s: catalog range [%g, %g] agrees with the flags on %.3f of %d values, "
                            "need >= %.3f (best single range reaches %.3f)"
                            % (h, lo, hi, agree, len(obs), need, best))
                worst.append((agree, h))
        elif nflag >= args.min_flags:
            err.add("%s: %d flagged values but no normal range in the catalog" % (h, nflag))
        rng = "[%g, %g]" % tuple(f["normal"]) if "normal" in f else "—"
        pct = lambda v: "%.3f" % v if v is not None else "—"
        table.append("| %s | %s | %s | %s | %d (%d) | %s | %s | %s | %s |" % (
            h, f["abbr"], f["category"], rng, len(obs), nflag,
            " | ".join(fmt_bracket(bracket(per[hh])) if per[hh] else "—" for hh in hospitals),
            pct(agree), " | ".join(pct(agree_h[hh]) for hh in hospitals), pct(best)))

    print("\n".join(table))
    if args.table:
        with open(args.table, "w", encoding="utf-8") as fh:
            fh.write("\n".join(table) + "\n")
    worst.sort()
    print("\nfeatures in catalog: %d; numeric with flags and a range: %d" % (len(feats), n_checked))
    if worst:
        print("lowest agreements: " + ", ".join("%s %.3f" % (h, a) for a, h in worst[:5]))
    if err.items:
        for e in err.items:
            print("FAIL " + e)
        print("cf_catalog_check: %d failure(s)" % len(err.items))
        return 1
    print("cf_catalog_check: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
