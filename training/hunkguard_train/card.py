"""models/MODEL_CARD.md, written from the manifest so the numbers in it are the numbers of the run."""
from __future__ import annotations


def _f(x, pct=False):
    if x is None:
        return "n/a"
    return f"{100 * x:.1f} %" if pct else f"{x:.3f}"


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95 % Wilson interval of a proportion k/n: how far a figure of n held-out cases can move by chance."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5 / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _sampling_error(rows: list[tuple[str, float, int]]) -> str:
    """One sentence: the 95 % interval of each (name, proportion, n), so that runs are compared with their noise."""
    parts = []
    for name, p, n in rows:
        lo, hi = wilson_interval(round(p * n), n)
        parts.append(f"{name} {100 * p:.1f} % of {n}: {100 * lo:.1f}-{100 * hi:.1f} %")
    return ("Sampling error (95 % Wilson interval; another run whose figure falls inside it is not told apart from "
            "this one by these sets): " + "; ".join(parts) + ".\n")


def _target(val, goal, higher=True):
    if val is None:
        return "n/a"
    ok = val >= goal if higher else val <= goal
    return "met" if ok else "**missed**"


def model_card(m: dict, cat, refs: dict) -> str:
    mt = m["metrics"]
    o, b = mt["ours"], mt["bandit"]
    tr = mt["training"]
    cnt = mt["counts"]
    sp = mt["threshold_spread"]
    t = mt["timings_s"]
    bl_o, bl_b = o["binary_labelled"], b["binary_labelled"]
    pr_o = (o.get("pair_ranking") or {}).get("vul_above_fix_label")
    pr_b = (b.get("pair_ranking") or {}).get("vul_above_fix_label")
    lines = o.get("lines") or {}
    L = []
    a = L.append
    a(f"# Model card: {m['name']} {m['version']}\n")
    a(f"Created {m['created']}. Profile `{tr['profile']}`, seed {tr['seed']}. "
      f"`training_data_sha256` = `{m['training_data_sha256']}`.\n")
    a("## What it does\n")
    a("Scores a window of Python code (a PR hunk) for the CWE labels of `models/cwe_catalogue.yml`: one sigmoid per "
      "label for the window (`seq_probs`) and one per token and label (`token_probs`, \"this token is part of the "
      "weakness\"). A label fires when `seq_probs[c] >= thresholds[c]`; a line is flagged for label c when the max "
      f"token probability of its tokens is >= `line_threshold` ({m['line_threshold']}), or, when no line of a firing "
      "label passes, its top-scoring line is (`src/findings.rs` applies the same rule). "
      + (f"A line whose token probability for c is >= `line_alone_threshold` ({m['line_alone_threshold']}) fires c "
         "on its own, whatever the window's score (the window is diluted by its other lines). "
         if m.get("line_alone_threshold") is not None else "") +
      "A token belongs to the line "
      "of its first non-whitespace character, which for this byte-level tokenizer is the line of its start offset "
      "(the runtime's rule); whitespace-only tokens are trained as negatives. Windows: `[CLS] + "
      f"tokens[i:i+{m['max_length'] - 2}] + [SEP]`; consecutive windows of a long snippet share {m['stride']} tokens "
      "(the last one ends at the snippet's end), as `src/model/` cuts them; scores are max-pooled over windows.\n")
    a("## Data\n")
    a("| split | " + " | ".join(sorted(set(cnt["train"]) | set(cnt["val"]))) + " |")
    keys = sorted(set(cnt["train"]) | set(cnt["val"]))
    a("|---|" + "---|" * len(keys))
    a("| train (pos) | " + " | ".join(f"{cnt['train'].get(k, 0)} ({cnt['train_pos'].get(k, 0)})" for k in keys) + " |")
    a("| val (pos) | " + " | ".join(f"{cnt['val'].get(k, 0)} ({cnt['val_pos'].get(k, 0)})" for k in keys) + " |")
    a("")
    corp = cnt.get("corpus") or {}
    cats = ", ".join(f"{k} {v['packages']}" for k, v in sorted((corp.get("by_category") or {}).items()))
    a(f"- `corpus`: real Python from {corp.get('packages', 'n/a')} pinned PyPI source distributions "
      f"(`training/corpus/manifest.tsv`, sha256 `{str(cnt.get('corpus_manifest_sha256', ''))[:16]}...`; "
      f"{corp.get('lines', 0):,} lines after dedup by file; packages by category: {cats}), "
      "split by package. Bandit 1.9.4 ran over every non-test file (the corpus keeps up to 60,000 non-test lines per "
      "package" + (f"; {corp['extension_lines']:,} more lines of {corp['extension_packages']} training packages past that "
                   "cap were labelled too, `--extend-corpus`, while held-out packages stay capped"
                   if corp.get("extension_lines") else "") + "); its high-signal "
      "findings are positive lines, the context-blind checks went through labelling rules that read the code around "
      "(`training/hunkguard_train/distil.py`, revised after reading 320 cases by hand: `training/corpus/context_audit.tsv`). "
      "Chunks whose only findings a rule cleared are hard negatives; chunks without any finding are `benign` (ordinary "
      "application code).")
    a("- `advisory`: vulnerable/fixed function pairs from the fix commits of PyPI security advisories "
      "(`../shared/data/advisory_train.jsonl`, pairs labelled `other` dropped); `realfix`: SVEN + SafeCoder train "
      "splits. Both split by repository; a repository that is also a corpus package takes the package's split.")
    a("- `codeql`/`bandit`: CodeQL query tests and Bandit examples (`../shared/data/seed_train.jsonl`, "
      "`cwe_harmonized` and `cwe_all`); source CWE ids mapped through the catalogue aliases, positives of CWEs outside "
      "the catalogue dropped (not made safe).")
    a(f"- `synth`: template generators in `training/hunkguard_train/synth/` (modules: {cnt.get('synth_modules')}); "
      "they teach vulnerable/fixed twins and never grade: every metric below is on real code.")
    a("- `benign` also holds functions of the standard library and installed packages without risky calls "
      "(a package that is a held-out corpus package is left out).")
    a("- Validation split by origin: corpus by package, real fixes by repository, CodeQL/Bandit by source file, "
      "synthetic by family, benign by package. Metrics below are on REAL code only; synthetic validation is reported "
      "separately.")
    a(f"- Augmentation: comments and docstrings stripped, identifiers renamed from a shared pool, re-indented/"
      f"re-quoted, and cut into hunk-like fragments (positive AND safe code alike); {tr['windows']} training windows "
      f"({tr['positive_windows']} positive).")
    if tr.get("reshaped_credentials_share"):
        a(f"- Credential values: {tr['reshaped_credentials_share']:.0%} of the windows of a hard-coded credential get "
          "a value of another shape (`pycode.reshape_secret_values`).")
    if tr.get("planted_credentials", {}).get("hard_coded"):
        pc = tr["planted_credentials"]
        a(f"- Planted credentials: {pc['hard_coded']} windows of benign code with a hard-coded credential inserted "
          f"(CWE-798) and {pc['harmless_twins']} twins whose line reads it from the environment, holds a "
          "placeholder, or puts the same kind of literal under a name that is not a credential's "
          "(`pycode.plant_secret`).")
    a("")
    a("## Architecture and training\n")
    c = tr["config"]
    a(f"Byte-level BPE ({c['vocab']} tokens) -> token+position embeddings (d={c['d']}) -> gated conv blocks "
      f"(kernels {c['conv_kernels']}) -> {c['layers']} pre-LN transformer layers ({c['heads']} heads, FF {c['ff']}) -> "
      f"token head + window head ([CLS], max- and mean-pool, max token logit). {tr['params']:,} parameters. "
      f"Masked-LM pretraining on the corpus train side: {tr['mlm'].get('steps', 0)} steps, "
      f"{tr['mlm'].get('tokens_seen', 0):,} tokens seen (`training/pretrained/`, "
      f"{'reused' if tr['mlm'].get('reused_checkpoint') else 'trained in this run'}); fine-tuning: {tr['finetune']['steps']} steps "
      f"({tr['finetune']['epochs']} epochs), BCE on windows and tokens. ONNX opset {m['onnx']['opset']}, ir_version "
      f"{m['onnx']['ir_version']}, {'int8 dynamic quantization' if m['quantized'] else 'fp32'}, "
      f"{m['onnx']['size_bytes'] / 1e6:.1f} MB. 2 CPU threads.\n")
    if not tr["mlm"].get("steps"):
        a("No masked-LM pretraining in this run: on 2 shared CPU cores the budget went to fine-tuning on ~20k benign "
          "functions and the synthetic set instead (the pipeline supports it: `mlm_steps` in the profile).\n")
    a("Pair ranking loss: each fine-tuning step also scores vulnerable/fixed twins (realfix train pairs and synthetic "
      "pairs, augmented identically) with a margin loss on the pair's label.\n")
    a("Timings (s): " + ", ".join(f"{k} {v}" for k, v in (t or {}).items()) + "\n")
    if tr.get("members"):
        ms = tr["members"]
        what = ("the weights" if tr.get("averaged") == "weights" else "the probabilities")
        a(f"The shipped graph averages {what} of {len(ms)} fine-tunings of this recipe that start from the same weights "
          f"and differ only in their training seed (member seeds {', '.join(str(x['member_seed']) for x in ms)}; "
          f"fine-tuning steps {', '.join(str(x['finetune']['steps']) for x in ms)}), built by `training/run.py --average"
          f"{' --average-of weights' if tr.get('averaged') == 'weights' else ''}` and calibrated and evaluated as one "
          "model on the validation split that none of them trained on"
          + (". The parameter count above is their sum" if tr.get("averaged") != "weights" else "") + ".\n")
    elif tr.get("recalibrated"):
        a(f"Recalibrated on {tr['recalibrated']} (`training/run.py --recalibrate`): the weights are those of "
          f"{tr.get('recalibrated_from')}; thresholds, line threshold and every metric below were computed anew on "
          "the same validation split. The fp32 vs int8 comparison is from training time.\n")
    if tr.get("init"):
        a(f"Continued: fine-tuning started from the weights of model {tr['init']['version']} (its "
          f"`{tr['init']['file']}`, which the loaded weights reproduce to {tr['init']['max_abs_diff']:.1e}), not "
          f"from the pretrained encoder, for {tr['finetune'].get('steps')} steps (`training/run.py --init`).\n")
    if tr.get("teacher"):
        a(f"Distilled: fine-tuning learned from model {tr['teacher']['version']}'s probabilities on every training "
          f"window as well as from the labels (`training/run.py --teacher`; loss (1 - a) * labels + a * teacher, "
          f"a = {tr['finetune'].get('distil_weight')}"
          + (f"; and on {tr['teacher']['transfer_windows']:,} unlabelled windows of the training packages, "
             "where the teacher is the only target" if tr["teacher"].get("transfer_windows") else "") + ").\n")
        im = tr["teacher"].get("imitation")
        if im:
            a(f"Imitation, on {im['windows']:,} chunks of the training packages that nothing trained on: of the "
              f"{im['top']} windows the teacher scores highest for a label, the student's {im['top']} hold "
              f"{im['mean_top_overlap']} on average over the labels ({im['chance_overlap']} by chance).\n")
    if tr.get("note"):
        a(f"Note on this model: {tr['note']}.\n")
    a("## Metrics on real code (validation split) vs Bandit 1.9.4\n")
    a("Our thresholds are cross-fitted (calibrated on one half of the validation groups, applied to the other). "
      "Bandit is filtered as the seed labels were (no B4xx/B101/B110/B112/B603/B606/B607, no LOW confidence, no LOW "
      "severity except hard-coded passwords) and its CWE ids mapped onto the catalogue. Bandit is given the file's "
      "import lines for the CodeQL/Bandit examples (it needs them to resolve names; our model sees only the chunk), "
      "which favours Bandit.\n")
    a("| metric | target | hunkguard | Bandit | |")
    a("|---|---|---|---|---|")
    a(f"| binary F1, labelled real code (realfix + CodeQL + Bandit examples) | >= 0.90 | {_f(bl_o['f1'])} (P {_f(bl_o['precision'])}, R {_f(bl_o['recall'])}) | {_f(bl_b['f1'])} (P {_f(bl_b['precision'])}, R {_f(bl_b['recall'])}) | {_target(bl_o['f1'], 0.90)} |")
    for k, nm in (("binary_realfix", "realfix only"), ("binary_codeql", "CodeQL tests only"), ("binary_bandit_seed", "Bandit examples only")):
        if o.get(k):
            a(f"| binary F1, {nm} | | {_f(o[k]['f1'])} | {_f(b[k]['f1']) if b.get(k) else 'n/a'} | |")
    a(f"| binary F1 incl. held-out benign | | {_f(o['binary_with_benign']['f1'])} | {_f(b['binary_with_benign']['f1'])} | |")
    a(f"| FPR on held-out benign functions (n={o['benign_n']}) | <= 2 % | {_f(o['benign_fpr'], True)} | {_f(b['benign_fpr'], True)} | {_target(o['benign_fpr'], 0.02, False)} |")
    a(f"| FPR on hunk-like fragments of held-out benign code | | {_f(o.get('benign_fragment_fpr'), True)} | {_f(b.get('benign_fragment_fpr'), True)} | |")
    a(f"| realfix pairs: vulnerable scored above its fix | >= 80 % | {_f(pr_o, True)} | {_f(pr_b, True)} (flag/no flag; ties 0.5) | {_target(pr_o, 0.80)} |")
    a(f"| CWE family right on true positives | >= 85 % | {_f(o['cwe_family_acc_tp'], True)} | {_f(b['cwe_family_acc_tp'], True)} | {_target(o['cwe_family_acc_tp'], 0.85)} |")
    a(f"| flagged lines that are labelled lines | >= 80 % | {_f(lines.get('flagged_line_precision'), True)} | n/a | {_target(lines.get('flagged_line_precision'), 0.80)} |")
    a(f"| top-scoring line is a labelled line | | {_f(lines.get('top_line_hit'), True)} | n/a | |")
    a(f"| AUC (max label score), labelled real code | | {_f(o.get('auc_labelled'))} | n/a | |")
    a("")
    ins = mt["ours_insample_thresholds"]
    a(f"With the shipped thresholds (calibrated on the whole validation split, so optimistic): binary F1 "
      f"{_f(ins['binary_labelled']['f1'])}, benign FPR {_f(ins['benign_fpr'], True)}.")
    a(f"Bandit with any finding counted (no filter): binary F1 {_f(mt['bandit_any_finding']['binary_labelled_f1'])}, "
      f"benign FPR {_f(mt['bandit_any_finding']['benign_fpr'], True)}.\n")
    rc = mt.get("real_code")
    if rc:
        _real_code_section(a, rc)
    a("### Per label (real validation code; support = positives)\n")
    a("| label | support | hunkguard P / R / F1 | Bandit P / R / F1 |")
    a("|---|---|---|---|")
    po, pb = mt["per_label"]["ours"], mt["per_label"]["bandit"]
    for lab in m["labels"]:
        if lab not in po and lab not in pb:
            continue
        x, y = po.get(lab, {}), pb.get(lab, {})
        sup = x.get("support", y.get("support", 0))
        a(f"| {lab} | {sup} | {_f(x.get('precision'))} / {_f(x.get('recall'))} / {_f(x.get('f1'))} | "
          f"{_f(y.get('precision'))} / {_f(y.get('recall'))} / {_f(y.get('f1'))} |")
    a("")
    if mt.get("synthetic_val"):
        s = mt["synthetic_val"]
        a(f"Synthetic validation (held-out template families, not counted above): binary F1 "
          f"{_f(s['binary_labelled']['f1'])}, CWE family {_f(s['cwe_family_acc_tp'], True)}.\n")
    q = mt.get("fp32_vs_int8")
    if q:
        a(f"fp32 vs int8: binary F1 {_f(q['fp32']['binary_labelled']['f1'])} vs {_f(q['int8']['binary_labelled']['f1'])}, "
          f"benign FPR {_f(q['fp32']['benign_fpr'], True)} vs {_f(q['int8']['benign_fpr'], True)}; max |ONNX - torch| "
          f"{q['onnx_vs_torch_max_abs_diff']['fp32']:.1e} (fp32), {q['onnx_vs_torch_max_abs_diff']['int8']:.1e} (int8).\n")
    g = mt.get("cascade")
    if g:
        a("## Cascade\n")
        a(f"A gate (`{g['file']}`, {g['size_bytes'] / 1e3:.0f} kB: the model's frozen token embedding, one convolution "
          f"of width {g['config']['width']}, max-pool, one logit) reads every window first; below {g['threshold']:.4g} the "
          f"window is not given to the model. Calibrated on {g['validation_windows']} held-out windows cut as the runtime "
          f"cuts them (overlap {g['overlap']}), {g['validation_firing_windows']} of which the model fires on: it keeps "
          f"**{100 * g['kept_recall']:.2f} %** of those (target {100 * g['target_recall']:.1f} %) and clears "
          f"**{100 * g['cleared_share']:.1f} %** of all windows.\n")
    a("## Thresholds\n")
    a(f"Global threshold {sp['global_T']} (per fold: {sp['fold_T']}); shipped per-label thresholds range "
      f"{sp['shipped_min']:.3f}-{sp['shipped_max']:.3f}. Labels with fewer than 5 validation positives use the global "
      f"threshold; the others take their own F1-optimal one, pulled towards the global one by "
      f"{sp.get('shrink', 10.0)} pseudo-examples. Spread between the two validation folds: mean |diff| {sp['fold_abs_diff_mean']}, max "
      f"{sp['fold_abs_diff_max']}; fp32 vs int8 max |diff| {sp.get('fp32_int8_abs_diff_max', 'n/a')}. Line threshold "
      f"{m['line_threshold']}.\n")
    la = m["metrics"].get("line_alone")
    if la:
        a(f"A line fires its label alone at `line_alone_threshold` = {la['threshold']}: the lowest value of the grid "
          f"at which at most {100 * la['max_added']:.1f} % more of the negative validation rows fire (None: no value "
          "did; only windows fire). On the validation split:\n")
        a("| token score | negative rows added | positive rows caught |")
        a("|---|---|---|")
        for row in la["grid"]:
            a(f"| {row['t']} | {row['negatives_added']} | {row['positives_caught']} |")
        a("")
    a("| label | shipped | fold A | fold B |")
    a("|---|---|---|---|")
    for lab, v in sp["per_label"].items():
        a(f"| {lab} | {v['shipped']:.3f} | {v['fold_a']:.3f} | {v['fold_b']:.3f} |")
    a("")
    a("## Reference scores\n")
    a("`reference_scores.json` (Python ONNX Runtime on the shipped model.onnx, batch 1, no padding):\n")
    a("| case | top label | prob | fires |")
    a("|---|---|---|---|")
    for cse in refs["cases"]:
        sp_ = cse["seq_probs"]
        i = max(range(len(sp_)), key=lambda k: sp_[k])
        lab = m["labels"][i]
        a(f"| {cse['name']} | {lab} | {sp_[i]:.3f} | {'yes' if sp_[i] >= m['thresholds'][lab] else 'no'} |")
    a("")
    a("## Known failures and limits\n")
    missed = []
    if bl_o["f1"] < 0.90:
        missed.append(f"binary F1 {bl_o['f1']:.2f} < 0.90")
    if o["benign_fpr"] is not None and o["benign_fpr"] > 0.02:
        missed.append(f"benign FPR {100 * o['benign_fpr']:.1f} % > 2 %")
    if pr_o is not None and pr_o < 0.80:
        missed.append(f"pair ranking {100 * pr_o:.0f} % < 80 %")
    if o["cwe_family_acc_tp"] is not None and o["cwe_family_acc_tp"] < 0.85:
        missed.append(f"CWE family {100 * o['cwe_family_acc_tp']:.0f} % < 85 %")
    if lines.get("flagged_line_precision") is not None and lines["flagged_line_precision"] < 0.80:
        missed.append(f"flagged-line precision {100 * lines['flagged_line_precision']:.0f} % < 80 %")
    if missed:
        a("- Targets missed in this run: " + "; ".join(missed) + ".")
    trail = [lab for lab in m["labels"] if po.get(lab, {}).get("support", 0) >= 3
             and (po[lab].get("f1") or 0) < (pb.get(lab, {}).get("f1") or 0)]
    if trail:
        a("- Labels where Bandit does better on real validation code (support >= 3): " + ", ".join(trail) + ".")
    unseen = [lab for lab in m["labels"] if po.get(lab, {}).get("support", 0) == 0]
    if unseen:
        a("- No real validation example (numbers for these rest on synthetic data only, thresholds on the global "
          "or synthetic calibration): " + ", ".join(unseen) + ".")
    if sp["fold_abs_diff_max"] > 0.15:
        a(f"- Thresholds are unstable: calibrated on the two halves of the validation groups they differ by up to "
          f"{sp['fold_abs_diff_max']:.2f} (mean {sp['fold_abs_diff_mean']:.2f}); the benign-FPR constraint "
          f"(<= {100 * sp.get('max_fpr', 0.02):g} % on validation benign code) "
          "pushes them high, which costs recall.")
    a("- Bandit's ground is small: over the ~8M distilled lines Bandit's high-signal findings (after the context "
      "rules) are under two thousand positive chunks, most of them XSS (mark_safe/Markup), eval/exec, pickle and XML; "
      "SQL built from strings is rare in modern application code. The held-out ground figures rest on a few hundred "
      "chunks; read them with their n.")
    a("- realfix labels say \"this function was changed by a fix for CWE-X\"; the changed lines are not always the "
      "sink, which lowers the line metric, and vulnerable/fixed versions often differ by a few characters: ranking a "
      "vulnerable function above its fix is the hardest task here.")
    ed = mt.get("realfix_pair_edits") or {}
    vp = cnt.get("val_pos", {})
    share_rf = vp.get("realfix", 0) / max(1, sum(vp.get(k, 0) for k in ("realfix", "codeql", "bandit")))
    if ed.get("pairs"):
        a(f"- How close the real pairs are (all {ed['pairs']} of `realfix_train.jsonl`, non-blank lines): a fix changes a "
          f"median of {ed['median_changed_lines']:g} lines of a {ed['median_lines']:g}-line function; "
          f"{100 * ed['share_changed_le_2']:.0f} % of the pairs differ in at most 2 lines, "
          f"{100 * ed['share_changed_le_5']:.0f} % in at most 5. {100 * share_rf:.0f} % of the labelled real validation "
          "positives are such vulnerable functions whose fixed twin is a negative of the same split, so binary F1 on real code "
          "is capped by how well near-identical twins are told apart (pair ranking above), not by how well risky "
          "code is told from ordinary code (benign FPR above).")
    a("- Lexical: the model reacts to risky APIs and string-built queries; data flow across functions or files is "
      "invisible to it (a hunk shows only part of a function).")
    a("- Thresholds rest on a small validation split; see the spread above before comparing scores across versions.")
    return "\n".join(L) + "\n"


