"""Injection-class synthetic examples: the records of every `inj_*` submodule (see training/CONTRACT.md)."""
from __future__ import annotations

import random

from . import inj_data, inj_paths_cmd, inj_query, inj_web

SUBMODULES = (inj_paths_cmd, inj_web, inj_query, inj_data)


def generate(rng: random.Random) -> list[dict]:
    """Each submodule draws from its own rng seeded from `rng`, so one module's changes leave the others' output."""
    out: list[dict] = []
    seeds = [rng.getrandbits(64) for _ in SUBMODULES]
    for mod, seed in zip(SUBMODULES, seeds):
        out += mod.generate(random.Random(seed))
    return out
