"""Tests for the config / crypto / web-hardening synthetic generator (hunkguard_train.synth.config_crypto)."""
from __future__ import annotations

import ast
import difflib
import io
import random
import re
import sys
import textwrap
import time
import tokenize
from collections import Counter, defaultdict
from pathlib import Path

import pytest

TRAINING = Path(__file__).resolve().parents[1]
REPO = TRAINING.parent
if str(TRAINING) not in sys.path:
    sys.path.insert(0, str(TRAINING))

from hunkguard_train.synth import config_crypto as cc  # noqa: E402

SEED = 20240611
LABELS = sorted(cc.LABELS)
SLUG = {cwe: slug for cwe, (slug, _, _) in cc.LABELS.items()}

# Every marked line set of a vulnerable example has at least one line matching ANY[label].
ANY = {
    "CWE-798": r"""(["'])[^"']{8,}\1""",
    "CWE-327": r"\b(DES|DES3|ARC4|Blowfish|TripleDES|CAST5|IDEA)\b|ECB|PROTOCOL_(TLSv1|TLSv1_1|SSLv23|SSLv3)\b"
               r"|TLSVersion\.(TLSv1|TLSv1_1|SSLv3)\b|\b(512|768|1024)\b|RC4",
    "CWE-328": r"(?i)md5|sha1",
    "CWE-338": r"\brandom\.|\bRandom\(",
    "CWE-295": r"verify\s*=\s*False|CERT_NONE|_create_unverified_context|check_hostname\s*=\s*False|AutoAddPolicy"
               r"|WarningPolicy|\bssl\s*=\s*False|verify_ssl\s*=\s*False",
    "CWE-319": r"""["'](http|ws|amqp|redis|ldap|mongodb)://|\bFTP\(|Telnet\(|smtplib\.SMTP\(""",
    "CWE-377": r"mktemp\(|[\"']/tmp\b|gettempdir",
    "CWE-732": r"0o7[67][67]|0o666|0o644|umask\(0(o0+)?\)|S_IRWXO",
    "CWE-352": r"(?i)csrf",
    "CWE-434": r"\.filename|\.name\b",
    "CWE-215": r"(?i)debug|evalex",
    "CWE-209": r"str\(|repr\(|format_exc|\.args|\{(exc|e|err|error)\}|__name__",
    "CWE-614": r"set_cookie|COOKIE_(SECURE|HTTPONLY)|secure=|httponly=",
    "CWE-347": r"verify_signature|[\"']none[\"']|get_unverified_(claims|header)|verify=False|b64decode|split\(\"\.\"\)",
}
# Patterns that are the weakness itself: in a vulnerable example every such (non-import) line is marked, and no
# fixed twin, no benign example and no hard negative of another label contains one.
GONE = {
    "CWE-327": r"\b(DES|DES3|ARC4|Blowfish|TripleDES|CAST5|IDEA)\b|MODE_ECB|modes\.ECB|PROTOCOL_(TLSv1|TLSv1_1|SSLv23|SSLv3)\b"
               r"|TLSVersion\.(TLSv1|TLSv1_1|SSLv3)\b|key_size=(512|768|1024)\b|generate\((512|768|1024)\)|\bRC4\b",
    "CWE-328": r"(?i)(?<!pbkdf2)(md5|sha1)",
    "CWE-338": r"\brandom\.(choice|choices|randint|random|getrandbits|sample|randrange|randbytes|seed|Random|shuffle|uniform)\b",
    "CWE-295": r"^(?!.*jwt\.).*\bverify\s*=\s*False|CERT_NONE|_create_unverified_context|check_hostname\s*=\s*False|AutoAddPolicy"
               r"|WarningPolicy|\bssl\s*=\s*False|verify_ssl\s*=\s*False",
    "CWE-319": r"""["'](http|ws|amqp|redis|ldap)://|\bFTP\(|telnetlib\.Telnet\(""",
    "CWE-377": r"\bmktemp\(|[\"']/tmp\b|gettempdir\(\)",
    "CWE-732": r"0o7[67][67]|0o666|umask\(0(o0+)?\)|S_IRWXO",
    "CWE-352": r"csrf_exempt|csrf\.exempt|WTF_CSRF_ENABLED\s*=\s*False|WTF_CSRF_ENABLED\"\]\s*=\s*False|enforce_csrf"
               r"|^\s*csrf\s*=\s*False|\.remove\(\"django\.middleware\.csrf|!= \"django\.middleware\.csrf",
    "CWE-215": r"\bdebug\s*=\s*True|\bDEBUG\s*=\s*True|DEBUG\"\]\s*=\s*True|use_debugger\s*=\s*True|evalex\s*=\s*True"
               r"|bottle\.debug\(True\)",
    "CWE-209": r"format_exc|format_exception|\b(str|repr)\((exc|e|err|error|ex)(\.orig)?\)|\b(exc|e|err|error)\.args"
               r"|\{(exc|e|err|error)\}",
    "CWE-614": r"\b(secure|httponly)\s*=\s*False|COOKIE_(SECURE|HTTPONLY)\s*=\s*False",
    "CWE-347": r"[\"']verify_signature[\"']\s*:\s*False|[\"']none[\"']|get_unverified_claims|get_unverified_header"
               r"|jwt\.decode\([^)]*\bverify=False|b64decode|\[\"alg\"\]",
}
STRONG_EXTRA = {"CWE-614": r"set_cookie\("}

