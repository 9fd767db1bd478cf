"""Fine-tuning against a teacher's probabilities (`--teacher`) or from a trained model (`--init`): what the student is
taught, and what is refused."""
import json

import numpy as np
import pytest
import torch

from hunkguard_train.model import HunkNet
from hunkguard_train.pipeline import check_teacher
from hunkguard_train.tok import CLS, PAD, SEP
from hunkguard_train.train import Item, collate, finetune, teacher_targets

L = 4


def _items(n: int, rng: np.random.Generator) -> list[Item]:
    """Benign windows of varied length: every hard label is 0."""
    out = []
    for _ in range(n):
        k = int(rng.integers(5, 40))
        out.append(Item(rng.integers(5, 300, size=k).astype(np.int64), np.zeros((k, L), np.uint8),
                        np.ones(k, np.uint8), np.zeros(L, np.float32), "corpus"))
    return out


def _teacher_that_says(p: float):
    """A stand-in teacher: probability `p` for label 2 on every window and token, 0.01 elsewhere; it also checks
    that it is given windows built like `collate` builds them."""
    def predict(ids, att):
        assert ids.dtype == np.int64 and ids.shape == att.shape
        assert (ids[:, 0] == CLS).all()
        for r in range(len(ids)):
            n = int(att[r].sum())
            assert ids[r, n - 1] == SEP and (ids[r, n:] == PAD).all()
        s = np.full((len(ids), L), 0.01, np.float32)
        s[:, 2] = p
        t = np.broadcast_to(s[:, None, :], (*ids.shape, L)).copy()
        return s, t
    return predict


def test_the_teacher_scores_each_window_the_student_reads():
    items = _items(50, np.random.default_rng(0))
    teacher_targets(items, _teacher_that_says(0.9), batch_tokens=256)
    for it in items:
        assert it.soft_seq.shape == (L,) and it.soft_tok.shape == (len(it.ids), L)
        assert it.soft_seq[2] == pytest.approx(0.9, abs=1e-3) and it.soft_seq[0] == pytest.approx(0.01, abs=1e-3)


def _seq_prob(net: HunkNet, items: list[Item], label: int) -> float:
    net.eval()
    ids, att, *_ = collate(items, list(range(len(items))), L)
    with torch.no_grad():
        s, _ = net(ids, att)
    return float(torch.sigmoid(s[:, label]).mean())


@pytest.mark.parametrize("weight, learns", [(0.0, False), (0.8, True)])
def test_the_student_learns_what_the_teacher_says_in_proportion_to_its_weight(weight, learns):
    torch.manual_seed(0)
    items = _items(120, np.random.default_rng(1))
    teacher_targets(items, _teacher_that_says(0.95))
    net = HunkNet(vocab=300, n_labels=L, d=32, layers=1, heads=2, ff=64, max_len=64)
    finetune(net, items, epochs=40, lr=3e-3, max_batch_tokens=2048, seed=0, distil_weight=weight, max_steps=120)
    p = _seq_prob(net, items, 2)
    # the hard labels say 0; at weight 0.8 the target is 0.8 * 0.95 = 0.76 on average
    assert (p > 0.5) == learns, p


def test_distillation_without_a_teachers_targets_is_refused():
    items = _items(5, np.random.default_rng(2))
    net = HunkNet(vocab=300, n_labels=L, d=32, layers=1, heads=2, ff=64, max_len=64)
    with pytest.raises(ValueError, match="teacher"):
        finetune(net, items, epochs=1, lr=1e-3, max_batch_tokens=2048, seed=0, distil_weight=0.5)


def test_a_teacher_folder_must_be_a_model_of_this_catalogue(tmp_path):
    labels = ["CWE-78", "CWE-89"]
    with pytest.raises(ValueError, match="no model.onnx"):
        check_teacher(tmp_path, labels)
    (tmp_path / "model.onnx").write_bytes(b"x")
    (tmp_path / "tokenizer.json").write_text("{}")
    (tmp_path / "manifest.json").write_text("not json")
    with pytest.raises(ValueError, match="not a readable manifest"):
        check_teacher(tmp_path, labels)
    m = {"labels": ["CWE-89", "CWE-78"], "outputs": ["seq_probs", "token_probs"], "version": "x"}
    (tmp_path / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ValueError, match="labels or outputs differ"):
        check_teacher(tmp_path, labels)
    m["labels"] = labels
    (tmp_path / "manifest.json").write_text(json.dumps(m))
    assert check_teacher(tmp_path, labels)["version"] == "x"


