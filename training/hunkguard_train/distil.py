"""Distilling Bandit over the real-Python corpus: Bandit 1.9.4 runs over every non-test file, its high-signal
findings become positive line labels, and the context-blind checks (random, md5/sha1, password-looking strings,
hard-coded /tmp, eval/exec of constants) go through labelling rules that read the code around the finding.

A finding a rule rejects becomes a *known-safe* line (a hard negative: the same API used harmlessly); a finding
no rule can decide is masked out of the token loss, never taught either way. Lines with no finding are negatives.
"""
from __future__ import annotations

import ast
import hashlib
import json
import logging
import os
import re
import subprocess
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import corpus as C
from .evaluate import bandit_exe

log = logging.getLogger(__name__)

BANDIT_VERSION = "1.9.4"

# test id -> label, for the checks whose finding is evidence enough at severity and confidence >= MEDIUM
HIGH_SIGNAL = {
    "B102": "CWE-94", "B307": "CWE-94", "B612": "CWE-94",
    "B301": "CWE-502", "B302": "CWE-502", "B506": "CWE-502", "B614": "CWE-502",
    "B602": "CWE-78", "B605": "CWE-78", "B601": "CWE-78", "B609": "CWE-78", "B604": "CWE-78",
    "B608": "CWE-89", "B610": "CWE-89", "B611": "CWE-89",
    "B501": "CWE-295", "B323": "CWE-295", "B507": "CWE-295",
    "B502": "CWE-327", "B503": "CWE-327", "B504": "CWE-327", "B505": "CWE-327",
    "B201": "CWE-215",
    "B701": "CWE-79", "B702": "CWE-79", "B703": "CWE-79", "B308": "CWE-79", "B704": "CWE-79",
    "B306": "CWE-377", "B103": "CWE-732", "B202": "CWE-22", "B321": "CWE-319",
    **{f"B{n}": "CWE-611" for n in range(313, 321)},
}
# context-blind checks: the label if the rule says so
CONTEXT_RULED = {"B311": "CWE-338", "B303": "CWE-327", "B324": "CWE-327", "B105": "CWE-798", "B106": "CWE-798",
                 "B107": "CWE-798", "B108": "CWE-377"}
# code quality, imports (a module imported is not a flaw), subprocess without a shell, urlopen scheme audits
IGNORED = {"B101", "B110", "B112", "B113", "B310", "B603", "B606", "B607", "B104", "B613", "B615"}

# Revised after reading 320 cases by hand (corpus/context_audit.tsv): "near a secret" was wrong 17 times of 17
# for random, and words like session/cookie/key/verify around an md5 mostly meant cache keys and ETags.
# A finding is now taught positive only when the line itself, the name it assigns, or the enclosing function says
# what the value is for.
SECRET_USE = re.compile(
    r"passw|passwd|pwd|secret|token|salt|nonce|otp\b|csrf|xsrf|api_?key|credential|reset_code|verification_code|"
    r"activation_code|one_time|onetime|obscur", re.I)
WEAK_HASH_USE = re.compile(r"passw|passwd|pwd|secret|\bsign|signature|hmac|credential|token|nonce|salt|otp\b|"
                           r"digest_?auth|authenticat|fingerprint_?cert|x509", re.I)
NOT_SECRET_NAME = re.compile(r"type|url|uri|name|field|header|endpoint|path|prefix|suffix|format|label|param|env|"
                             r"attr|column|message|prompt|regex|pattern|file|kind|mode|method|placeholder|help|title|"
                             r"template|(?<![a-z])owner|(?<![a-z])action", re.I)
