"""Loading the labelled data, synthetic data and benign real code into one `Example` shape,
deduplicating, and splitting by origin (realfix by fix commit, CodeQL/Bandit by source file,
synthetic by family, benign by package)."""
from __future__ import annotations

import ast
import hashlib
import json
import logging
import os
import random
import re
import sysconfig
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .labels import Catalogue, norm_cwe
from .pycode import Lines, is_risky

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = Path(os.environ.get("HUNKGUARD_DATA", REPO.parent / "shared" / "data"))


@dataclass
class Example:
    uid: str
    lines: Lines
    labels: frozenset  # canonical CWE ids of the whole example (empty = safe)
    origin: str  # realfix | advisory | codeql | bandit | corpus | synth | benign
    group: str  # split unit
    kind: str = "vuln"  # vuln | fix | neg | hard-negative | benign
    pair: str | None = None
    family: str | None = None  # synth family / seed CWE dir / benign package
    meta: dict = field(default_factory=dict)

    @property
    def code(self) -> str:
        return self.lines.code

    @property
    def positive(self) -> bool:
        return bool(self.labels)

    @property
    def real(self) -> bool:
        return self.origin in ("realfix", "advisory", "codeql", "bandit", "benign", "corpus")


def _read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


# ------------------------------------------------------------------------------------------ seed (CodeQL+Bandit)
def seed_record_to_example(r: dict, cat: Catalogue, stats: Counter | None = None) -> Example | None:
    """Map one seed record. Positives whose CWEs the catalogue does not know are dropped (not made safe);
    lines of unknown CWEs in a multi-CWE record are masked out of the token loss."""
    stats = stats if stats is not None else Counter()
    origin = "bandit" if r["source"].startswith("PyCQA/bandit") or r.get("label_origin", "").startswith("bandit") else "codeql"
    group = f"seed:{r['source']}"
    if r.get("cwe") is None:
        lines = Lines.from_code(r["code"])
        stats["seed_neg"] += 1
        return Example(r["id"], lines, frozenset(), origin, group, kind="neg", family=r.get("query_dir"),
                       meta={"label_origin": r.get("label_origin"), "name_hints": r.get("name_hints") or [],
                             "imports": r.get("imports") or ""})
    main = norm_cwe(r["cwe"])
    by_cwe = r.get("vuln_lines_by_cwe") or {main: r.get("vuln_lines") or []}
    cwes = r.get("cwe_all") or [main]
    line_labels: dict[int, set] = defaultdict(set)
    unknown_lines: set[int] = set()
    labels: set[str] = set()
    for c in cwes:
        c = norm_cwe(c)
        src = r.get("cwe_harmonized") if c == main and r.get("cwe_harmonized") else c
        canon = cat.canonical(src)
        vl = by_cwe.get(c) or by_cwe.get(r["cwe"]) or (r.get("vuln_lines") if c == main else []) or []
        if canon is None:
            unknown_lines.update(vl)
            stats[f"seed_unknown_label:{norm_cwe(src)}"] += 1
            continue
        labels.add(canon)
        for l in vl:
            line_labels[l].add(canon)
    if not labels:
        stats["seed_pos_dropped_unknown"] += 1
        return None
    unknown_lines -= set(line_labels)
    lines = Lines.from_code(r["code"], line_labels, unknown_lines)
    if not lines.positive_lines():  # no usable line: keep the sequence label, mask tokens
        lines = Lines.from_code(r["code"], None, set(range(1, len(lines.text) + 1)))
    stats["seed_pos"] += 1
    return Example(r["id"], lines, frozenset(labels), origin, group, kind="vuln", family=r.get("query_dir"),
                   meta={"label_origin": r.get("label_origin"), "name_hints": r.get("name_hints") or [],
                         "imports": r.get("imports") or ""})


def load_seed(cat: Catalogue, stats: Counter) -> list[Example]:
    out = []
    for r in _read_jsonl(DATA_DIR / "seed_train.jsonl"):
        ex = seed_record_to_example(r, cat, stats)
        if ex is not None:
            out.append(ex)
    return out


