from hunkguard_train.card import _sampling_error, wilson_interval


def test_wilson_interval_matches_the_textbook_values_and_stays_inside_0_1():
    lo, hi = wilson_interval(50, 100)
    assert abs(lo - 0.4038) < 1e-3 and abs(hi - 0.5962) < 1e-3
    lo, hi = wilson_interval(0, 20)
    assert lo == 0.0 and 0.15 < hi < 0.17
    lo, hi = wilson_interval(20, 20)
    assert hi == 1.0 and 0.83 < lo < 0.85
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_the_interval_narrows_as_the_held_out_set_grows():
    small = wilson_interval(200, 292)
    large = wilson_interval(2000, 2920)
    assert small[1] - small[0] > 2.5 * (large[1] - large[0])


def test_sampling_error_sentence_names_each_figure_with_its_interval():
    text = _sampling_error([("Bandit's ground", 0.6849, 292), ("fix pairs", 0.3967, 121)])
    assert "Bandit's ground 68.5 % of 292: 63.0-73.6 %" in text
    assert "fix pairs 39.7 % of 121: 31.4-48.6 %" in text


def _shipped():
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "models"
    return json.loads((root / "manifest.json").read_text()), json.loads((root / "reference_scores.json").read_text())


def test_the_card_of_an_average_says_what_was_averaged_and_of_which_members():
    from hunkguard_train.card import model_card
    from hunkguard_train.labels import Catalogue

    manifest, refs = _shipped()
    plain = model_card(manifest, Catalogue(), refs)
    assert "fine-tunings of this recipe" not in plain
    tr = manifest["metrics"]["training"]
    tr["members"] = [{"version": "a", "member_seed": 1234, "params": tr["params"], "finetune": {"steps": 3690}},
                     {"version": "b", "member_seed": 4321, "params": tr["params"], "finetune": {"steps": 4315}}]
    tr["averaged"] = "weights"
    card = model_card(manifest, Catalogue(), refs)
    assert "averages the weights of 2 fine-tunings" in card and "member seeds 1234, 4321" in card
    assert "steps 3690, 4315" in card and "--average-of weights" in card and "is their sum" not in card
    tr["averaged"] = "probabilities"
    card = model_card(manifest, Catalogue(), refs)
    assert "averages the probabilities of 2 fine-tunings" in card and "is their sum" in card