# Values that name a thing rather than being a secret: an environment variable or constant name
# (`'CKAN_SOLR_PASSWORD'`), an action or field name in camelCase (`'changePassword'`), a dotted setting key or a
# template path (`'api_token.jwt.encode.secret'`, `'account/password_reset'`), and documentation placeholders
# (`'your_access_token'`, `'my_password'`, `'cs_...'`). Read in the held-out ground of model 0.4.0, where the
# shortcut "a secret-named variable holding a string" taught all of these as credentials.
NAMES_A_THING = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|[a-z]+(?:[A-Z][a-z]+)+|[a-z0-9_\-]+(?:[./][a-z0-9_\-]+)+")
PLACEHOLDER = re.compile(r"^(?:your|my|enter|insert|replace|example|sample)[_\-]|\.\.\.|\u2026", re.I)
NOT_A_SECRET = {
    "", "none", "null", "true", "false", "password", "passwd", "secret", "token", "bearer", "basic", "digest",
    "oauth", "oauth2", "access_token", "refresh_token", "id_token", "token_type", "api_key", "apikey", "x-api-key",
    "authorization", "auth", "login", "user", "username", "client_secret", "client_credentials", "password_grant",
    "jwt", "csrftoken", "csrf_token", "sessionid", "session", "key", "secret_key", "new_password", "old_password",
    "confirm_password", "pass", "pwd", "tok", "utf-8", "utf8", "ascii", "hex", "base64",
}
WEAK_DEFAULTS = {"admin", "changeme", "change_me", "password123", "secret123", "root", "toor", "default", "letmein",
                 "qwerty", "123456", "12345678", "admin123", "guest", "test123", "p@ssw0rd", "passw0rd"}


@dataclass
class Verdict:
    label: str | None  # canonical-to-be CWE id, or None
    decision: str  # "positive" | "safe" | "masked" | "ignored"
    rule: str  # which rule decided


def _literal_value(line: str) -> str | None:
    m = re.search(r"""=\s*[rbuRBU]?(['"])(.*?)\1""", line)
    return m.group(2) if m else None


def _looks_like_secret(value: str, name_on_line: str) -> bool:
    v = value.strip()
    low = v.lower()
    if low in WEAK_DEFAULTS:
        return True
    if low in NOT_A_SECRET or len(v) < 6:
        return False
    if re.fullmatch(r"[a-z][a-z0-9_.\-]*", v) and ("_" in v or "-" in v or "." in v or v.isalpha()):
        return False  # an identifier, a field or header name, a setting key
    if re.search(r"[{}%<>$]|^https?://|^/|\\|\s", v) or v.startswith(("*", "x" * 3)) or set(v) <= set("*x.-_ "):
        return False  # a template, a URL or path, a placeholder, a sentence
    if low in name_on_line.lower():
        return False
    return True


def decide(test_id: str, severity: str, confidence: str, line: str, around: str, func: str) -> Verdict:
    """The labelling rule for one Bandit finding: its line, the lines around it and the enclosing function's
    name are the context."""
    if test_id in IGNORED or test_id.startswith("B4"):
        return Verdict(None, "ignored", f"{test_id}:not-a-weakness-check")
    if test_id in HIGH_SIGNAL:
        if test_id in ("B602", "B604", "B605") and severity == "LOW":
            return Verdict(None, "safe", f"{test_id}:constant-command")  # Bandit's own literal-command check
        if severity == "LOW" or confidence == "LOW":
            return Verdict(None, "masked", f"{test_id}:low-{'severity' if severity == 'LOW' else 'confidence'}")
        if test_id in ("B102", "B307") and re.search(r"""\b(eval|exec)\s*\(\s*[rbuRBU]?(['"]).*\2\s*[,)]""", line):
            return Verdict(None, "safe", f"{test_id}:constant-argument")
        return Verdict(HIGH_SIGNAL[test_id], "positive", f"{test_id}:high-signal")
    if test_id not in CONTEXT_RULED:
        return Verdict(None, "masked", f"{test_id}:no-rule")
    label = CONTEXT_RULED[test_id]
    if test_id == "B311":
        target = line.split("=", 1)[0] if "=" in line.split("(", 1)[0] else ""
        if SECRET_USE.search(target) or SECRET_USE.search(func):
            return Verdict(label, "positive", "B311:random-for-a-secret")
        return Verdict(None, "safe", "B311:random-not-for-security")
    if test_id in ("B303", "B324"):
        if "usedforsecurity=False" in line.replace(" ", ""):
            return Verdict(None, "safe", f"{test_id}:usedforsecurity-false")
        if WEAK_HASH_USE.search(line) or WEAK_HASH_USE.search(func) or re.search(r"passw|secret|hmac", around, re.I):
            return Verdict(label, "positive", f"{test_id}:weak-hash-for-security")
        return Verdict(None, "safe", f"{test_id}:weak-hash-as-checksum")
    if test_id in ("B105", "B106", "B107"):
        # the secret-named assignment or keyword argument on the line, else the first one
        m = (re.search(r"""(\w*(?:pass|pwd|secret|token|key)\w*)['"]?\]?\s*[:=]\s*[rbuRBU]?(['"])(.*?)\2""", line, re.I)
             or re.search(r"""(\w+)['"]?\]?\s*[:=]\s*[rbuRBU]?(['"])(.*?)\2""", line))
        if m is None:
            return Verdict(None, "masked", f"{test_id}:no-literal")
        name, value = m.group(1), m.group(3)
        low = value.strip().lower()
        # a shipped "change me" default is a known secret (Superset's default SECRET_KEY, CVE-2023-27524)
        if low in WEAK_DEFAULTS or re.search(r"change_?me|changeit", low):
            return Verdict(label, "positive", f"{test_id}:weak-default-credential")
        if (low in NOT_A_SECRET or len(value.strip()) < 4 or NOT_SECRET_NAME.search(name)
                or re.search(r"\{\w*\}|%\(?\w*\)?s|\$\{|<[\w\-]+>|^https?://|^/|\s", value) or set(low) <= set("*x.-_ ")
                or low == name.lower() or low in ("dummy", "test", "example", "placeholder", "fake", "foo", "bar")
                or NAMES_A_THING.fullmatch(value.strip()) or PLACEHOLDER.search(value.strip())):
            return Verdict(None, "safe", f"{test_id}:not-a-credential")
        if test_id == "B107" and not _looks_like_secret(value, name):
            return Verdict(None, "safe", f"{test_id}:not-a-credential")
        if SECRET_USE.search(name) or _looks_like_secret(value, name):
            return Verdict(label, "positive", f"{test_id}:credential-literal")
        return Verdict(None, "safe", f"{test_id}:not-a-credential")
    if test_id == "B108":
        # half of each kind was a real weakness when read by hand: teach neither
        return Verdict(None, "masked", "B108:undecided")
    return Verdict(None, "masked", f"{test_id}:no-rule")


