"""The model against Bandit on held-out REAL code, measured the way a user meets it:

- Bandit's ground: held-out corpus packages, Bandit's high-signal findings (after the context rules); a finding
  counts as found when the model fires the same CWE family in that chunk and points within one line of it.
  The same chunks cut into fragments that do not parse: what a diff hunk looks like; Bandit reads nothing there.
- Real fixes: held-out repositories of the advisory and realfix pairs; the share of pairs whose vulnerable
  version is flagged with its label and whose fix is not.
- Quiet: ordinary application code of held-out packages (files as `hunkguard check` reads them); findings per
  1,000 lines for the model and for Bandit at severity >= medium, and the most confident findings for reading.
- Context: the hand-checked sample of context-dependent Bandit findings (training/corpus/context_audit.tsv).

Every figure uses the thresholds the model ships with; where the validation split also chose them, the
pipeline reports the cross-fitted figures beside.
"""
from __future__ import annotations

import ast
import csv
import logging
import random
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from .data import Example
from .evaluate import LINE_SLACK, bandit_on_codes, score_codes
from .pycode import Lines, fragment

log = logging.getLogger(__name__)

FAMILIES = [{"CWE-327", "CWE-328"}, {"CWE-295", "CWE-319"}, {"CWE-89", "CWE-943"}]
AUDIT = Path(__file__).resolve().parents[1] / "corpus" / "context_audit.tsv"


def family(label: str) -> frozenset:
    for f in FAMILIES:
        if label in f:
            return frozenset(f)
    return frozenset([label])


def flagged_lines(r: dict, ci: int, line_th: float) -> list[int]:
    """The runtime's line rule: lines over the line threshold, else the label's top line (0-based)."""
    ls = r["line_scores"][:, ci]
    fl = [i for i in range(len(ls)) if ls[i] >= line_th]
    return fl or [int(np.argmax(ls))]


def fires(r: dict, th: np.ndarray, line_alone: float | None = None) -> np.ndarray:
    """Per label, whether it fires on this reading: its window score at its threshold, or, with `line_alone`,
    one line's token score at that (the runtime's `ScoreInfo::line_confidence`)."""
    on = r["seq"] >= th
    if line_alone is not None and len(r["line_scores"]):
        on = on | (r["line_scores"].max(axis=0) >= line_alone)
    return on


def findings_of(r: dict, th: np.ndarray, labels: list[str], line_th: float,
                line_alone: float | None = None) -> list[tuple[str, list[int], float]]:
    """(label, flagged 0-based lines, score) for every label that fires: the window's score, or the line's
    token score where only a line fired it."""
    out = []
    for ci in np.nonzero(fires(r, th, line_alone))[0]:
        score = r["seq"][ci] if r["seq"][ci] >= th[ci] else r["line_scores"][:, ci].max()
        out.append((labels[ci], flagged_lines(r, int(ci), line_th), float(score)))
    return out


def distinct_key(e: Example, i: int, label: str) -> tuple:
    """One labelled line of one package, by its text: a package that ships the same line in 25 example configs
    (flask-appbuilder's SECRET_KEY) holds one finding a reviewer reads, not 25."""
    return e.meta.get("package") or e.group, e.lines.text[i].strip(), label


def distinct_recall(copies: dict) -> dict:
    """Recall with each distinct labelled line weighted once (the share of its copies found)."""
    if not copies:
        return {"distinct": 0, "recall_distinct": None}
    return {"distinct": len(copies),
            "recall_distinct": round(sum(sum(v) / len(v) for v in copies.values()) / len(copies), 4)}


