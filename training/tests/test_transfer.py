"""Distilling on unlabelled code (`--transfer N`): which chunks are drawn, how they are taught, how imitation is read."""
import random

import numpy as np
import pytest
import torch

from hunkguard_train.data import Example, norm_key, unlabelled_chunks
from hunkguard_train.distil import Chunk
from hunkguard_train.evaluate import imitation
from hunkguard_train.model import HunkNet
from hunkguard_train.pycode import Lines
from hunkguard_train.tok import train_tokenizer
from hunkguard_train.train import Item, finetune, make_items, teacher_targets
from test_teacher import L, _items, _seq_prob, _teacher_that_says


def _chunks() -> list[Chunk]:
    out = []
    for pkg in ("alpha", "beta", "heldout"):
        for k in range(40):
            out.append(Chunk(pkg, f"{pkg}/m{k}.py", 1, f"def f{k}():\n    x = {k}\n    return x + {len(pkg)}\n"))
    return out


SPLIT = {"alpha": "train", "beta": "train", "heldout": "val"}


def test_unlabelled_chunks_come_from_training_packages_and_skip_what_the_run_holds():
    chunks = _chunks()
    used = {"corpus:alpha/alpha/m0.py:1", "corpus:beta/beta/m1.py:1"}
    # a training chunk whose code is also held-out code is never drawn
    held_out = {norm_key(chunks[5].code)}
    got = unlabelled_chunks(chunks, SPLIT, used, held_out, 1000, seed=1, purpose="transfer")
    uids = {e.uid for e in got}
    assert len(got) == 80 - 2 - 1
    assert not uids & used and "corpus:alpha/alpha/m5.py:1" not in uids
    assert all(e.meta["package"] in ("alpha", "beta") and e.origin == "transfer" and not e.positive for e in got)


def test_two_draws_are_disjoint_when_the_second_skips_the_first_and_each_is_reproducible():
    chunks = _chunks()
    a = unlabelled_chunks(chunks, SPLIT, set(), set(), 20, seed=1, purpose="imitation")
    b = unlabelled_chunks(chunks, SPLIT, {e.uid for e in a}, set(), 20, seed=1, purpose="transfer")
    assert len(a) == len(b) == 20 and not {e.uid for e in a} & {e.uid for e in b}
    assert [e.uid for e in a] == [e.uid for e in unlabelled_chunks(chunks, SPLIT, set(), set(), 20, 1, "imitation")]


def test_an_unlabelled_window_carries_no_hard_target_and_leaves_the_labelled_draws_as_they_were():
    code = "import os\ndef run(cmd):\n    os.system(cmd)\n"
    tok = train_tokenizer([code * 20, "def f(x):\n    return x\n" * 20], vocab_size=300)
    label_index = {"CWE-78": 0, "CWE-89": 1}
    lab = Example("a", Lines.from_code(code, {3: {"CWE-78"}}), frozenset({"CWE-78"}), "corpus", "g", kind="vuln")
    unl = Example("u", Lines.from_code(code), frozenset(), "transfer", "g2", kind="transfer")
    pool = [Lines(["x = 1"])]
    plain = make_items([lab] * 5, tok, label_index, random.Random(3), {"default": 1}, 254, pool)
    mixed = make_items([lab] * 5 + [unl] * 3, tok, label_index, random.Random(3), {"default": 1}, 254, pool)
    assert [list(i.ids) for i in mixed[:len(plain)]] == [list(i.ids) for i in plain]
    extra = mixed[len(plain):]
    assert len(extra) == 3 and all(not i.hard and not i.m.any() and not i.seq.any() for i in extra)
    assert all(i.hard for i in plain)


def test_unlabelled_windows_without_a_teacher_are_refused():
    items = _items(4, np.random.default_rng(3))
    items[0].hard = False
    net = HunkNet(vocab=300, n_labels=L, d=32, layers=1, heads=2, ff=64, max_len=64)
    with pytest.raises(ValueError, match="unlabelled windows need a teacher"):
        finetune(net, items, epochs=1, lr=1e-3, max_batch_tokens=2048, seed=0)


def test_on_unlabelled_windows_the_teacher_is_the_only_target():
    # the same windows and teacher at the same weight: labelled (hard label 0) they are pulled half way back to 0,
    # unlabelled they learn the teacher's 0.95
    p = {}
    for hard in (True, False):
        torch.manual_seed(0)
        items = _items(120, np.random.default_rng(1))
        for it in items:
            it.hard = hard
            if not hard:
                it.m[:] = 0
        teacher_targets(items, _teacher_that_says(0.95))
        net = HunkNet(vocab=300, n_labels=L, d=32, layers=1, heads=2, ff=64, max_len=64)
        finetune(net, items, epochs=40, lr=3e-3, max_batch_tokens=2048, seed=0, distil_weight=0.5, max_steps=120)
        p[hard] = _seq_prob(net, items, 2)
    assert p[False] > 0.8 and p[True] < 0.6, p


def test_imitation_reads_the_ranking_not_the_scale():
    rng = np.random.default_rng(4)
    teacher = rng.random((200, 3)).astype(np.float32)
    same_order = teacher ** 3  # another calibration, the same ranking
    out = imitation(same_order, teacher, ["a", "b", "c"], top=50)
    assert out["mean_top_overlap"] == 50 and all(v["top_overlap"] == 50 for v in out["per_label"].values())
    reversed_ = imitation(1 - teacher, teacher, ["a", "b", "c"], top=50)
    assert reversed_["mean_top_overlap"] == 0
    assert all(v["logit_corr"] < -0.9 for v in reversed_["per_label"].values())
    flat = imitation(np.full_like(teacher, 0.5), teacher, ["a", "b", "c"], top=50)
    assert all(v["logit_corr"] is None for v in flat["per_label"].values())


def test_run_refuses_transfer_without_a_teacher(tmp_path, caplog):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import run

    assert run.main(["--smoke", "--transfer", "100", "--out", str(tmp_path / "o")]) == 2
    assert "--transfer" in caplog.text and "--teacher" in caplog.text
    assert not (tmp_path / "o").exists()