# ------------------------------------------------------------------------------------------ running Bandit
# Bandit reads ~1,200 lines/s on one busy core: the labelled part of each package is a stable sample of its
# non-test files up to this many lines (the whole corpus still serves pretraining). The budget grew in steps;
# Bandit's reports are cached per step, so a larger budget runs Bandit on the files it adds only. The last
# step is larger than any corpus package (the corpus keeps at most 60k non-test lines of one): every
# non-test line is labelled.
LABEL_BUDGET_STEPS = (8_000, 20_000, 100_000)
LABELLED_LINES_PER_PACKAGE = LABEL_BUDGET_STEPS[-1]


def labelled_files(files: list[C.SourceFile], max_lines: int = LABELLED_LINES_PER_PACKAGE) -> list[C.SourceFile]:
    """The non-test files of one package that are labelled: in a stable pseudo-random order of their paths,
    until `max_lines` (extension files are a step of their own, `budget_steps`)."""
    order = sorted((f for f in files if not f.is_test and not f.extension),
                   key=lambda f: hashlib.sha1(f.path.encode()).hexdigest())
    out, n = [], 0
    for f in order:
        k = f.text.count("\n") + 1
        if n + k > max_lines and out:
            continue
        out.append(f)
        n += k
    return sorted(out, key=lambda f: f.path)


def budget_steps(files: list[C.SourceFile]) -> list[list[C.SourceFile]]:
    """The labelled files cut by budget step: step i holds the files the i-th budget adds to the earlier ones
    (a file an earlier step labelled keeps that step's report even if the larger budget would skip it). A last
    step holds every extension file (`corpus.extend_corpus`): they are labelled whole, and the budgets are taken
    over the capped files only, so extending the corpus leaves every earlier step, and its cached reports, as it
    was."""
    seen: set[str] = set()
    out = []
    for budget in LABEL_BUDGET_STEPS:
        new = [f for f in labelled_files(files, budget) if f.path not in seen]
        seen |= {f.path for f in new}
        out.append(new)
    out.append([f for f in files if f.extension and not f.is_test])
    return out


def labelled_union(files: list[C.SourceFile]) -> list[C.SourceFile]:
    """Every labelled file of one package, over all budget steps."""
    return sorted((f for step in budget_steps(files) for f in step), key=lambda f: f.path)


def step_dirs(work: Path, i: int) -> tuple[Path, Path]:
    """The source tree and Bandit report folder of budget step `i` (step 0 keeps its original names; the step
    after the budgets is the extension's)."""
    suffix = "" if i == 0 else f"-{LABEL_BUDGET_STEPS[i]}" if i < len(LABEL_BUDGET_STEPS) else "-extension"
    return work / f"src{suffix}", work / f"bandit-{BANDIT_VERSION}{suffix}"


