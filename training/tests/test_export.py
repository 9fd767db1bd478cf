"""The exported graph has the I/O names, types and dynamic axes the Rust runtime expects."""
import numpy as np
import onnxruntime as ort
import torch

import pytest

from hunkguard_train.export import (average_models, average_weights, check_against_torch, export_onnx, io_signature,
                                    dequantized_fp32, load_onnx_weights, quantize)
from hunkguard_train.model import HunkNet


def test_export_io(tmp_path):
    torch.manual_seed(0)
    net = HunkNet(vocab=300, n_labels=5, d=32, layers=1, heads=2, ff=64, max_len=64)
    p = tmp_path / "m.onnx"
    export_onnx(net, p)
    sig = io_signature(p)
    assert sig["opset"] == 17 and sig["ir_version"] <= 8
    assert list(sig["inputs"]) == ["input_ids", "attention_mask"]
    assert list(sig["outputs"]) == ["seq_probs", "token_probs"]
    assert all(v["elem_type"] == 7 for v in sig["inputs"].values())  # int64
    assert all(v["elem_type"] == 1 for v in sig["outputs"].values())  # float32
    assert sig["inputs"]["input_ids"]["shape"] == ["batch", "seq"]
    assert sig["outputs"]["token_probs"]["shape"] == ["batch", "seq", 5]
    sess = ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
    for b, t in ((1, 7), (3, 19)):
        ids = np.random.default_rng(0).integers(5, 300, size=(b, t)).astype(np.int64)
        s, tp = sess.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})
        assert s.shape == (b, 5) and tp.shape == (b, t, 5)
        assert ((s >= 0) & (s <= 1)).all()
    assert check_against_torch(net, p) < 1e-4
    q = tmp_path / "q.onnx"
    quantize(p, q)
    assert io_signature(q)["ir_version"] <= 8
    assert check_against_torch(net, q) < 0.05


def test_padding_does_not_change_scores(tmp_path):
    torch.manual_seed(1)
    net = HunkNet(vocab=300, n_labels=4, d=32, layers=1, heads=2, ff=64, max_len=64).eval()
    p = tmp_path / "m.onnx"
    export_onnx(net, p)
    sess = ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
    ids = np.array([[2, 50, 60, 70, 3]], dtype=np.int64)
    s1, t1 = sess.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})
    pad = np.concatenate([ids, np.zeros((1, 6), dtype=np.int64)], axis=1)
    att = np.concatenate([np.ones((1, 5)), np.zeros((1, 6))], axis=1).astype(np.int64)
    s2, t2 = sess.run(None, {"input_ids": pad, "attention_mask": att})
    assert np.abs(s1 - s2).max() < 1e-5 and np.abs(t1 - t2[:, :5]).max() < 1e-5


def test_an_average_of_models_reads_like_one_model_and_outputs_their_mean(tmp_path):
    paths, outs = [], []
    ids = np.random.default_rng(2).integers(5, 300, size=(2, 9)).astype(np.int64)
    att = np.ones_like(ids)
    att[1, 6:] = 0
    for seed in (3, 4):
        torch.manual_seed(seed)
        net = HunkNet(vocab=300, n_labels=4, d=32, layers=1, heads=2, ff=64, max_len=64).eval()
        p = tmp_path / f"m{seed}.onnx"
        export_onnx(net, p)
        q = tmp_path / f"q{seed}.onnx"
        quantize(p, q)  # the shipped members are int8
        paths.append(q)
        outs.append(ort.InferenceSession(str(q), providers=["CPUExecutionProvider"]).run(
            None, {"input_ids": ids, "attention_mask": att}))
    avg = tmp_path / "avg.onnx"
    average_models(paths, avg)
    sig, one = io_signature(avg), io_signature(paths[0])
    assert sig["inputs"] == one["inputs"] and sig["outputs"] == one["outputs"] and sig["ir_version"] <= 8
    s, t = ort.InferenceSession(str(avg), providers=["CPUExecutionProvider"]).run(
        None, {"input_ids": ids, "attention_mask": att})
    assert np.abs(s - (outs[0][0] + outs[1][0]) / 2).max() < 1e-6
    assert np.abs(t - (outs[0][1] + outs[1][1]) / 2).max() < 1e-6
    assert np.abs(outs[0][0] - outs[1][0]).max() > 1e-3, "two seeds that agree would test nothing"
    with pytest.raises(ValueError):
        average_models(paths[:1], tmp_path / "one.onnx")


