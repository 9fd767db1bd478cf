"""The quiet-set reading: the model reads each definition as the runtime does (no comments, no docstrings), and a
finding lands on its line in the file."""
import numpy as np

from hunkguard_train import realeval as RE
from hunkguard_train.tok import train_tokenizer

CODE = 'import os\n\n\ndef run(expr):\n    # eval(expr) would be wrong here\n    """Never eval input."""\n    return eval(expr)\n'


def test_quiet_reads_without_comments_and_docstrings_and_reports_the_line_in_the_file(tmp_path):
    tok = train_tokenizer([CODE] * 20, vocab_size=300)
    evil = {i for t, i in tok.get_vocab().items() if "eval" in t}
    assert evil

    def predict(ids, att):
        # a stand-in model: the one label fires on a window that holds an `eval` token, and those carry it
        tokens = (np.isin(ids, list(evil)) & (att > 0)).astype(np.float32)[:, :, None]
        return tokens.max(axis=1), tokens

    q = RE.quiet(predict, tok, [("app.py", CODE)], np.array([0.5], dtype=np.float32), ["CWE-94"], 0.5,
                 tmp_path, 64, 16)
    assert [(f["line"], f["code"]) for f in q["top"]] == [(7, "return eval(expr)")]


def test_ground_recall_weighs_a_line_a_package_repeats_once():
    from hunkguard_train.data import Example
    from hunkguard_train.pycode import Lines

    def ex(uid, pkg, code, labelled):
        lines = Lines.from_code(code, {labelled: {"CWE-798"}}, set())
        return Example(uid, lines, frozenset({"CWE-798"}), "corpus", f"corpus:{pkg}", meta={"package": pkg})

    secret = 'SECRET_KEY = "thisismysecretkey"\nDEBUG = False'
    exs = [ex(f"a{i}", "appbuilder", secret, 1) for i in range(3)] + [ex("b", "other", 'x = 1\nPASSWORD = "hunter22"', 2)]
    # the model finds the other package's password and none of the three copies of the secret key
    found = {"b"}
    preds = [{"CWE-798"} if e.uid in found else set() for e in exs]
    r = RE.bandit_family_recall(preds, exs)
    assert (r["findings"], r["found"], r["recall"]) == (4, 1, 0.25)
    assert (r["distinct"], r["recall_distinct"]) == (2, 0.5)


def test_paired_difference_counts_the_cases_only_one_model_gets_right():
    d = RE.paired_difference(["a", "b", "c"], ["c", "d"], n=10)
    assert (d["right_a"], d["right_b"], d["only_a"], d["only_b"]) == (7, 8, 1, 2)
    # 3 discordant cases split 1/2 is what chance gives: p = 1
    assert d["p_value"] == 1.0
    lopsided = RE.paired_difference([], [f"m{i}" for i in range(12)], n=100)
    assert lopsided["only_a"] == 12 and lopsided["only_b"] == 0
    assert lopsided["p_value"] < 0.001  # 2 / 2**12
    assert RE.paired_difference(["x"], ["x"], n=5)["p_value"] == 1.0


def test_compare_manifests_pairs_cases_only_when_both_runs_list_them():
    def manifest(missed, failed, n_frag=3):
        return {"metrics": {"real_code": {
            "bandit_ground": {"shipped": {"findings": 4, "missed": missed}},
            "bandit_ground_fragments": {"shipped": {"findings": n_frag, "missed": []}},
            "fix_pairs": {"shipped": {"pairs": 2, "failed": failed}}}}}

    lines = RE.compare_manifests(manifest(["g1"], ["p1"]), manifest(["g1", "g2"], [], n_frag=4))
    assert lines[0] == "Bandit's ground: A 3/4, B 2/4; only A right 1, only B right 0; sign test p = 1.0"
    assert lines[1] == "fragments: 3 vs 4 cases, no common case list to pair them"
    assert lines[2].startswith("fix pairs: A 1/2, B 2/2; only A right 0, only B right 1")
    old = {"metrics": {"real_code": {"bandit_ground": {"shipped": {"findings": 4}}}}}
    assert "no common case list" in RE.compare_manifests(old, manifest([], []))[0]
    assert RE.compare_manifests({}, manifest([], []))[0] == "Bandit's ground: not measured in both"


