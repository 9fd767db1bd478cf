"""The injection generators: counts, parsing, exact vuln lines, no leaky names, determinism, twins."""
import ast
import collections
import difflib
import io
import random
import re
import textwrap
import time
import tokenize

import pytest

from hunkguard_train.synth import inj_data, inj_paths_cmd, inj_query, inj_web, injection
from hunkguard_train.synth.common import LEAKY_WORDS

LABELS = {
    inj_paths_cmd: ["CWE-22", "CWE-78", "CWE-94"],
    inj_web: ["CWE-79", "CWE-601", "CWE-113", "CWE-117", "CWE-918"],
    inj_query: ["CWE-89", "CWE-90", "CWE-643", "CWE-943"],
    inj_data: ["CWE-502", "CWE-611", "CWE-1333"],
}
ALL_LABELS = [c for cs in LABELS.values() for c in cs]

BUILD = r"""\bf["']|\.format\(|["'] % |["'] \+ | \+ ["']|\.join\("""
SINKS = {
    "CWE-22": r"open\(|os\.path\.join|Path|\s/\s|send_file|FileResponse|extractall|read_text|read_bytes|unlink|\.stat\(",
    "CWE-78": r"os\.system|subprocess\.|os\.popen|create_subprocess_shell",
    "CWE-94": r"\beval\(|\bexec\(|\bcompile\(|Template\(|from_string\(|render_template_string",
    "CWE-79": r"return|print\(|wfile\.write|sendall|Markup\(|mark_safe\(|autoescape|\|safe|\.render\(|<\w+",
    "CWE-601": r"redirect|Redirect|HTTPFound|Location|https://",
    "CWE-113": r"headers?\b|send_header|start_response|Set-Cookie|Content-Disposition|attachment|HTTP/1\.1|sendall|print\(|return .*\{|\]\s*=",
    "CWE-117": r"\b(logger|log|_log)\.(info|warning|error|debug)\(|\.write\(|print\(",
    "CWE-918": r"requests\.|httpx\.|urlopen|\.get\(|\.post\(|http://",
    "CWE-89": r"execute|\.raw\(|SELECT|UPDATE",
    "CWE-90": r"\.search|simple_bind|Connection\(|uid=",
    "CWE-643": r"xpath|XPath|findall|//|\w+\((tree|doc|users_xml|catalog|self\.\w+)\b",
    "CWE-943": r"\.find|aggregate|update_one",
    "CWE-502": r"pickle|loads\(|yaml\.|marshal|jsonpickle|dill|read_pickle|torch\.load|shelve|\w+\[",
    "CWE-611": r"XMLParser|fromstring|XML\(|parse|setFeature|make_parser",
    "CWE-1333": r"\bre\.|\.match\(|\.fullmatch\(|\.search\(|\.findall\(",
}
ALLOWED_API = {"safe_load", "safe_load_all", "safe_join", "secure_filename", "escape_filter_chars", "escape_dn_chars",
               "escape_rdn", "mark_safe", "SafeLoader", "markupsafe"}


@pytest.fixture(scope="module", params=[0, 9])
def records(request):
    t = time.perf_counter()
    recs = injection.generate(random.Random(request.param))
    assert time.perf_counter() - t < 10
    return recs


def _stmt_text(tree, lines, ln):
    best = None
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and node.lineno <= ln <= node.end_lineno:
            if best is None or node.end_lineno - node.lineno <= best.end_lineno - best.lineno:
                best = node
    assert best is not None, ln
    end = best.end_lineno
    body = getattr(best, "body", None)
    if isinstance(body, list) and body:
        end = body[0].lineno - 1
    return "\n".join(lines[best.lineno - 1:end])


def test_counts_per_label(records):
    c = collections.Counter((r["cwe"] or r["family"], r["kind"]) for r in records)
    by = collections.defaultdict(collections.Counter)
    for r in records:
        fam_cwe = "CWE-" + r["family"].split("/")[0][3:]
        by[fam_cwe][r["kind"]] += 1
        if r["kind"] == "vuln":
            assert r["cwe"] == fam_cwe
        else:
            assert r["cwe"] is None and r["vuln_lines"] == []
    assert set(by) == set(ALL_LABELS)
    for cwe in ALL_LABELS:
        k = by[cwe]
        assert k["vuln"] >= 150, (cwe, k)
        assert k["fix"] == k["vuln"], (cwe, k)
        assert k["hard-negative"] >= 30, (cwe, k)
        assert k["fix"] + k["hard-negative"] >= 150, (cwe, k)
    assert c


