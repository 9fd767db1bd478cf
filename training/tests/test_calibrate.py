"""Calibration picks the operating points the runtime uses: label thresholds under the benign false-alarm
budget, and the line threshold that makes a finding point at the weakness."""
import math

import numpy as np

from hunkguard_train.data import Example
from hunkguard_train.evaluate import calibrate, calibrate_line, calibrate_line_alone, line_metrics
from hunkguard_train.pycode import Lines

LABELS = {"CWE-89": 0}


def _example(n_lines, vuln_line):
    lines = Lines.from_code("\n".join(f"x{i} = {i}" for i in range(n_lines)), {vuln_line + 1: {"CWE-89"}})
    return Example(f"ex{vuln_line}", lines, frozenset({"CWE-89"}), "realfix", "g")


def _result(line_scores, seq=0.9):
    return {"seq": np.array([seq]), "line_scores": np.array([[s] for s in line_scores], dtype=np.float32)}


def test_line_threshold_is_the_lowest_that_points_at_labelled_lines():
    # the labelled line always scores highest; a line far from it scores 0.97 in one example, 0.5 in the others
    exs = [_example(5, 1) for _ in range(4)]
    res = [_result([0.1, 0.99, 0.1, 0.1, 0.97])] + [_result([0.1, 0.99, 0.1, 0.1, 0.5]) for _ in range(3)]
    t = calibrate_line(res, exs, LABELS, np.array([0.5]), target=0.8)
    assert 0.5 < t <= 0.97
    m = line_metrics(res, exs, [{"CWE-89"}] * 4, LABELS, np.array([0.5]), t)
    assert m["flagged_line_precision"] >= 0.8 and m["top_line_hit"] == 1.0


def test_a_line_next_to_the_labelled_line_is_on_target():
    # the continuation of a multi-line call scores 0.9 beside its labelled first line: flagging both is what
    # the held-out targets count as found, so the threshold may go below it; a far line at 0.6 stays out
    exs = [_example(6, 2) for _ in range(4)]
    res = [_result([0.1, 0.1, 0.99, 0.9, 0.1, 0.6]) for _ in range(4)]
    t = calibrate_line(res, exs, LABELS, np.array([0.5]), target=0.8)
    assert 0.6 < t <= 0.9


def test_line_threshold_falls_back_to_the_best_precision_when_the_target_is_out_of_reach():
    exs = [_example(4, 0), _example(4, 0)]
    # the second example's top line is the wrong one, far from the labelled line: precision is 2/3 for t in
    # (0.2, 0.3] (the second example's lines at 0.3 and 0.99 flagged), 1/2 above (top lines only), 1/2 below
    # (the 0.2 line flagged too): never 0.8, so the best one is kept
    res = [_result([0.98, 0.05, 0.05, 0.2]), _result([0.3, 0.05, 0.05, 0.99])]
    t = calibrate_line(res, exs, LABELS, np.array([0.5]), target=0.8)
    assert 0.2 < t <= 0.3


def test_label_thresholds_keep_benign_false_alarms_within_budget():
    rng = np.random.default_rng(0)
    benign_scores = rng.uniform(0, 1, 200)
    pos_scores = rng.uniform(0.6, 1, 50)
    S = np.concatenate([benign_scores, pos_scores])[:, None]
    Y = np.concatenate([np.zeros(200), np.ones(50)]).astype(np.int64)[:, None]
    benign = np.concatenate([np.ones(200, bool), np.zeros(50, bool)])
    th, _ = calibrate(S, Y, benign, max_fpr=0.02)
    assert (benign_scores >= th[0]).mean() <= 0.02