# ------------------------------------------------------------------------------------------ realfix
def vulnerable_lines(code: str, label: str, vuln_lines: list[int]) -> Lines:
    """The vulnerable side of a real fix: the lines the fix changed carry the label; a fix that only adds lines
    (a missing check) has no line of its own, so the example keeps its label and its tokens are masked."""
    if vuln_lines:
        return Lines.from_code(code, {l: {label} for l in vuln_lines})
    return Lines.from_code(code, None, set(range(1, len(Lines.from_code(code).text) + 1)))


def realfix_record_to_example(r: dict, cat: Catalogue, stats: Counter | None = None) -> Example | None:
    stats = stats if stats is not None else Counter()
    group = fix_group(repo_of_link(r["commit_link"]))
    if r.get("cwe") is None:
        stats["realfix_fix"] += 1
        return Example(r["id"], Lines.from_code(r["code"]), frozenset(), "realfix", group, kind="fix",
                       pair=r["pair_id"], meta={"commit": r["commit_link"]})
    canon = cat.canonical(r["cwe"])
    if canon is None:
        stats[f"realfix_unknown_label:{r['cwe']}"] += 1
        return None
    lines = vulnerable_lines(r["code"], canon, r.get("vuln_lines") or [])
    stats["realfix_vul"] += 1
    return Example(r["id"], lines, frozenset([canon]), "realfix", group, kind="vuln", pair=r["pair_id"],
                   meta={"commit": r["commit_link"]})


def repo_of_link(link: str) -> str:
    m = re.search(r"github\.com/([^/]+/[^/]+)/commit", link or "")
    return (m.group(1) if m else link or "unknown").lower()


def fix_group(repo: str) -> str:
    """Real fixes (realfix and advisory) are split by repository, never by function or commit."""
    return f"fix:{repo.lower()}"


def advisory_record_to_example(r: dict, cat: Catalogue, stats: Counter | None = None) -> Example | None:
    """One side of an advisory fix pair. Pairs whose advisory names no catalogue class (`other`) are dropped:
    their vulnerable side is not safe, and no label of ours describes it."""
    stats = stats if stats is not None else Counter()
    group = fix_group(r["repo"])
    if r.get("cwe") is None:
        return Example(r["id"], Lines.from_code(r["code"]), frozenset(), "advisory", group, kind="fix",
                       pair=r["pair_id"], meta={"commit": r["fix_commit"], "repo": r["repo"]})
    canon = cat.canonical(r["cwe"]) if r["cwe"] != "other" else None
    if canon is None:
        stats[f"advisory_unlabelled:{r['cwe']}"] += 1
        return None
    lines = vulnerable_lines(r["code"], canon, r.get("vuln_lines") or [])
    stats["advisory_vul"] += 1
    return Example(r["id"], lines, frozenset([canon]), "advisory", group, kind="vuln", pair=r["pair_id"],
                   meta={"commit": r["fix_commit"], "repo": r["repo"], "cwe_origin": r.get("cwe_origin")})


def load_advisory(cat: Catalogue, stats: Counter) -> list[Example]:
    """advisory_train.jsonl: both sides of every pair whose vulnerable side has a catalogue label."""
    path = DATA_DIR / "advisory_train.jsonl"
    if not path.exists():
        log.warning("%s missing: no advisory pairs", path)
        return []
    recs = _read_jsonl(path)
    keep = {r["pair_id"] for r in recs if r.get("cwe") and r["cwe"] != "other" and cat.canonical(r["cwe"])}
    out = []
    for r in recs:
        if r["pair_id"] not in keep:
            continue
        ex = advisory_record_to_example(r, cat, stats)
        if ex is not None:
            out.append(ex)
    stats["advisory_fix"] = sum(e.kind == "fix" for e in out)
    return out


def load_realfix(cat: Catalogue, stats: Counter) -> list[Example]:
    out = []
    for r in _read_jsonl(DATA_DIR / "realfix_train.jsonl"):
        ex = realfix_record_to_example(r, cat, stats)
        if ex is not None:
            out.append(ex)
    return out