def test_ground_recall_and_fix_pairs_name_the_cases_they_miss():
    from hunkguard_train.data import Example
    from hunkguard_train.pycode import Lines

    labels = ["CWE-78", "CWE-89"]
    th = np.array([0.5, 0.5])

    def result(seq, line):
        ls = np.zeros((3, 2))
        ls[line, :] = 0.9
        return {"seq": np.array(seq), "line_scores": ls}

    def ex(uid, label, line, kind="vuln", pair=None, origin="corpus"):  # line: 1-based
        lines = Lines.from_code("a = 1\nb = 2\nc = 3", {line: {label}} if kind == "vuln" else None, set())
        return Example(uid, lines, frozenset({label}) if kind == "vuln" else frozenset(), origin, uid, kind=kind,
                       pair=pair)

    exs = [ex("hit", "CWE-78", 2), ex("far", "CWE-78", 1), ex("silent", "CWE-89", 3)]
    res = [result([0.9, 0.0], 1), result([0.9, 0.0], 2), result([0.0, 0.1], 2)]
    g = RE.ground_recall(res, exs, [th] * 3, labels, 0.5)
    assert g["found"] == 1 and g["missed"] == ["far:1:CWE-78", "silent:3:CWE-89"]

    pairs = [ex("v1", "CWE-89", 1, pair="p1", origin="advisory"), ex("f1", "CWE-89", 1, kind="fix", pair="p1", origin="advisory"),
             ex("v2", "CWE-89", 1, pair="p2", origin="advisory"), ex("f2", "CWE-89", 1, kind="fix", pair="p2", origin="advisory")]
    # p1: vulnerable flagged, fix not (told apart); p2: both flagged
    res = [result([0.0, 0.9], 0), result([0.0, 0.1], 0), result([0.0, 0.9], 0), result([0.0, 0.8], 0)]
    fp = RE.fix_pairs(res, pairs, [th] * 4, labels)
    assert fp["vul_flagged_fix_not"] == 0.5 and fp["failed"] == ["p2"]


def test_a_line_the_token_head_is_sure_of_fires_its_label_alone_when_asked():
    labels = ["CWE-78", "CWE-89"]
    th = np.array([0.5, 0.5])
    ls = np.zeros((3, 2))
    ls[2, 1] = 0.997  # line 3 for CWE-89; the window reads 0.2
    r = {"seq": np.array([0.1, 0.2]), "line_scores": ls}
    assert RE.findings_of(r, th, labels, 0.98) == []
    assert RE.findings_of(r, th, labels, 0.98, line_alone=0.999) == []
    (lab, lines, score), = RE.findings_of(r, th, labels, 0.98, line_alone=0.995)
    assert (lab, lines, round(score, 3)) == ("CWE-89", [2], 0.997)
    assert list(RE.fires(r, th, 0.995)) == [False, True]
    # an empty reading (no lines) fires on its window only
    assert list(RE.fires({"seq": np.array([0.6, 0.1]), "line_scores": np.zeros((0, 2))}, th, 0.995)) == [True, False]


def test_run_compare_reads_two_model_folders_and_refuses_a_missing_one(tmp_path, capsys):
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import run

    a = tmp_path / "a"
    a.mkdir()
    (a / "manifest.json").write_text(json.dumps({"metrics": {"real_code": {
        "fix_pairs": {"shipped": {"pairs": 3, "failed": ["p1"]}}}}}))
    b = tmp_path / "b.json"
    b.write_text(json.dumps({"metrics": {"real_code": {"fix_pairs": {"shipped": {"pairs": 3, "failed": []}}}}}))
    assert run.main(["--compare", str(a), str(b)]) == 0
    assert "fix pairs: A 2/3, B 3/3; only A right 0, only B right 1" in capsys.readouterr().out
    assert run.main(["--compare", str(a), str(tmp_path / "nowhere")]) == 2
    (tmp_path / "broken.json").write_text("{not json")
    assert run.main(["--compare", str(a), str(tmp_path / "broken.json")]) == 2
