"""The whole training run: data -> split -> tokenizer -> (MLM) -> fine-tuning -> export -> calibration ->
evaluation (ours vs Bandit) -> manifest, reference scores, model card."""
from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import random
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from . import data as D
from .evaluate import (calibrate, calibrate_line, calibrate_line_alone, fold_of, imitation, line_metrics, metrics_for, onnx_predictor,
                       pair_ranking, predict_sets, run_bandit, score_codes, ALONE_MAX_ADDED)
from .export import INPUTS, OUTPUTS, check_against_torch, export_onnx, io_signature, load_onnx_weights, quantize
from .labels import Catalogue
from .pycode import Lines
from .tok import CLS, PAD, SEP
from .train import finetune, make_items, make_pair_items, teacher_targets

log = logging.getLogger("hunkguard_train")

VERSION = "0.10.0"
MAX_LENGTH = 256
STRIDE = 128
# how many pseudo-examples pull a label's own threshold towards the global one (evaluate.calibrate). At 10, model
# 0.8.0's thresholds calibrated on the two halves of the validation groups differed by 0.31 on average (up to 0.58);
# at 100, by 0.08 (up to 0.19), with the same held-out figures within their noise (training/README.md)
CALIB_SHRINK = 100.0

PROFILES = {
    # a few hundred examples, a few steps: checks the whole file set end to end
    "smoke": dict(corpus_packages=["flask-mail", "flask-babel", "records", "flask-socketio", "python3-saml"],
                  corpus_neg_per_pos=3, corpus_max_neg_train=150, corpus_max_neg_val=60, corpus_max_pos_per_label=40,
                  corpus_max_lookalike=30, gate_train_codes=150, gate_val_codes=120, gate_epochs=2,
                  benign_max=400, benign_per_pkg=4, benign_files_per_pkg=2, synth_max=200, real_max=160,
                  vocab=2000, corpus_chars=1_500_000, d=64, layers=1, heads=2, ff=128, mlm_steps=3,
                  variants={"realfix": 1, "codeql": 1, "bandit": 1, "synth": 0.5, "benign": 1, "default": 1},
                  epochs=1.0, max_steps=12, lr=1e-3, batch_tokens=4096, benign_val_eval=80, mlm_batch=8,
                  pair_variants={"realfix": 1, "synth": 1}, pair_batch=4, imitation_windows=60,
                  secret_reshape=0.5, secret_plant=0.05),
    # ~10-15 minutes: the first model for the runtime integration
    "quick": dict(corpus_neg_per_pos=20, corpus_max_neg_train=8000, corpus_max_neg_val=1500, corpus_max_pos_per_label=800,
                  benign_max=3000, benign_per_pkg=120, benign_files_per_pkg=30, synth_max=6000, real_max=None,
                  vocab=8000, corpus_chars=12_000_000, d=160, layers=2, heads=4, ff=384, mlm_steps=0,
                  variants={"realfix": 3, "codeql": 3, "bandit": 3, "synth": 1, "benign": 0.6, "default": 1},
                  epochs=1.5, max_steps=None, lr=2e-3, batch_tokens=4096, benign_val_eval=800, mlm_batch=16,
                  pair_variants={"realfix": 4, "synth": 1}, ft_time_limit=300),
    # the shipped model: masked-LM pretraining on the corpus (50 min, or the committed checkpoint), then 4,315 steps
    # (at most 60 min) of fine-tuning on distilled corpus code, real fixes, seed code, synthetic twins and benign code.
    # The step cap is where 0.4.0's time cap stopped it (2.24 of the 3 planned epochs): two runs that went on to 3.0
    # epochs ended at a lower training loss and found less on held-out code, so the length is a step count, not the
    # machine's speed.
    "full": dict(mlm_corpus_chars=45_000_000, mlm_lr=1e-3, corpus_neg_per_pos=40, corpus_max_neg_train=20000,
                 corpus_max_lookalike=6000,
                 corpus_max_neg_val=2500, corpus_max_pos_per_label=1500, benign_max=4000, benign_per_pkg=60,
                 benign_files_per_pkg=20, synth_max=5000, real_max=None,
                 vocab=8000, corpus_chars=25_000_000, d=160, layers=2, heads=4, ff=384, mlm_steps=6000,
                 variants={"realfix": 5, "advisory": 5, "codeql": 5, "bandit": 5, "corpus:vuln": 5,
                           "corpus:hard-negative": 3, "synth": 1, "benign": 1, "default": 1},
                 epochs=3.0, max_steps=4315, lr=1.5e-3, batch_tokens=4096, benign_val_eval=2500, mlm_batch=16,
                 pair_variants={"realfix": 5, "advisory": 4, "synth": 1}, pair_batch=4, mlm_time_limit=3300,
                 ft_time_limit=3600, calib_max_fpr=0.015),
}


class Timer:
    def __init__(self):
        self.t = {}
        self._s = None
        self._name = None

    def start(self, name):
        self.stop()
        self._name, self._s = name, time.time()
        log.info("=== phase: %s", name)

    def stop(self):
        if self._name:
            self.t[self._name] = round(self.t.get(self._name, 0) + time.time() - self._s, 1)
        self._name = None