def test_families(records):
    fams = collections.defaultdict(set)
    for r in records:
        assert re.fullmatch(r"cwe\d+/[a-z0-9-]+", r["family"]), r["family"]
        if r["kind"] == "vuln":
            fams[r["cwe"]].add(r["family"])
    for cwe in ALL_LABELS:
        assert len(fams[cwe]) >= 4, (cwe, fams[cwe])


def test_parse_and_no_comments(records):
    for r in records:
        code = textwrap.dedent(r["code"])
        ast.parse(code)
        toks = tokenize.generate_tokens(io.StringIO(code).readline)
        assert not any(t.type == tokenize.COMMENT for t in toks), r["code"]
        assert 3 <= len(code.strip().splitlines()) <= 60, r["code"]


def test_vuln_lines_point_at_sinks(records):
    for r in records:
        if r["kind"] != "vuln":
            continue
        code = textwrap.dedent(r["code"])
        lines = code.splitlines()
        tree = ast.parse(code)
        assert r["vuln_lines"] and r["vuln_lines"] == sorted(set(r["vuln_lines"]))
        sink = re.compile(SINKS[r["cwe"]] + "|" + BUILD)
        for ln in r["vuln_lines"]:
            assert 1 <= ln <= len(lines)
            text = _stmt_text(tree, lines, ln)
            assert sink.search(text), (r["family"], ln, text, r["code"])


def test_twins(records):
    pairs = collections.defaultdict(list)
    for r in records:
        if r["kind"] in ("vuln", "fix"):
            assert r["pair"]
            pairs[r["pair"]].append(r)
        else:
            assert r["pair"] is None
    for pid, rs in pairs.items():
        assert sorted(x["kind"] for x in rs) == ["fix", "vuln"], pid
        v, f = (rs[0], rs[1]) if rs[0]["kind"] == "vuln" else (rs[1], rs[0])
        assert v["family"] == f["family"]
        assert v["code"] != f["code"]
        vl = v["code"].splitlines()
        fl = set(f["code"].splitlines())
        changed = {i for i, line in enumerate(vl, 1)
                   if line not in fl and not line.startswith(("import ", "from "))}
        assert changed <= set(v["vuln_lines"]), (pid, changed, v["vuln_lines"], v["code"], f["code"])
        diff = [d for d in difflib.ndiff(vl, f["code"].splitlines()) if d[:1] in "+-"]
        assert len(diff) <= 14, (pid, diff)


def test_no_duplicate_code(records):
    codes = [r["code"] for r in records]
    assert len(codes) == len(set(codes))


def _defined_names(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            yield node.id
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node.name
        elif isinstance(node, ast.arg):
            yield node.arg
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            yield node.attr


def test_no_leaky_identifiers(records):
    leaky = set(LEAKY_WORDS) | {"escaped", "cleaned", "clean", "sanitized", "check_path", "validated"}
    for r in records:
        tree = ast.parse(textwrap.dedent(r["code"]))
        for name in _defined_names(tree):
            if name in ALLOWED_API:
                continue
            parts = set(re.split(r"_|(?<=[a-z])(?=[A-Z])", name.lower())) | {name.lower()}
            assert not parts & leaky, (name, r["code"])
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                words = set(re.findall(r"[a-z]+", node.value.lower().replace("bad request", "")))
                assert not words & (set(LEAKY_WORDS) - {"safe"}), (node.value, r["code"])


@pytest.mark.parametrize("mod", [inj_paths_cmd, inj_web, inj_query, inj_data, injection])
def test_deterministic(mod):
    a = mod.generate(random.Random(7))
    b = mod.generate(random.Random(7))
    assert a == b
    assert a != mod.generate(random.Random(8))


@pytest.mark.parametrize("mod", list(LABELS))
def test_submodule_labels(mod):
    recs = mod.generate(random.Random(3))
    assert {r["cwe"] for r in recs if r["cwe"]} == set(LABELS[mod])
