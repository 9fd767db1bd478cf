"""Masked-LM pretraining of the encoder on the train side of the real-Python corpus, and the committed
checkpoint that lets fine-tuning runs skip it.

The checkpoint (`training/pretrained/`) is three files: `tokenizer.json` (trained on the same corpus text),
`encoder.pt` (the HunkNet state dict in fp16, task heads included but untrained) and `recipe.json` (the model
config, the corpus manifest's sha256, steps, tokens seen, loss, seconds). It is reused only when its recipe
matches the current corpus manifest and model config, so a changed corpus never silently reuses stale weights.
"""
from __future__ import annotations

import json
import logging
import random
import time
from pathlib import Path

import torch

from . import corpus as C
from .model import HunkNet
from .tok import train_tokenizer
from .train import mlm_pretrain

log = logging.getLogger(__name__)

CHECKPOINT = Path(__file__).resolve().parents[1] / "pretrained"


def corpus_texts(corpus: dict[str, list[C.SourceFile]], rows: list[dict], max_chars: int, seed: int,
                 split: str = "train") -> list[str]:
    """Whole files of the `split` packages (tests included: they are real Python too), shuffled, up to
    `max_chars`. Extension files (`corpus.extend_corpus`) are left out: a checkpoint is matched to its corpus by
    the manifest alone, so pretraining reads the capped corpus whatever a run extends."""
    keep = {r["package"] for r in rows if r["split"] == split}
    files = [f.text for pkg in sorted(corpus) if pkg in keep for f in corpus[pkg] if not f.extension]
    random.Random(f"{seed}:pretrain").shuffle(files)
    out, n = [], 0
    for t in files:
        out.append(t)
        n += len(t)
        if n >= max_chars:
            break
    return out


def model_config(cfg: dict, vocab: int, n_labels: int, max_len: int) -> dict:
    return dict(vocab=vocab, n_labels=n_labels, d=cfg["d"], layers=cfg["layers"], heads=cfg["heads"],
                ff=cfg["ff"], max_len=max_len)


def load_checkpoint(path: Path, manifest_sha: str, cfg: dict, n_labels: int, max_len: int):
    """(tokenizer, net, recipe) from a checkpoint that matches this corpus and config, else None (with the
    reason logged)."""
    from tokenizers import Tokenizer

    rf = path / "recipe.json"
    if not rf.exists():
        return None
    recipe = json.loads(rf.read_text())
    if recipe.get("corpus_manifest_sha256") != manifest_sha:
        log.warning("pretrained checkpoint %s is for another corpus manifest: not used", path)
        return None
    tok = Tokenizer.from_file(str(path / "tokenizer.json"))
    want = model_config(cfg, tok.get_vocab_size(), n_labels, max_len)
    have = {k: recipe["config"].get(k) for k in want}
    if have != want:
        log.warning("pretrained checkpoint %s has config %s, this run wants %s: not used", path, have, want)
        return None
    net = HunkNet(**want)
    state = torch.load(path / "encoder.pt", map_location="cpu", weights_only=True)
    net.load_state_dict({k: v.float() for k, v in state.items()})
    log.info("reusing pretrained checkpoint %s (%s steps, %s tokens seen)", path, recipe["mlm"].get("steps"),
             recipe["mlm"].get("tokens_seen"))
    return tok, net, recipe


def pretrain(corpus: dict, rows: list[dict], manifest_sha: str, cfg: dict, n_labels: int, max_len: int, seed: int,
             out: Path | None = None) -> tuple:
    """Train the tokenizer and masked-LM pretrain a fresh encoder on the train-side corpus; write the
    checkpoint to `out` when given. Returns (tokenizer, net, recipe)."""
    t0 = time.time()
    texts = corpus_texts(corpus, rows, cfg.get("mlm_corpus_chars", cfg["corpus_chars"]), seed)
    tok = train_tokenizer(texts, cfg["vocab"])
    log.info("tokenizer: %d tokens from %d files (%.1f M chars) in %.0fs", tok.get_vocab_size(), len(texts),
             sum(map(len, texts)) / 1e6, time.time() - t0)
    torch.manual_seed(seed)
    net = HunkNet(**model_config(cfg, tok.get_vocab_size(), n_labels, max_len))
    mlm = mlm_pretrain(net, tok, texts, cfg["mlm_steps"], cfg["mlm_batch"], max_len - 2, cfg.get("mlm_lr", 1e-3),
                       seed, cfg.get("mlm_time_limit"))
    recipe = {"config": net.config, "corpus_manifest_sha256": manifest_sha, "corpus_files": len(texts),
              "corpus_chars": sum(map(len, texts)), "mlm": mlm, "seed": seed,
              "recipe": "byte-level BPE on the same text; masked LM, 15% of tokens (80/10/10), AdamW, cosine "
                        "schedule over steps or wall time, windows of max_len-2 tokens drawn from the token stream"}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        tok.save(str(out / "tokenizer.json"))
        torch.save({k: v.half() for k, v in net.state_dict().items()}, out / "encoder.pt")
        (out / "recipe.json").write_text(json.dumps(recipe, indent=1) + "\n")
        log.info("pretrained checkpoint written to %s", out)
    return tok, net, recipe