def ground_recall(results: list[dict], exs: list[Example], th_rows: list[np.ndarray], labels: list[str],
                  line_th: float, line_alone: float | None = None) -> dict:
    """Per labelled (line, label) of each example: found if a label of the same family fires and one of its
    flagged lines is within one line."""
    found = total = 0
    fam_right = tp_findings = line_hit = 0
    per = Counter()
    per_found = Counter()
    copies = defaultdict(list)
    missed = []
    for r, e, th in zip(results, exs, th_rows):
        fs = findings_of(r, th, labels, line_th, line_alone)
        for i, ls in enumerate(e.lines.labels):
            for lab in ls:
                total += 1
                per[lab] += 1
                ok = any(family(lab) & family(l) and any(abs(j - i) <= LINE_SLACK for j in lines) for l, lines, _ in fs)
                found += ok
                per_found[lab] += ok
                if not ok:
                    missed.append(f"{e.uid}:{i + 1}:{lab}")
                copies[distinct_key(e, i, lab)].append(ok)
        if fs and e.positive:
            tp_findings += 1
            top = max(fs, key=lambda f: f[2] / max(th[labels.index(f[0])], 1e-6))
            fam_right += any(family(top[0]) & family(l) for l in e.labels)
            labelled = {i for i, ls in enumerate(e.lines.labels) if ls}
            line_hit += any(j in labelled for j in top[1]) if labelled else 0
    return {"findings": total, "found": found, "recall": round(found / total, 4) if total else None,
            **distinct_recall(copies),
            "per_label": {l: {"n": per[l], "found": per_found[l]} for l in sorted(per)},
            # which ones, so that two runs are compared case by case (`run.py --compare`)
            "missed": sorted(missed),
            "cwe_family_right_on_tp": round(fam_right / tp_findings, 4) if tp_findings else None,
            "flagged_line_labelled_on_tp": round(line_hit / tp_findings, 4) if tp_findings else None}


def runtime_view(code: str) -> str:
    """The code as the runtime gives it to the model: comments and docstrings gone (`strip_lines`)."""
    from .pycode import strip_lines

    kept = [t for t in strip_lines(code.split("\n")) if t is not None]
    return "\n".join(kept) if any(t.strip() for t in kept) else code


def parses(code: str) -> bool:
    """Whether Bandit could read `code`: parsed as it stands, not dedented first as `pycode._parse_dedented` does
    (an indented method body is a fragment to Bandit)."""
    try:
        ast.parse(code)
        return True
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False


def unparsable_fragments(exs: list[Example], pool: list[Lines], seed: int) -> list[Example]:
    """Each positive cut like a diff hunk (from mid-function, with unrelated neighbours) until it no longer
    parses; the labels stay with their lines. Examples that keep parsing after a few tries are left out."""
    rng = random.Random(f"{seed}:fragments")
    out = []
    for e in exs:
        for _ in range(6):
            f = fragment(e.lines, rng, pool, p_context=0.6)
            if f.positive_lines() and not parses(f.code):
                out.append(Example(e.uid + "#frag", f, e.labels, e.origin, e.group, kind=e.kind, meta=e.meta))
                break
            # a hunk often opens inside a bracket or a block: cut a line that opens one
            if f.positive_lines() and len(f.text) > 1:
                g = Lines(list(f.text), list(f.labels), list(f.known))
                k = next((i for i, t in enumerate(g.text) if t.rstrip().endswith((":", "(", "[", "{", ","))
                          and not g.labels[i]), None)
                if k is not None:
                    g = g.keep([i for i in range(len(g.text)) if i != k])
                    if g.positive_lines() and not parses(g.code):
                        out.append(Example(e.uid + "#frag", g, e.labels, e.origin, e.group, kind=e.kind, meta=e.meta))
                        break
    return out


def bandit_findings_on_codes(codes: list[str], workdir: Path, min_severity: str = "MEDIUM") -> tuple[list[list[dict]], int]:
    """Bandit over each code as its own file: the raw findings per code at or above `min_severity`, and how
    many files Bandit could not parse."""
    rank = {"LOW": 0, "MEDIUM": 1, "HIGH": 2}
    per, errors, _ = bandit_on_codes(codes, workdir)
    return [[r for r in found if rank.get(r.get("issue_severity"), 0) >= rank[min_severity]] for found in per], errors


def fix_pairs(results: list[dict], exs: list[Example], th_rows: list[np.ndarray], labels: list[str],
              line_alone: float | None = None) -> dict:
    """Share of held-out real pairs whose vulnerable side is flagged with its label and whose fix is not."""
    li = {l: i for i, l in enumerate(labels)}
    by = defaultdict(dict)
    for r, e, th in zip(results, exs, th_rows):
        if e.origin in ("realfix", "advisory") and e.pair:
            by[e.pair]["vul" if e.positive else "fix"] = (r, e, th)
    n = ok = vul_flagged = fix_flagged = 0
    failed = []
    for pair, d in sorted(by.items()):
        if "vul" not in d or "fix" not in d:
            continue
        (rv, ev, tv), (rf, _, tf) = d["vul"], d["fix"]
        c = li[sorted(ev.labels)[0]]
        a, b = fires(rv, tv, line_alone)[c], fires(rf, tf, line_alone)[c]
        n += 1
        ok += bool(a and not b)
        if not (a and not b):
            failed.append(pair)
        vul_flagged += bool(a)
        fix_flagged += bool(b)
    return {"pairs": n, "vul_flagged_fix_not": round(ok / n, 4) if n else None,
            "vul_flagged": round(vul_flagged / n, 4) if n else None, "fix_flagged": round(fix_flagged / n, 4) if n else None,
            "failed": failed}


