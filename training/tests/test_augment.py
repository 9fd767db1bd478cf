"""Augmentation keeps line labels on the lines they belong to, and token labels follow lines."""
import ast
import json
import random
import re

import pytest

from hunkguard_train.data import DATA_DIR, realfix_record_to_example
from hunkguard_train.distil import decide
from hunkguard_train.labels import Catalogue
from hunkguard_train.pycode import (Lines, augment, fragment, is_risky, plant_secret, rename_identifiers,
                                    reshape_secret_values,
                                    strip_comments_and_docstrings)
from hunkguard_train.tok import token_lines, windows

CAT = Catalogue()
CODE = '''@app.route("/run")
def unsafe_run():
    """Runs the host check."""
    host = request.args.get("host")  # BAD: tainted
    # build the command
    cmd = "ping -c 1 " + host
    os.system(cmd)
    return render(result=cmd, shell=True)
'''
MARK = {6: {"CWE-78"}, 7: {"CWE-78"}}  # 1-based: the line building cmd and the sink


def _labelled_texts(lines: Lines):
    return [t for t, l in zip(lines.text, lines.labels) if l]


def test_strip_comments_and_docstrings_keeps_labels():
    src = Lines.from_code(CODE, MARK)
    out = strip_comments_and_docstrings(src)
    assert not any("#" in t or '"""' in t for t in out.text)
    lab = _labelled_texts(out)
    assert len(lab) == 2 and "ping -c 1" in lab[0] and "os.system(" in lab[1]


def test_rename_is_consistent_and_keeps_kwargs():
    out = rename_identifiers(Lines.from_code(CODE, MARK), random.Random(0))
    text = out.code
    assert "unsafe_run" not in text and "host =" not in text
    assert "shell=True" in text and "result=" in text  # keyword arguments keep their names
    lab = _labelled_texts(out)
    assert "os.system(" in lab[1]
    new_cmd = lab[0].split("=")[0].strip()
    assert f"os.system({new_cmd})" in lab[1]


@pytest.mark.parametrize("seed", range(25))
def test_augment_and_fragment_keep_alignment(seed):
    rng = random.Random(seed)
    pool = [Lines(["total = compute(a, b)", "if total > 3:", "    return total"])]
    out = fragment(augment(Lines.from_code(CODE, MARK), rng), rng, pool, p_context=1.0)
    lab = _labelled_texts(out)
    assert lab, "a positive fragment keeps a labelled line"
    for t in lab:
        assert ("ping -c 1" in t) or ("os.system(" in t)
    for t, l in zip(out.text, out.labels):
        if "os.system(" in t or "ping -c 1" in t:
            assert l == {"CWE-78"}


def test_real_records_keep_labelled_line_count():
    rng = random.Random(1)
    recs = [json.loads(l) for l in open(DATA_DIR / "realfix_train.jsonl")][:60]
    for r in recs:
        ex = realfix_record_to_example(r, CAT)
        if ex is None or not ex.lines.positive_lines():
            continue
        out = augment(ex.lines, rng)
        assert len(out.text) == len(out.labels) == len(out.known)
        # only comment/docstring lines may disappear; labelled code lines survive in order
        assert out.positive_lines()
        assert len(out.positive_lines()) <= len(ex.lines.positive_lines())


def test_token_lines_follow_first_visible_char():
    code = "a = 1\n    b = call(x)\n\nc = 2"
    offsets = [(0, 1), (5, 11), (21, 23), (23, 24)]  # "a", "\n    b", "\n\n", "c"
    assert token_lines(code, offsets) == [0, 1, -1, 3]


def test_windows_match_the_runtime():
    assert windows(10, 254, 128) == [(0, 10)]
    w = windows(600, 254, 128)  # step 126; the last window is moved back to end at 600
    assert w == [(0, 254), (126, 380), (252, 506), (346, 600)]
    covered = set()
    for a, b in w:
        assert b - a <= 254
        covered.update(range(a, b))
    assert covered == set(range(600))


def test_risky_filter():
    assert is_risky("subprocess.call(cmd, shell=True)")
    assert is_risky("data = yaml.load(f)")
    assert is_risky("h = hashlib.md5(x)")
    assert is_risky("requests.get(url, verify=False)")
    assert not is_risky("def add(a, b):\n    return a + b")


SECRETS = r'''SECRET_KEY = "\2\1thisismyscretkey\1\2"
settings = {"password": "hunter2", "user": "bob"}
conn = connect(password='abc123xyz', host="h")
if token == "abc":
    greeting = "hello"
'''


def test_credential_lines_get_values_of_other_shapes_and_nothing_else_changes():
    lines = Lines.from_code(SECRETS, {1: {"CWE-798"}, 2: {"CWE-798"}, 3: {"CWE-798"}})
    rng = random.Random(0)
    seen = set()
    for _ in range(30):
        out = reshape_secret_values(lines, rng)
        ast.parse(out.code)  # still Python
        assert out.labels == lines.labels and out.text[3:] == lines.text[3:]
        assert out.text[0].startswith('SECRET_KEY = "') and "thisismyscretkey" not in out.text[0]
        # the secret-named entry of the dict gets the new value, not the user name after it
        assert out.text[1].endswith('"user": "bob"}') and '"hunter2"' not in out.text[1]
        assert out.text[2].startswith("conn = connect(password='") and out.text[2].endswith(', host="h")')
        seen.add(out.text[0])
    assert len(seen) == 30, "every draw is a new value"


