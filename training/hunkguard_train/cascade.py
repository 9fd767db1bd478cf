"""The cascade's first stage: a tiny conv net on the model's token ids that clears most windows.

The gate is distilled from the exported full model: its target is "the full model fires some label on
this window" (a `seq_probs` at or above that label's calibrated threshold), which is what a finding needs
(src/findings.rs). Its threshold is set on the validation windows so that it keeps at least
`target_recall` of the windows the full model fires on; every window it scores below the threshold is
never shown to the transformer (src/model/mod.rs). Windows are cut exactly as the Rust runtime cuts them
(`tok.windows`), with [CLS] ... [SEP] around each.

Call `train_gate` after the full model is exported; it writes `gate.onnx` into `out_dir` and returns the
manifest entry (`"gate"`) and the figures for the model card.
"""
from __future__ import annotations

import logging
import random
import time
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from .tok import CLS, PAD, SEP, windows

log = logging.getLogger(__name__)

GATE_FILE = "gate.onnx"
INPUTS = ["input_ids", "attention_mask"]
OUTPUT = "gate_probs"
MAX_IR = 8


class GateNet(nn.Module):
    """Embedding -> one conv over neighbouring tokens -> ReLU -> max over the window -> one logit.

    With `embedding` (the full model's token embedding, see `teacher_embedding`) the gate starts from
    what the full model knows about each token and keeps it frozen: a gate learnt from a few thousand
    windows generalises far better on it than on an embedding of its own."""

    def __init__(self, vocab: int, dim: int = 32, channels: int = 96, width: int = 5,
                 embedding: np.ndarray | None = None):
        super().__init__()
        if embedding is not None:
            vocab, dim = embedding.shape
        self.config = {"vocab": vocab, "dim": dim, "channels": channels, "width": width,
                       "teacher_embedding": embedding is not None}
        self.embed = nn.Embedding(vocab, dim, padding_idx=PAD)
        if embedding is not None:
            self.embed.weight.data.copy_(torch.from_numpy(embedding))
            self.embed.weight.requires_grad_(False)
        self.conv = nn.Conv1d(dim, channels, width, padding=width // 2)
        self.out = nn.Linear(channels, 1)

    def forward(self, ids: torch.Tensor, att: torch.Tensor) -> torch.Tensor:
        mask = att.unsqueeze(1).to(torch.float32)  # [B, 1, T]
        # padded positions read as zeros, like the conv's own padding: the teacher embedding's [PAD] row is
        # not zero, and without this a window's last tokens would score differently with the padding its
        # batch gives it (the runtime pads each batch to its longest window)
        h = self.conv(self.embed(ids).transpose(1, 2) * mask).relu()  # [B, C, T]
        # padded positions must never win the max: ReLU output is >= 0, so zeroing them suffices
        h = h * mask
        return self.out(h.amax(dim=2)).squeeze(1)  # [B] logits


class _Exported(nn.Module):
    def __init__(self, net: GateNet):
        super().__init__()
        self.net = net

    def forward(self, ids, att):
        return torch.sigmoid(self.net(ids, att))


def teacher_embedding(full_model_onnx: Path) -> np.ndarray | None:
    """The full model's token embedding [vocab, dim] as float32: the data of the Gather that reads
    `input_ids`, dequantized when the export quantized it; None when the graph has no such Gather."""
    from onnx import numpy_helper

    m = onnx.load(str(full_model_onnx))
    init = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    for node in m.graph.node:
        if node.op_type != "Gather" or len(node.input) < 2 or node.input[1] != "input_ids":
            continue
        data = init.get(node.input[0])
        if data is None or data.ndim != 2:
            return None
        weight = data.astype(np.float32)
        for q in m.graph.node:
            if q.op_type == "DequantizeLinear" and q.input[0] == node.output[0]:
                scale = init[q.input[1]].astype(np.float32)
                zero = init[q.input[2]].astype(np.float32) if len(q.input) > 2 and q.input[2] in init else 0.0
                weight = (weight - zero) * scale
        return weight
    return None


def window_rows(tok, codes: list[str], max_length: int, overlap: int) -> list[list[int]]:
    """[CLS] ids [SEP] of every window the runtime scores for `codes` (empty codes give none)."""
    span = max_length - 2
    rows = []
    for enc in tok.encode_batch(codes, add_special_tokens=False):
        ids = enc.ids
        for a, b in windows(len(ids), span, overlap):
            rows.append([CLS, *ids[a:b], SEP])
    return rows


def crop_rows(tok, codes: list[str], max_length: int, rng: random.Random, per_code: int = 2) -> list[list[int]]:
    """Random sub-windows (short and long), as diff hunks cut code mid-function."""
    span = max_length - 2
    rows = []
    for enc in tok.encode_batch(codes, add_special_tokens=False):
        ids = enc.ids
        if len(ids) < 16:
            continue
        for _ in range(per_code):
            n = rng.randint(16, min(span, len(ids)))
            a = rng.randint(0, len(ids) - n)
            rows.append([CLS, *ids[a:a + n], SEP])
    return rows


def _batches(rows: list[list[int]], batch: int):
    """(indices, ids, att) of length-sorted padded batches."""
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    for k in range(0, len(order), batch):
        idx = order[k:k + batch]
        width = max(len(rows[i]) for i in idx)
        ids = np.full((len(idx), width), PAD, dtype=np.int64)
        att = np.zeros((len(idx), width), dtype=np.int64)
        for r, i in enumerate(idx):
            ids[r, :len(rows[i])] = rows[i]
            att[r, :len(rows[i])] = 1
        yield idx, ids, att


def teacher_margin(full_model_onnx: Path, rows: list[list[int]], thresholds: np.ndarray,
                   threads: int = 2, batch: int = 16, line_alone: float | None = None) -> np.ndarray:
    """Per window: max over labels of seq_probs / threshold (>= 1 means the full model fires), and with
    `line_alone`, of its tokens' token_probs / line_alone too (a line that fires its label alone)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(full_model_onnx), so, providers=["CPUExecutionProvider"])
    out = np.zeros(len(rows), dtype=np.float32)
    for idx, ids, att in _batches(rows, batch):
        seq, tokens = sess.run(["seq_probs", "token_probs"], {"input_ids": ids, "attention_mask": att})
        margin = (seq / thresholds[None, :]).max(axis=1)
        if line_alone is not None:
            code = (att > 0) & (ids != CLS) & (ids != SEP)  # the runtime reads lines of code tokens only
            tokens = np.where(code[:, :, None], tokens, 0.0)
            margin = np.maximum(margin, tokens.max(axis=(1, 2)) / line_alone)
        out[idx] = margin
    return out


def gate_probs(net: GateNet, rows: list[list[int]], batch: int = 256) -> np.ndarray:
    net.eval()
    out = np.zeros(len(rows), dtype=np.float32)
    with torch.no_grad():
        for idx, ids, att in _batches(rows, batch):
            out[idx] = torch.sigmoid(net(torch.from_numpy(ids), torch.from_numpy(att))).numpy()
    return out


def calibrate(probs: np.ndarray, fires: np.ndarray, target_recall: float) -> tuple[float, float, float]:
    """Highest threshold whose kept share of firing windows is >= target_recall.

    Returns (threshold, kept_recall, cleared_share). A window is kept when its gate prob >= threshold.
    With no firing window the gate cannot be calibrated and keeps everything (threshold 0)."""
    pos = np.sort(probs[fires])
    if len(pos) == 0:
        return 0.0, 1.0, 0.0
    misses = int(np.floor(len(pos) * (1.0 - target_recall) + 1e-9))  # firing windows we may clear
    threshold = float(pos[misses])
    # probs equal to the threshold are kept; step just below to be exact in float32 at run time
    threshold = float(np.nextafter(np.float32(threshold), np.float32(0)))
    kept = probs >= threshold
    return threshold, float(kept[fires].mean()), float(1.0 - kept.mean())


def export_gate(net: GateNet, path: Path, opset: int = 17) -> None:
    net.eval()
    ids = torch.randint(5, net.config["vocab"], (2, 12), dtype=torch.int64)
    att = torch.ones_like(ids)
    att[1, 8:] = 0
    kwargs = dict(input_names=INPUTS, output_names=[OUTPUT], opset_version=opset, do_constant_folding=True,
                  dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                                OUTPUT: {0: "batch"}})
    with torch.no_grad():
        torch.onnx.export(_Exported(net).eval(), (ids, att), str(path), dynamo=False, **kwargs)
    m = onnx.load(str(path))
    if m.ir_version > MAX_IR:
        m.ir_version = MAX_IR
        onnx.save(m, str(path))
    onnx.checker.check_model(onnx.load(str(path)))


def check_export(net: GateNet, path: Path, rows: list[list[int]]) -> float:
    """Max abs difference between torch and ONNX Runtime gate probabilities on `rows`."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    want = gate_probs(net, rows)
    for idx, ids, att in _batches(rows, 64):
        (got,) = sess.run([OUTPUT], {"input_ids": ids, "attention_mask": att})
        worst = max(worst, float(np.abs(got - want[idx]).max()))
    return worst


def fit_gate(rows: list[list[int]], margins: np.ndarray, vocab: int, seed: int, epochs: int = 8,
             train_bar: float = 0.5, target_recall: float = 0.995,
             embedding: np.ndarray | None = None) -> tuple[GateNet, list[dict]]:
    """Train a gate on `rows` whose teacher margins are `margins`; returns it and the per-epoch log.

    The target is a lower bar than firing (margin >= `train_bar`): near-misses of the full model count as
    positives, which ranks the windows that do fire further from the bulk, so the calibrated threshold
    clears more. A tenth of the rows is held out to pick the epoch that clears the most at
    `target_recall` (of the windows that fire) there; the validation split stays for calibration."""
    rng = random.Random(seed)
    torch.manual_seed(seed)
    order = list(range(len(rows)))
    rng.shuffle(order)
    dev_idx, fit_idx = order[:len(order) // 10], order[len(order) // 10:]
    fit_rows, dev_rows = [rows[i] for i in fit_idx], [rows[i] for i in dev_idx]
    y = torch.from_numpy((margins[fit_idx] >= train_bar).astype(np.float32))
    dev_fires = margins[dev_idx] >= 1.0
    net = GateNet(vocab, embedding=embedding)
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=3e-3, weight_decay=1e-4)
    # positives are rare; weigh them up so the ranking near the kept-recall threshold is learnt
    positives = max(1.0, float(y.sum()))
    pos_weight = torch.tensor((max(1.0, (len(y) - positives) / positives)) ** 0.5)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    best, best_state, history = -1.0, None, []
    for epoch in range(epochs):
        net.train()
        batches = list(_batches(fit_rows, 32))
        rng.shuffle(batches)
        total = 0.0
        for idx, ids, att in batches:
            loss = loss_fn(net(torch.from_numpy(ids), torch.from_numpy(att)), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        _, kept, cleared = calibrate(gate_probs(net, dev_rows), dev_fires, target_recall)
        history.append({"epoch": epoch, "loss": round(total / len(fit_rows), 4), "dev_cleared": round(cleared, 4)})
        log.info("gate epoch %d: loss %.4f, held-out rows cleared at %.1f%% recall: %.1f%%", epoch,
                 total / len(fit_rows), 100 * target_recall, 100 * cleared)
        if cleared > best:
            best, best_state = cleared, {k: v.clone() for k, v in net.state_dict().items()}
    if best_state is not None:
        net.load_state_dict(best_state)
    return net, history


def train_gate(full_model_onnx: Path, tok, train_codes: list[str], val_codes: list[str], out_dir: Path,
               seed: int, thresholds: list[float], max_length: int = 256, overlap: int = 32,
               target_recall: float = 0.995, epochs: int = 8, threads: int = 2,
               line_alone: float | None = None) -> dict:
    """Distil, calibrate and export the gate; returns {"manifest": entry, "card": figures}.

    `thresholds` are the full model's calibrated per-label thresholds in output order (`line_alone` its
    manifest's `line_alone_threshold`, when it has one); `overlap` is the
    window overlap the runtime uses (its default, see src/model/mod.rs), so the validation windows are the
    ones the runtime will score."""
    started = time.time()
    torch.set_num_threads(threads)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    th = np.asarray(thresholds, dtype=np.float32)
    train_rows = window_rows(tok, train_codes, max_length, overlap) + crop_rows(
        tok, train_codes, max_length, random.Random(seed))
    val_rows = window_rows(tok, val_codes, max_length, overlap)
    if not train_rows or not val_rows:
        raise ValueError(f"no windows to train or calibrate the gate on "
                         f"({len(train_rows)} train, {len(val_rows)} validation)")
    train_margin = teacher_margin(full_model_onnx, train_rows, th, threads, line_alone=line_alone)
    val_fires = teacher_margin(full_model_onnx, val_rows, th, threads, line_alone=line_alone) >= 1.0
    log.info("gate: %d train windows (%.1f%% fire), %d validation windows (%d fire)", len(train_rows),
             100 * (train_margin >= 1).mean(), len(val_rows), int(val_fires.sum()))
    net, history = fit_gate(train_rows, train_margin, tok.get_vocab_size(), seed, epochs,
                            target_recall=target_recall, embedding=teacher_embedding(full_model_onnx))
    return finish_gate(net, val_rows, val_fires, out_dir, target_recall, overlap, {
        "train_windows": len(train_rows), "train_firing_windows": int((train_margin >= 1).sum()),
        "epochs": history, "seconds_before_export": round(time.time() - started, 1)})


def finish_gate(net: GateNet, val_rows: list[list[int]], val_fires: np.ndarray, out_dir: Path,
                target_recall: float, overlap: int, figures: dict) -> dict:
    """Calibrate on the validation windows, export `gate.onnx`, check it, return manifest entry + card."""
    probs = gate_probs(net, val_rows)
    threshold, kept_recall, cleared = calibrate(probs, val_fires, target_recall)
    path = Path(out_dir) / GATE_FILE
    export_gate(net, path)
    export_diff = check_export(net, path, val_rows[:128])
    if export_diff > 1e-4:
        raise RuntimeError(f"gate.onnx disagrees with torch by {export_diff}")
    manifest = {"file": GATE_FILE, "threshold": threshold, "kept_recall": round(kept_recall, 4),
                "cleared_share": round(cleared, 4), "overlap": overlap}
    card = {**manifest, "target_recall": target_recall, "validation_windows": len(val_rows),
            "validation_firing_windows": int(val_fires.sum()), "config": net.config,
            "size_bytes": path.stat().st_size, "export_max_abs_diff": export_diff, **figures}
    log.info("gate: threshold %.4g keeps %.2f%% of firing windows, clears %.1f%% of windows",
             threshold, 100 * kept_recall, 100 * cleared)
    return {"manifest": manifest, "card": card}


def _dev_codes(seed: int, stdlib_files: int = 400) -> tuple[list[str], list[str]]:
    """Train/validation codes for a gate on its own: ../shared/data `code` fields plus files of this
    Python's standard library (read at run time, never stored), split by a hash of their name."""
    import hashlib
    import json
    import sysconfig

    named: list[tuple[str, str]] = []
    data = Path(__file__).resolve().parents[3] / "shared" / "data"
    for f in sorted(data.glob("*.jsonl")):
        for line in f.read_text().splitlines():
            row = json.loads(line)
            if row.get("code"):
                named.append((f"{f.name}:{row.get('id')}", row["code"]))
    stdlib = sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py"))
    stdlib = [p for p in stdlib if "site-packages" not in p.parts and "test" not in p.parts]
    for p in random.Random(seed).sample(stdlib, min(stdlib_files, len(stdlib))):
        try:
            named.append((str(p), p.read_text(encoding="utf-8")))
        except (UnicodeDecodeError, OSError):
            continue
    train, val = [], []
    for name, code in named:
        (val if hashlib.sha256(name.encode()).digest()[0] < 64 else train).append(code)
    return train, val


def main() -> None:
    """Train a gate for an exported model folder and add its entry to the folder's manifest.json."""
    import argparse
    import json

    from tokenizers import Tokenizer

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--model-dir", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--overlap", type=int, default=32)
    ap.add_argument("--stdlib-files", type=int, default=400)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    manifest_path = args.model_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    tok = Tokenizer.from_file(str(args.model_dir / "tokenizer.json"))
    train, val = _dev_codes(args.seed, args.stdlib_files)
    result = train_gate(args.model_dir / "model.onnx", tok, train, val, args.model_dir, args.seed,
                        [manifest["thresholds"][label] for label in manifest["labels"]],
                        max_length=manifest["max_length"], overlap=args.overlap,
                        line_alone=manifest.get("line_alone_threshold"))
    manifest["gate"] = result["manifest"]
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    print(json.dumps(result["card"], indent=1))


if __name__ == "__main__":
    main()