def paired_difference(missed_a: list[str], missed_b: list[str], n: int) -> dict:
    """Two models on the same n held-out cases, case by case: how many only A gets right, how many only B, and
    the exact two-sided sign (McNemar) test of those discordant cases. A difference in recall that rests on a
    handful of discordant cases is chance; this says how likely."""
    from scipy.stats import binomtest

    ma, mb = set(missed_a), set(missed_b)
    only_a, only_b = len(mb - ma), len(ma - mb)
    p = binomtest(only_a, only_a + only_b).pvalue if only_a + only_b else 1.0
    return {"n": n, "right_a": n - len(ma), "right_b": n - len(mb), "only_a": only_a, "only_b": only_b,
            "p_value": round(p, 4)}


def bandit_family_recall(preds: list[set], exs: list[Example]) -> dict:
    """Bandit's side of the ground: per labelled (line, label), whether Bandit reports that family anywhere in the
    example (run_bandit keeps no line, so this is generous to Bandit)."""
    total = found = 0
    copies = defaultdict(list)
    for p, e in zip(preds, exs):
        fams = set().union(*[family(l) for l in p]) if p else set()
        for i, ls in enumerate(e.lines.labels):
            for lab in ls:
                total += 1
                ok = bool(family(lab) & fams)
                found += ok
                copies[distinct_key(e, i, lab)].append(ok)
    return {"findings": total, "found": found, "recall": round(found / total, 4) if total else None,
            **distinct_recall(copies)}


def bandit_fix_pairs(preds: list[set], exs: list[Example]) -> dict:
    by = defaultdict(dict)
    for p, e in zip(preds, exs):
        if e.origin in ("realfix", "advisory") and e.pair:
            by[e.pair]["vul" if e.positive else "fix"] = (p, e)
    n = ok = 0
    for d in by.values():
        if "vul" in d and "fix" in d:
            (pv, ev), (pf, _) = d["vul"], d["fix"]
            c = sorted(ev.labels)[0]
            n += 1
            ok += bool(c in pv and c not in pf)
    return {"pairs": n, "vul_flagged_fix_not": round(ok / n, 4) if n else None}


def quiet(predict, tok, files: list[tuple[str, str]], th: np.ndarray, labels: list[str], line_th: float,
          workdir: Path, max_length: int, stride: int, top_k: int = 20, line_alone: float | None = None) -> dict:
    """Ordinary application files of held-out packages. The model reads each top-level definition on its own
    (as `check` does with a file's definitions), without its comments and docstrings (`strip_lines`, the
    runtime's rule); a finding is one (chunk, label), on its line in the file. Bandit reads the files whole."""
    from .distil import file_chunks
    from .pycode import strip_lines

    chunks, owners = [], []
    n_lines = 0
    for fi, (name, text) in enumerate(files):
        n_lines += text.count("\n") + 1
        lines = text.split("\n")
        for a, b in file_chunks(text, min_lines=1):
            stripped = strip_lines(lines[a - 1:b])
            kept = [i for i, t in enumerate(stripped) if t is not None]
            if kept:
                chunks.append("\n".join(stripped[i] for i in kept))
                owners.append((fi, a, kept))
    res = score_codes(predict, tok, chunks, max_length, stride)
    found = []
    for r, (fi, a, kept) in zip(res, owners):
        for lab, fl, sc in findings_of(r, th, labels, line_th, line_alone):
            ln = a + kept[fl[0]]  # 1-based line in the file
            found.append({"file": files[fi][0], "line": ln, "label": lab, "score": round(sc, 4),
                          "code": files[fi][1].split("\n")[ln - 1].strip()[:160]})
    bandit, errors = bandit_findings_on_codes([t for _, t in files], workdir)
    nb = sum(len(b) for b in bandit)
    found.sort(key=lambda f: -f["score"])
    return {"files": len(files), "lines": n_lines, "model_findings": len(found),
            "model_per_kloc": round(1000 * len(found) / max(n_lines, 1), 3),
            "bandit_medium_plus_findings": nb, "bandit_per_kloc": round(1000 * nb / max(n_lines, 1), 3),
            "bandit_parse_errors": errors, "model_by_label": dict(Counter(f["label"] for f in found)),
            "bandit_by_test": dict(Counter(r["test_id"] for b in bandit for r in b)),
            "top": found[:top_k]}


