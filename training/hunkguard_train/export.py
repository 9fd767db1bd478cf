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


def average_models(members: list[Path], dst: Path) -> None:
    """One ONNX graph that runs every member on the same inputs and outputs the mean of their probabilities
    (same input and output names as one member, so the runtime reads it like any model). The members must share
    the tokenizer: they are fine-tunings of one pretrained encoder with different seeds."""
    from onnx import compose, helper

    if len(members) < 2:
        raise ValueError("an average needs at least two models")
    graphs, opsets, ir_version = [], {}, None
    for i, path in enumerate(members):
        m = onnx.load(str(path))
        ir_version = ir_version or m.ir_version
        if [v.name for v in m.graph.input] != INPUTS or [v.name for v in m.graph.output] != OUTPUTS:
            raise ValueError(f"{path}: inputs/outputs are not {INPUTS} -> {OUTPUTS}")
        for o in m.opset_import:
            opsets[o.domain] = max(opsets.get(o.domain, 0), o.version)
        graphs.append(compose.add_prefix(m, f"m{i}_", rename_inputs=False).graph)
    first = graphs[0]
    nodes = [n for g in graphs for n in g.node]
    for name in OUTPUTS:
        nodes.append(helper.make_node("Mean", [f"m{i}_{name}" for i in range(len(graphs))], [name],
                                      name=f"mean_{name}"))
    outputs = [helper.make_tensor_value_info(v.name[len("m0_"):], v.type.tensor_type.elem_type,
                                             [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim])
               for v in first.output]
    graph = helper.make_graph(nodes, "hunkguard_average", list(first.input), outputs,
                              initializer=[t for g in graphs for t in g.initializer],
                              value_info=[v for g in graphs for v in g.value_info])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in sorted(opsets.items())])
    model.ir_version = ir_version
    onnx.save(model, str(dst))
    _fix_ir(dst)


def average_weights(members: list[Path], dst: Path) -> None:
    """One fp32 graph whose weights are the mean of the members' weights (a "model soup"): the cost of one model.
    It only makes sense for fine-tunings that started from the same weights (`member_seed` keeps the initial
    weights); the members must be fp32 exports of one architecture, initializer for initializer."""
    from onnx import numpy_helper

    if len(members) < 2:
        raise ValueError("an average needs at least two models")
    models = [onnx.load(str(p)) for p in members]
    first = models[0]
    inits = [{t.name: t for t in m.graph.initializer} for m in models]
    ops = [[n.op_type for n in m.graph.node] for m in models]
    if any(set(i) != set(inits[0]) for i in inits) or any(o != ops[0] for o in ops):
        raise ValueError("the members are not one architecture: their graphs differ")
    averaged = []
    for t in first.graph.initializer:
        arrays = [numpy_helper.to_array(i[t.name]) for i in inits]
        if any(a.shape != arrays[0].shape for a in arrays):
            raise ValueError(f"initializer {t.name} has different shapes in the members")
        if np.issubdtype(arrays[0].dtype, np.floating):
            value = np.mean(np.stack(arrays).astype(np.float64), axis=0).astype(arrays[0].dtype)
        elif all(np.array_equal(a, arrays[0]) for a in arrays):
            value = arrays[0]  # shapes, indices: constants of the architecture
        else:
            raise ValueError(f"integer initializer {t.name} differs between the members")
        averaged.append(numpy_helper.from_array(value, t.name))
    del first.graph.initializer[:]
    first.graph.initializer.extend(averaged)
    onnx.save(first, str(dst))
    _fix_ir(dst)


def load_onnx_weights(net: HunkNet, path: Path) -> int:
    """Set `net`'s weights from a graph this module exported (fp32, or int8 from `quantize`, dequantized), so a
    shipped model can be trained on from where it stands (`run.py --init`). Returns the number of tensors set.

    The exporter keeps a parameter's name for most initializers (`net.<param>`) but folds a Linear weight into
    an anonymous transposed `onnx::MatMul_*`; those are matched by exporting `net` itself and finding which
    parameter each anonymous initializer equals. Raises ValueError when the graph is not of `net`'s shape."""
    import copy
    import tempfile

    from onnx import numpy_helper

    params = dict(net.named_parameters())
    # a copy with distinct random values everywhere: the exporter merges equal initializers (a fresh net's
    # LayerNorm weights are all ones), and every parameter must be told apart by its value
    probe = copy.deepcopy(net)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in probe.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    probe_params = dict(probe.named_parameters())
    with tempfile.TemporaryDirectory() as tmp:
        ref_path = Path(tmp) / "ref.onnx"
        export_onnx(probe, ref_path)
        ref_graph = onnx.load(str(ref_path)).graph
    ref = {t.name: numpy_helper.to_array(t) for t in ref_graph.initializer}
    # the quantizer turns a Gemm(transB=1) into a MatMul and stores its weight the other way round
    gemm_b = {n.input[1] for n in ref_graph.node if n.op_type == "Gemm"
              and any(a.name == "transB" and a.i == 1 for a in n.attribute)}
    # initializer name -> (parameter name, stored transposed)
    where: dict[str, tuple[str, bool]] = {}
    for name, arr in ref.items():
        if name.startswith("net.") and name[4:] in params:
            where[name] = (name[4:], False)
            continue
        for pname, p in probe_params.items():
            w = p.detach().numpy()
            if w.ndim == 2 and w.T.shape == arr.shape and np.array_equal(w.T, arr):
                where[name] = (pname, True)
                break
    got = {t.name: t for t in onnx.load(str(path)).graph.initializer}

    def value(name: str) -> np.ndarray:
        """The initializer as the fp32 export stores it."""
        if name in got:
            return numpy_helper.to_array(got[name]).astype(np.float32)
        q = [got.get(f"{name}_{s}") for s in ("quantized", "scale", "zero_point")]
        if any(t is None for t in q):
            raise ValueError(f"{path}: no initializer for {name}: not a graph of this model")
        w, scale, zero = (numpy_helper.to_array(t) for t in q)
        w = (w.astype(np.float32) - zero.astype(np.float32)) * scale.astype(np.float32)
        return w.T if name in gemm_b else w

    with torch.no_grad():
        for name, (pname, transposed) in where.items():
            arr = value(name)
            arr = arr.T if transposed else arr
            if tuple(arr.shape) != tuple(params[pname].shape):
                raise ValueError(f"{path}: {name} is {arr.shape}, {pname} is {tuple(params[pname].shape)}")
            params[pname].copy_(torch.from_numpy(np.ascontiguousarray(arr)))
    unmatched = sorted(set(ref) - set(where))
    if unmatched:
        raise ValueError(f"{path}: initializers that match no parameter: {unmatched[:5]}")
    return len(where)


def dequantized_fp32(src: Path, config: dict, dst: Path) -> float:
    """Write an fp32 graph of the model in `src` (int8 from `quantize`) to `dst`: its weights dequantized, as
    `run.py --init` starts from them, so a model shipped without its fp32 graph can still be averaged by weights.
    `config` is the `HunkNet` config its manifest records. Returns how closely the fp32 graph reproduces `src`
    (max abs difference; int8 activations make it about 1e-2, not 1e-7)."""
    net = HunkNet(**config).eval()
    load_onnx_weights(net, src)
    export_onnx(net, dst)
    return check_against_torch(net, src)
