"""Training preprocesses code exactly as the Rust runtime does: the same comment/docstring stripping and
the same token-to-line map, checked on the fixture set that the Rust tests read too
(tests/fixtures/preprocess/cases.json; tests/preprocess_parity.rs)."""
import json
from pathlib import Path

import pytest

from hunkguard_train.pycode import Lines, strip_comments_and_docstrings, strip_lines
from hunkguard_train.tok import token_lines

CASES = json.loads((Path(__file__).resolve().parents[2] / "tests/fixtures/preprocess/cases.json").read_text())


@pytest.mark.parametrize("case", CASES["strip"], ids=lambda c: c["name"])
def test_strip_matches_the_shared_fixture(case):
    assert strip_lines(case["lines"]) == case["expected"]


@pytest.mark.parametrize("case", CASES["token_lines"], ids=lambda c: repr(c["text"][:12]))
def test_token_lines_match_the_shared_fixture(case):
    got = token_lines(case["text"], [tuple(o) for o in case["offsets"]])
    assert [g if g >= 0 else None for g in got] == case["expected"]


def test_a_long_trailing_comment_is_gone_and_labels_stay_on_their_lines():
    case = next(c for c in CASES["strip"] if c["name"] == "docstring_function")
    lines = Lines.from_code("\n".join(case["lines"]), {8: {"CWE-78"}})
    out = strip_comments_and_docstrings(lines)
    kept = [t for t in case["expected"] if t is not None]
    assert out.text == kept
    assert [bool(label) for label in out.labels] == [False, False, True]
