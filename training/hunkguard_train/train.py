"""Turning examples into training windows (with augmentation), masked-LM pretraining and fine-tuning."""
from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .data import Example
from .model import HunkNet
from .pycode import SECRET_LABEL, Lines, augment, fragment, plant_secret, reshape_secret_values
from .tok import CLS, MASK, PAD, SEP, encode_labelled

log = logging.getLogger(__name__)


@dataclass
class Item:
    ids: np.ndarray  # content token ids (no specials), len <= max_tokens
    y: np.ndarray  # [n, L] uint8
    m: np.ndarray  # [n] uint8 token-loss mask
    seq: np.ndarray  # [L] float32
    origin: str
    # a teacher's probabilities for this very window (`teacher_targets`): [L] and [n, L] float16, or None
    soft_seq: np.ndarray | None = None
    soft_tok: np.ndarray | None = None
    # False for an unlabelled window (`data.unlabelled_chunks`): only the teacher's targets teach on it
    hard: bool = True


def _variant(ex: Example, rng: random.Random, frag: bool, pool: list[Lines], p_reshape: float = 0.0) -> Lines:
    hints = bool(ex.meta.get("name_hints"))
    rename = hints or rng.random() < 0.7
    strip = ex.origin != "benign" or rng.random() < 0.7
    lines = augment(ex.lines, rng, rename=rename, strip=strip, reformat=rng.random() < 0.8)
    # a share of the windows of a credential get a value of another shape (drawn only for such examples, and only
    # when asked for, so every other window is drawn as without it)
    if p_reshape and any(SECRET_LABEL in l for l in lines.labels) and rng.random() < p_reshape:
        lines = reshape_secret_values(lines, rng)
    if frag:
        lines = fragment(lines, rng, pool, p_context=0.6)
    return lines


def make_items(examples: list[Example], tok, label_index: dict[str, int], rng: random.Random, variants: dict,
               max_tokens: int, pool: list[Lines], p_frag: float = 0.5, p_reshape: float = 0.0,
               p_plant: float = 0.0, plant_seed: int = 0) -> list[Item]:
    """The training windows of `examples`: `variants` augmented copies of each (by origin), a share `p_frag` cut
    into fragments, a share `p_reshape` of the credential windows with a new value (`reshape_secret_values`); and
    for a share `p_plant` of the benign examples, one copy with a hard-coded credential planted
    (`plant_secret`) and one with its harmless twin, drawn from their own generator so every other window is drawn
    as without them."""
    L = len(label_index)
    items: list[Item] = []
    plant_rng = random.Random(plant_seed)
    for ex in examples:
        if p_plant and ex.origin == "benign" and plant_rng.random() < p_plant:
            for hard_coded in (True, False):
                planted = plant_secret(ex.lines, plant_rng, hard_coded)
                if planted is not None:
                    twin = Example(f"{ex.uid}+secret", planted, frozenset([SECRET_LABEL] if hard_coded else []),
                                   "planted", ex.group, kind="vuln" if hard_coded else "neg")
                    items.extend(make_items([twin], tok, label_index, plant_rng, {}, max_tokens, pool, p_frag, p_reshape))
        # "origin:kind" (e.g. corpus:vuln) first, then the origin, then the default
        key = next((k for k in (f"{ex.origin}:{ex.kind}", ex.origin) if k in variants), "default")
        n_var = variants.get(key, 1)
        # fractional counts: 0.5 = every other example
        n = int(n_var) + (1 if rng.random() < (n_var - int(n_var)) else 0)
        for v in range(n):
            frag = rng.random() < p_frag and (not ex.positive or bool(ex.lines.positive_lines()))
            try:
                lines = _variant(ex, rng, frag, pool, p_reshape)
            except Exception as e:  # noqa: BLE001 - one bad snippet must not stop training
                log.debug("augment failed on %s: %s", ex.uid, e)
                lines = ex.lines
            if not any(t.strip() for t in lines.text):
                continue
            ids, y, m, _ = encode_labelled(tok, lines.code, lines.labels, lines.known, label_index)
            if len(ids) == 0:
                continue
            if len(ids) > max_tokens:
                pos = np.nonzero(y.any(axis=1))[0]
                if len(pos):
                    c = int(rng.choice(list(pos)))
                    lo = max(0, c - max_tokens + 1)
                    hi = min(c, len(ids) - max_tokens)
                    a = rng.randint(lo, max(lo, hi))
                else:
                    a = rng.randint(0, len(ids) - max_tokens)
                ids, y, m = ids[a:a + max_tokens], y[a:a + max_tokens], m[a:a + max_tokens]
            seq = np.zeros(L, dtype=np.float32)
            if ex.origin == "transfer":  # no labels: neither a positive nor a negative, the teacher decides
                items.append(Item(ids, y, np.zeros_like(m), seq, ex.origin, hard=False))
                continue
            if ex.positive:
                present = y.any(axis=0)
                if lines.positive_lines() and present.any():
                    seq[present] = 1.0
                elif not lines.positive_lines() and not any(lines.known):
                    for c in ex.labels:  # no line labels at all: the example's label
                        seq[label_index[c]] = 1.0
                else:
                    # the window lost every labelled token: not a clean negative, skip it
                    continue
            items.append(Item(ids, y, m, seq, ex.origin))
    return items