BANNED = {"bad", "unsafe", "vuln", "vulnerable", "vulnerability", "safe", "secure", "insecure", "good", "evil",
          "attack", "attacker", "exploit", "danger", "dangerous", "weak", "malicious", "hack", "hacker", "fixed",
          "patched", "cwe", "unsafely", "insecurely"}
try:  # the project-wide list kept by the shared generator helpers, when present
    from hunkguard_train.synth.common import LEAKY_WORDS as _SHARED  # noqa: E402
    BANNED |= set(_SHARED)
except ImportError:  # pragma: no cover - common.py is written in parallel
    pass
# Real API names that contain such words; they are allowed as whole identifiers only (`secure=` only as a keyword).
ALLOWED_COMPOUNDS = re.compile(r"\b(secure_filename|SESSION_COOKIE_SECURE|CSRF_COOKIE_SECURE|REMEMBER_COOKIE_SECURE"
                               r"|safe_load|CSRF_TRUSTED_ORIGINS)\b|\bsecure(?=\s*=)")


@pytest.fixture(scope="module")
def gen():
    t0 = time.perf_counter()
    recs = cc.generate(random.Random(SEED))
    return recs, time.perf_counter() - t0


@pytest.fixture(scope="module")
def recs(gen):
    return gen[0]


def _label_of(r):
    """The CWE a record belongs to (its own, its twin's, or its hard-negative family's); None for benign."""
    head = r["family"].split("/")[0]
    for cwe, slug in SLUG.items():
        if slug == head:
            return cwe
    return None


def _is_import(line: str) -> bool:
    s = line.strip()
    return s.startswith("import ") or s.startswith("from ")


# ------------------------------------------------------------------------------------------ shape and counts
def test_generation_is_fast(gen):
    assert gen[1] < 10.0, f"generation took {gen[1]:.1f}s"


def test_record_schema(recs):
    cats = None
    cat_path = REPO / "models" / "cwe_catalogue.yml"
    if cat_path.exists():
        yaml = pytest.importorskip("yaml")
        cats = {e["id"] for e in yaml.safe_load(cat_path.read_text())["labels"]}
    for r in recs:
        assert set(r) == {"code", "cwe", "vuln_lines", "family", "pair", "kind"}
        assert r["kind"] in ("vuln", "fix", "hard-negative")
        assert re.fullmatch(r"(cwe\d+|benign)/[a-z0-9-]+", r["family"]), r["family"]
        if r["kind"] == "vuln":
            assert r["cwe"] in cc.LABELS and r["pair"] and r["vuln_lines"]
            if cats is not None:
                assert r["cwe"] in cats
            assert r["family"].startswith(SLUG[r["cwe"]] + "/")
        else:
            assert r["cwe"] is None and r["vuln_lines"] == []
            assert (r["pair"] is not None) == (r["kind"] == "fix")