# ------------------------------------------------------------------------------------------ synthetic
def synth_record_to_example(r: dict, i: int, cat: Catalogue, stats: Counter | None = None) -> Example | None:
    stats = stats if stats is not None else Counter()
    fam = str(r.get("family") or f"{r.get('module', 'synth')}/unknown")
    group = f"synth:{fam}"
    kind = r.get("kind") or ("vuln" if r.get("cwe") else "hard-negative")
    if r.get("cwe") is None:
        return Example(f"synth:{i}", Lines.from_code(r["code"]), frozenset(), "synth", group, kind=kind,
                       pair=r.get("pair"), family=fam, meta={"module": r.get("module")})
    canon = cat.canonical(r["cwe"])
    if canon is None:
        stats[f"synth_unknown_label:{r['cwe']}"] += 1
        return None
    vl = [int(x) for x in r.get("vuln_lines") or []]
    n = len(Lines.from_code(r["code"]).text)
    vl = [l for l in vl if 1 <= l <= n]
    lines = Lines.from_code(r["code"], {l: {canon} for l in vl}, None if vl else set(range(1, n + 1)))
    return Example(f"synth:{i}", lines, frozenset([canon]), "synth", group, kind=kind, pair=r.get("pair"),
                   family=fam, meta={"module": r.get("module")})


def load_synth(cat: Catalogue, stats: Counter, seed: int) -> list[Example]:
    from . import synth

    out = []
    for i, r in enumerate(synth.generate_all(seed)):
        ex = synth_record_to_example(r, i, cat, stats)
        if ex is not None:
            out.append(ex)
    stats["synth"] = len(out)
    return out


# ------------------------------------------------------------------------------------------ benign real code
def python_roots() -> list[tuple[str, Path]]:
    """(prefix, dir) of the code we harvest benign chunks from: the standard library only. The venv's
    site-packages and the system's dist-packages differ from one machine to the next, and with them the training
    data and the thresholds (session 8 measured 1.7 points of Bandit's ground between two machines with the same
    weights); the pinned corpus brings the ordinary application code."""
    return [("stdlib", Path(sysconfig.get_paths()["stdlib"]))]


_SKIP_DIRS = {"__pycache__", "site-packages", "dist-packages", "test", "tests", "idlelib", "lib2to3", "turtledemo",
              "ensurepip", "pip", "setuptools", "_distutils", "pkg_resources", "_vendor", "nvidia", "triton",
              "sympy", "cuda", "functorch", "_pytest", "bandit", "hunkguard_train", "pydoc_data", "config-3.11-x86_64-linux-gnu"}


def package_files(max_files_per_pkg: int, rng: random.Random) -> dict[str, list[Path]]:
    pkgs: dict[str, list[Path]] = defaultdict(list)
    for prefix, root in python_roots():
        if not root.is_dir():
            continue
        for entry in sorted(root.iterdir()):
            name = entry.name
            if name in _SKIP_DIRS or name.endswith((".dist-info", ".egg-info", ".libs", ".pth")) or name.startswith("."):
                continue
            key = f"{prefix}/{name[:-3] if name.endswith('.py') else name}"
            if entry.is_file() and name.endswith(".py"):
                pkgs[key].append(entry)
            elif entry.is_dir():
                files = []
                for dp, dns, fns in os.walk(entry):
                    dns[:] = sorted(d for d in dns if d not in _SKIP_DIRS and not d.startswith("."))
                    files += [Path(dp) / f for f in sorted(fns) if f.endswith(".py") and not f.startswith("test_")]
                if files:
                    if len(files) > max_files_per_pkg:
                        files = sorted(rng.sample(files, max_files_per_pkg))
                    pkgs[key] = files
    # merge small stdlib modules into one group each of 'stdlib/<first letter>' to get sizeable groups
    return dict(pkgs)


def chunks_from_source(src: str, min_lines: int = 3, max_lines: int = 60) -> list[tuple[str, int]]:
    """Top-level functions, methods and small classes of a module as (code, start_line)."""
    try:
        tree = ast.parse(src)
    except (SyntaxError, ValueError, RecursionError):
        return []
    lines = src.split("\n")
    out = []

    def add(node):
        start = node.lineno
        if getattr(node, "decorator_list", None):
            start = min(d.lineno for d in node.decorator_list)
        end = node.end_lineno or node.lineno
        n = end - start + 1
        if min_lines <= n <= max_lines:
            out.append(("\n".join(lines[start - 1:end]), start))
            return True
        return False

    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            add(node)
        elif isinstance(node, ast.ClassDef):
            if not add(node) or True:
                for sub in node.body:
                    if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        add(sub)
    return out


