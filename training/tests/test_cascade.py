"""The cascade's gate: calibration keeps the asked share of firing windows, padding cannot change a
verdict, the export matches torch, and a gate distilled from a known teacher learns what it fires on."""
import random

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper

from hunkguard_train.cascade import (GateNet, OUTPUT, calibrate, check_export, export_gate, train_gate,
                                     window_rows)
from hunkguard_train.tok import CLS, SEP, train_tokenizer, windows


def test_calibrate_keeps_the_target_share_of_firing_windows():
    rng = np.random.default_rng(0)
    probs = rng.random(5000).astype(np.float32)
    fires = rng.random(5000) < probs ** 3  # firing windows score higher, with overlap
    threshold, kept, cleared = calibrate(probs, fires, 0.995)
    assert kept >= 0.995
    assert abs(kept - (probs[fires] >= threshold).mean()) < 1e-9
    assert abs(cleared - (probs < threshold).mean()) < 1e-9
    # the highest such threshold: one step up would lose more than allowed
    higher = np.sort(probs[fires])[np.sort(probs[fires]) > threshold]
    assert (probs[fires] >= higher[1]).mean() < 0.995
    # nothing fires: keep everything rather than guess
    assert calibrate(probs, np.zeros(5000, dtype=bool), 0.995) == (0.0, 1.0, 0.0)


def test_window_rows_cut_like_the_runtime():
    tok = train_tokenizer(["def f(x):\n    return x + 1\n"] * 50, vocab_size=300)
    code = "\n".join(f"v{i} = f({i})" for i in range(200))
    n = len(tok.encode(code, add_special_tokens=False).ids)
    rows = window_rows(tok, [code, ""], 64, 16)
    assert len(rows) == len(windows(n, 62, 16))
    assert all(r[0] == CLS and r[-1] == SEP and len(r) <= 64 for r in rows)


@pytest.mark.parametrize("teacher", [False, True])
def test_padding_does_not_change_the_gate_and_the_export_matches_torch(tmp_path, teacher):
    torch.manual_seed(0)
    # a teacher's embedding has a [PAD] row like any other (nonzero): padding must still read as nothing
    emb = np.random.default_rng(0).normal(size=(300, 32)).astype(np.float32) if teacher else None
    net = GateNet(vocab=300, embedding=emb).eval()
    ids = torch.tensor([[2, 50, 60, 70, 3]])
    pad = torch.tensor([[2, 50, 60, 70, 3, 0, 0, 0]])
    att = torch.tensor([[1, 1, 1, 1, 1, 0, 0, 0]])
    with torch.no_grad():
        assert abs(float(net(ids, torch.ones_like(ids))) - float(net(pad, att))) < 1e-6
    path = tmp_path / "gate.onnx"
    export_gate(net, path)
    m = onnx.load(str(path))
    assert m.ir_version <= 8 and [o.name for o in m.graph.output] == [OUTPUT]
    rows = [[2, *random.Random(i).choices(range(5, 300), k=3 + 7 * i), 3] for i in range(9)]
    assert check_export(net, path, rows) < 1e-5


def _teacher(path, marker: int):
    """A 'full model' that fires its one label exactly on windows holding token `marker`."""
    nodes = [
        helper.make_node("Constant", [], ["marker"], value=helper.make_tensor("m", TensorProto.INT64, [], [marker])),
        helper.make_node("Constant", [], ["two"], value=helper.make_tensor("t", TensorProto.INT64, [1], [2])),
        helper.make_node("Equal", ["input_ids", "marker"], ["hit"]),
        helper.make_node("Cast", ["hit"], ["hitf"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMax", ["hitf"], ["seq_probs"], axes=[1], keepdims=1),
        helper.make_node("Unsqueeze", ["hitf", "two"], ["token_probs"]),
    ]
    graph = helper.make_graph(
        nodes, "teacher",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["b", "s"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["b", "s"])],
        [helper.make_tensor_value_info("seq_probs", TensorProto.FLOAT, ["b", 1]),
         helper.make_tensor_value_info("token_probs", TensorProto.FLOAT, ["b", "s", 1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def test_a_gate_distilled_from_a_teacher_keeps_what_it_fires_on(tmp_path):
    rng = random.Random(0)
    names = ["alpha", "beta", "gamma", "delta", "total", "items", "result", "value"]

    def code(risky: bool) -> str:
        lines = [f"{rng.choice(names)} = {rng.choice(names)} + {rng.randint(0, 99)}" for _ in range(rng.randint(3, 30))]
        if risky:
            lines.insert(rng.randrange(len(lines)), "eval(request_text)")
        return "\n".join(lines)

    codes = [code(rng.random() < 0.25) for _ in range(400)]
    tok = train_tokenizer(codes, vocab_size=400)
    marker = tok.token_to_id("eval")
    assert marker is not None
    teacher = tmp_path / "teacher.onnx"
    _teacher(teacher, marker)
    assert ort.InferenceSession(str(teacher)).run(None, {
        "input_ids": np.array([[2, marker, 3]]), "attention_mask": np.ones((1, 3), dtype=np.int64)})[0][0, 0] == 1
    result = train_gate(teacher, tok, codes[:300], codes[300:], tmp_path / "out", seed=0, thresholds=[0.5],
                        max_length=64, overlap=8, epochs=4, threads=1)
    entry = result["manifest"]
    assert entry["file"] == "gate.onnx" and (tmp_path / "out" / "gate.onnx").is_file()
    assert entry["kept_recall"] >= 0.995
    assert entry["cleared_share"] >= 0.5, entry  # about 3/4 of the windows do not hold the marker
    assert result["card"]["validation_firing_windows"] > 10
    # the exported gate at the calibrated threshold keeps fresh windows holding the marker (a calibrated
    # rate on unseen windows, not a promise: one miss in 20 is allowed)
    sess = ort.InferenceSession(str(tmp_path / "out" / "gate.onnx"))
    rows = [[CLS, *tok.encode(code(True), add_special_tokens=False).ids[:62], SEP] for _ in range(20)]
    rows = [r for r in rows if marker in r]
    kept = 0
    for r in rows:
        ids = np.array([r], dtype=np.int64)
        (p,) = sess.run([OUTPUT], {"input_ids": ids, "attention_mask": np.ones_like(ids)})
        kept += int(p[0] >= entry["threshold"])
    assert len(rows) >= 10 and kept >= len(rows) - 1
