"""Synthetic training data: collects the records of every generator module.

Each generator module (`injection`, `config_crypto`, ...) exposes `generate(rng) -> list[dict]` with
records as described in training/CONTRACT.md. A module that is missing or fails is logged and skipped,
so the pipeline runs before (or without) it.
"""
from __future__ import annotations

import importlib
import logging
import random

log = logging.getLogger(__name__)

MODULES = ("injection", "config_crypto")
REQUIRED = ("code", "cwe", "vuln_lines", "family", "kind")


def generate_all(seed: int = 0, modules: tuple[str, ...] = MODULES) -> list[dict]:
    """Records of all generator modules; each module gets its own rng seeded from `seed` and its name."""
    out: list[dict] = []
    for name in modules:
        try:
            mod = importlib.import_module(f"{__name__}.{name}")
        except Exception as e:  # noqa: BLE001 - a module being written must not stop training
            log.warning("synth: module %s unavailable: %s: %s", name, type(e).__name__, e)
            continue
        try:
            rng = random.Random(f"{seed}:{name}")
            recs = mod.generate(rng)
        except Exception as e:  # noqa: BLE001
            log.warning("synth: %s.generate failed: %s: %s", name, type(e).__name__, e)
            continue
        good = 0
        for r in recs or []:
            if not isinstance(r, dict) or any(k not in r for k in REQUIRED) or not str(r.get("code", "")).strip():
                continue
            r = dict(r)
            r.setdefault("pair", None)
            r["module"] = name
            out.append(r)
            good += 1
        log.info("synth: %s -> %d records (%d malformed skipped)", name, good, len(recs or []) - good)
    return out