def test_an_average_of_weights_is_one_model_with_the_mean_weights(tmp_path):
    torch.manual_seed(5)
    a = HunkNet(vocab=300, n_labels=4, d=32, layers=1, heads=2, ff=64, max_len=64).eval()
    b = HunkNet(vocab=300, n_labels=4, d=32, layers=1, heads=2, ff=64, max_len=64).eval()
    mean = HunkNet(vocab=300, n_labels=4, d=32, layers=1, heads=2, ff=64, max_len=64).eval()
    with torch.no_grad():
        for pa, pb, pm in zip(a.parameters(), b.parameters(), mean.parameters()):
            pm.copy_((pa + pb) / 2)
    paths = []
    for name, net in (("a", a), ("b", b)):
        paths.append(tmp_path / f"{name}.onnx")
        export_onnx(net, paths[-1])
    soup = tmp_path / "soup.onnx"
    average_weights(paths, soup)
    assert io_signature(soup) == io_signature(paths[0])
    assert soup.stat().st_size < 1.2 * paths[0].stat().st_size, "one model's size, not two"
    assert check_against_torch(mean, soup) < 1e-4
    assert check_against_torch(a, soup) > 1e-3, "the soup must differ from a member"
    other = HunkNet(vocab=300, n_labels=4, d=32, layers=2, heads=2, ff=64, max_len=64).eval()
    export_onnx(other, tmp_path / "other.onnx")
    with pytest.raises(ValueError):
        average_weights([paths[0], tmp_path / "other.onnx"], tmp_path / "bad.onnx")


def test_a_model_shipped_as_int8_gets_back_an_fp32_graph_that_can_be_averaged(tmp_path):
    torch.manual_seed(7)
    config = dict(vocab=300, n_labels=4, d=32, layers=1, heads=2, ff=64, max_len=64)
    net = HunkNet(**config).eval()
    with torch.no_grad():  # as trained weights are: a fresh net's equal LayerNorm weights are merged by the exporter
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    export_onnx(net, tmp_path / "fp32.onnx")
    quantize(tmp_path / "fp32.onnx", tmp_path / "int8.onnx")
    diff = dequantized_fp32(tmp_path / "int8.onnx", config, tmp_path / "back.onnx")
    assert 0 < diff < 0.1, "the dequantized graph reproduces the int8 one up to int8 activations"
    assert io_signature(tmp_path / "back.onnx") == io_signature(tmp_path / "fp32.onnx")
    assert check_against_torch(net, tmp_path / "back.onnx") < 0.1, "and stays close to the weights it came from"
    average_weights([tmp_path / "fp32.onnx", tmp_path / "back.onnx"], tmp_path / "soup.onnx")
    assert check_against_torch(net, tmp_path / "soup.onnx") < 0.1
    with pytest.raises(ValueError):
        dequantized_fp32(tmp_path / "int8.onnx", dict(config, d=48, ff=96), tmp_path / "wrong.onnx")


def test_run_average_refuses_what_it_cannot_average_with_a_one_line_error(tmp_path):
    import json
    import shutil
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(root / "training"))
    import run

    shipped = root / "models"
    out = ["--out", str(tmp_path / "out"), "--work", str(tmp_path / "work")]
    assert run.main(["--average", str(shipped)] + out) == 2  # one member
    assert run.main(["--average", str(shipped), str(tmp_path / "nowhere")] + out) == 2
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(shipped / "model.onnx", other / "model.onnx")
    shutil.copy(shipped / "tokenizer.json", other / "tokenizer.json")
    for broken in ("{not json", "5", json.dumps({"version": "x"})):
        (other / "manifest.json").write_text(broken)
        assert run.main(["--average", str(shipped), str(other)] + out) == 2, broken
    # a member without its fp32 graph, whose manifest does not say how to rebuild the net, cannot be averaged by weights
    man = json.loads((shipped / "manifest.json").read_text())
    del man["metrics"]["training"]["config"]
    (other / "manifest.json").write_text(json.dumps(man))
    assert run.main(["--average", str(shipped), str(other), "--average-of", "weights"] + out) == 2
    assert not (tmp_path / "out").exists(), "nothing is written when the members are refused"


@pytest.mark.parametrize("quantized", [False, True])
def test_a_model_loaded_back_from_its_graph_computes_what_the_graph_computes(tmp_path, quantized):
    torch.manual_seed(6)
    trained = HunkNet(vocab=300, n_labels=4, d=32, layers=2, heads=2, ff=64, max_len=64).eval()
    with torch.no_grad():  # weights far from a fresh net's, as training leaves them
        for w in trained.parameters():
            w.add_(0.2 * torch.randn_like(w))
    p = tmp_path / "m.onnx"
    export_onnx(trained, p)
    if quantized:
        quantize(p, tmp_path / "q.onnx")
        p = tmp_path / "q.onnx"
    fresh = HunkNet(vocab=300, n_labels=4, d=32, layers=2, heads=2, ff=64, max_len=64).eval()
    assert check_against_torch(fresh, p) > 0.1, "two random nets must differ for the test to mean anything"
    n = load_onnx_weights(fresh, p)
    assert n == sum(1 for name, _ in fresh.named_parameters() if name != "mlm_bias"), "every exported tensor is set"
    # int8 weights come back dequantized: what the shipped graph computes, to within its activation rounding
    assert check_against_torch(fresh, p) < (0.02 if quantized else 1e-5)


def test_loading_weights_from_a_graph_of_another_shape_is_refused(tmp_path):
    other = HunkNet(vocab=300, n_labels=4, d=48, layers=1, heads=2, ff=64, max_len=64).eval()
    export_onnx(other, tmp_path / "other.onnx")
    net = HunkNet(vocab=300, n_labels=4, d=32, layers=1, heads=2, ff=64, max_len=64).eval()
    with pytest.raises(ValueError):
        load_onnx_weights(net, tmp_path / "other.onnx")