def test_counts_per_label(recs):
    c = Counter()
    fams = defaultdict(set)
    for r in recs:
        lab = _label_of(r)
        c[(lab, r["kind"])] += 1
        if r["kind"] == "vuln":
            fams[lab].add(r["family"])
    for cwe in LABELS:
        vuln, fix, hn = c[(cwe, "vuln")], c[(cwe, "fix")], c[(cwe, "hard-negative")]
        assert vuln >= 150, (cwe, vuln)
        assert fix == vuln, (cwe, fix, vuln)
        assert fix + hn >= 150, (cwe, fix, hn)
        assert hn >= 30, (cwe, hn)
        assert len(fams[cwe]) >= 4, (cwe, fams[cwe])
    assert c[(None, "hard-negative")] >= 1400
    benign_fams = {r["family"] for r in recs if r["family"].startswith("benign/")}
    assert len(benign_fams) >= 15, benign_fams


def test_families_are_not_tiny(recs):
    per = Counter(r["family"] for r in recs if r["kind"] != "fix")
    for fam, n in per.items():
        assert n >= 15, (fam, n)


def test_no_duplicate_code(recs):
    dup = [k for k, v in Counter(r["code"] for r in recs).items() if v > 1]
    assert not dup, dup[:1]


# ------------------------------------------------------------------------------------------ code validity
def test_every_example_parses(recs):
    for r in recs:
        code = textwrap.dedent(r["code"])
        try:
            ast.parse(code)
        except SyntaxError as e:  # pragma: no cover - message only
            pytest.fail(f"{r['family']} ({r['kind']}) does not parse: {e}\n{r['code']}")
        n = len(r["code"].rstrip("\n").split("\n"))
        assert 3 <= n <= 60, (r["family"], n)


def test_no_comments(recs):
    for r in recs:
        toks = tokenize.generate_tokens(io.StringIO(r["code"]).readline)
        assert not [t for t in toks if t.type == tokenize.COMMENT], r["family"]


def _words(code: str):
    code = ALLOWED_COMPOUNDS.sub(" ", code)
    for ident in re.findall(r"[A-Za-z][A-Za-z0-9]*", code.replace("_", " ")):
        for part in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+", ident):
            yield part.lower()


def test_no_leaky_identifiers(recs):
    for r in recs:
        hit = BANNED.intersection(_words(r["code"]))
        assert not hit, (hit, r["family"], r["kind"], r["code"])


def test_secure_keyword_only_as_cookie_argument(recs):
    for r in recs:
        code = r["code"]
        for m in re.finditer(r"(?<![\w.])secure\s*=", code):
            before = code[: m.start()]
            k = before.rfind("set_cookie(")
            assert k >= 0 and ")\n" not in before[k:], (r["family"], code)


# ------------------------------------------------------------------------------------------ vuln_lines
def test_vuln_lines_are_well_formed(recs):
    for r in recs:
        if r["kind"] != "vuln":
            continue
        lines = r["code"].split("\n")
        vl = r["vuln_lines"]
        assert vl == sorted(set(vl)), vl
        for n in vl:
            assert 1 <= n <= len(lines) and lines[n - 1].strip(), (r["family"], n, r["code"])


def test_vuln_lines_hold_the_weakness(recs):
    for r in recs:
        if r["kind"] != "vuln":
            continue
        lines = r["code"].split("\n")
        marked = [lines[n - 1] for n in r["vuln_lines"]]
        assert any(re.search(ANY[r["cwe"]], m) for m in marked), (r["cwe"], r["family"], marked, r["code"])
        strong = "|".join(p for p in (GONE.get(r["cwe"]), STRONG_EXTRA.get(r["cwe"])) if p)
        if not strong:
            continue
        for i, line in enumerate(lines, 1):
            if not _is_import(line) and re.search(strong, line):
                assert i in r["vuln_lines"], (r["cwe"], r["family"], i, line, r["code"])


def _string_literals(line: str) -> list[str]:
    out = []
    try:
        for t in tokenize.generate_tokens(io.StringIO(line.strip() + "\n").readline):
            if t.type == tokenize.STRING:
                out.append(ast.literal_eval(t.string) if not t.string.lstrip("rbRB").startswith(("f", "F")) else t.string)
    except (tokenize.TokenError, SyntaxError, ValueError):
        pass
    return [x.decode() if isinstance(x, bytes) else x for x in out]


