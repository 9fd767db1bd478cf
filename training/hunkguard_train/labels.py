"""Canonical CWE labels from models/cwe_catalogue.yml and the alias map onto them."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
CATALOGUE = REPO / "models" / "cwe_catalogue.yml"


def norm_cwe(cwe: str | int | None) -> str | None:
    """'CWE-022', 'cwe-22', 22 -> 'CWE-22'; None stays None."""
    if cwe is None:
        return None
    m = re.search(r"(\d+)", str(cwe))
    if not m:
        return None
    return f"CWE-{int(m.group(1))}"


class Catalogue:
    def __init__(self, path: Path = CATALOGUE):
        data = yaml.safe_load(Path(path).read_text())
        self.entries = data["labels"]
        self.labels: list[str] = [e["id"] for e in self.entries]
        self.alias: dict[str, str] = {}
        for e in self.entries:
            self.alias[norm_cwe(e["id"])] = e["id"]
            for a in e.get("aliases") or []:
                self.alias[norm_cwe(a)] = e["id"]
        self.index = {c: i for i, c in enumerate(self.labels)}

    def canonical(self, cwe: str | None) -> str | None:
        """Canonical id for a source id, or None when the catalogue does not know it."""
        return self.alias.get(norm_cwe(cwe)) if cwe is not None else None

    def __len__(self) -> int:
        return len(self.labels)