def read_audit(path: Path = AUDIT) -> dict[str, dict]:
    """The hand-checked verdicts: id -> row (verdict 'vulnerable' | 'safe' | 'unclear')."""
    if not path.exists():
        return {}
    with open(path, newline="") as f:
        return {r["id"]: r for r in csv.DictReader((l for l in f if not l.startswith("#")), delimiter="\t")}


def context_eval(results: list[dict], cases: list[dict], th: np.ndarray, labels: list[str], line_th: float,
                 line_alone: float | None = None) -> dict:
    """On the hand-checked context cases (each a Bandit finding on a context-blind check): precision and recall
    of the model, of Bandit (which reports every case) and of our labelling rule, against the verdicts."""
    li = {l: i for i, l in enumerate(labels)}
    rows = []
    for r, c in zip(results, cases):
        if c["verdict"] not in ("vulnerable", "safe"):
            continue
        lab = c["label"]
        ci = li.get(lab)
        hit = False
        if ci is not None and fires(r, th, line_alone)[ci]:
            hit = any(abs(j - (c["line_in_chunk"] - 1)) <= 1 for j in flagged_lines(r, ci, line_th))
        rows.append((c["verdict"] == "vulnerable", hit, c["rule_label"], c["split"]))

    def pr(pred_idx, subset):
        sel = [x for x in rows if subset(x)]
        tp = sum(1 for x in sel if x[0] and x[pred_idx])
        fp = sum(1 for x in sel if not x[0] and x[pred_idx])
        fn = sum(1 for x in sel if x[0] and not x[pred_idx])
        return {"n": len(sel), "vulnerable": sum(x[0] for x in sel), "tp": tp, "fp": fp, "fn": fn,
                "precision": round(tp / (tp + fp), 4) if tp + fp else None,
                "recall": round(tp / (tp + fn), 4) if tp + fn else None}

    out = {}
    for name, subset in (("held_out", lambda x: x[3] == "val"), ("all", lambda x: True)):
        sel = [x for x in rows if subset(x)]
        pos = sum(x[0] for x in sel)
        out[name] = {"model": pr(1, subset), "labelling_rule": pr(2, subset),
                     "bandit": {"n": len(sel), "vulnerable": pos, "precision": round(pos / len(sel), 4) if sel else None,
                                "recall": 1.0 if pos else None}}
    return out


# (row, path to the figure's block in metrics.real_code, field with the block's case count, field with its misses)
COMPARED = (("Bandit's ground", ("bandit_ground", "shipped"), "findings", "missed"),
            ("fragments", ("bandit_ground_fragments", "shipped"), "findings", "missed"),
            ("fix pairs", ("fix_pairs", "shipped"), "pairs", "failed"))


def compare_manifests(a: dict, b: dict) -> list[str]:
    """`run.py --compare A B`: the held-out figures of two models case by case, one line per figure."""
    out = []
    for name, path, n_key, miss_key in COMPARED:
        blocks = []
        for m in (a, b):
            x = m.get("metrics", {}).get("real_code", {})
            for k in path:
                x = x.get(k, {})
            blocks.append(x)
        xa, xb = blocks
        if not xa or not xb:
            out.append(f"{name}: not measured in both")
            continue
        if xa.get(n_key) != xb.get(n_key) or miss_key not in xa or miss_key not in xb:
            out.append(f"{name}: {xa.get(n_key)} vs {xb.get(n_key)} cases, no common case list to pair them")
            continue
        d = paired_difference(xa[miss_key], xb[miss_key], xa[n_key])
        out.append(f"{name}: A {d['right_a']}/{d['n']}, B {d['right_b']}/{d['n']}; only A right {d['only_a']}, "
                   f"only B right {d['only_b']}; sign test p = {d['p_value']}")
    return out