def source_tree(corpus: dict[str, list[C.SourceFile]], root: Path, step: int) -> Path:
    """Write the files budget step `step` adds to `root/<package>/<path>` (idempotent) for Bandit to read."""
    for pkg, files in corpus.items():
        for f in budget_steps(files)[step]:
            p = root / pkg / f.path
            if not p.exists():
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_text(f.text, encoding="utf-8")
    return root


def run_bandit_tree(root: Path, packages: list[str], out_dir: Path, workers: int = 2) -> dict[str, dict]:
    """Bandit over each package folder, one process per package, cached as JSON per package."""
    out_dir.mkdir(parents=True, exist_ok=True)

    def one(pkg: str):
        out = out_dir / f"{pkg}.json"
        if not out.exists():
            tmp = out.with_suffix(".part")
            subprocess.run([bandit_exe(), "-r", str(root / pkg), "-f", "json", "-q", "-o", str(tmp)],
                           capture_output=True, timeout=3600, check=False)
            if tmp.exists():
                os.replace(tmp, out)
        try:
            return pkg, json.loads(out.read_text())
        except (OSError, json.JSONDecodeError) as e:
            log.warning("bandit on %s: no report (%s)", pkg, e)
            return pkg, {"results": [], "errors": [{"reason": str(e)}]}

    with ThreadPoolExecutor(workers) as ex:
        return dict(ex.map(one, [p for p in packages if (root / p).is_dir()]))


# ------------------------------------------------------------------------------------------ labelled chunks
@dataclass
class RawFinding:
    """What Bandit said about one line, with the context the rules read."""
    k: int  # 1-based line in the chunk
    test_id: str
    severity: str
    confidence: str
    line: str
    around: str  # the file's lines from 3 above to 3 below
    func: str  # the innermost enclosing def/class name, or ""


@dataclass
class Chunk:
    package: str
    path: str
    start: int  # 1-based first line in the file
    code: str
    findings: list = field(default_factory=list)  # RawFinding
    # set by apply_rules
    line_labels: dict = field(default_factory=dict)  # 1-based line in `code` -> labels
    safe_lines: dict = field(default_factory=dict)  # 1-based line in `code` -> the rule that cleared a finding there
    masked: set = field(default_factory=set)  # 1-based lines in `code` whose label is unknown
    rules: list = field(default_factory=list)  # (line in code, test id, rule)