def load_benign(cat: Catalogue, stats: Counter, seed: int, max_chunks: int, max_per_pkg: int,
                max_files_per_pkg: int = 60) -> list[Example]:
    rng = random.Random(f"{seed}:benign")
    pkgs = package_files(max_files_per_pkg, rng)
    out: list[Example] = []
    per_pkg_cap = max_per_pkg
    for key in sorted(pkgs):
        chunks = []
        for f in pkgs[key]:
            try:
                src = f.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            if len(src) > 400_000:
                continue
            for code, start in chunks_from_source(src):
                chunks.append((f, code, start))
        rng.shuffle(chunks)
        n_kept = 0
        for f, code, start in chunks:
            if n_kept >= per_pkg_cap:
                break
            if is_risky(code):
                stats["benign_risky_dropped"] += 1
                continue
            if len(code) > 6000:
                continue
            rel = f"{key}/{f.name}:{start}"
            out.append(Example(f"benign:{rel}", Lines.from_code(code), frozenset(), "benign", f"benign:{key}",
                               kind="benign", family=key, meta={"file": str(f)}))
            n_kept += 1
    rng.shuffle(out)
    out = out[:max_chunks]
    stats["benign"] = len(out)
    stats["benign_packages"] = len({e.group for e in out})
    return out


# ------------------------------------------------------------------------------------------ distilled corpus
# Real code that looks like a weakness and is not: the shapes behind model 0.2.0's false alarms on ordinary code
# (training/corpus/quiet_top20.md): dumping YAML next to loading it safely, building XML, the secure SSL default,
# quoted or list argv, constant patterns, configparser, strong hashes, SQL text formatted around bound values.
LOOKALIKE = re.compile(
    r"yaml\.(safe_)?dump|yaml\.safe_load|create_default_context|SubElement|etree\.Element\(|\.tostring\("
    r"|minidom import|shlex\.(quote|split|join)|re\.compile\(|configparser|ConfigParser|hashlib\.sha(256|384|512)"
    r"|secrets\.|subprocess\.(run|call|check_call|check_output|Popen)\(\s*\["
    # 0.3.0's quiet-set false alarms: calls of constant patterns read as ReDoS
    r"|\bre\.(findall|finditer|search|match|fullmatch|sub|split)\(\s*[rbuRBU]?['\"]")


def is_lookalike(code: str) -> bool:
    """Does this (finding-free) code hold one of the shapes that look like a weakness and are not?"""
    if LOOKALIKE.search(code):
        return True
    return "execute(" in code and "%s" in code and ".format(" in code