def _real_code_section(a, rc: dict) -> None:
    """The issue's targets, measured on held-out real code (packages and repositories never trained on)."""
    g, gx = rc["bandit_ground"]["shipped"], rc["bandit_ground"]["crossfit"]
    gb = rc["bandit_ground"]["bandit_on_chunks"]
    fr = rc["bandit_ground_fragments"]
    fp = rc["fix_pairs"]
    q = rc["quiet"]
    a("### Held-out real code: the targets\n")
    a("Held-out = corpus packages and fix repositories that no training, pretraining or tokenizer step saw "
      "(split by package / repository). \"Shipped\" uses the shipped thresholds (chosen on this validation split, so "
      "optimistic); \"cross-fitted\" applies thresholds chosen on the other half of the validation groups.\n")
    a("| target | goal | hunkguard (shipped / cross-fitted) | Bandit 1.9.4 | |")
    a("|---|---|---|---|---|")
    a(f"| Bandit's high-signal findings in held-out packages flagged (same CWE family, within 1 line), n={g['findings']} "
      f"| >= 95 % | {_f(g['recall'], True)} / {_f(gx['recall'], True)} | {_f(gb['recall'], True)} (chunk alone, any line) "
      f"| {_target(gx['recall'], 0.95)} |")
    if g.get("distinct"):
        a(f"| the same, each distinct line of a package once, n={g['distinct']} | | {_f(g['recall_distinct'], True)} / "
          f"{_f(gx['recall_distinct'], True)} | {_f(gb.get('recall_distinct'), True)} | |")
    fg = fr["shipped"]
    a(f"| the same code cut into fragments that do not parse, n={fg['findings']} | >= 90 % | {_f(fg['recall'], True)} | "
      f"{_f(fr['bandit']['recall'], True)} | {_target(fg['recall'], 0.90)} |")
    gt = rc.get("bandit_ground_train")
    if gt:
        a(f"| not a target: the same on {gt['chunks']} labelled chunks of training packages (how much of its own labels "
          f"the model learnt), n={gt['findings']} | | {_f(gt['recall'], True)} | | |")
    runtime = fp.get("reading") == "runtime"
    a(f"| real fixes of held-out repositories: vulnerable flagged and its fix not, {fp['shipped']['pairs']} pairs"
      f"{' (read as at run time: no comments or docstrings)' if runtime else ''} | >= 55 % | "
      f"{_f(fp['shipped']['vul_flagged_fix_not'], True)} / {_f(fp['crossfit']['vul_flagged_fix_not'], True)} | "
      f"{_f(fp['bandit']['vul_flagged_fix_not'], True)} | {_target(fp['crossfit']['vul_flagged_fix_not'], 0.55)} |")
    if runtime:
        sh, raw = fp["shipped"], fp["raw_shipped"]
        a(f"| the same pairs: vulnerable flagged / fix flagged; raw text (as calibrated) | | "
          f"{_f(sh['vul_flagged'], True)} / {_f(sh['fix_flagged'], True)}; raw {_f(raw['vul_flagged_fix_not'], True)} | | |")
    # the pipeline reads windows without the binary's scope re-read, differential rule and statement merge, so it
    # is louder than what users get; the binary's own count (quiet_top20.md) follows the table
    a(f"| quiet: findings per 1,000 lines of ordinary application code ({q['lines']:,} lines, {q['files']} files), the "
      f"pipeline's reading (the release binary's follows the table) | <= Bandit "
      f"| {q['model_per_kloc']} | {q['bandit_per_kloc']} (severity >= medium) | "
      f"{'met' if q['model_per_kloc'] <= q['bandit_per_kloc'] else '**missed**'} |")
    a(f"| CWE family right on true positives (Bandit's ground) | >= 90 % | {_f(gx['cwe_family_right_on_tp'], True)} | | "
      f"{_target(gx['cwe_family_right_on_tp'], 0.90)} |")
    a(f"| flagged line is a labelled line (Bandit's ground) | >= 85 % | {_f(gx['flagged_line_labelled_on_tp'], True)} | | "
      f"{_target(gx['flagged_line_labelled_on_tp'], 0.85)} |")
    ctx = rc.get("context")
    if ctx:
        for name in ("held_out", "all"):
            c = ctx[name]
            m, r, b = c["model"], c["labelling_rule"], c["bandit"]
            a(f"| context sample ({name.replace('_', '-')}, {m['n']} hand-checked Bandit findings, {m['vulnerable']} real) "
              f"| precision > Bandit at >= its recall | P {_f(m['precision'])} R {_f(m['recall'])} | P {_f(b['precision'])} "
              f"R {_f(b['recall'])} | labelling rule: P {_f(r['precision'])} R {_f(r['recall'])} |")
    a("")
    a(_sampling_error([("Bandit's ground", g["recall"], g["findings"]), ("fragments", fg["recall"], fg["findings"]),
                       ("fix pairs", fp["shipped"]["vul_flagged_fix_not"], fp["shipped"]["pairs"])]))
    a("Per Bandit check (held-out ground, shipped thresholds): " + ", ".join(
        f"{k} {v['found']}/{v['n']}" for k, v in g["per_label"].items()) + ".\n")
    a(f"Quiet set, model findings by label: {q['model_by_label']}; Bandit (severity >= medium) by check: "
      f"{q['bandit_by_test']}. The {len(q['top'])} most confident findings of the release binary on the quiet set, "
      "read by hand, are in `training/corpus/quiet_top20.md`.\n")
    from pathlib import Path

    reading = Path(__file__).resolve().parents[1] / "corpus" / "quiet_top20.md"
    if reading.exists():
        lines = reading.read_text().splitlines()
        binary = next((l for l in lines if l.startswith("Release binary:")), None)
        if binary:
            a(f"The release binary on the quiet set (cascade, scope re-read, differential rule): "
              f"{binary[len('Release binary: '):]}\n")
        verdict = next((l for l in lines if l.startswith("Real or real-pattern:")), None)
        if verdict:
            a(f"Read by hand: {verdict[len('Real or real-pattern: '):]}\n")