def _enclosing_functions(tree) -> list[tuple[int, int, str]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.append((node.lineno, node.end_lineno or node.lineno, node.name))
    return out


def file_chunks(text: str, min_lines: int = 3, max_lines: int = 80) -> list[tuple[int, int]]:
    """(start, end) 1-based line spans: functions and methods (with decorators), and runs of module-level
    statements, each at most `max_lines` (longer ones are cut into consecutive pieces)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    spans = []

    def add(a, b):
        while b - a + 1 > max_lines:
            spans.append((a, a + max_lines - 1))
            a += max_lines
        if b - a + 1 >= min_lines:
            spans.append((a, b))

    def visit(body, top: bool):
        run = None
        for node in body:
            s = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            e = node.end_lineno or node.lineno
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if run:
                    add(*run)
                    run = None
                add(s, e)
            elif isinstance(node, ast.ClassDef):
                if run:
                    add(*run)
                    run = None
                visit(node.body, False)
            elif top:
                run = (run[0], e) if run and s - run[1] <= 2 else (run and add(*run)) or (s, e)
        if run:
            add(*run)

    visit(tree.body, True)
    return spans


def chunk_file(pkg: str, f: C.SourceFile, findings: list[dict], stats: Counter) -> list[Chunk]:
    """The file's chunks, each with Bandit's raw findings on its lines (no decision yet: `apply_rules`)."""
    lines = f.text.split("\n")
    try:
        funcs = _enclosing_functions(ast.parse(f.text))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        stats["distil_file_unparsable"] += 1
        return []
    by_line: dict[int, list] = defaultdict(list)
    for r in findings:
        ln = int(r.get("line_number") or 0)
        if 1 <= ln <= len(lines):
            by_line[ln].append(r)
    out = []
    for a, b in file_chunks(f.text):
        raw = []
        for ln in range(a, b + 1):
            for r in by_line.get(ln, []):
                func = ""
                for fa, fb, name in funcs:
                    if fa <= ln <= fb:
                        func = name  # innermost wins: ast.walk lists outer first
                raw.append(RawFinding(ln - a + 1, r.get("test_id", ""), r.get("issue_severity", ""),
                                      r.get("issue_confidence", ""), lines[ln - 1],
                                      "\n".join(lines[max(0, ln - 4):ln + 3]), func))
        out.append(Chunk(pkg, f.path, a, "\n".join(lines[a - 1:b]), raw))
    return out


def apply_rules(chunks: list[Chunk], stats: Counter) -> list[Chunk]:
    """Decide every raw finding with `decide` and set each chunk's line labels, safe lines and masked lines. Cheap:
    a changed rule relabels the whole corpus in seconds."""
    for c in chunks:
        ll, safe, masked, rules = defaultdict(set), {}, set(), []
        for fd in c.findings:
            v = decide(fd.test_id, fd.severity, fd.confidence, fd.line, fd.around, fd.func)
            stats[f"distil_{v.decision}"] += 1
            stats[f"distil_rule:{v.rule}"] += 1
            rules.append((fd.k, fd.test_id, v.rule))
            if v.decision == "positive":
                ll[fd.k].add(v.label)
            elif v.decision == "safe":
                safe[fd.k] = v.rule
            elif v.decision == "masked":
                masked.add(fd.k)
        for k in ll:
            safe.pop(k, None)
            masked.discard(k)
        c.line_labels, c.safe_lines, c.masked, c.rules = dict(ll), safe, masked, rules
    stats["distil_chunks"] = len(chunks)
    stats["distil_positive_chunks"] = sum(bool(c.line_labels) for c in chunks)
    stats["distil_safe_chunks"] = sum(bool(c.safe_lines) and not c.line_labels for c in chunks)
    return chunks


# bump when chunking or what a RawFinding holds changes (the rules are applied after the cache)
CHUNKING_VERSION = 3  # 2: the 20,000-line budget; 3: every non-test line


def distil(corpus: dict[str, list[C.SourceFile]], rows: list[dict], work: Path, stats: Counter,
           workers: int = 2) -> list[Chunk]:
    """Every chunk of the labelled files, with Bandit's raw findings (run `apply_rules` for the labels)."""
    by_file: dict[tuple[str, str], list] = defaultdict(list)
    for i in range(len(LABEL_BUDGET_STEPS) + 1):
        src, reports_dir = step_dirs(work, i)
        root = source_tree(corpus, src, i)
        reports = run_bandit_tree(root, sorted(corpus), reports_dir, workers)
        for pkg, rep in reports.items():
            base = str(root / pkg) + "/"
            for r in rep.get("results", []):
                name = r["filename"][len(base):] if r["filename"].startswith(base) else r["filename"]
                by_file[(pkg, name)].append(r)
            stats["distil_bandit_parse_errors"] += len(rep.get("errors", []))
    chunks = []
    for pkg in sorted(corpus):
        for f in labelled_union(corpus[pkg]):
            chunks.extend(chunk_file(pkg, f, by_file.get((pkg, f.path), []), stats))
    return chunks


def chunk_id(c: Chunk) -> str:
    return f"corpus:{c.package}/{c.path}:{c.start}"


def audit_sample(chunks: list[Chunk], n: int, seed: int) -> list[dict]:
    """A sample of context-ruled findings (both verdicts), for reading by hand."""
    import random

    cases = []
    for c in chunks:
        for k, tid, rule in c.rules:
            if tid in CONTEXT_RULED:
                cases.append({"id": hashlib.sha1(f"{chunk_id(c)}:{k}:{tid}".encode()).hexdigest()[:12],
                              "chunk": chunk_id(c), "line_in_chunk": k, "test_id": tid, "rule": rule,
                              "rule_label": rule.split(":")[1] not in ("random-not-for-security", "weak-hash-as-checksum",
                                                                        "usedforsecurity-false", "not-a-credential",
                                                                        "tmp-string-unused", "no-literal"),
                              "code": c.code})
    rng = random.Random(seed)
    by_test = defaultdict(list)
    for x in cases:
        by_test[x["test_id"]].append(x)
    out = []
    # an even share per check, so the rare checks are read too
    for tid in sorted(by_test):
        rng.shuffle(by_test[tid])
    while len(out) < n and any(by_test.values()):
        for tid in sorted(by_test):
            if by_test[tid] and len(out) < n:
                out.append(by_test[tid].pop())
    return out