def corpus_examples(chunks, split_of: dict[str, str], cat: Catalogue, stats: Counter, seed: int,
                    neg_per_pos: float, max_neg_train: int, max_neg_val: int, max_pos_per_label: int,
                    max_lookalike: int = 0) -> list[Example]:
    """Chunks of the distilled corpus as examples. Chunks with a Bandit-derived positive line are `corpus`
    positives; chunks whose only findings a labelling rule cleared are `corpus` hard negatives (those lines are
    known safe); training chunks without any finding that hold a lookalike shape (`is_lookalike`) are hard
    negatives too, up to `max_lookalike`; other chunks without any finding are `benign` (ordinary real code) and
    are sampled. Masked lines (a finding nobody could decide) are left out of the token loss."""
    from .distil import chunk_id  # distil imports evaluate, which imports this module

    rng = random.Random(f"{seed}:corpus-examples")
    pos, hard, look, neg = [], [], [], {"train": [], "val": []}
    for c in chunks:
        split = split_of.get(c.package, "train")
        n = c.code.count("\n") + 1
        ll = {k: {cat.canonical(l) for l in v} - {None} for k, v in c.line_labels.items()}
        ll = {k: v for k, v in ll.items() if v}
        unknown = set(c.masked) | {k for k, v in c.line_labels.items() if k not in ll}
        uid = chunk_id(c)
        meta = {"package": c.package, "path": c.path, "start": c.start, "split": split,
                "rules": [list(r) for r in c.rules]}
        group = f"corpus:{c.package}"
        if ll:
            labels = frozenset().union(*ll.values())
            pos.append(Example(uid, Lines.from_code(c.code, ll, unknown), labels, "corpus", group, kind="vuln",
                               family=c.package, meta=meta))
        elif c.safe_lines:
            hard.append(Example(uid, Lines.from_code(c.code, None, unknown), frozenset(), "corpus", group,
                                kind="hard-negative", family=c.package, meta=dict(meta, safe=c.safe_lines)))
        elif not unknown and n >= 3 and split == "train" and not c.findings and is_lookalike(c.code):
            look.append(Example(uid, Lines.from_code(c.code), frozenset(), "corpus", group, kind="hard-negative",
                                family=c.package, meta=dict(meta, lookalike=True)))
        elif not unknown and n >= 3:
            neg[split].append(Example(uid, Lines.from_code(c.code), frozenset(), "benign", group, kind="benign",
                                      family=c.package, meta=meta))
    # a label may bring at most `max_pos_per_label` training positives (B608 and hard-coded strings are common)
    by_label: dict[str, list[Example]] = defaultdict(list)
    for e in pos:
        by_label[min(e.labels)].append(e)
    kept = []
    for lab, exs in sorted(by_label.items()):
        tr = [e for e in exs if e.meta["split"] == "train"]
        va = [e for e in exs if e.meta["split"] == "val"]
        rng.shuffle(tr)
        kept += tr[:max_pos_per_label] + va
        stats[f"corpus_pos:{lab}"] = len(exs)
    n_train_pos = sum(e.meta["split"] == "train" for e in kept)
    for split, cap in (("train", min(max_neg_train, int(neg_per_pos * max(n_train_pos, 1)))), ("val", max_neg_val)):
        rng.shuffle(neg[split])
        neg[split] = neg[split][:cap]
    rng.shuffle(look)
    stats["corpus_lookalike_available"] = len(look)
    look = look[:max_lookalike]
    stats["corpus_positive"] = len(kept)
    stats["corpus_hard_negative"] = len(hard)
    stats["corpus_lookalike_negative"] = len(look)
    stats["corpus_negative"] = len(neg["train"]) + len(neg["val"])
    return kept + hard + look + neg["train"] + neg["val"]


def unlabelled_chunks(chunks, split_of: dict[str, str], used: set[str], held_out_keys: set[str], n: int,
                      seed: int, purpose: str) -> list[Example]:
    """Up to `n` chunks of training packages that no example of the run holds (by uid) and whose code no
    held-out example has (by `norm_key`), as unlabelled examples (origin `transfer`). They carry no label, so
    only a teacher's judgement can teach on them (`run.py --transfer`), and no held-out code reaches them.
    `purpose` seeds the draw, so that two uses (windows to distil on, windows to measure imitation on) are two
    independent draws; callers keep them disjoint through `used`."""
    from .distil import chunk_id  # distil imports evaluate, which imports this module

    rng = random.Random(f"{seed}:{purpose}")
    pool = [c for c in chunks if split_of.get(c.package, "train") == "train"
            and chunk_id(c) not in used and c.code.count("\n") >= 2]
    rng.shuffle(pool)
    out: list[Example] = []
    for c in pool:
        if len(out) >= n:
            break
        if norm_key(c.code) in held_out_keys:
            continue
        out.append(Example(chunk_id(c), Lines.from_code(c.code), frozenset(), "transfer",
                           f"corpus:{c.package}", kind="transfer", family=c.package,
                           meta={"package": c.package, "path": c.path, "start": c.start, "split": "train"}))
    return out


# ------------------------------------------------------------------------------------------ dedup + split
def norm_key(code: str) -> str:
    return hashlib.sha1(re.sub(r"\s+", "", code).encode()).hexdigest()


def dedup(examples: list[Example], stats: Counter) -> list[Example]:
    """Exact dedup on whitespace-free code. A vulnerable/fixed pair whose two versions are identical is
    dropped; otherwise a positive wins over a negative and the first occurrence is kept."""
    by_key: dict[str, list[Example]] = defaultdict(list)
    for e in examples:
        by_key[norm_key(e.code)].append(e)
    out = []
    for key, group in by_key.items():
        if len(group) == 1:
            out.append(group[0])
            continue
        pos = [e for e in group if e.positive]
        neg = [e for e in group if not e.positive]
        if pos and neg and any(p.pair and any(n.pair == p.pair for n in neg) for p in pos):
            stats["dedup_identical_pair_dropped"] += len(group)
            continue
        if pos and neg:
            stats["dedup_conflict_pos_kept"] += 1
        keep = pos[0] if pos else neg[0]
        stats["dedup_removed"] += len(group) - 1
        out.append(keep)
    # keep the input order for determinism
    order = {id(e): i for i, e in enumerate(examples)}
    out.sort(key=lambda e: order[id(e)])
    return out


