"""ONNX export (opset 17, ir_version <= 8, dynamic batch/sequence axes), int8 dynamic quantization and
the torch-vs-ONNX Runtime check."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
import torch

from .model import Exported, HunkNet

log = logging.getLogger(__name__)

INPUTS = ["input_ids", "attention_mask"]
OUTPUTS = ["seq_probs", "token_probs"]
MAX_IR = 8


def _fix_ir(path: Path) -> None:
    m = onnx.load(str(path))
    if m.ir_version > MAX_IR:
        m.ir_version = MAX_IR
        onnx.save(m, str(path))
    onnx.checker.check_model(onnx.load(str(path)))


def export_onnx(net: HunkNet, path: Path, opset: int = 17) -> None:
    net.eval()
    wrapper = Exported(net).eval()
    ids = torch.randint(5, net.config["vocab"], (2, 12), dtype=torch.int64)
    att = torch.ones_like(ids)
    att[1, 8:] = 0
    kwargs = dict(input_names=INPUTS, output_names=OUTPUTS, opset_version=opset, do_constant_folding=True,
                  dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                                "seq_probs": {0: "batch"}, "token_probs": {0: "batch", 1: "seq"}})
    with torch.no_grad():
        try:
            torch.onnx.export(wrapper, (ids, att), str(path), dynamo=False, **kwargs)
        except TypeError:  # older torch without the dynamo flag
            torch.onnx.export(wrapper, (ids, att), str(path), **kwargs)
    _fix_ir(path)


def quantize(src: Path, dst: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
    _fix_ir(dst)


def check_against_torch(net: HunkNet, path: Path, seed: int = 0) -> float:
    """Max abs difference between torch and ONNX Runtime on a padded random batch (valid positions)."""
    import onnxruntime as ort

    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, net.config["vocab"], (3, 40), generator=g, dtype=torch.int64)
    att = torch.ones_like(ids)
    att[1, 25:] = 0
    att[2, 7:] = 0
    ids[att == 0] = 0
    ids[:, 0] = 2
    net.eval()
    with torch.no_grad():
        s, t = Exported(net)(ids, att)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    so, to = sess.run(OUTPUTS, {"input_ids": ids.numpy(), "attention_mask": att.numpy()})
    m = att.numpy().astype(bool)
    return float(max(np.abs(so - s.numpy()).max(), np.abs(to - t.numpy())[m].max()))


def io_signature(path: Path) -> dict:
    m = onnx.load(str(path))

    def dims(v):
        return [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]

    return {"ir_version": m.ir_version, "opset": [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")][0],
            "inputs": {v.name: {"elem_type": v.type.tensor_type.elem_type, "shape": dims(v)} for v in m.graph.input},
            "outputs": {v.name: {"elem_type": v.type.tensor_type.elem_type, "shape": dims(v)} for v in m.graph.output}}