def make_pair_items(examples: list[Example], tok, label_index: dict[str, int], seed: int, n_var: dict,
                    max_tokens: int) -> list[tuple[Item, Item, int]]:
    """Vulnerable/fixed twins augmented identically (same renaming, same reformatting), cut at the same
    token offset: (vul, fix, label index) for the ranking loss."""
    by_pair: dict[str, dict] = {}
    for ex in examples:
        if ex.pair and ex.origin in ("realfix", "advisory", "synth"):
            by_pair.setdefault(ex.pair, {})["vul" if ex.positive else "fix"] = ex
    out = []
    for key in sorted(by_pair):
        d = by_pair[key]
        if "vul" not in d or "fix" not in d:
            continue
        c = label_index[sorted(d["vul"].labels)[0]]
        for v in range(n_var.get(d["vul"].origin, 1)):
            enc = []
            for side in ("vul", "fix"):
                rng = random.Random(f"{seed}:{key}:{v}")
                try:
                    lines = augment(d[side].lines, rng, rename=True, strip=True, reformat=True)
                except Exception:  # noqa: BLE001
                    lines = d[side].lines
                enc.append(encode_labelled(tok, lines.code, lines.labels, lines.known, label_index))
            (iv, yv, mv, _), (i_f, yf, mf, _) = enc
            if len(iv) == 0 or len(i_f) == 0:
                continue
            a = 0
            if max(len(iv), len(i_f)) > max_tokens:
                pos = np.nonzero(yv.any(axis=1))[0]
                c0 = int(pos[0]) if len(pos) else 0
                a = max(0, min(c0 - max_tokens // 3, len(iv) - max_tokens))
            sv = np.zeros(len(label_index), dtype=np.float32)
            sv[c] = 1.0
            out.append((Item(iv[a:a + max_tokens], yv[a:a + max_tokens], mv[a:a + max_tokens], sv, d["vul"].origin),
                        Item(i_f[a:a + max_tokens], yf[a:a + max_tokens], mf[a:a + max_tokens],
                             np.zeros(len(label_index), dtype=np.float32), d["fix"].origin), c))
    return out


def batches(items: list[Item], max_batch_tokens: int, rng: random.Random, max_batch: int = 64):
    """Length-bucketed batches (shuffled), each padded to its longest window (+2 for CLS/SEP)."""
    idx = list(range(len(items)))
    rng.shuffle(idx)
    out = []
    chunk = 2048
    for s in range(0, len(idx), chunk):
        part = sorted(idx[s:s + chunk], key=lambda i: len(items[i].ids))
        cur: list[int] = []
        for i in part:
            ln = len(items[i].ids) + 2
            if cur and (ln * (len(cur) + 1) > max_batch_tokens or len(cur) >= max_batch):
                out.append(cur)
                cur = []
            cur.append(i)
        if cur:
            out.append(cur)
    rng.shuffle(out)
    return out


def collate(items: list[Item], idx: list[int], n_labels: int):
    T = max(len(items[i].ids) for i in idx) + 2
    B = len(idx)
    ids = np.full((B, T), PAD, dtype=np.int64)
    att = np.zeros((B, T), dtype=np.int64)
    y = np.zeros((B, T, n_labels), dtype=np.float32)
    m = np.zeros((B, T), dtype=np.float32)
    seq = np.zeros((B, n_labels), dtype=np.float32)
    for b, i in enumerate(idx):
        it = items[i]
        n = len(it.ids)
        ids[b, 0] = CLS
        ids[b, 1:n + 1] = it.ids
        ids[b, n + 1] = SEP
        att[b, :n + 2] = 1
        y[b, 1:n + 1] = it.y
        m[b, 1:n + 1] = it.m
        seq[b] = it.seq
    return (torch.from_numpy(ids), torch.from_numpy(att), torch.from_numpy(y), torch.from_numpy(m),
            torch.from_numpy(seq))


def teacher_targets(items: list[Item], predict, batch_tokens: int = 8192) -> None:
    """Score every training window with a teacher model (`predict(ids, att) -> (seq_probs, token_probs)`, an
    exported model of the same tokenizer and labels) and keep its probabilities on the item: fine-tuning can then
    learn the teacher's graded judgement beside the hard labels. The window is the one `collate` builds, so the
    teacher reads exactly what the student reads."""
    order = sorted(range(len(items)), key=lambda i: len(items[i].ids))
    i = 0
    while i < len(order):
        j = i + 1
        while j < len(order) and (len(items[order[j]].ids) + 2) * (j - i + 1) <= batch_tokens:
            j += 1
        idx = order[i:j]
        ids, att, *_ = collate(items, idx, len(items[idx[0]].seq))
        s, t = predict(ids.numpy(), att.numpy())
        for r, k in enumerate(idx):
            items[k].soft_seq = np.asarray(s[r], dtype=np.float16)
            items[k].soft_tok = np.asarray(t[r, 1:len(items[k].ids) + 1], dtype=np.float16)
        i = j


def collate_soft(items: list[Item], idx: list[int], T: int):
    """The teacher's targets of a batch, padded like `collate`: seq [B, L], tok [B, T, L], and the mask of the
    content tokens (every token the teacher scored, unknown-CWE lines included: the teacher has an opinion there)."""
    L = len(items[idx[0]].soft_seq)
    seq = np.zeros((len(idx), L), dtype=np.float32)
    tok = np.zeros((len(idx), T, L), dtype=np.float32)
    m = np.zeros((len(idx), T), dtype=np.float32)
    for b, i in enumerate(idx):
        n = len(items[i].ids)
        seq[b] = items[i].soft_seq
        tok[b, 1:n + 1] = items[i].soft_tok
        m[b, 1:n + 1] = 1.0
    return torch.from_numpy(seq), torch.from_numpy(tok), torch.from_numpy(m)


def _lr(step: int, total: int, base: float, warmup: int) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    p = (step - warmup) / max(1, total - warmup)
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))