def _h(s: str) -> int:
    return int(hashlib.sha1(s.encode()).hexdigest()[:8], 16)


def assign_split(examples: list[Example], seed: int, val_every: dict[str, int] | None = None) -> dict[str, str]:
    """group -> 'train' | 'val'. Groups are stratified by their main label inside each origin, then every
    k-th group (in a seeded hash order) goes to validation, so each label gets held-out groups when it has
    several."""
    val_every = val_every or {"realfix": 4, "advisory": 4, "codeql": 4, "bandit": 4, "synth": 5, "benign": 5,
                              "corpus": 7}
    groups: dict[str, dict] = {}
    for e in examples:
        g = groups.setdefault(e.group, {"origin": e.origin, "labels": Counter()})
        for l in sorted(e.labels):
            g["labels"][l] += 1
    strata: dict[tuple, list[str]] = defaultdict(list)
    for gname, g in groups.items():
        # ties broken by label id, not by set iteration order (which changes with PYTHONHASHSEED)
        main = min(g["labels"].items(), key=lambda kv: (-kv[1], kv[0]))[0] if g["labels"] else "none"
        strata[(g["origin"], main)].append(gname)
    split = {}
    for (origin, main), names in sorted(strata.items()):
        k = val_every.get(origin, 5)
        names.sort(key=lambda n: _h(f"{seed}:{n}"))
        off = _h(f"{seed}:{origin}:{main}") % k
        for i, n in enumerate(names):
            split[n] = "val" if (i + off) % k == 0 and len(names) >= 2 else "train"
    return split


def split_examples(examples: list[Example], seed: int, stats: Counter,
                   forced: dict[str, str] | None = None) -> tuple[list[Example], list[Example]]:
    """Train/validation by group; `forced` fixes the split of some groups (the corpus packages' pinned split,
    and the fix repositories that are also corpus packages)."""
    split = assign_split(examples, seed)
    split.update({g: s for g, s in (forced or {}).items() if g in split})
    train = [e for e in examples if split[e.group] == "train"]
    val = [e for e in examples if split[e.group] == "val"]
    # pairs never straddle (pairs share a commit/family); drop train items identical to a val item
    val_keys = {norm_key(e.code) for e in val}
    before = len(train)
    train = [e for e in train if norm_key(e.code) not in val_keys]
    stats["train_dropped_dup_of_val"] = before - len(train)
    return train, val


def realfix_pair_edits(examples: list[Example]) -> dict:
    """How far apart the vulnerable and fixed versions of the real pairs are: the lines a fix changes (the
    larger side of each changed block, blank lines ignored) against the function's length. This bounds what
    any function-level classifier can do with them, so the model card reports it."""
    import difflib
    import statistics

    by_pair: dict[str, dict[str, Example]] = defaultdict(dict)
    for e in examples:
        if e.origin == "realfix" and e.pair:
            by_pair[e.pair]["vul" if e.positive else "fix"] = e
    changed, length = [], []
    for d in by_pair.values():
        if len(d) < 2:
            continue
        a = [l.strip() for l in d["vul"].lines.text if l.strip()]
        b = [l.strip() for l in d["fix"].lines.text if l.strip()]
        ops = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
        changed.append(sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in ops if tag != "equal"))
        length.append(len(a))
    if not changed:
        return {"pairs": 0}
    return {"pairs": len(changed), "median_lines": statistics.median(length),
            "median_changed_lines": statistics.median(changed),
            "share_changed_le_2": round(sum(c <= 2 for c in changed) / len(changed), 4),
            "share_changed_le_5": round(sum(c <= 5 for c in changed) / len(changed), 4)}


def data_fingerprint(paths: list[Path], extra: list[str]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        h.update(Path(p).read_bytes())
    for t in extra:
        h.update(t.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()