def test_run_refuses_a_bad_teacher_with_a_one_line_error(tmp_path, caplog):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import run

    assert run.main(["--smoke", "--teacher", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "--teacher" in caplog.text and "no model.onnx" in caplog.text
    assert run.main(["--smoke", "--teacher", str(tmp_path), "--distil-weight", "1.5"]) == 2
    assert not (tmp_path / "o").exists()


def test_run_refuses_a_bad_continuation_with_a_one_line_error(tmp_path, caplog):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import run

    assert run.main(["--smoke", "--init", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "--init" in caplog.text and "no model.onnx" in caplog.text
    assert run.main(["--smoke", "--init", str(tmp_path), "--recalibrate", str(tmp_path)]) == 2
    assert "give one of them" in caplog.text
    assert run.main(["--smoke", "--steps", "0"]) == 2
    assert not (tmp_path / "o").exists()


def test_run_refuses_a_credential_share_outside_0_to_1(tmp_path, caplog):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import run

    assert run.main(["--smoke", "--plant-secrets", "1.5", "--out", str(tmp_path / "o")]) == 2
    assert "--plant-secrets" in caplog.text
    assert run.main(["--smoke", "--reshape-secrets", "-0.1", "--out", str(tmp_path / "o")]) == 2
    assert "--reshape-secrets" in caplog.text
    assert not (tmp_path / "o").exists()


def test_an_average_refuses_training_flags_and_rebuilds_its_members_extended_data(tmp_path, caplog, monkeypatch):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import run
    from hunkguard_train import pipeline

    members = [str(tmp_path / "a"), str(tmp_path / "b")]
    for flags in (["--steps", "10"], ["--member-seed", "3"], ["--plant-secrets", "0.1"], ["--init", str(tmp_path)]):
        assert run.main(["--smoke", "--average", *members, *flags, "--out", str(tmp_path / "o")]) == 2
        assert "--average trains nothing" in caplog.text and flags[0] in caplog.text
        caplog.clear()
    assert run.main(["--smoke", "--average", *members, "--extend-corpus", "-5"]) == 2
    assert "--extend-corpus" in caplog.text
    seen = {}
    monkeypatch.setattr(pipeline, "average", lambda out, ms, **kw: seen.update(kw, members=ms))
    assert run.main(["--smoke", "--average", *members, "--extend-corpus", "900", "--out", str(tmp_path / "o")]) == 0
    assert seen["overrides"]["corpus_extend_lines"] == 900 and [str(m) for m in seen["members"]] == members
    assert not (tmp_path / "o").exists()


def _member(folder, extend):
    import json

    folder.mkdir()
    for name in ("model.onnx", "tokenizer.json"):
        (folder / name).write_text("same")
    training = {"params": 1, "finetune": {}, **({"corpus_extend_lines": extend} if extend is not None else {})}
    (folder / "manifest.json").write_text(json.dumps({"version": "x", "metrics": {"training": training}}))
    return folder


def test_an_average_is_calibrated_on_the_corpus_its_members_trained_on(tmp_path, monkeypatch):
    import pytest
    from hunkguard_train import export, pipeline

    seen = {}
    monkeypatch.setattr(export, "average_models", lambda srcs, dst: dst.write_text("avg"))
    monkeypatch.setattr(pipeline, "run", lambda out, **kw: seen.update(kw))
    a, b = _member(tmp_path / "a", 900), _member(tmp_path / "b", 900)
    pipeline.average(tmp_path / "o", [a, b], profile="smoke", work_dir=tmp_path / "w")
    assert seen["overrides"]["corpus_extend_lines"] == 900
    with pytest.raises(ValueError, match="--extend-corpus 5, but the members were trained with 900"):
        pipeline.average(tmp_path / "o", [a, b], profile="smoke", work_dir=tmp_path / "w",
                         overrides={"corpus_extend_lines": 5})
    c = _member(tmp_path / "c", 0)
    with pytest.raises(ValueError, match="differently extended corpora"):
        pipeline.average(tmp_path / "o", [a, c], profile="smoke", work_dir=tmp_path / "w")
    # members written before the extension was recorded take the flag as given
    old1, old2 = _member(tmp_path / "d", None), _member(tmp_path / "e", None)
    pipeline.average(tmp_path / "o", [old1, old2], profile="smoke", work_dir=tmp_path / "w",
                     overrides={"corpus_extend_lines": 7})
    assert seen["overrides"]["corpus_extend_lines"] == 7


def test_a_recalibration_rebuilds_the_corpus_its_model_trained_on(tmp_path, caplog, monkeypatch):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import run
    from hunkguard_train import pipeline

    seen = {}
    monkeypatch.setattr(pipeline, "run", lambda out, **kw: seen.update(kw))
    model = _member(tmp_path / "m", 900)
    assert run.main(["--smoke", "--recalibrate", str(model), "--out", str(tmp_path / "o")]) == 0
    assert seen["overrides"]["corpus_extend_lines"] == 900
    assert run.main(["--smoke", "--recalibrate", str(model), "--extend-corpus", "0"]) == 2
    assert "--recalibrate" in caplog.text and "trained with 900" in caplog.text
    assert run.main(["--smoke", "--recalibrate", str(tmp_path / "nothing")]) == 2
    assert "not a model folder" in caplog.text
