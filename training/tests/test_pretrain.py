"""The pretrained checkpoint is reused only for the corpus and model config it was trained for: a changed
corpus manifest or a changed model shape must never silently fine-tune from stale weights."""
import json

import torch

from hunkguard_train.corpus import SourceFile
from hunkguard_train.pretrain import load_checkpoint, pretrain

CFG = dict(vocab=300, corpus_chars=10_000, d=16, layers=1, heads=2, ff=32, mlm_steps=2, mlm_batch=2, mlm_lr=1e-3)
MAX_LEN = 32
N_LABELS = 3

SOURCES = {
    "alpha": [SourceFile("alpha", f"alpha/m{i}.py", f"def f{i}(x):\n    return x * {i} + len(str(x))\n", False)
              for i in range(40)],
    "beta": [SourceFile("beta", "beta/held.py", "HELD_OUT_ONLY = 'never pretrained on'\n", False)],
}
ROWS = [{"package": "alpha", "split": "train"}, {"package": "beta", "split": "val"}]


def _pretrained(tmp_path):
    out = tmp_path / "ckpt"
    pretrain(SOURCES, ROWS, "sha-of-manifest", CFG, N_LABELS, MAX_LEN, seed=7, out=out)
    return out


def test_checkpoint_round_trip_gives_the_same_weights(tmp_path):
    out = _pretrained(tmp_path)
    assert sorted(p.name for p in out.iterdir()) == ["encoder.pt", "recipe.json", "tokenizer.json"]
    recipe = json.loads((out / "recipe.json").read_text())
    assert recipe["corpus_manifest_sha256"] == "sha-of-manifest"
    assert recipe["mlm"]["steps"] == 2
    assert recipe["corpus_files"] == 40, "only train-split packages are pretrained on"
    tok, net, _ = load_checkpoint(out, "sha-of-manifest", CFG, N_LABELS, MAX_LEN)
    saved = torch.load(out / "encoder.pt", weights_only=True)
    for name, value in net.state_dict().items():
        assert torch.equal(value, saved[name].float()), name
    assert tok.get_vocab_size() == net.config["vocab"]


def test_checkpoint_of_another_corpus_is_not_used(tmp_path):
    out = _pretrained(tmp_path)
    assert load_checkpoint(out, "sha-of-another-manifest", CFG, N_LABELS, MAX_LEN) is None


def test_checkpoint_of_another_model_shape_is_not_used(tmp_path):
    out = _pretrained(tmp_path)
    assert load_checkpoint(out, "sha-of-manifest", dict(CFG, d=32), N_LABELS, MAX_LEN) is None
    assert load_checkpoint(out, "sha-of-manifest", CFG, N_LABELS + 1, MAX_LEN) is None


def test_missing_checkpoint_is_not_an_error(tmp_path):
    assert load_checkpoint(tmp_path / "nowhere", "sha-of-manifest", CFG, N_LABELS, MAX_LEN) is None