def _pairs(recs):
    by = defaultdict(list)
    for r in recs:
        if r["pair"] is not None:
            by[r["pair"]].append(r)
    return by


def test_twins(recs):
    by = _pairs(recs)
    assert len(by) == sum(1 for r in recs if r["kind"] == "vuln")
    for pair, rs in by.items():
        assert sorted(r["kind"] for r in rs) == ["fix", "vuln"], pair
        v = next(r for r in rs if r["kind"] == "vuln")
        f = next(r for r in rs if r["kind"] == "fix")
        assert v["family"] == f["family"]
        assert v["code"] != f["code"]
        vl, fl = v["code"].split("\n"), f["code"].split("\n")
        hunks = [(i1, i2) for tag, i1, i2, _, _ in difflib.SequenceMatcher(None, vl, fl, autojunk=False).get_opcodes()
                 if tag != "equal"]
        assert hunks
        marks0 = [n - 1 for n in v["vuln_lines"]]

        def dist(h):
            lo, hi = h[0], max(h[0], h[1] - 1)
            return min(0 if lo <= m <= hi else min(abs(m - lo), abs(m - hi)) for m in marks0)

        assert min(dist(h) for h in hunks) <= 4, (pair, v["code"], f["code"])
        changed = sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in
                      difflib.SequenceMatcher(None, vl, fl, autojunk=False).get_opcodes() if tag != "equal")
        assert changed <= max(10, len(vl) // 2), (pair, changed)


def test_fix_removes_the_weakness(recs):
    by = _pairs(recs)
    for pair, rs in by.items():
        v = next(r for r in rs if r["kind"] == "vuln")
        f = next(r for r in rs if r["kind"] == "fix")
        pat = GONE.get(v["cwe"])
        if pat:
            bad_lines = [l for l in f["code"].split("\n") if not _is_import(l) and re.search(pat, l, re.M)]
            assert not bad_lines, (v["cwe"], bad_lines, f["code"])
        if v["cwe"] == "CWE-798":
            lines = v["code"].split("\n")
            lits = [lit for n in v["vuln_lines"] for lit in _string_literals(lines[n - 1]) if len(lit) >= 8]
            assert any(lit not in f["code"] for lit in lits), (lits, f["code"])
        if v["cwe"] == "CWE-614":
            for m in re.finditer(r"set_cookie\(", f["code"]):
                call = f["code"][m.end():].split(")\n", 1)[0]
                assert "secure=True" in call and "httponly=True" in call, f["code"]


def test_cookie_label_uses_secure_keyword_on_both_sides(recs):
    v614 = [r["code"] for r in recs if r["cwe"] == "CWE-614"]
    f614 = [r["code"] for r in recs if r["kind"] == "fix" and r["family"].startswith("cwe614/")]
    assert any("secure=False" in c for c in v614)
    assert any("secure=True" in c for c in v614)
    assert sum("secure=True" in c for c in f614) >= len([c for c in f614 if "set_cookie(" in c])


def test_no_cross_label_weakness(recs):
    """Safe code holds no weakness of any label; vulnerable code holds only its own."""
    for r in recs:
        own = _label_of(r)
        for cwe, pat in GONE.items():
            if (r["kind"] == "vuln" and cwe == r["cwe"]) or (r["kind"] == "hard-negative" and cwe == own):
                continue
            hits = [l for l in r["code"].split("\n") if not _is_import(l) and re.search(pat, l)]
            assert not hits, (cwe, r["family"], r["kind"], hits)


def test_shared_boilerplate(recs):
    """`import os` and `os.environ` must not by themselves tell vulnerable from fixed code."""
    v = [r["code"] for r in recs if r["kind"] == "vuln"]
    f = [r["code"] for r in recs if r["kind"] == "fix"]
    rate = lambda codes, s: sum(s in c for c in codes) / len(codes)  # noqa: E731
    assert rate(v, "import os") >= 0.4 * rate(f, "import os")
    assert rate(v, "os.environ") >= 0.25 * rate(f, "os.environ")


# ------------------------------------------------------------------------------------------ determinism
def test_deterministic(recs):
    again = cc.generate(random.Random(SEED))
    assert again == recs
    other = cc.generate(random.Random(SEED + 1))
    assert [r["code"] for r in other] != [r["code"] for r in recs]
