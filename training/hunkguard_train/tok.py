"""Byte-level BPE tokenizer for Python code, and turning labelled lines into token labels.

A token belongs to the line that holds its first non-whitespace character; whitespace-only tokens
(newlines, indentation) belong to no line and are never positive. The Rust runtime maps token offsets
(character offsets into the hunk text) to lines the same way.
"""
from __future__ import annotations

import bisect

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4


def train_tokenizer(texts, vocab_size: int = 8000) -> Tokenizer:
    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    for i, s in enumerate(SPECIALS):
        assert tok.token_to_id(s) == i, (s, tok.token_to_id(s))
    return tok


def line_starts(code: str) -> list[int]:
    starts = [0]
    for i, ch in enumerate(code):
        if ch == "\n":
            starts.append(i + 1)
    return starts


def token_lines(code: str, offsets) -> list[int]:
    """0-based line of each token (-1 for whitespace-only tokens)."""
    starts = line_starts(code)
    out = []
    for a, b in offsets:
        j = a
        while j < b and code[j].isspace():
            j += 1
        if j >= b:
            out.append(-1)
        else:
            out.append(bisect.bisect_right(starts, j) - 1)
    return out


def encode_labelled(tok: Tokenizer, code: str, line_labels, line_known, label_index: dict[str, int]):
    """ids (no specials), token label matrix [n, L] (uint8), token mask [n] (uint8), token line ids."""
    enc = tok.encode(code, add_special_tokens=False)
    lines = token_lines(code, enc.offsets)
    n, L = len(enc.ids), len(label_index)
    y = np.zeros((n, L), dtype=np.uint8)
    m = np.ones(n, dtype=np.uint8)
    for t, li in enumerate(lines):
        if li < 0 or li >= len(line_labels):
            continue
        if not line_known[li]:
            m[t] = 0
            continue
        for c in line_labels[li]:
            y[t, label_index[c]] = 1
    return np.asarray(enc.ids, dtype=np.int64), y, m, np.asarray(lines, dtype=np.int64)


def windows(n: int, max_tokens: int, overlap: int) -> list[tuple[int, int]]:
    """Token windows [i, j) covering n tokens, exactly as the Rust runtime cuts them (src/model/mod.rs):
    at most `max_tokens` long, consecutive windows share `overlap` tokens (the manifest's `stride`),
    and the last window ends at n (it is moved back to be full length)."""
    if n <= 0:
        return []
    step = max(1, max_tokens - overlap)
    out = []
    start = 0
    while start < n:
        end = min(start + max_tokens, n)
        out.append((start, end))
        if end == n:
            break
        start = n - max_tokens if n - start - step < max_tokens else start + step
    return out