def test_a_noisy_label_is_raised_alone_to_meet_the_false_alarm_budget():
    rng = np.random.default_rng(1)
    n_benign, n_pos = 400, 40
    # label 0 separates well; label 1 (few real positives) fires on 10 % of benign code
    S = np.zeros((n_benign + n_pos, 2))
    S[:n_benign, 0] = rng.uniform(0, 0.3, n_benign)
    S[:n_benign, 1] = np.where(rng.random(n_benign) < 0.10, rng.uniform(0.6, 0.9, n_benign), 0.05)
    S[n_benign:, 0] = rng.uniform(0.35, 1.0, n_pos)
    Y = np.zeros_like(S, dtype=np.int64)
    Y[n_benign:, 0] = 1
    benign = np.arange(len(S)) < n_benign
    th, T = calibrate(S, Y, benign, max_fpr=0.02)
    assert ((S[benign] >= th).any(axis=1)).mean() <= 0.02
    assert th[1] > 0.6, "the noisy label is the one raised"
    assert (S[n_benign:, 0] >= th[0]).mean() >= 0.9, "the clean label keeps its recall"


def test_infinite_shrinkage_gives_every_label_the_global_threshold():
    rng = np.random.default_rng(2)
    n_benign, n_pos = 400, 60
    # label 1's positives score 0.9-1.0 and its fixed twins (not benign code) 0.6-0.85: its own F1 optimum is
    # near 0.86, far above the global one that label 0's positives (0.3-1.0) pull down
    S = np.zeros((n_benign + 3 * n_pos, 2))
    S[:n_benign] = rng.uniform(0, 0.25, (n_benign, 2))
    S[n_benign:n_benign + n_pos, 0] = rng.uniform(0.3, 1.0, n_pos)
    S[n_benign + n_pos:n_benign + 2 * n_pos, 1] = rng.uniform(0.9, 1.0, n_pos)
    S[n_benign + 2 * n_pos:, 1] = rng.uniform(0.6, 0.85, n_pos)
    Y = np.zeros_like(S, dtype=np.int64)
    Y[n_benign:n_benign + n_pos, 0] = 1
    Y[n_benign + n_pos:n_benign + 2 * n_pos, 1] = 1
    benign = np.arange(len(S)) < n_benign
    own, T_own = calibrate(S, Y, benign, max_fpr=0.02)
    pooled, T = calibrate(S, Y, benign, max_fpr=0.02, shrink=math.inf)
    assert T == T_own
    assert (pooled == round(T, 3)).all(), "no label moves away from the global threshold"
    assert own[1] > T + 0.05, "with finite shrinkage label 1 takes its own, higher threshold"


def test_a_line_fires_alone_at_the_lowest_score_that_keeps_the_negatives_quiet():
    # windows under the label's threshold (0.5) whose lines the token head is sure of: five positives at 0.997,
    # and of 1,000 negatives one line at 0.9995 and two more at 0.993; 0.1 % of 1,000 is one added negative
    def negative(top):
        return Example(f"n{top}", Lines.from_code("x = 1\ny = 2"), frozenset(), "benign", "g")

    pos = [(_example(3, 1), _result([0.1, 0.997, 0.1], seq=0.2)) for _ in range(5)]
    neg = [(negative(0), _result([0.1, 0.2], seq=0.1)) for _ in range(997)]
    neg += [(negative(1), _result([0.9995, 0.1], seq=0.1)), (negative(2), _result([0.993, 0.1], seq=0.1)),
            (negative(3), _result([0.993, 0.1], seq=0.1))]
    exs, res = zip(*(pos + neg))
    t, rows = calibrate_line_alone(list(res), list(exs), LABELS, np.array([0.5]))
    assert t == 0.995
    by_t = {r["t"]: r for r in rows}
    assert by_t[0.999]["negatives_added"] == 1 and by_t[0.999]["positives_caught"] == 0
    assert by_t[0.995]["positives_caught"] == 5 and by_t[0.99]["negatives_added"] == 3
    # a positive the window already fires is not counted as caught by the line
    res2 = [_result([0.1, 0.997, 0.1], seq=0.9)] + list(res[5:])
    _, rows2 = calibrate_line_alone(res2, [exs[0]] + list(exs[5:]), LABELS, np.array([0.5]))
    assert all(r["positives_caught"] == 0 for r in rows2)
    # when even the surest line adds too many negatives, only windows fire
    loud = [(negative(9), _result([0.9999, 0.1], seq=0.1)) for _ in range(5)] + neg[:995]
    exs3, res3 = zip(*loud)
    assert calibrate_line_alone(list(res3), list(exs3), LABELS, np.array([0.5]))[0] is None
