"""HunkNet: token + position embeddings, a convolutional n-gram front-end, a small pre-LN transformer
encoder, a per-token head and a per-window head.

The window head reads [CLS], masked max- and mean-pooled states, plus the max of the token logits,
so a window is flagged where one of its tokens is (and the token head explains the window head).
All operations are plain tensor math so the legacy ONNX exporter handles dynamic batch and length.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class Attention(nn.Module):
    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        self.h, self.dh = heads, d // heads
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, bias):
        b, t, d = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q = q.reshape(b, t, self.h, self.dh).transpose(1, 2)
        k = k.reshape(b, t, self.h, self.dh).transpose(1, 2)
        v = v.reshape(b, t, self.h, self.dh).transpose(1, 2)
        att = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(self.dh)) + bias
        att = self.drop(torch.softmax(att, dim=-1))
        y = torch.matmul(att, v).transpose(1, 2).reshape(b, t, d)
        return self.out(y)


class Block(nn.Module):
    def __init__(self, d: int, heads: int, ff: int, dropout: float):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.att = Attention(d, heads, dropout)
        self.ff = nn.Sequential(nn.Linear(d, ff), nn.GELU(), nn.Linear(ff, d))
        self.drop = nn.Dropout(dropout)

    def forward(self, x, bias):
        x = x + self.drop(self.att(self.ln1(x), bias))
        return x + self.drop(self.ff(self.ln2(x)))


class ConvBlock(nn.Module):
    def __init__(self, d: int, k: int, dropout: float):
        super().__init__()
        self.ln = nn.LayerNorm(d)
        self.conv = nn.Conv1d(d, 2 * d, k, padding=k // 2)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, m):
        y = self.ln(x) * m
        y = self.conv(y.transpose(1, 2)).transpose(1, 2)
        a, g = y.chunk(2, dim=-1)
        return x + self.drop(a * torch.sigmoid(g))  # gated linear unit


class HunkNet(nn.Module):
    def __init__(self, vocab: int, n_labels: int, d: int = 192, layers: int = 3, heads: int = 4, ff: int = 512,
                 max_len: int = 256, conv_kernels=(3, 5), dropout: float = 0.1):
        super().__init__()
        self.config = dict(vocab=vocab, n_labels=n_labels, d=d, layers=layers, heads=heads, ff=ff, max_len=max_len,
                           conv_kernels=list(conv_kernels), dropout=dropout)
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(max_len, d)
        self.emb_ln = nn.LayerNorm(d)
        self.convs = nn.ModuleList([ConvBlock(d, k, dropout) for k in conv_kernels])
        self.blocks = nn.ModuleList([Block(d, heads, ff, dropout) for _ in range(layers)])
        self.ln = nn.LayerNorm(d)
        self.tok_head = nn.Linear(d, n_labels)
        self.seq_head = nn.Sequential(nn.Linear(3 * d, d), nn.GELU(), nn.Dropout(dropout), nn.Linear(d, n_labels))
        self.tok_to_seq = nn.Parameter(torch.full((n_labels,), 0.5))
        self.mlm_bias = nn.Parameter(torch.zeros(vocab))
        self.drop = nn.Dropout(dropout)
        self.apply(self._init)
        # start at the label priors (rare labels: log-odds far below 0); from a zero bias Adam needs
        # thousands of steps just to get there, and the model sits on a constant-output plateau meanwhile
        nn.init.constant_(self.tok_head.bias, -4.6)
        nn.init.constant_(self.seq_head[-1].bias, -1.0)

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

    def encode(self, ids, mask):
        t = ids.shape[1]
        pos = self.pos.weight[:t].unsqueeze(0)
        x = self.drop(self.emb_ln(self.tok(ids) + pos))
        mf = mask.unsqueeze(-1).to(x.dtype)
        for c in self.convs:
            x = c(x, mf)
        bias = (1.0 - mask.to(x.dtype)).unsqueeze(1).unsqueeze(1) * -1e4
        for b in self.blocks:
            x = b(x, bias)
        return self.ln(x), mf

    def forward(self, ids, mask):
        """(seq_logits [B, L], token_logits [B, T, L])."""
        h, mf = self.encode(ids, mask)
        tok_logits = self.tok_head(h)
        neg = (1.0 - mf) * -1e4
        hmax = (h + neg).max(dim=1).values
        hmean = (h * mf).sum(dim=1) / mf.sum(dim=1).clamp(min=1.0)
        tmax = (tok_logits + neg).max(dim=1).values
        seq_logits = self.seq_head(torch.cat([h[:, 0], hmax, hmean], dim=-1)) + self.tok_to_seq * tmax
        return seq_logits, tok_logits

    def mlm_logits(self, ids, mask):
        h, _ = self.encode(ids, mask)
        return F.linear(h, self.tok.weight, self.mlm_bias)


class Exported(nn.Module):
    """The ONNX graph: probabilities, named per CONTRACT.md."""

    def __init__(self, net: HunkNet):
        super().__init__()
        self.net = net

    def forward(self, input_ids, attention_mask):
        s, t = self.net(input_ids, attention_mask)
        return torch.sigmoid(s), torch.sigmoid(t)
