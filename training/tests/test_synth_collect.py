"""synth.generate_all tolerates generator modules that are missing, failing or return malformed records."""
import sys
import types

from hunkguard_train import synth


def test_missing_module_is_skipped():
    assert synth.generate_all(0, modules=("does_not_exist",)) == []


def test_failing_and_malformed(monkeypatch):
    bad = types.ModuleType("hunkguard_train.synth.fake_bad")
    bad.generate = lambda rng: 1 / 0
    good = types.ModuleType("hunkguard_train.synth.fake_good")
    good.generate = lambda rng: [
        {"code": "x = eval(s)", "cwe": "CWE-94", "vuln_lines": [1], "family": "f/a", "kind": "vuln", "pair": "p"},
        {"code": "", "cwe": None, "vuln_lines": [], "family": "f/a", "kind": "fix"},
        {"cwe": None},
    ]
    monkeypatch.setitem(sys.modules, "hunkguard_train.synth.fake_bad", bad)
    monkeypatch.setitem(sys.modules, "hunkguard_train.synth.fake_good", good)
    out = synth.generate_all(0, modules=("fake_bad", "fake_good"))
    assert len(out) == 1 and out[0]["module"] == "fake_good"
