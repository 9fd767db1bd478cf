"""Source CWE ids -> catalogue labels; unknown positives are dropped, never made safe."""
from collections import Counter

from hunkguard_train.data import realfix_record_to_example, seed_record_to_example
from hunkguard_train.labels import Catalogue, norm_cwe

CAT = Catalogue()


def test_norm_and_aliases():
    assert norm_cwe("CWE-022") == "CWE-22"
    assert CAT.canonical("CWE-80") == "CWE-79"
    assert CAT.canonical("CWE-259") == "CWE-798"
    assert CAT.canonical("CWE-730") == "CWE-1333"
    assert CAT.canonical("CWE-916") == "CWE-328"
    assert CAT.canonical("CWE-89") == "CWE-89"
    for unknown in ("CWE-20", "CWE-74", "CWE-200", "CWE-605"):
        assert CAT.canonical(unknown) is None
    assert len(set(CAT.labels)) == len(CAT.labels)


def _seed(**kw):
    r = {"id": "x", "source": "github/codeql/python/ql/test/a.py", "code": "a = 1\nb = f(a)\nc = g(b)",
         "label_origin": "codeql-inline", "cwe": None, "vuln_lines": []}
    r.update(kw)
    return r


def test_seed_unknown_positive_dropped_not_safe():
    st = Counter()
    assert seed_record_to_example(_seed(cwe="CWE-20", cwe_harmonized="CWE-20", vuln_lines=[2]), CAT, st) is None
    assert st["seed_pos_dropped_unknown"] == 1


def test_seed_harmonized_and_multi_label():
    ex = seed_record_to_example(_seed(cwe="CWE-20", cwe_harmonized="CWE-611", vuln_lines=[2]), CAT)
    assert ex.labels == {"CWE-611"} and ex.lines.labels[1] == {"CWE-611"}
    ex = seed_record_to_example(_seed(cwe="CWE-614", cwe_harmonized="CWE-614", vuln_lines=[2],
                                      cwe_all=["CWE-614", "CWE-1004", "CWE-1275"],
                                      vuln_lines_by_cwe={"CWE-614": [2], "CWE-1004": [2], "CWE-1275": [3]}), CAT)
    assert ex.labels == {"CWE-614"}
    assert ex.lines.labels[1] == {"CWE-614"}
    # line 3 carries only an unknown CWE: masked out of the token loss, not a safe line
    assert ex.lines.known == [True, True, False]


def test_seed_negative_is_safe():
    ex = seed_record_to_example(_seed(), CAT)
    assert ex.labels == frozenset() and not ex.lines.positive_lines()


def test_bandit_mark_safe_maps_to_xss():
    ex = seed_record_to_example(_seed(source="PyCQA/bandit/examples/m.py", label_origin="bandit", cwe="CWE-80",
                                      cwe_harmonized="CWE-79", vuln_lines=[1]), CAT)
    assert ex.origin == "bandit" and ex.labels == {"CWE-79"}


def test_realfix_mapping():
    base = {"id": "s:1:vul", "code": "def f(x):\n    q = 'a' + x\n    run(q)", "pair_id": "p1",
            "commit_link": "github.com/a/b/commit/1"}
    v = realfix_record_to_example(dict(base, cwe="CWE-326", vuln_lines=[2]), CAT)
    assert v.labels == {"CWE-327"} and v.lines.labels[1] == {"CWE-327"} and v.group == "fix:a/b"
    f = realfix_record_to_example(dict(base, id="s:1:fix", cwe=None, vuln_lines=[]), CAT)
    assert f.labels == frozenset() and f.kind == "fix" and f.pair == "p1"
    # a fix that only adds lines: sequence label kept, token labels masked
    v2 = realfix_record_to_example(dict(base, cwe="CWE-89", vuln_lines=[]), CAT)
    assert v2.labels == {"CWE-89"} and not any(v2.lines.known)