def test_a_comparison_with_a_literal_is_not_an_assignment_to_reshape():
    lines = Lines.from_code('if token == "abc":\n    pass\n', {1: {"CWE-798"}})
    assert reshape_secret_values(lines, random.Random(0)).text == lines.text


PLAIN = '''@app.route("/x")
@login_required
def view(request):
    """Doc."""
    data = request.args.get("q")
    if data:
        return render(data)
    else:
        return None
'''


def test_a_planted_credential_goes_where_a_statement_can_and_only_it_is_labelled():
    lines = Lines.from_code(PLAIN)
    rng = random.Random(0)
    for hard_coded in (True, False) * 20:
        out = plant_secret(lines, rng, hard_coded)
        ast.parse(out.code)  # between statements, at their indentation, never between a decorator and its def
        assert len(out.text) == len(lines.text) + 1
        new = [i for i in range(len(out.text)) if out.text[:i] + out.text[i + 1:] == lines.text]
        assert new, "the original lines are all kept, in order"
        i = new[0]
        assert out.labels[i] == (frozenset({"CWE-798"}) if hard_coded else frozenset())
        assert all(not l for k, l in enumerate(out.labels) if k != i)
        assert not out.text[i - 1].lstrip().startswith("@") if i else True


def test_the_corpus_labelling_rule_agrees_with_both_planted_lines():
    """A planted credential is what the rule for Bandit's B105/B106 teaches as positive, and its twin is not, so
    planting adds contexts, not a second definition of a hard-coded credential."""
    rng = random.Random(1)
    for _ in range(200):
        for hard_coded in (True, False):
            out = plant_secret(Lines.from_code("x = 1\n"), rng, hard_coded)
            # Bandit's B105 reads plain assignments only, so the rule is asked about the line without its annotation
            line = next(t for t in out.text if t != "x = 1").replace(": str =", " =")
            target = re.sub(r"""(['"])(?:(?!\1).)*\1(?!.*['"])""", "", line)  # the line without its value
            if not re.search(r"pas+wo?r?d|pass(phrase)?|pwd|token|secrete?|key", target, re.I):
                # Bandit's B105/B106 report only such names: this line would be a benign line of the corpus
                assert not hard_coded, line
                continue
            verdict = decide("B106" if "(" in line else "B105", "LOW", "MEDIUM", line, line, "")
            assert (verdict.decision == "positive") == hard_coded, (line, verdict)


def test_code_that_does_not_parse_gets_no_planted_credential():
    assert plant_secret(Lines.from_code("def f(:\n    x = (\n"), random.Random(0), True) is None


def test_planting_adds_a_credential_window_and_its_twin_and_leaves_the_other_windows_as_drawn():
    from hunkguard_train.data import Example
    from hunkguard_train.tok import train_tokenizer
    from hunkguard_train.train import make_items

    tok = train_tokenizer([PLAIN * 20, "SECRET_KEY = 'abc'\npassword = os.environ['X']\n" * 20], vocab_size=300)
    label_index = {"CWE-78": 0, "CWE-798": 1}
    benign = [Example(f"b{k}", Lines.from_code(PLAIN), frozenset(), "benign", f"g{k}", kind="benign") for k in range(6)]
    pool = [Lines(["x = 1"])]
    plain = make_items(benign, tok, label_index, random.Random(3), {"default": 1}, 254, pool)
    planted = make_items(benign, tok, label_index, random.Random(3), {"default": 1}, 254, pool, p_plant=1.0,
                         plant_seed=5)
    own = [i for i in planted if i.origin == "benign"]
    assert [list(i.ids) for i in own] == [list(i.ids) for i in plain]
    extra = [i for i in planted if i.origin == "planted"]
    hard_coded = [i for i in extra if i.seq[1] == 1.0]
    assert len(hard_coded) == 6 and len(extra) == 12
    assert all(i.y[:, 1].any() and not i.y[:, 0].any() for i in hard_coded), "the planted line's tokens are labelled"
    twins = [i for i in extra if i.seq[1] == 0.0]
    assert len(twins) == 6 and all(not i.seq.any() and not i.y.any() for i in twins)


def test_credential_values_are_reshaped_only_when_asked_for():
    from hunkguard_train.data import Example
    from hunkguard_train.tok import train_tokenizer
    from hunkguard_train.train import make_items

    code = 'SECRET_KEY = "thisismyscretkey"\nDEBUG = True\n'
    tok = train_tokenizer([code * 20], vocab_size=300)
    ex = Example("s", Lines.from_code(code, {1: {"CWE-798"}}), frozenset({"CWE-798"}), "corpus", "g", kind="vuln")
    kept = {tok.decode(list(i.ids)) for i in make_items([ex] * 8, tok, {"CWE-798": 0}, random.Random(0), {}, 254,
                                                          [Lines(["x = 1"])], p_frag=0.0)}
    assert kept and all("thisismyscretkey" in t for t in kept)
    new = [tok.decode(list(i.ids)) for i in make_items([ex] * 8, tok, {"CWE-798": 0}, random.Random(0), {}, 254,
                                                        [Lines(["x = 1"])], p_frag=0.0, p_reshape=1.0)]
    assert new and not any("thisismyscretkey" in t for t in new)