# ------------------------------------------------------------------------------------------ masked LM
def mlm_pretrain(net: HunkNet, tok, texts: list[str], steps: int, batch: int, max_tokens: int, lr: float,
                 seed: int, time_limit_s: float | None = None) -> dict:
    if steps <= 0 or not texts:
        return {"steps": 0}
    rng = np.random.default_rng(seed)
    encs = tok.encode_batch(texts, add_special_tokens=False)
    stream = []
    for e in encs:
        stream.extend(e.ids)
        stream.append(SEP)
    stream = np.asarray(stream, dtype=np.int64)
    n_chunks = len(stream) // max_tokens
    log.info("mlm: %d tokens, %d windows of %d", len(stream), n_chunks, max_tokens)
    vocab = net.config["vocab"]
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.01)
    net.train()
    t0 = time.time()
    losses = []
    done = 0
    for step in range(steps):
        # like fine-tuning, the schedule follows steps or wall time, whichever runs out first
        frac_t = (time.time() - t0) / time_limit_s if time_limit_s else 0.0
        eff = max(step, int(frac_t * steps))
        for g in opt.param_groups:
            g["lr"] = _lr(eff, steps, lr, max(1, steps // 20))
        starts = rng.integers(0, len(stream) - max_tokens, size=batch)
        x = np.stack([stream[s:s + max_tokens] for s in starts])
        ids = np.concatenate([np.full((batch, 1), CLS), x, np.full((batch, 1), SEP)], axis=1)
        labels = np.full_like(ids, -100)
        sel = (rng.random(ids.shape) < 0.15)
        sel[:, 0] = sel[:, -1] = False
        labels[sel] = ids[sel]
        r = rng.random(ids.shape)
        inp = ids.copy()
        inp[sel & (r < 0.8)] = MASK
        rnd = sel & (r >= 0.8) & (r < 0.9)
        inp[rnd] = rng.integers(5, vocab, size=int(rnd.sum()))
        ids_t = torch.from_numpy(inp)
        att = torch.ones_like(ids_t)
        # the vocabulary projection is as costly as the encoder: pay it only at the masked positions
        h, _ = net.encode(ids_t, att)
        lab = torch.from_numpy(labels).reshape(-1)
        at = torch.nonzero(lab >= 0).squeeze(1)
        logits = F.linear(h.reshape(-1, h.shape[-1])[at], net.tok.weight, net.mlm_bias)
        loss = F.cross_entropy(logits, lab[at])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        done = step + 1
        if step % 50 == 0:
            log.info("mlm step %d/%d loss %.3f (%.0fs)", step, steps, np.mean(losses[-50:]), time.time() - t0)
        if time_limit_s and time.time() - t0 > time_limit_s:
            log.warning("mlm: time limit reached at step %d", step)
            break
    return {"steps": done, "final_loss": float(np.mean(losses[-50:])), "seconds": round(time.time() - t0, 1),
            "tokens_seen": int(done * batch * (max_tokens + 2)), "corpus_tokens": int(len(stream))}


# ------------------------------------------------------------------------------------------ fine-tuning
def finetune(net: HunkNet, items: list[Item], epochs: float, lr: float, max_batch_tokens: int, seed: int,
             tok_weight: float = 0.5, seq_pos_weight: float = 2.0, tok_pos_weight: float = 4.0,
             time_limit_s: float | None = None, max_steps: int | None = None,
             pairs: list | None = None, pair_batch: int = 8, pair_weight: float = 1.0, pair_margin: float = 2.0,
             distil_weight: float = 0.0) -> dict:
    """Fine-tune on the items' hard labels; with `distil_weight` a > 0 (every item holding a teacher's targets,
    `teacher_targets`), the window and token losses are (1 - a) * hard + a * the cross-entropy against the
    teacher's probabilities (no positive weights: the teacher's probabilities are the target as they are).
    Unlabelled items (`hard=False`) add no hard loss, only the teacher's part."""
    if distil_weight and any(it.soft_seq is None for it in items):
        raise ValueError("distil_weight > 0 needs a teacher's targets on every item (teacher_targets)")
    if not distil_weight and not all(it.hard for it in items):
        raise ValueError("unlabelled windows need a teacher (distil_weight > 0): they have no labels to learn")
    rng = random.Random(seed)
    L = net.config["n_labels"]
    first = batches(items, max_batch_tokens, rng)
    steps_per_epoch = len(first)
    total = max(1, int(steps_per_epoch * epochs))
    if max_steps:
        total = min(total, max_steps)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.01)
    spw = torch.full((L,), seq_pos_weight)
    tpw = torch.full((L,), tok_pos_weight)
    net.train()
    t0 = time.time()
    step = 0
    losses = []
    losses_p = [0.0]
    losses_k = [0.0]
    ep = 0
    plan = first
    stop = False
    while step < total and not stop:
        for bidx in plan:
            if step >= total:
                break
            # the schedule follows steps or wall time, whichever runs out first, so that a run cut short by
            # its time limit still ends with a decayed learning rate
            frac_t = (time.time() - t0) / time_limit_s if time_limit_s else 0.0
            eff = max(step, int(frac_t * total))
            for g in opt.param_groups:
                g["lr"] = _lr(eff, total, lr, max(1, total // 20))
            ids, att, y, m, seq = collate(items, bidx, L)
            hard = torch.tensor([float(items[i].hard) for i in bidx])
            s_log, t_log = net(ids, att)
            # unlabelled windows hold no window label: their token mask is zero already, their window loss is dropped
            ls = (F.binary_cross_entropy_with_logits(s_log, seq, pos_weight=spw, reduction="none").sum(-1)
                  * hard).sum() / len(bidx)
            lt = F.binary_cross_entropy_with_logits(t_log, y, pos_weight=tpw, reduction="none").sum(-1)
            lt = (lt * m).sum() / m.sum().clamp(min=1.0)
            loss = ls + tok_weight * lt
            if distil_weight:
                sseq, stok, sm = collate_soft(items, bidx, ids.shape[1])
                ks = F.binary_cross_entropy_with_logits(s_log, sseq, reduction="sum") / len(bidx)
                kt = F.binary_cross_entropy_with_logits(t_log, stok, reduction="none").sum(-1)
                kt = (kt * sm).sum() / sm.sum().clamp(min=1.0)
                loss = (1.0 - distil_weight) * loss + distil_weight * (ks + tok_weight * kt)
                losses_k.append(ks.item())
            if pairs:
                sel = [pairs[rng.randrange(len(pairs))] for _ in range(pair_batch)]
                flat = [p[0] for p in sel] + [p[1] for p in sel]
                pids, patt, py, pm, pseq = collate(flat, list(range(len(flat))), L)
                ps, pt = net(pids, patt)
                ci = torch.tensor([p[2] for p in sel])
                ar = torch.arange(len(sel))
                zv, zf = ps[ar, ci], ps[len(sel) + ar, ci]
                lp = F.softplus(pair_margin - (zv - zf)).mean()
                # the twins are ordinary training windows too
                lsp = F.binary_cross_entropy_with_logits(ps, pseq, pos_weight=spw, reduction="sum") / len(flat)
                loss = loss + pair_weight * lp + 0.5 * lsp
                losses_p.append(lp.item())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            losses.append((ls.item(), lt.item()))
            step += 1
            if step % 50 == 0:
                a = np.mean(losses[-50:], axis=0)
                log.info("ft step %d/%d (epoch %d) seq %.4f tok %.4f pair %.4f teacher %.4f (%.0fs)", step, total, ep,
                         a[0], a[1], np.mean(losses_p[-50:]), np.mean(losses_k[-50:]), time.time() - t0)
            if time_limit_s and time.time() - t0 > time_limit_s:
                log.warning("finetune: time limit reached at step %d/%d", step, total)
                stop = True
                break
        ep += 1
        plan = batches(items, max_batch_tokens, rng)
    a = np.mean(losses[-50:], axis=0) if losses else (float("nan"), float("nan"))
    return {"steps": step, "planned_steps": total, "steps_per_epoch": steps_per_epoch, "epochs": round(step / steps_per_epoch, 2),
            "final_seq_loss": float(a[0]), "final_tok_loss": float(a[1]), "final_pair_loss": float(np.mean(losses_p[-50:])),
            "pairs": len(pairs or []), "distil_weight": distil_weight,
            "final_teacher_seq_loss": float(np.mean(losses_k[-50:])), "seconds": round(time.time() - t0, 1)}
