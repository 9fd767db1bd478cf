#!/usr/bin/env python3
"""Train, export, calibrate and evaluate the hunkguard model.

    python training/run.py                # full run, writes models/
    python training/run.py --smoke --out /tmp/hg   # a few hundred examples, a few steps (< 3 min)
    python training/run.py --profile quick         # ~10-15 min first model
    python training/run.py --recalibrate models/   # new thresholds and metrics for a trained model
    python training/run.py --pretrain              # (re)pretrain the encoder on the corpus: training/pretrained/
    python training/run.py --corpus-manifest       # re-pin training/corpus/packages.txt into corpus/manifest.tsv
    python training/run.py --write-quiet-set DIR   # the quiet set's files, to read `hunkguard check DIR` by hand
    python training/run.py --compare A B           # two trained models' held-out figures, case by case
    python training/run.py --member-seed 2 --out DIR   # a member: the same data and split, another training draw
    python training/run.py --average A B           # average members A and B into one graph, calibrate, evaluate
    python training/run.py --init models/ --out DIR   # continue fine-tuning the model in models/ (a short run)
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# a continuation (`--init`) is short and gentle: it should add to the model it starts from, not retrain it
INIT_STEPS = 1200
INIT_LR_SCALE = 0.3
sys.path.insert(0, str(HERE))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="tiny end-to-end run (same file set)")
    ap.add_argument("--profile", choices=["smoke", "quick", "full"], default=None)
    ap.add_argument("--out", type=Path, default=HERE.parent / "models", help="output folder (default: models/)")
    ap.add_argument("--work", type=Path, default=HERE / "work", help="scratch folder (git-ignored)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--recalibrate", type=Path, default=None, metavar="DIR",
                    help="train nothing: score the model in DIR (written by this pipeline with the same profile and "
                         "seed) on the validation split, calibrate its thresholds and evaluate it anew")
    ap.add_argument("--no-gate", action="store_true",
                    help="write no cascade gate (gate.onnx): every window is scored by the full model")
    ap.add_argument("--pretrain", action="store_true",
                    help="only download the corpus and masked-LM pretrain the encoder into training/pretrained/")
    ap.add_argument("--pretrained", type=Path, default=None, metavar="DIR",
                    help="the pretrained checkpoint folder that --pretrain writes and a run reuses "
                         "(default: training/pretrained/)")
    ap.add_argument("--corpus-manifest", action="store_true",
                    help="resolve training/corpus/packages.txt to pinned sdists (corpus/manifest.tsv) and stop")
    ap.add_argument("--write-quiet-set", type=Path, default=None, metavar="DIR",
                    help="write the quiet set (held-out application code the card's quiet figure is measured on) "
                         "into DIR/<package>/<path> and stop")
    ap.add_argument("--compare", type=Path, nargs=2, default=None, metavar=("A", "B"),
                    help="compare the held-out figures of two model folders (or manifests) case by case and stop")
    ap.add_argument("--member-seed", type=int, default=None, metavar="K",
                    help="train with seed K (head init, dropout, windows, batches) while the data, split and validation "
                         "sample stay those of --seed: a member that --average can combine with others")
    ap.add_argument("--average", type=Path, nargs="+", default=None, metavar="DIR",
                    help="average the models in two or more DIRs (members of one recipe) into one graph, then "
                         "calibrate, evaluate and write it to --out as --recalibrate does")
    ap.add_argument("--average-of", choices=["probabilities", "weights"], default="probabilities",
                    help="with --average: run every member and average their outputs (the cost of all of them), or "
                         "average their weights into one model (the cost of one)")
    ap.add_argument("--teacher", type=Path, default=None, metavar="DIR",
                    help="fine-tune against the probabilities of the model in DIR (same tokenizer and labels, e.g. "
                         "an --average of members) as well as the hard labels: one model learns what several know")
    ap.add_argument("--distil-weight", type=float, default=0.5, metavar="A",
                    help="with --teacher: the loss is (1 - A) * hard labels + A * teacher (default 0.5)")
    ap.add_argument("--transfer", type=int, default=0, metavar="N",
                    help="with --teacher: also distil on N unlabelled chunks of the training packages, where the "
                         "teacher's probabilities are the only target")
    ap.add_argument("--init", type=Path, default=None, metavar="DIR",
                    help="fine-tune from the weights of the model in DIR (one this pipeline wrote, same tokenizer and "
                         "labels) instead of the pretrained encoder: a continuation, by default %d steps at %.1fx the "
                         "profile's learning rate" % (INIT_STEPS, INIT_LR_SCALE))
    ap.add_argument("--steps", type=int, default=None, metavar="N",
                    help="fine-tuning steps (overrides the profile's, and --init's default)")
    ap.add_argument("--reshape-secrets", type=float, default=None, metavar="P",
                    help="give the literal of a share P of the credential windows a value of another shape "
                         "(pycode.reshape_secret_values; the full profile's default is 0)")
    ap.add_argument("--plant-secrets", type=float, default=None, metavar="P",
                    help="plant a hard-coded credential, and its harmless twin, in a share P of the benign examples "
                         "(pycode.plant_secret; the full profile's default is 0)")
    ap.add_argument("--extend-corpus", type=int, default=None, metavar="LINES",
                    help="label up to LINES more non-test lines of each training package past the corpus's "
                         "per-package cap (corpus.corpus_extension; held-out packages stay capped; the full "
                         "profile's default is 0); a model records it, and --average and --recalibrate rebuild "
                         "that data themselves: give it to them only for a model that records none (one written before "
                         "2026-12-04, such as 0.8.0)")
    ap.add_argument("--threads", type=int, default=2, metavar="N",
                    help="CPU threads for torch and ONNX Runtime (default 2; 1 for a side job beside a training)")
    args = ap.parse_args(argv)
    profile = args.profile or ("smoke" if args.smoke else "full")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.threads < 1:
        logging.error("--threads: %d is not a thread count", args.threads)
        return 2
    if args.compare:
        import json

        from hunkguard_train.realeval import compare_manifests

        manifests = [p / "manifest.json" if p.is_dir() else p for p in args.compare]
        missing = [str(p) for p in manifests if not p.is_file()]
        if missing:
            logging.error("--compare: no manifest at %s", ", ".join(missing))
            return 2
        try:
            a, b = (json.loads(p.read_text()) for p in manifests)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            logging.error("--compare: a manifest is not JSON (%s)", e)
            return 2
        print("\n".join(compare_manifests(a, b)))
        return 0
    if args.corpus_manifest:
        from hunkguard_train.corpus import resolve_manifest

        resolve_manifest()
        return 0
    if args.write_quiet_set:
        from hunkguard_train.pipeline import write_quiet_set

        n = write_quiet_set(args.write_quiet_set, profile=profile, seed=args.seed)
        logging.info("wrote %d files of the quiet set into %s", n, args.write_quiet_set)
        return 0
    if args.pretrain:
        from hunkguard_train.pipeline import pretrain_only

        pretrain_only(profile=profile, seed=args.seed, checkpoint=args.pretrained, threads=args.threads)
        return 0
    from hunkguard_train.pipeline import average, run

    overrides = {"gate": False} if args.no_gate else {}
    if args.threads != 2:
        overrides["threads"] = args.threads
    if args.pretrained:
        overrides["pretrained"] = str(args.pretrained)
    if args.extend_corpus is not None:
        if args.extend_corpus < 0:
            logging.error("--extend-corpus: %d is not a number of lines", args.extend_corpus)
            return 2
        # also for --average and --recalibrate: checked against what their models recorded, or used where none did
        overrides["corpus_extend_lines"] = args.extend_corpus
    if args.average:
        trains = [flag for flag, given in (("--init", args.init), ("--teacher", args.teacher),
                                           ("--member-seed", args.member_seed is not None),
                                           ("--steps", args.steps is not None), ("--recalibrate", args.recalibrate),
                                           ("--plant-secrets", args.plant_secrets is not None),
                                           ("--reshape-secrets", args.reshape_secrets is not None)) if given]
        if trains:
            logging.error("--average trains nothing, so %s would be ignored: give the members' training flags "
                          "to the member runs", ", ".join(trains))
            return 2
        try:
            average(args.out, args.average, profile=profile, seed=args.seed, work_dir=args.work,
                    overrides=overrides or None, of=args.average_of)
        except ValueError as e:
            logging.error("--average: %s", e)
            return 2
        return 0
    if args.member_seed is not None:
        overrides["member_seed"] = args.member_seed
    if args.steps is not None and args.steps < 1:
        logging.error("--steps: %d is not a number of steps", args.steps)
        return 2
    if args.init and args.recalibrate:
        logging.error("--init trains and --recalibrate does not: give one of them")
        return 2
    if args.recalibrate:
        from hunkguard_train.pipeline import model_manifest, recorded_extension

        try:
            manifest = model_manifest(args.recalibrate, ("model.onnx", "manifest.json"))
            overrides = recorded_extension([args.recalibrate], [manifest], overrides) or {}
        except ValueError as e:
            logging.error("--recalibrate: %s", e)
            return 2
    if args.init:
        from hunkguard_train.labels import Catalogue
        from hunkguard_train.pipeline import PROFILES, check_teacher

        try:
            check_teacher(args.init, Catalogue().labels)
        except ValueError as e:
            logging.error("--init: %s", e)
            return 2
        overrides.update(init=str(args.init), max_steps=INIT_STEPS, lr=PROFILES[profile]["lr"] * INIT_LR_SCALE)
    if args.steps is not None:
        overrides["max_steps"] = args.steps
    for flag, key, value in (("--reshape-secrets", "secret_reshape", args.reshape_secrets),
                             ("--plant-secrets", "secret_plant", args.plant_secrets)):
        if value is not None:
            if not 0.0 <= value <= 1.0:
                logging.error("%s: %s is not a share between 0 and 1", flag, value)
                return 2
            overrides[key] = value
    if args.transfer and not args.teacher:
        logging.error("--transfer: unlabelled chunks need a --teacher to learn from")
        return 2
    if args.transfer < 0:
        logging.error("--transfer: %d is not a number of chunks", args.transfer)
        return 2
    if args.teacher:
        from hunkguard_train.labels import Catalogue
        from hunkguard_train.pipeline import check_teacher

        if not 0.0 < args.distil_weight <= 1.0:
            logging.error("--distil-weight: %s is not in (0, 1]", args.distil_weight)
            return 2
        try:
            check_teacher(args.teacher, Catalogue().labels)
        except ValueError as e:
            logging.error("--teacher: %s", e)
            return 2
        overrides.update(teacher=str(args.teacher), distil_weight=args.distil_weight, transfer_windows=args.transfer)
    run(args.out, profile=profile, seed=args.seed, work_dir=args.work, recalibrate=args.recalibrate,
        overrides=overrides or None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