def _seed_all(seed: int):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def run(out_dir: Path, profile: str = "full", seed: int = 1234, work_dir: Path | None = None,
        overrides: dict | None = None, recalibrate: Path | None = None) -> dict:
    """The whole run. With `recalibrate` (a folder holding a model this pipeline wrote), nothing is trained:
    that model and its tokenizer are scored on the same validation split and calibrated and evaluated anew
    (the split is a function of the data and the seed, so it is the split the model was trained against)."""
    cfg = dict(PROFILES[profile])
    cfg.update(overrides or {})
    # two cores: a side job (a recalibration beside a training) asks for one thread so as not to thrash the other
    threads = cfg["threads"] = int(cfg.get("threads", 2))
    torch.set_num_threads(threads)
    _seed_all(seed)
    timer = Timer()
    t_start = time.time()
    work_dir = Path(work_dir or Path(__file__).resolve().parents[1] / "work")
    work_dir.mkdir(parents=True, exist_ok=True)
    cat = Catalogue()
    labels = cat.labels
    label_index = cat.index
    stats: Counter = Counter()

    # ------------------------------------------------------------------ data
    timer.start("data")
    seed_ex = D.load_seed(cat, stats)
    real_ex = D.load_realfix(cat, stats)
    synth_ex = D.load_synth(cat, stats, seed)
    if cfg.get("synth_max") and len(synth_ex) > cfg["synth_max"]:
        synth_ex = random.Random(seed).sample(synth_ex, cfg["synth_max"])
    if cfg.get("real_max"):
        seed_ex = random.Random(seed).sample(seed_ex, min(len(seed_ex), cfg["real_max"]))
        keep_pairs = set(random.Random(seed).sample(sorted({e.pair for e in real_ex}), cfg["real_max"] // 2))
        real_ex = [e for e in real_ex if e.pair in keep_pairs]
    adv_ex = D.load_advisory(cat, stats)
    if cfg.get("real_max"):
        keep_pairs = set(random.Random(seed).sample(sorted({e.pair for e in adv_ex}), min(len({e.pair for e in adv_ex}), cfg["real_max"] // 2)))
        adv_ex = [e for e in adv_ex if e.pair in keep_pairs]
    benign_ex = D.load_benign(cat, stats, seed, cfg["benign_max"], cfg["benign_per_pkg"], cfg["benign_files_per_pkg"])
    # the real-Python corpus, distilled from Bandit with context rules (the bulk of the training data)
    timer.start("corpus")
    rows, corpus_files, corpus_sha = corpus_rows_and_files(cfg)
    from .corpus import corpus_stats, normalise

    chunks = _distilled(corpus_files, rows, corpus_sha, stats)
    split_of = {r["package"]: r["split"] for r in rows}
    corpus_ex = D.corpus_examples(chunks, split_of, cat, stats, seed, cfg["corpus_neg_per_pos"],
                                  cfg["corpus_max_neg_train"], cfg["corpus_max_neg_val"], cfg["corpus_max_pos_per_label"],
                                  cfg.get("corpus_max_lookalike", 0))
    # a benign module named like a held-out corpus package must not bring that package into training
    held_out = {p for p, sp in split_of.items() if sp == "val"}
    before = len(benign_ex)
    benign_ex = [e for e in benign_ex if normalise((e.family or "").split("/", 1)[-1]) not in held_out]
    stats["benign_dropped_held_out_package"] = before - len(benign_ex)
    # a fix repository that is also a corpus package takes the package's split: held-out code stays held out
    forced = {f"corpus:{p}": sp for p, sp in split_of.items()}
    for e in real_ex + adv_ex:
        pkg = normalise(e.group.split("/")[-1])
        for cand in (pkg, pkg.replace("python-", ""), f"django-{pkg}"):
            if cand in split_of:
                forced[e.group] = split_of[cand]
    # the standard library trains only: the false-alarm budget is measured on the held-out packages' ordinary code,
    # which no model of any recipe has seen, so two models are calibrated on the same unseen code
    forced.update({e.group: "train" for e in benign_ex})
    timer.start("data")
    all_ex = D.dedup(seed_ex + real_ex + adv_ex + corpus_ex + synth_ex + benign_ex, stats)
    train_ex, val_ex = D.split_examples(all_ex, seed, stats, forced)
    # evaluation cost: keep a sample of held-out benign code (all packages represented)
    val_benign = [e for e in val_ex if e.origin == "benign"]
    if len(val_benign) > cfg["benign_val_eval"]:
        val_benign = random.Random(seed).sample(val_benign, cfg["benign_val_eval"])
    val_real = [e for e in val_ex if e.origin in ("realfix", "advisory", "codeql", "bandit", "corpus")] + val_benign
    val_synth = [e for e in val_ex if e.origin == "synth"]
    # a sample of the training packages' labelled chunks: how much of its own labels the model learnt
    train_ground = [e for e in train_ex if e.origin == "corpus" and e.positive]
    n_fit = cfg.get("train_ground_eval", 500)
    if len(train_ground) > n_fit:
        train_ground = random.Random(seed).sample(train_ground, n_fit)
    n_counts = {
        "train": dict(Counter(e.origin for e in train_ex)), "val": dict(Counter(e.origin for e in val_ex)),
        "train_pos": dict(Counter(e.origin for e in train_ex if e.positive)),
        "val_pos": dict(Counter(e.origin for e in val_ex if e.positive)),
        "val_real_eval": len(val_real), "val_synth_eval": len(val_synth),
        "train_labels": dict(Counter(l for e in train_ex for l in e.labels)),
        "val_real_labels": dict(Counter(l for e in val_real for l in e.labels)),
        "synth_modules": dict(Counter(e.meta.get("module") for e in synth_ex)),
        "corpus": corpus_stats(corpus_files, rows),
        "corpus_manifest_sha256": corpus_sha,
    }
    log.info("counts: %s", json.dumps(n_counts))
    fp = D.data_fingerprint([D.DATA_DIR / "seed_train.jsonl", D.DATA_DIR / "realfix_train.jsonl",
                             D.DATA_DIR / "advisory_train.jsonl"],
                            [corpus_sha] + sorted(f"{e.uid}\t{sorted(e.labels)}\t{e.code}" for e in synth_ex + benign_ex))

    stage = Path(tempfile.mkdtemp(prefix="stage_", dir=work_dir))
    if recalibrate:
        tok, files, trained = _load_trained(Path(recalibrate), stage)
        # the data this calibration was built on (`run.py` checked it against what the model recorded)
        trained["training"]["corpus_extend_lines"] = int(cfg.get("corpus_extend_lines", 0))
    else:
        unlabelled = _unlabelled(cfg, chunks, split_of, all_ex, val_ex, seed)
        tok, files, trained = _train_and_export(cfg, seed, train_ex, val_ex, labels, label_index, timer, stage,
                                                (rows, corpus_files, corpus_sha), unlabelled)

    # ------------------------------------------------------------------ score validation with both files
    timer.start("score_val")
    val_all = val_real + val_synth
    codes = [e.code for e in val_all]
    res = {k: score_codes(onnx_predictor(p, threads), tok, codes, MAX_LENGTH, STRIDE) for k, p in files.items()}
    # also hunk-like fragments of held-out benign code: the false-alarm rate the bot will see
    frng = random.Random(seed + 7)
    from .pycode import fragment
    ben_frag = [fragment(e.lines, frng, None) for e in val_benign]
    ben_frag_res = {k: score_codes(onnx_predictor(p, threads), tok, [f.code for f in ben_frag], MAX_LENGTH, STRIDE)
                    for k, p in files.items()}

    # ------------------------------------------------------------------ calibration + metrics
    timer.start("calibrate_eval")
    nR = len(val_real)
    report = {}
    # one calibration for every variant and fold, and the one the manifest records
    calib = dict(max_fpr=cfg.get("calib_max_fpr", 0.02), shrink=float(cfg.get("calib_shrink", CALIB_SHRINK)))
    for variant in files:
        R = res[variant]
        S = np.stack([r["seq"] for r in R])
        Y = np.zeros_like(S, dtype=np.int64)
        for i, e in enumerate(val_all):
            for c in e.labels:
                Y[i, label_index[c]] = 1
        benign = np.array([e.origin == "benign" for e in val_all])
        th_all, T_all = calibrate(S, Y, benign, **calib)
        folds = np.array([fold_of(e) for e in val_all])
        th_f, T_f = {}, {}
        for f in (0, 1):
            th_f[f], T_f[f] = calibrate(S[folds == f], Y[folds == f], benign[folds == f], **calib)
        # cross-fitted predictions: each row uses the thresholds of the other fold
        th_row = np.stack([th_f[1 - f] for f in folds])
        preds_x = [{labels[c] for c in np.nonzero(S[i] >= th_row[i])[0]} for i in range(len(val_all))]
        line_th = calibrate_line(R[:nR], val_real, label_index, th_all)
        line_alone, alone_rows = calibrate_line_alone(R[:nR], val_real, label_index, th_all)
        m_real_x = metrics_for(preds_x[:nR], list(S[:nR].max(1)), val_real, labels, R[:nR], line_th, th_all)
        preds_in = predict_sets(R, th_all, labels)
        m_real_in = metrics_for(preds_in[:nR], list(S[:nR].max(1)), val_real, labels, R[:nR], line_th, th_all)
        m_synth = metrics_for(preds_in[nR:], list(S[nR:].max(1)), val_synth, labels) if val_synth else None
        pr = pair_ranking(R[:nR], val_real, label_index)
        lm = line_metrics(R[:nR], val_real, preds_x[:nR], label_index, th_all, line_th)
        fr = ben_frag_res[variant]
        frag_fpr = float(np.mean([(r["seq"] >= th_all).any() for r in fr])) if fr else None
        report[variant] = {"thresholds": th_all, "T": T_all, "fold_thresholds": th_f, "fold_T": T_f,
                           "line_threshold": line_th, "line_alone_threshold": line_alone,
                           "line_alone_grid": alone_rows, "real_crossfit": m_real_x, "real_insample": m_real_in,
                           "synthetic": m_synth, "pairs": pr, "lines": lm, "benign_fragment_fpr": frag_fpr}
    # int8 is shipped when it holds the metrics (binary F1 within 0.01, FPR within 0.5 points)
    if len(files) == 2:
        a, b = report["fp32"]["real_crossfit"], report["int8"]["real_crossfit"]
        use_int8 = (b["binary_labelled"]["f1"] >= a["binary_labelled"]["f1"] - 0.01
                    and (b["benign_fpr"] or 0) <= (a["benign_fpr"] or 0) + 0.005)
    else:
        use_int8 = "int8" in files
    chosen = "int8" if use_int8 else "fp32"
    rep = report[chosen]
    log.info("shipping %s", chosen)

    # ------------------------------------------------------------------ bandit side by side
    timer.start("bandit")
    b_filt, b_any, b_info = run_bandit(val_real, cat, work_dir)
    m_bandit = metrics_for(b_filt, None, val_real, labels)
    m_bandit_any = metrics_for([{"any"} if x else set() for x in b_any], None, val_real, ["any"])
    b_frag_filt, b_frag_any, _ = run_bandit([type(e)(e.uid, f, e.labels, e.origin, e.group) for e, f in zip(val_benign, ben_frag)], cat, work_dir)
    b_frag_fpr = float(np.mean([bool(x) for x in b_frag_filt])) if b_frag_filt else None
    pr_b = _bandit_pairs(b_filt, val_real)
    timer.start("real_eval")
    real_eval = _real_eval(files[chosen], tok, rep, val_real, res[chosen][:nR], folds[:nR], b_filt, val_benign,
                           chunks, corpus_files, rows, cat, labels, seed, work_dir, cfg, train_ground)
    log.info("real-code evaluation: %s", json.dumps({k: v for k, v in real_eval.items() if k != "quiet"}, default=_json_default)[:3000])
    timer.stop()

    # ------------------------------------------------------------------ write the file set
    timer.start("write")
    final = stage / "final"
    final.mkdir()
    shutil.copy(files[chosen], final / "model.onnx")
    tok.save(str(final / "tokenizer.json"))
    sig = io_signature(final / "model.onnx")
    size = (final / "model.onnx").stat().st_size
    thresholds = {l: float(rep["thresholds"][i]) for i, l in enumerate(labels)}
    # JSON has no infinity: an unbounded shrinkage (every label starts at the global threshold) is written "inf"
    spread = dict(_spread(rep, labels, report), max_fpr=calib["max_fpr"],
                  shrink="inf" if math.isinf(calib["shrink"]) else calib["shrink"])
    if len(files) == 2:
        fp32_vs_int8 = {k: _summary(report[k]["real_crossfit"], report[k]["pairs"], report[k]["lines"],
                                    report[k]["benign_fragment_fpr"]) for k in ("fp32", "int8")}
        fp32_vs_int8["onnx_vs_torch_max_abs_diff"] = trained["onnx_vs_torch_max_abs_diff"]
    else:  # recalibrated: the comparison made when the model was trained, under the thresholds of that time
        fp32_vs_int8 = trained["fp32_vs_int8"]
    elapsed = round(time.time() - t_start, 1)
    timer.stop()
    metrics = {
        "evaluated_on": "real-code validation split (corpus and benign code by package, real fixes by repository, "
                        "CodeQL/Bandit by source file); thresholds cross-fitted over two folds of validation groups",
        "ours": _summary(rep["real_crossfit"], rep["pairs"], rep["lines"], rep["benign_fragment_fpr"]),
        "ours_insample_thresholds": _summary(rep["real_insample"], rep["pairs"], rep["lines"], None),
        "bandit": _summary(m_bandit, pr_b, None, b_frag_fpr),
        "bandit_any_finding": {"binary_labelled_f1": m_bandit_any["binary_labelled"]["f1"],
                               "benign_fpr": m_bandit_any["benign_fpr"]},
        "per_label": {"ours": rep["real_crossfit"]["per_label"], "bandit": m_bandit["per_label"]},
        "synthetic_val": _summary(rep["synthetic"], None, None, None) if rep["synthetic"] else None,
        "fp32_vs_int8": fp32_vs_int8,
        "threshold_spread": spread,
        "line_alone": {"threshold": rep["line_alone_threshold"], "max_added": ALONE_MAX_ADDED,
                       "grid": rep["line_alone_grid"]},
        "counts": n_counts,
        "realfix_pair_edits": D.realfix_pair_edits(real_ex),
        "data_stats": dict(stats),
        "training": trained["training"] if recalibrate else dict(trained["training"], profile=profile, seed=seed),
        "timings_s": dict(timer.t, total=elapsed) if not recalibrate else trained["timings_s"],
        "bandit_info": b_info,
        "real_code": real_eval,
    }
    now = dt.datetime.now(dt.timezone.utc)
    manifest = {
        "name": "hunkguard-cwe",
        # a recalibrated model keeps the version of its weights: new thresholds do not make a new model
        "version": trained["training"]["recalibrated_from"] if recalibrate else _new_version(profile),
        "created": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "labels": labels,
        "thresholds": thresholds,
        "line_threshold": float(rep["line_threshold"]),
        # absent when no value of the grid kept the negatives quiet: only windows fire labels
        **({"line_alone_threshold": rep["line_alone_threshold"]} if rep["line_alone_threshold"] is not None else {}),
        "max_length": MAX_LENGTH,
        "stride": STRIDE,
        "pad_id": PAD, "cls_id": CLS, "sep_id": SEP,
        "inputs": INPUTS, "outputs": OUTPUTS,
        "quantized": use_int8,
        "training_data_sha256": fp,
        "metrics": metrics,
        "onnx": {"opset": sig["opset"], "ir_version": sig["ir_version"], "size_bytes": size},
    }
    # the cascade's gate, distilled from the final model under its final thresholds (src/model/gate.rs)
    if cfg.get("gate", True):
        timer.start("gate")
        gate = _train_gate(final, tok, manifest, train_ex, val_ex, seed, cfg)
        manifest["gate"] = gate["manifest"]
        metrics["cascade"] = gate["card"]
        timer.stop()
        metrics["timings_s"]["gate"] = timer.t.get("gate")
    (final / "manifest.json").write_text(json.dumps(manifest, indent=2, default=_json_default) + "\n")
    refs = reference_scores(final / "model.onnx", tok)
    (final / "reference_scores.json").write_text(json.dumps(refs, indent=1) + "\n")
    from .card import model_card
    (final / "MODEL_CARD.md").write_text(model_card(manifest, cat, refs))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = ["tokenizer.json", "manifest.json", "reference_scores.json", "MODEL_CARD.md", "model.onnx"]
    if cfg.get("member_seed") and (stage / "model_fp32.onnx").exists():
        # a member keeps its fp32 graph too: `average` can then average weights, not only probabilities
        shutil.copy(stage / "model_fp32.onnx", final / "model_fp32.onnx")
        written.append("model_fp32.onnx")
    elif (out_dir / "model_fp32.onnx").exists():
        (out_dir / "model_fp32.onnx").unlink()  # another model's weights must not stay beside this one
    if "gate" in manifest:
        written.append("gate.onnx")
    elif (out_dir / "gate.onnx").exists():
        (out_dir / "gate.onnx").unlink()  # a gate calibrated for another model must not stay beside this one
    for f in written:
        tmp = out_dir / f".{f}.tmp"
        shutil.copy(final / f, tmp)
        os.replace(tmp, out_dir / f)
    (work_dir / f"report_{profile}.json").write_text(json.dumps(manifest, indent=2, default=_json_default))
    shutil.rmtree(stage, ignore_errors=True)
    log.info("wrote %s (model %.1f MB) in %.0fs: %s", out_dir, size / 1e6, time.time() - t_start, json.dumps(timer.t))
    return manifest


def _train_gate(final: Path, tok, manifest: dict, train_ex, val_ex, seed: int, cfg: dict) -> dict:
    """Train and calibrate the cascade's gate for the model in `final` on real code of both splits (the
    distilled corpus, real fixes, benign code; no synthetic twins), cut as the runtime cuts it."""
    from .cascade import train_gate

    real = ("corpus", "benign", "realfix", "advisory", "codeql", "bandit")
    rng = random.Random(f"{seed}:gate")
    train = [e.code for e in train_ex if e.origin in real]
    val = [e.code for e in val_ex if e.origin in real]
    train = rng.sample(train, min(len(train), cfg.get("gate_train_codes", 6000)))
    val = rng.sample(val, min(len(val), cfg.get("gate_val_codes", 3000)))
    return train_gate(final / "model.onnx", tok, train, val, final, seed,
                      [manifest["thresholds"][label] for label in manifest["labels"]], max_length=MAX_LENGTH,
                      overlap=cfg.get("gate_overlap", 32), epochs=cfg.get("gate_epochs", 8),
                      threads=cfg["threads"], line_alone=manifest.get("line_alone_threshold"))


def _real_eval(model_path: Path, tok, rep: dict, val_real, R, folds, b_filt, val_benign, chunks, corpus_files, rows,
               cat, labels, seed: int, work_dir: Path, cfg: dict, train_ground=()) -> dict:
    """The targets on held-out real code (realeval), with the shipped thresholds and cross-fitted beside."""
    from . import realeval as RE
    from .distil import chunk_id

    th = np.asarray(rep["thresholds"])
    line_th = float(rep["line_threshold"])
    alone = rep.get("line_alone_threshold")
    th_x = [np.asarray(rep["fold_thresholds"][1 - int(f)]) for f in folds]
    predict = onnx_predictor(model_path, cfg["threads"])
    out: dict = {}
    # Bandit's ground, whole chunks and unparsable fragments of them
    idx = [i for i, e in enumerate(val_real) if e.origin == "corpus" and e.positive]
    ground_ex = [val_real[i] for i in idx]
    out["bandit_ground"] = {
        "shipped": RE.ground_recall([R[i] for i in idx], ground_ex, [th] * len(idx), labels, line_th, alone),
        "crossfit": RE.ground_recall([R[i] for i in idx], ground_ex, [th_x[i] for i in idx], labels, line_th, alone),
        "bandit_on_chunks": RE.bandit_family_recall([b_filt[i] for i in idx], ground_ex)}
    # the same figure on training packages: low here says the model does not fit its labels (capacity, steps);
    # high here and low above says it does not carry them to unseen code
    if train_ground:
        rt = score_codes(predict, tok, [e.code for e in train_ground], MAX_LENGTH, STRIDE)
        fit = RE.ground_recall(rt, list(train_ground), [th] * len(rt), labels, line_th, alone)
        fit.pop("missed")
        out["bandit_ground_train"] = dict(fit, chunks=len(train_ground))
    pool = [e.lines for e in val_benign[:2000]] or None
    frags = RE.unparsable_fragments(ground_ex, pool, seed)
    fr = score_codes(predict, tok, [f.code for f in frags], MAX_LENGTH, STRIDE)
    bf, _, _ = run_bandit(frags, cat, work_dir)
    out["bandit_ground_fragments"] = {"n_fragments": len(frags),
                                      "shipped": RE.ground_recall(fr, frags, [th] * len(frags), labels, line_th, alone),
                                      "bandit": RE.bandit_family_recall(bf, frags)}
    # real fixes of held-out repositories, read as the runtime reads them (no comments, no docstrings: a fix that
    # leaves the old call in a comment is not flagged for it); the raw reading of the calibration beside
    pi = [i for i, e in enumerate(val_real) if e.origin in ("realfix", "advisory") and e.pair]
    pair_ex = [val_real[i] for i in pi]
    rv = score_codes(predict, tok, [RE.runtime_view(e.code) for e in pair_ex], MAX_LENGTH, STRIDE)
    out["fix_pairs"] = {"shipped": RE.fix_pairs(rv, pair_ex, [th] * len(pi), labels, alone),
                        "crossfit": RE.fix_pairs(rv, pair_ex, [th_x[i] for i in pi], labels, alone),
                        "raw_shipped": RE.fix_pairs(R, val_real, [th] * len(R), labels, alone),
                        "bandit": RE.bandit_fix_pairs(b_filt, val_real), "reading": "runtime"}
    picked = quiet_files(corpus_files, rows, seed, cfg)
    out["quiet"] = RE.quiet(predict, tok, picked, th, labels, line_th, work_dir, MAX_LENGTH, STRIDE, line_alone=alone)
    # context: the hand-checked sample
    audit = RE.read_audit()
    if audit:
        split_of = {r["package"]: r["split"] for r in rows}
        by_id = {chunk_id(c): c for c in chunks}
        cases = []
        for a in audit.values():
            c = by_id.get(a["chunk"])
            if c is None:
                continue
            k = int(a["line_in_chunk"])
            # what the current labelling rules teach on that line (positive or not), to compare with the reading
            rule_positive = any(k == fk and tid == a["test_id"] for fk, tid, _ in c.rules) and k in c.line_labels
            pkg = a["chunk"].split(":", 1)[1].split("/", 1)[0]
            cases.append(dict(a, code=c.code, line_in_chunk=k, rule_label=rule_positive,
                              split=split_of.get(pkg, "train"), label=cat.canonical(a["label"]) or a["label"]))
        cr = score_codes(predict, tok, [c["code"] for c in cases], MAX_LENGTH, STRIDE)
        out["context"] = RE.context_eval(cr, cases, th, labels, line_th, alone)
    return out


def _pickled(path: Path, build):
    """`build()`, kept in `path` (written atomically) and read back from there on later runs."""
    import pickle

    if path.exists():
        with open(path, "rb") as f:
            return pickle.load(f)
    value = build()
    tmp = path.with_suffix(".part")
    with open(tmp, "wb") as f:
        pickle.dump(value, f)
    os.replace(tmp, path)
    return value


def _distilled(corpus_files: dict, rows: list[dict], corpus_sha: str, stats: Counter) -> list:
    """distil()'s chunks and raw Bandit findings, cached next to the corpus (keyed by the manifest and the chunking
    version), then the labelling rules applied afresh: a changed rule costs seconds, not a new Bandit run."""
    import hashlib

    from . import distil as Dz
    from .corpus import CACHE

    def build():
        st: Counter = Counter()
        return Dz.distil(corpus_files, rows, CACHE, st), st

    extension = sum(f.text.count("\n") + 1 for fs in corpus_files.values() for f in fs if f.extension)
    version = f"{corpus_sha}:{Dz.CHUNKING_VERSION}:{Dz.LABEL_BUDGET_STEPS}" + (f":extension={extension}" if extension else "")
    key = hashlib.sha256(version.encode()).hexdigest()[:16]
    chunks, st = _pickled(CACHE / f"chunks-{key}.pickle", build)
    stats.update(st)
    return Dz.apply_rules(chunks, stats)


def corpus_rows_and_files(cfg: dict) -> tuple[list[dict], dict, str]:
    """The pinned corpus: manifest rows, files by package (downloaded into the cache when missing), and the
    manifest's sha256."""
    import hashlib

    from . import corpus as C

    rows = C.read_manifest()
    if cfg.get("corpus_packages"):  # the smoke profile's own tiny corpus: a few small pinned packages
        rows = [r for r in rows if r["package"] in set(cfg["corpus_packages"])]
    sha = C.manifest_sha256()
    if cfg.get("corpus_packages"):
        sha = hashlib.sha256((sha + "|" + ",".join(sorted(r["package"] for r in rows))).encode()).hexdigest()
    C.download(rows)
    # reading ~1 GB of archives takes minutes: keep the parsed corpus next to the archives, keyed by manifest
    files = _pickled(C.CACHE / f"corpus-{sha[:16]}.pickle", lambda: C.load_corpus(rows))
    extra = cfg.get("corpus_extend_lines", 0)
    if extra:
        # the capped corpus stays as it is (and so its cache and every held-out set); the extension is cached apart
        files = C.extend(files, _pickled(C.CACHE / f"corpus-{sha[:16]}-extension{extra}.pickle",
                                         lambda: C.corpus_extension(files, rows, extra)))
    return rows, files, sha


def quiet_files(corpus_files: dict, rows: list[dict], seed: int, cfg: dict) -> list[tuple[str, str]]:
    """The quiet set: ordinary application code (web, CLI, ops, client packages) of held-out packages, a seeded
    sample of their labelled files up to `quiet_lines` lines, as (package/path, text)."""
    from .distil import labelled_union

    cat_of = {r["package"]: r["category"] for r in rows}
    split_of = {r["package"]: r["split"] for r in rows}
    app = [p for p in sorted(corpus_files) if split_of.get(p) == "val" and cat_of.get(p) in ("web", "cli", "ops", "client")]
    qfiles = [(f"{p}/{f.path}", f.text) for p in app for f in labelled_union(corpus_files[p])]
    random.Random(f"{seed}:quiet").shuffle(qfiles)
    budget, picked = cfg.get("quiet_lines", 40_000), []
    for name, text in qfiles:
        if budget <= 0:
            break
        picked.append((name, text))
        budget -= text.count("\n") + 1
    return picked


def write_quiet_set(out: Path, profile: str = "full", seed: int = 1234) -> int:
    """`run.py --write-quiet-set DIR`: the quiet set's files under DIR/<package>/<path>, for reading the release
    binary's findings there by hand (`hunkguard check DIR`). Returns the number of files."""
    cfg = dict(PROFILES[profile])
    rows, files, _ = corpus_rows_and_files(cfg)
    picked = quiet_files(files, rows, seed, cfg)
    for name, text in picked:
        path = Path(out) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return len(picked)


def pretrain_only(profile: str = "full", seed: int = 1234, checkpoint: Path | None = None, threads: int = 2) -> dict:
    """`run.py --pretrain`: masked-LM pretraining on the corpus, written to `checkpoint` (default
    training/pretrained/; the smoke and quick profiles write nothing unless given one)."""
    from .pretrain import CHECKPOINT, pretrain

    cfg = dict(PROFILES[profile])
    torch.set_num_threads(threads)
    _seed_all(seed)
    rows, files, sha = corpus_rows_and_files(cfg)
    _, _, recipe = pretrain(files, rows, sha, cfg, len(Catalogue().labels), MAX_LENGTH, seed,
                            out=checkpoint or (CHECKPOINT if profile == "full" else None))
    return recipe


def _unlabelled(cfg: dict, chunks, split_of: dict, all_ex, val_ex, seed: int) -> dict:
    """With a teacher: unlabelled code of the training packages that no example holds, `cfg["transfer_windows"]`
    chunks to distil on (`--transfer N`) and, drawn apart from them, `cfg["imitation_windows"]` chunks that nothing
    trains on, where the student's ranking is compared with the teacher's (`evaluate.imitation`). Empty without a
    teacher."""
    if not cfg.get("teacher"):
        return {"transfer": [], "imitation": []}
    used = {e.uid for e in all_ex}
    held_out = {D.norm_key(e.code) for e in val_ex}
    imitation_ex = D.unlabelled_chunks(chunks, split_of, used, held_out, int(cfg.get("imitation_windows", 2000)), seed,
                                       "imitation")
    used |= {e.uid for e in imitation_ex}
    transfer_ex = D.unlabelled_chunks(chunks, split_of, used, held_out, int(cfg.get("transfer_windows", 0)), seed,
                                      "transfer")
    log.info("unlabelled training-package code: %d chunks to distil on, %d to measure imitation on",
             len(transfer_ex), len(imitation_ex))
    return {"transfer": transfer_ex, "imitation": imitation_ex}


def _train_and_export(cfg: dict, seed: int, train_ex, val_ex, labels, label_index, timer: Timer,
                      stage: Path, corpus: tuple, unlabelled: dict) -> tuple:
    """Tokenizer and pretrained encoder (the committed checkpoint when it matches the corpus and config, else
    masked-LM pretraining now), training windows (and, with a teacher, the unlabelled windows of `unlabelled`),
    fine-tuning, ONNX export and int8 quantization.
    Returns the tokenizer, the exported files by variant, and what the manifest says about training."""
    from .pretrain import CHECKPOINT, load_checkpoint, pretrain

    rows, corpus_files, corpus_sha = corpus
    timer.start("mlm_pretrain")
    loaded = load_checkpoint(Path(cfg.get("pretrained") or CHECKPOINT), corpus_sha, cfg, len(labels), MAX_LENGTH)
    if loaded is None:
        loaded = pretrain(corpus_files, rows, corpus_sha, cfg, len(labels), MAX_LENGTH, seed)
        mlm_info = dict(loaded[2]["mlm"], reused_checkpoint=False)
    else:
        mlm_info = dict(loaded[2]["mlm"], reused_checkpoint=True, corpus_manifest_sha256=corpus_sha)
    tok, net, _ = loaded
    log.info("tokenizer: %d tokens in vocab", tok.get_vocab_size())
    init = _init_from(Path(cfg["init"]), tok, net, labels) if cfg.get("init") else None
    # `member_seed` varies what fine-tuning draws (windows, augmentation, batches, dropout) and nothing else: the
    # data, the split, the validation sample and the initial weights (encoder and heads) stay those of `seed`, so
    # members of one recipe start from one point and can be averaged (`average`)
    member_seed = int(cfg.get("member_seed") or seed)
    if member_seed != seed:
        _seed_all(member_seed)
    seed = member_seed

    timer.start("augment")
    pool = [Lines(e.lines.text) for e in train_ex if e.origin == "benign"][:3000] or [Lines(["x = 1"])]
    # the unlabelled chunks come last, so the labelled windows are drawn exactly as in a run without them
    items = make_items(train_ex + unlabelled["transfer"], tok, label_index, random.Random(seed + 1), cfg["variants"],
                       MAX_LENGTH - 2, pool, p_reshape=cfg.get("secret_reshape", 0.0),
                       p_plant=cfg.get("secret_plant", 0.0), plant_seed=seed + 11)
    labelled = Counter(bool(it.seq.any()) for it in items if it.origin == "planted")
    planted = {"hard_coded": labelled[True], "harmless_twins": labelled[False]}
    log.info("planted credentials: %(hard_coded)d windows hard-coded, %(harmless_twins)d harmless twins", planted)
    pairs = make_pair_items(train_ex, tok, label_index, seed, cfg["pair_variants"], MAX_LENGTH - 2)
    log.info("ranking pairs (vulnerable, fixed twin): %d", len(pairs))
    n_items_pos = sum(int(it.seq.any()) for it in items)
    log.info("training windows: %d (%d positive), mean length %.1f", len(items), n_items_pos,
             np.mean([len(i.ids) for i in items]))
    teacher = None
    if cfg.get("teacher"):
        timer.start("teacher")
        teacher, predict = _teacher(Path(cfg["teacher"]), tok, labels, cfg["threads"])
        teacher_targets(items, predict)
        teacher["transfer_windows"] = sum(not it.hard for it in items)
        log.info("teacher %s scored %d windows (%d unlabelled)", teacher["version"], len(items),
                 teacher["transfer_windows"])
        timer.start("augment")

    n_params = sum(p.numel() for p in net.parameters())
    log.info("model: %d parameters %s", n_params, net.config)
    timer.start("finetune")
    ft_info = finetune(net, items, cfg["epochs"], cfg["lr"], cfg["batch_tokens"], seed,
                       time_limit_s=cfg.get("ft_time_limit"), max_steps=cfg.get("max_steps"), pairs=pairs,
                       pair_batch=cfg.get("pair_batch", 8),
                       distil_weight=float(cfg.get("distil_weight", 0.5)) if teacher else 0.0)
    log.info("finetune: %s", ft_info)

    timer.start("export")
    fp32 = stage / "model_fp32.onnx"
    export_onnx(net, fp32)
    diff_fp32 = check_against_torch(net, fp32)
    q8 = stage / "model_int8.onnx"
    quantize(fp32, q8)
    diff_int8 = check_against_torch(net, q8)
    log.info("onnx vs torch: fp32 %.2e, int8 %.2e", diff_fp32, diff_int8)
    if teacher and unlabelled["imitation"]:
        codes = [e.code for e in unlabelled["imitation"]]
        own = np.stack([r["seq"] for r in score_codes(onnx_predictor(q8, cfg["threads"]), tok, codes, MAX_LENGTH, STRIDE)])
        its = np.stack([r["seq"] for r in score_codes(predict, tok, codes, MAX_LENGTH, STRIDE)])
        teacher["imitation"] = imitation(own, its, labels)
        log.info("imitation of the teacher on %d held-back chunks: mean top-50 overlap %s", len(codes),
                 teacher["imitation"]["mean_top_overlap"])
    trained = {"training": {"params": n_params, "config": net.config, "windows": len(items),
                            "positive_windows": n_items_pos, "planted_credentials": planted,
                            "reshaped_credentials_share": cfg.get("secret_reshape", 0.0),
                            "corpus_extend_lines": int(cfg.get("corpus_extend_lines", 0)),
                            "mlm": mlm_info, "finetune": ft_info,
                            "member_seed": member_seed, **({"teacher": teacher} if teacher else {}),
                            **({"init": init} if init else {})},
               "onnx_vs_torch_max_abs_diff": {"fp32": diff_fp32, "int8": diff_int8}}
    return tok, {"fp32": fp32, "int8": q8}, trained


def average(out_dir: Path, members: list[Path], profile: str = "full", seed: int = 1234, work_dir: Path | None = None,
            overrides: dict | None = None, of: str = "probabilities") -> dict:
    """Average trained models into one graph, then calibrate, evaluate and write it as `run(recalibrate=...)` does.
    `of="probabilities"` runs every member and averages their outputs (`export.average_models`: the cost of all
    members); `of="weights"` averages the members' fp32 weights into one model and quantizes it
    (`export.average_weights`: the cost of one). The members must be fine-tunings of one recipe that differ only in
    `member_seed`: the same tokenizer, initial weights and data seed, hence the same validation split, which none
    of them trained on."""
    from .export import average_models, average_weights, dequantized_fp32, quantize

    members = [Path(m) for m in members]
    if len(members) < 2:
        raise ValueError(f"an average needs at least two model folders, got {len(members)}")
    mans = []
    for m in members:
        man = model_manifest(m, ("model.onnx", "manifest.json"))
        training = man.get("metrics", {}).get("training", {})
        if "version" not in man or "finetune" not in training or "params" not in training:
            raise ValueError(f"{m}: manifest.json was not written by this pipeline (no version or training facts)")
        mans.append(man)
    if len({(m / "tokenizer.json").read_bytes() for m in members}) != 1:
        raise ValueError("the members do not share a tokenizer: they are not fine-tunings of one encoder")
    overrides = recorded_extension(members, mans, overrides)
    work_dir = Path(work_dir or Path(__file__).resolve().parents[1] / "work")
    work_dir.mkdir(parents=True, exist_ok=True)
    # a member without its fp32 graph (a shipped model keeps only int8) is dequantized, as --init reads it
    dequantize = [of == "weights" and not (m / "model_fp32.onnx").is_file() for m in members]
    if of == "weights":
        unreadable = [str(m) for m, man, dq in zip(members, mans, dequantize)
                      if dq and not man["metrics"]["training"].get("config")]
        if unreadable:
            raise ValueError(f"averaging weights needs each member's fp32 graph, or the model config its manifest "
                             f"records to dequantize its int8 one; neither in {', '.join(unreadable)}")
    elif of != "probabilities":
        raise ValueError(f"nothing to average of {of!r}: probabilities or weights")
    staged = Path(tempfile.mkdtemp(prefix="average_", dir=work_dir))
    if of == "weights":
        # the dequantized graphs go into `staged`, which is removed with everything in it below
        graphs = [staged / f"member{i}_fp32.onnx" if dq else m / "model_fp32.onnx"
                  for i, (m, dq) in enumerate(zip(members, dequantize))]
        for m, man, dq, graph in zip(members, mans, dequantize, graphs):
            if dq:
                diff = dequantized_fp32(m / "model.onnx", man["metrics"]["training"]["config"], graph)
                log.info("%s has no fp32 graph: its int8 graph dequantized (reproduced to %.1e)", m, diff)
        average_weights(graphs, staged / "model_fp32.onnx")
        quantize(staged / "model_fp32.onnx", staged / "model.onnx")
    else:
        average_models([m / "model.onnx" for m in members], staged / "model.onnx")
    shutil.copy(members[0] / "tokenizer.json", staged / "tokenizer.json")
    trainings = [m["metrics"]["training"] for m in mans]
    first = dict(trainings[0])
    if of == "probabilities":
        first["params"] = sum(t["params"] for t in trainings)
    first["averaged"] = of
    first["corpus_extend_lines"] = int((overrides or {}).get("corpus_extend_lines", 0))
    first["members"] = [{"version": m["version"], "member_seed": t.get("member_seed", seed), "params": t["params"],
                         "finetune": t["finetune"], "dequantized": dq}
                        for m, t, dq in zip(mans, trainings, dequantize)]
    metrics = {"training": first, "fp32_vs_int8": mans[0]["metrics"].get("fp32_vs_int8"),
               "timings_s": {f"member {i}": (m["metrics"].get("timings_s") or {}).get("total")
                             for i, m in enumerate(mans)}}
    manifest = {"version": _new_version(profile), "quantized": of == "weights" or all(m.get("quantized") for m in mans), "metrics": metrics}
    (staged / "manifest.json").write_text(json.dumps(manifest, default=_json_default))
    try:
        return run(out_dir, profile=profile, seed=seed, work_dir=work_dir, overrides=overrides, recalibrate=staged)
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def recorded_extension(members: list[Path], mans: list[dict], overrides: dict | None) -> dict | None:
    """The overrides an average or a recalibration runs with: the `corpus_extend_lines` its models trained with, so
    it is calibrated and described on their data. Models that disagree, or a given `--extend-corpus` that differs
    from what they recorded, are refused (ValueError); models written before the extension was recorded take the
    given value."""
    recorded = {str(m): t["corpus_extend_lines"] for m, man in zip(members, mans)
                if "corpus_extend_lines" in (t := man.get("metrics", {}).get("training", {}))}
    if len(set(recorded.values())) > 1:
        raise ValueError(f"the members were trained on differently extended corpora ({recorded}): "
                         "they are not members of one recipe")
    given = (overrides or {}).get("corpus_extend_lines")
    if recorded:
        theirs = next(iter(recorded.values()))
        if given is not None and given != theirs:
            raise ValueError(f"--extend-corpus {given}, but the members were trained with {theirs}")
        return {**(overrides or {}), "corpus_extend_lines": theirs}
    return overrides


def _new_version(profile: str) -> str:
    """The version a newly trained (or newly averaged) model gets: VERSION, the day, and the profile unless full."""
    day = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d")
    return f"{VERSION}+{day}" + ("" if profile == "full" else f".{profile}")


def model_manifest(model_dir: Path, files: tuple[str, ...]) -> dict:
    """The manifest of a model folder that `average`, `--recalibrate` or `--teacher` is given, once its `files` are
    there; raises ValueError with what is missing or unreadable."""
    missing = [f for f in files if not (model_dir / f).is_file()]
    if missing:
        raise ValueError(f"{model_dir}: not a model folder (no {', '.join(missing)})")
    try:
        m = json.loads((model_dir / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{model_dir}: not a readable manifest ({e})") from None
    if not isinstance(m, dict):
        raise ValueError(f"{model_dir}: not a readable manifest (not a JSON object)")
    return m


def check_teacher(model_dir: Path, labels: list[str]) -> dict:
    """What `run` needs of a teacher folder, checked before any data is read: a model this pipeline wrote, with
    this catalogue's labels in this order. Returns the manifest; raises ValueError with what is wrong."""
    m = model_manifest(model_dir, ("model.onnx", "tokenizer.json", "manifest.json"))
    if m.get("labels") != labels or m.get("outputs") != OUTPUTS:
        raise ValueError(f"{model_dir} is not a model of this catalogue (labels or outputs differ)")
    return m


def _teacher(model_dir: Path, tok, labels: list[str], threads: int) -> tuple[dict, object]:
    """The teacher's facts for the manifest and its predictor. Its tokenizer must be the run's: the student's
    token ids go to it unchanged."""
    from tokenizers import Tokenizer

    m = check_teacher(model_dir, labels)
    if Tokenizer.from_file(str(model_dir / "tokenizer.json")).get_vocab() != tok.get_vocab():
        raise ValueError(f"{model_dir}: the teacher's tokenizer is not this run's")
    return {"version": m.get("version"), "dir": model_dir.name}, onnx_predictor(model_dir / "model.onnx", threads)


def _init_from(model_dir: Path, tok, net, labels: list[str]) -> dict:
    """`--init DIR`: start fine-tuning from the weights of the model in DIR (its fp32 graph when it kept one, else
    its shipped graph dequantized) instead of the pretrained encoder with fresh heads, so a short run adds to what
    that model knows rather than training a new one. Its tokenizer and labels must be the run's. Returns the
    manifest's `init` entry (with how closely the loaded weights reproduce DIR's graph)."""
    from tokenizers import Tokenizer

    m = check_teacher(model_dir, labels)
    if Tokenizer.from_file(str(model_dir / "tokenizer.json")).get_vocab() != tok.get_vocab():
        raise ValueError(f"{model_dir}: its tokenizer is not this run's")
    src = model_dir / "model_fp32.onnx" if (model_dir / "model_fp32.onnx").exists() else model_dir / "model.onnx"
    n = load_onnx_weights(net, src)
    diff = check_against_torch(net, src)
    log.info("fine-tuning starts from %s (%s, %d tensors; max abs difference to its graph %.1e)", src,
             m.get("version"), n, diff)
    return {"version": m.get("version"), "dir": model_dir.name, "file": src.name, "max_abs_diff": diff}


def _load_trained(model_dir: Path, stage: Path) -> tuple:
    """A model this pipeline wrote earlier, for `recalibrate`: its tokenizer, its ONNX file (under the
    variant it was shipped as) and the training facts of its manifest."""
    from tokenizers import Tokenizer

    prev = json.loads((model_dir / "manifest.json").read_text())
    variant = "int8" if prev.get("quantized") else "fp32"
    model = stage / f"model_{variant}.onnx"
    shutil.copy(model_dir / "model.onnx", model)
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    m = prev["metrics"]
    training = dict(m["training"], recalibrated=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    recalibrated_from=prev["version"])
    log.info("recalibrating %s (%s, %s) without training", model_dir, prev["version"], variant)
    return tok, {variant: model}, {"training": training, "fp32_vs_int8": m.get("fp32_vs_int8"),
                                   "timings_s": m.get("timings_s")}


def _json_default(o):
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    raise TypeError(type(o))


def _summary(m, pairs, lines, frag_fpr) -> dict:
    if m is None:
        return None
    return {"binary_labelled": m["binary_labelled"], "binary_with_benign": m["binary_with_benign"],
            "binary_realfix": m["binary_realfix"], "binary_advisory": m.get("binary_advisory"),
            "binary_corpus": m.get("binary_corpus"), "binary_codeql": m["binary_codeql"], "binary_bandit_seed": m["binary_bandit"],
            "benign_fpr": m["benign_fpr"], "benign_n": m["benign_n"], "benign_fragment_fpr": frag_fpr,
            "auc_labelled": m.get("auc_labelled"), "auc_with_benign": m.get("auc_with_benign"),
            "cwe_family_acc_tp": m["cwe_family_acc_tp"], "n_true_positives": m["n_true_positives"],
            "pair_ranking": pairs, "lines": lines}


def _bandit_pairs(preds: list[set], exs) -> dict:
    by = {}
    for p, e in zip(preds, exs):
        if e.origin in ("realfix", "advisory") and e.pair:
            by.setdefault(e.pair, {})["vul" if e.positive else "fix"] = (p, e)
    w = n = 0.0
    for d in by.values():
        if "vul" in d and "fix" in d:
            (pv, ev), (pf, _) = d["vul"], d["fix"]
            c = next(iter(ev.labels))
            a, b = c in pv, c in pf
            w += 1.0 if a and not b else (0.5 if a == b else 0.0)
            n += 1
    return {"pairs": int(n), "vul_above_fix_label": round(w / n, 4) if n else None, "note": "ties (both or neither flagged) count 0.5"}


def _spread(rep, labels, report) -> dict:
    th = rep["thresholds"]
    f0, f1 = rep["fold_thresholds"][0], rep["fold_thresholds"][1]
    per = {l: dict({"shipped": float(th[i]), "fold_a": float(f0[i]), "fold_b": float(f1[i])},
                   **{k: float(report[k]["thresholds"][i]) for k in report}) for i, l in enumerate(labels)}
    d_fold = np.abs(np.asarray(f0) - np.asarray(f1))
    both = "fp32" in report and "int8" in report
    d_q = np.abs(np.asarray(report["fp32"]["thresholds"]) - np.asarray(report["int8"]["thresholds"])) if both else None
    return {"global_T": rep["T"], "fold_T": [rep["fold_T"][0], rep["fold_T"][1]],
            "shipped_min": float(np.min(th)), "shipped_max": float(np.max(th)),
            "fold_abs_diff_mean": round(float(d_fold.mean()), 4), "fold_abs_diff_max": round(float(d_fold.max()), 4),
            "fp32_int8_abs_diff_max": round(float(d_q.max()), 4) if both else None, "per_label": per}


REFERENCE_CASES = [
    ("sql_injection", 'def find_user(conn, username):\n    cur = conn.cursor()\n    cur.execute("SELECT * FROM users WHERE name = \'%s\'" % username)\n    return cur.fetchone()\n'),
    ("sql_parameterized", 'def find_user(conn, username):\n    cur = conn.cursor()\n    cur.execute("SELECT * FROM users WHERE name = %s", (username,))\n    return cur.fetchone()\n'),
    ("command_injection", 'import os\n\n@app.route("/ping")\ndef ping():\n    host = request.args.get("host")\n    os.system("ping -c 1 " + host)\n    return "ok"\n'),
    ("yaml_load", 'def load_config(path):\n    with open(path) as f:\n        return yaml.load(f.read())\n'),
    ("safe_function", 'def moving_average(values, window):\n    out = []\n    total = 0.0\n    for i, v in enumerate(values):\n        total += v\n        if i >= window:\n            total -= values[i - window]\n        out.append(total / min(i + 1, window))\n    return out\n'),
    ("pickle_from_request", 'def restore(request):\n    blob = request.body\n    state = pickle.loads(blob)\n    return state["user"]\n'),
]


def reference_scores(model_path: Path, tok) -> dict:
    """Scores the Rust test reproduces: ids built as the Rust side does (no padding, batch 1)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])
    cases = []
    for name, code in REFERENCE_CASES:
        ids = [CLS] + tok.encode(code, add_special_tokens=False).ids + [SEP]
        x = np.asarray([ids], dtype=np.int64)
        s, t = sess.run(OUTPUTS, {"input_ids": x, "attention_mask": np.ones_like(x)})
        cases.append({"name": name, "code": code, "input_ids": ids,
                      "seq_probs": [round(float(v), 7) for v in s[0]],
                      "token_probs": [[round(float(v), 7) for v in row] for row in t[0]]})
    return {"model": "model.onnx", "tolerance": 1e-4, "cases": cases}
