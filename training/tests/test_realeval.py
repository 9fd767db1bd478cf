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
