"""The validation split never cuts a fix commit, a seed source file, a synthetic family or a benign package."""
from collections import Counter, defaultdict

from hunkguard_train import data as D
from hunkguard_train.labels import Catalogue
from hunkguard_train.pycode import Lines


def _ex(uid, origin, group, labels=(), pair=None, code=None):
    return D.Example(uid, Lines.from_code(code or f"x_{uid} = call_{uid}()"), frozenset(labels), origin, group, pair=pair)


def test_split_keeps_groups_together_synthetic():
    exs = []
    for c in range(40):
        for k in range(3):
            exs.append(_ex(f"r{c}{k}v", "realfix", f"realfix:c{c}", ["CWE-89" if c % 2 else "CWE-79"], pair=f"p{c}{k}"))
            exs.append(_ex(f"r{c}{k}f", "realfix", f"realfix:c{c}", [], pair=f"p{c}{k}"))
    for fam in range(25):
        for k in range(4):
            exs.append(_ex(f"s{fam}{k}", "synth", f"synth:cwe89/fam{fam}", ["CWE-89"] if k % 2 else []))
    for pkg in range(30):
        for k in range(5):
            exs.append(_ex(f"b{pkg}{k}", "benign", f"benign:site/pkg{pkg}"))
    split = D.assign_split(exs, seed=7)
    sides = defaultdict(set)
    for e in exs:
        sides[e.group].add(split[e.group])
    assert all(len(s) == 1 for s in sides.values())
    train, val = D.split_examples(exs, 7, Counter())
    pairs = defaultdict(set)
    for e in train:
        pairs[e.pair].add("train")
    for e in val:
        pairs[e.pair].add("val")
    assert all(len(s) == 1 for p, s in pairs.items() if p)
    for origin in ("realfix", "synth", "benign"):
        assert any(e.origin == origin for e in val) and any(e.origin == origin for e in train)


def test_split_on_shared_data_no_commit_or_file_straddles():
    cat, st = Catalogue(), Counter()
    exs = D.dedup(D.load_seed(cat, st) + D.load_realfix(cat, st), st)
    train, val = D.split_examples(exs, 1234, st)
    tg = {e.group for e in train}
    vg = {e.group for e in val}
    assert not tg & vg
    commits_t = {e.meta["commit"] for e in train if e.origin == "realfix"}
    commits_v = {e.meta["commit"] for e in val if e.origin == "realfix"}
    assert commits_v and not commits_t & commits_v
    pairs_t = {e.pair for e in train if e.pair}
    assert not pairs_t & {e.pair for e in val if e.pair}
    files_v = {e.group for e in val if e.origin in ("codeql", "bandit")}
    assert files_v and not files_v & {e.group for e in train if e.origin in ("codeql", "bandit")}
    # no exact duplicate of a validation example stays in train
    vk = {D.norm_key(e.code) for e in val}
    assert not any(D.norm_key(e.code) in vk for e in train)


def test_split_is_the_same_in_every_process():
    """Set iteration order changes with PYTHONHASHSEED; the split must not."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, collections; sys.path.insert(0, %r)\n"
            "from hunkguard_train import data as D\n"
            "from hunkguard_train.labels import Catalogue\n"
            "c, st = Catalogue(), collections.Counter()\n"
            "ex = D.dedup(D.load_seed(c, st) + D.load_realfix(c, st), st)\n"
            "s = D.assign_split(ex, 1234)\n"
            "print(sorted(g for g, v in s.items() if v == 'val'))\n") % str(Path(__file__).resolve().parents[1])
    outs = set()
    for hs in ("0", "1", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=hs)
        outs.add(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout)
    assert len(outs) == 1


def test_realfix_pair_edits_count_changed_lines_per_pair():
    from hunkguard_train.data import Example, realfix_pair_edits
    from hunkguard_train.pycode import Lines

    def ex(code, vul, pair):
        return Example(f"{pair}:{vul}", Lines.from_code(code), frozenset({"CWE-89"} if vul else ()), "realfix",
                       "c", pair=pair)

    body = "def f(q):\n    a = 1\n\n    b = 2\n    return run(%s)\n"
    exs = [ex(body % "'x' + q", True, "p1"), ex(body % "'x', q", False, "p1"),
           ex("def g():\n    x = 1\n    y = 2\n", True, "p2"), ex("def g():\n    x = 3\n    y = 4\n", False, "p2"),
           ex("def lone():\n    pass\n", True, "p3")]
    ed = realfix_pair_edits(exs)
    assert ed["pairs"] == 2
    assert ed["median_changed_lines"] == 1.5  # one line, then two
    assert ed["share_changed_le_2"] == 1.0
