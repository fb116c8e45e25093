"""Whole-slide survival's mechanisms (seed 002 Ch. 7; reference 002 §2c.4-2c.5), each against a hand
computation, an independent numpy re-implementation or lifelines called directly: the Cox loss, the
C-index and AUROC, the risk groups (training-median cut, log-rank p, hazard ratio), the patient-level
stratified split, attention and mean pooling of tile bags, and the search's choice by the
validation C-index. Every test fails when its mechanism breaks (tools/mutants/survival.py)."""
import json
import math

import keras
import numpy as np
import pandas as pd
import pytest

from automl.errors import UsageError
from automl.survival import CoxLoss, SurvivalAnalysis
from automl.survival import clinical as clin
from automl.survival.evaluate import auroc, c_index, metrics, risk_groups

# --- Cox loss (eqs. 7.3 and 7.6) ---------------------------------------------------------------


def test_cox_loss_equals_the_hand_computed_breslow_partial_likelihood_plus_the_mean_risk_penalty():
    # times 2, 1, 2, 3; events 1, 1, 0, 1; risks h = 0.5, -1, 0.3, 2
    y = np.array([[2.0, 1], [1.0, 1], [2.0, 0], [3.0, 1]], np.float32)
    h = np.array([[0.5], [-1.0], [0.3], [2.0]], np.float32)
    e = np.exp(h.ravel().astype(np.float64))
    # sample 0 (t=2, event): R = {j: t_j >= 2} = {0, 2, 3}, the tied censored sample 2 included (Breslow)
    term0 = math.log(e[0] + e[2] + e[3]) - 0.5
    # sample 1 (t=1, event): everyone is at risk
    term1 = math.log(e.sum()) - (-1.0)
    # sample 2 is censored: no term; sample 3 (t=3, event): R = {3}, log e^2 - 2 = 0
    expected = (term0 + term1 + 0.0) / 4  # averaged over the batch of 4
    assert float(CoxLoss()(y, h)) == pytest.approx(expected, rel=1e-6)
    # penalty λ (Σ_B h)² / |B| = 0.3 * (0.5 - 1 + 0.3 + 2)² / 4 = 0.3 * 3.24 / 4
    assert float(CoxLoss(0.3)(y, h)) == pytest.approx(expected + 0.3 * 3.24 / 4, rel=1e-6)


# --- C-index and AUROC (eq. 7.5; Bradley's AUROC on the event indicator) ------------------------


def test_c_index_counts_harrells_concordant_pairs_with_ties_as_half():
    times, events = np.array([1.0, 2.0, 3.0, 4.0, 5.0]), np.array([1, 0, 1, 1, 0])
    risks = np.array([3.0, 1.0, 2.0, 2.0, 0.0])
    # comparable pairs (i, j): t_i < t_j and δ_i = 1
    #   i=0 (risk 3) vs j=1..4 (risks 1, 2, 2, 0): 4 pairs, all concordant (higher risk died first)
    #   i=1 censored: none
    #   i=2 (risk 2) vs j=3 (risk 2, tied: 0.5), j=4 (risk 0: 1)
    #   i=3 (risk 2) vs j=4 (risk 0: 1)
    # (4 + 1.5 + 1) / (4 + 2 + 1) = 6.5 / 7
    assert c_index(times, events, risks) == pytest.approx(6.5 / 7, rel=1e-12)
    assert c_index(times, events, -risks) == pytest.approx(0.5 / 7, rel=1e-12)  # 1 - 6.5/7


def test_auroc_of_the_event_indicator_counts_event_censored_pairs_ranked_by_risk():
    events = np.array([1, 0, 1, 0, 0])
    risks = np.array([0.9, 0.3, 0.3, 0.1, 0.5])
    # events' risks {0.9, 0.3} vs censored {0.3, 0.1, 0.5}: 6 pairs
    #   0.9 beats all three (3); 0.3 ties 0.3 (0.5), beats 0.1 (1), loses to 0.5 (0): 4.5 / 6
    assert auroc(events, risks) == pytest.approx(0.75, rel=1e-12)
    assert auroc(np.zeros(5, int), risks) is None  # one class only: no AUROC


def test_metrics_standardise_each_source_before_the_pooled_c_index_and_auroc():
    # source b's risks are source a's plus 10: raw, every b patient outranks every a patient
    frame = pd.DataFrame({"time": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "event": [0, 1, 1, 1, 0, 1],
                          "risk": [3.0, 2.0, 1.0, 13.0, 12.0, 11.0], "source": ["a"] * 3 + ["b"] * 3})
    m = metrics(frame, cut=2.0)
    std = np.array([1.0, 0.0, -1.0, 1.0, 0.0, -1.0]) * math.sqrt(1.5)  # (r - mean) / std, std = sqrt(2/3)
    times, events = frame["time"].to_numpy(), frame["event"].to_numpy()
    assert m["c_index"] == pytest.approx(_harrell(times, events, frame["risk"].to_numpy()), rel=1e-12)
    assert m["c_index_std"] == pytest.approx(_harrell(times, events, std), rel=1e-12)
    assert m["c_index"] != pytest.approx(m["c_index_std"])  # the scenario tells them apart
    # AUROC raw: events' risks {2, 1, 13, 11} vs censored {3, 12}: 2>? no,no; 1: no,no; 13: yes,yes; 11: yes,no
    assert m["auroc"] == pytest.approx(3 / 8, rel=1e-12)
    # standardised: events {0, -1, 1, -1}·s vs censored {1, 0}·s: 0: (0, 0.5); -1: (0, 0); 1: (0.5, 1); -1: (0, 0)
    assert m["auroc_std"] == pytest.approx(2 / 8, rel=1e-12)
    assert m["by_source"]["a"]["n"] == 3 and m["by_source"]["b"]["c_index"] == pytest.approx(
        _harrell(times[3:], events[3:], frame["risk"].to_numpy()[3:]))


def _harrell(times, events, risks) -> float:
    """Harrell's C-index by brute force over all pairs (eq. 7.5, ties in risk count one half)."""
    num = den = 0.0
    for i in range(len(times)):
        for j in range(len(times)):
            if events[i] and times[i] < times[j]:
                den += 1
                num += 1.0 if risks[i] > risks[j] else 0.5 if risks[i] == risks[j] else 0.0
    return num / den


# --- Risk groups: the training-median cut, log-rank p, hazard ratio high vs low -----------------

GROUP_TIMES = np.array([1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10])
GROUP_EVENTS = np.array([1, 1, 0, 1, 1, 0, 1, 0, 1, 0])
GROUP_RISKS = np.array([2.0, 1.5, 0.4, 0.4, 1.0, -0.3, 0.4, -1.0, 0.2, -2.0])


def _logrank_p(times, events, group) -> float:
    """The two-group log-rank test by hand: at each event time, observed minus expected events of
    `group` and the hypergeometric variance; chi-square with one degree of freedom."""
    from scipy.stats import chi2

    o_minus_e = var = 0.0
    for t in np.unique(times[events == 1]):
        at_risk = times >= t
        n, n1 = at_risk.sum(), (at_risk & group).sum()
        d, d1 = ((times == t) & (events == 1)).sum(), ((times == t) & (events == 1) & group).sum()
        o_minus_e += d1 - d * n1 / n
        var += d * (n1 / n) * (1 - n1 / n) * (n - d) / max(n - 1, 1)
    return float(chi2.sf(o_minus_e ** 2 / var, 1))


def test_risk_groups_put_risks_above_the_cut_high_and_match_a_hand_log_rank_and_lifelines_cox():
    from lifelines import CoxPHFitter

    cut = 0.4  # three patients sit exactly on the cut: they are low ("above" is strict)
    out = risk_groups(GROUP_TIMES, GROUP_EVENTS, GROUP_RISKS, cut)
    high = np.array([1, 1, 0, 0, 1, 0, 0, 0, 0, 0], bool)  # risks 2.0, 1.5, 1.0
    assert (out["cut"], out["high"], out["low"]) == (0.4, 3, 7)
    assert out["logrank_p"] == pytest.approx(_logrank_p(GROUP_TIMES, GROUP_EVENTS, high), rel=1e-9)
    assert out["logrank_p"] == pytest.approx(0.0069024, rel=1e-4)  # the same, as printed by lifelines
    frame = pd.DataFrame({"T": GROUP_TIMES, "E": GROUP_EVENTS, "high": high.astype(int)})
    fit = CoxPHFitter().fit(frame, "T", "E")
    assert out["hazard_ratio"] == pytest.approx(float(fit.hazard_ratios_["high"]), rel=1e-9)
    assert out["hazard_ratio"] == pytest.approx(12.264, rel=1e-3)  # high vs low, not low vs high
    np.testing.assert_allclose(out["hazard_ratio_ci"], np.exp(fit.confidence_intervals_.loc["high"]), rtol=1e-9)
    assert out["hazard_ratio_ci"][0] < out["hazard_ratio"] < out["hazard_ratio_ci"][1]


def test_risk_groups_without_two_groups_or_with_separation_give_no_ratio():
    out = risk_groups(GROUP_TIMES, GROUP_EVENTS, GROUP_RISKS, cut=5.0)  # nobody above the cut
    assert (out["high"], out["low"], out["logrank_p"], out["hazard_ratio"]) == (0, 10, None, None)
    # every event in the high group: the log-rank p exists, the Cox ratio diverges (separation)
    events = np.array([1, 1, 1, 0, 0, 0])
    sep = risk_groups(np.arange(1.0, 7.0), events, np.array([3.0, 2, 1, -1, -2, -3]), cut=0.0)
    assert sep["logrank_p"] == pytest.approx(_logrank_p(np.arange(1.0, 7.0), events, events == 1), rel=1e-9)
    assert sep["hazard_ratio"] is None and sep["hazard_ratio_note"] == "not estimable (separation)"


# --- Patient-level stratified splits ------------------------------------------------------------


def _cohort(n_patients=40, split=None):
    """n patients, every third one with an event (14 of 40), one to three slides each."""
    rows = []
    for p in range(n_patients):
        for s in range(1 + p % 3):
            rows.append({"slide": f"p{p}_{s}.tiff", "path": f"/x/p{p}_{s}.tiff", "patient": f"P{p:02d}",
                         "time": 1.0 + p, "event": int(p % 3 == 0), "source": "AB"[p % 2],
                         "split": None if split is None else split(p)})
    slides = pd.DataFrame(rows)
    return clin.Cohort(slides, clin._patients(slides))


def _split_of(cohort):
    return dict(zip(cohort.patients["patient"], cohort.patients["split"]))


def test_splits_keep_each_patient_whole_and_stratify_events_within_one_patient():
    for seed in range(6):
        out = clin.assign_splits(_cohort(), 0.2, 0.2, seed)
        patients = out.patients
        # 40 patients: test 20% = 8, then val 0.2 / (1 - 0.2) = 25% of the remaining 32 = 8, train 24
        assert [int((patients["split"] == s).sum()) for s in clin.SPLITS] == [24, 8, 8]
        # every slide sits in its patient's split, so no patient's slides are in two splits
        split = _split_of(out)
        assert len(out.slides) == 79  # 40 patients with 1 + p % 3 slides: 40 + 13 * (0 + 1 + 2)
        assert all(out.slides["split"] == out.slides["patient"].map(split))
        assert out.slides.groupby("patient")["split"].nunique().max() == 1
        # events stratified: 14/40 = 35% overall; each split holds 35% of its size to within one patient
        for name in clin.SPLITS:
            part = patients[patients["split"] == name]
            assert abs(part["event"].sum() - 0.35 * len(part)) <= 1.0, (seed, name, part["event"].sum())


def test_splits_are_seeded_reproducible_and_change_with_the_seed():
    first, again = clin.assign_splits(_cohort(), 0.2, 0.2, 7), clin.assign_splits(_cohort(), 0.2, 0.2, 7)
    assert _split_of(first) == _split_of(again)
    tests = [frozenset(p for p, s in _split_of(clin.assign_splits(_cohort(), 0.2, 0.2, seed)).items()
                       if s == "test") for seed in range(5)]
    vals = [frozenset(p for p, s in _split_of(clin.assign_splits(_cohort(), 0.2, 0.2, seed)).items()
                      if s == "val") for seed in range(5)]
    assert len(set(tests)) == 5 and len(set(vals)) == 5  # five seeds, five different test and val sets


def test_a_given_split_column_is_kept_as_it_is_and_a_partial_one_refused():
    given = lambda p: "test" if p < 6 else "val" if p < 12 else "train"  # noqa: E731 (not what a stratified draw makes)
    out = clin.assign_splits(_cohort(split=given), 0.2, 0.2, seed=0)
    assert _split_of(out) == {f"P{p:02d}": given(p) for p in range(40)}
    assert all(out.slides["split"] == [given(int(p[1:])) for p in out.slides["patient"]])
    partial = lambda p: "train" if p < 20 else None  # noqa: E731
    with pytest.raises(UsageError, match="filled for some patients only"):
        clin.assign_splits(_cohort(split=partial), 0.2, 0.2, seed=0)


# --- Pooling a bag of tiles (attention: Ilse et al. 2018; mean) --------------------------------

TILE = (4, 4, 3)


def _bag_and_parts(pooling):
    """A tiny bag model with every weight drawn from a seeded normal (biases too, so nothing is
    degenerate), two bags of three tiles, the second with its last tile zero (padding), and the
    per-tile features from the model's own feature extractor."""
    from models.survival import SurvivalNetSpec, bag_model

    keras.utils.set_random_seed(0)
    model = bag_model(SurvivalNetSpec(stages=[[4]], dense=[4], batch_norm=False), 3, TILE, pooling)
    rng = np.random.default_rng(4)  # a draw whose ReLUs leave the tiles' features apart
    model.set_weights([rng.normal(0.0, 1.0, w.shape).astype(np.float32) for w in model.get_weights()])
    bags = rng.integers(1, 256, (2, 3, *TILE)).astype(np.float32)
    bags[1, 2] = 0.0
    features = model.get_layer("per_tile").layer.predict(bags.reshape(-1, *TILE), verbose=0).reshape(2, 3, -1)
    v, c = model.get_layer("tile_risk").layer.get_weights()
    tile_risks = (features @ v)[..., 0] + c[0]  # the linear risk head on each tile: [2, 3]
    return model, bags, features.astype(np.float64), tile_risks.astype(np.float64)


def test_attention_pooling_is_the_softmax_weighted_sum_of_tile_risks_over_the_real_tiles():
    model, bags, h, r = _bag_and_parts("attention")
    w1, b1 = model.get_layer("attention").get_weights()
    w2, b2 = model.get_layer("attention_out").get_weights()
    a = (np.tanh(h @ w1 + b1) @ w2)[..., 0] + b2[0]  # a_i = w2ᵀ tanh(W1 h_i + b1) + b2: [2, 3]
    expected = []
    for bag, present in ((0, [0, 1, 2]), (1, [0, 1])):  # bag 1's zero tile is padding: no weight
        weights = np.exp(a[bag, present] - a[bag, present].max())
        weights /= weights.sum()
        expected.append(float(weights @ r[bag, present]))
    # the scenario tells the attention apart from a plain mean and from a softmax over the padding too
    assert abs(expected[0] - r[0].mean()) > 1e-2
    unmasked = np.exp(a[1] - a[1].max()) / np.exp(a[1] - a[1].max()).sum() @ r[1]
    assert abs(expected[1] - unmasked) > 1e-2
    np.testing.assert_allclose(model.predict(bags, verbose=0).ravel(), expected, rtol=1e-5, atol=1e-6)


def test_mean_pooling_is_the_mean_tile_risk_over_the_real_tiles():
    model, bags, _, r = _bag_and_parts("mean")
    expected = [r[0].mean(), r[1, :2].mean()]  # bag 1: two real tiles; the padding is not counted
    assert abs(r[1, :2].mean() - r[1].mean()) > 1e-2
    np.testing.assert_allclose(model.predict(bags, verbose=0).ravel(), expected, rtol=1e-5, atol=1e-6)


# --- The workflow's evaluation: patient risks, the training-median cut, the groups written -----

# (split, patient, time, event, slide risks): the identity "model" below returns each slide's risk
SCRIPT = [
    ("train", "T1", 9.0, 0, [0.0]), ("train", "T2", 8.0, 1, [0.5, 1.5]), ("train", "T3", 5.0, 1, [2.0]),
    ("train", "T4", 3.0, 1, [10.0]), ("train", "T5", 1.0, 1, [30.0]),
    ("val", "V1", 4.0, 1, [3.0]), ("val", "V2", 2.0, 1, [4.0]), ("val", "V3", 6.0, 0, [5.0]),
    ("test", "X1", 10.0, 0, [1.8]), ("test", "X2", 9.0, 1, [2.0]), ("test", "X3", 7.0, 1, [2.5]),
    ("test", "X4", 6.0, 0, [3.0]), ("test", "X5", 3.0, 1, [9.0]), ("test", "X6", 2.0, 1, [11.0, 13.0]),
]


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """`evaluate_run` of the workflow on the scripted cohort, with a one-weight identity net."""
    from automl.budget import Deadline
    from automl.rundir import RunDir
    from automl.survival.workflow import evaluate_run
    from models.survival import SurvivalNetSpec

    rows = [{"slide": f"{p}_{i}", "path": f"/x/{p}_{i}", "patient": p, "time": t, "event": e, "source": "A",
             "split": split} for split, p, t, e, risks in SCRIPT for i, _ in enumerate(risks)]
    slides = pd.DataFrame(rows)
    cohort = clin.Cohort(slides, clin._patients(slides))
    x_of = {f"{p}_{i}": r for _, p, _, _, risks in SCRIPT for i, r in enumerate(risks)}
    data = {}
    for split in clin.SPLITS:
        part = slides[slides["split"] == split].reset_index(drop=True)
        data[split] = (np.array([[x_of[s]] for s in part["slide"]], np.float32),
                       part[["time", "event"]].to_numpy(np.float32), part)
    net = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    net.set_weights([np.ones((1, 1), np.float32), np.zeros(1, np.float32)])
    analysis = SurvivalAnalysis(verbose=0)
    root = tmp_path_factory.mktemp("evaluated")
    run = RunDir.create(root / "run", "survival", analysis.config_sections())
    summary = evaluate_run(analysis, run, net, SurvivalNetSpec.preset("vgg-tiny"), cohort, data, {}, [], [],
                           {"epoch": 1, "best_epoch": 1}, root, 0.0, Deadline())
    return run.path, summary


def test_a_patients_risk_is_the_mean_of_its_slides_risks(evaluated):
    path, _ = evaluated
    risks = pd.read_csv(path / "risks.csv").set_index("patient")
    assert len(risks) == 14  # one row per patient
    assert risks.loc["T2", "risk"] == pytest.approx(1.0, rel=1e-6)   # (0.5 + 1.5) / 2
    assert risks.loc["X6", "risk"] == pytest.approx(12.0, rel=1e-6)  # (11 + 13) / 2
    slides = pd.read_csv(path / "slide_risks.csv")
    assert len(slides) == 16 and slides.set_index("slide").loc["X6_1", "risk"] == pytest.approx(13.0, rel=1e-6)


def test_risk_groups_are_cut_at_the_training_patients_median_and_high_is_above_it(evaluated):
    path, summary = evaluated
    m = json.loads((path / "metrics.json").read_text())
    # training patients' risks 0, 1, 2, 10, 30: median 2 (mean 8.6; test median 2.75; val median 4)
    for split in clin.SPLITS:
        assert m["patients"][split]["groups"]["cut"] == pytest.approx(2.0, rel=1e-6)
    # test risks 1.8, 2.0 | 2.5, 3, 9, 12: four above 2 (2.0 itself is low)
    test = m["patients"]["test"]
    assert (test["groups"]["high"], test["groups"]["low"]) == (4, 2)
    risks = pd.read_csv(path / "risks.csv").set_index("patient")
    assert risks["group"].to_dict() == {p: "high" if risks.loc[p, "risk"] > 2.0 + 1e-6 else "low" for p in risks.index}
    assert risks.loc[["X2", "X3"], "group"].tolist() == ["low", "high"]
    # the test split's log-rank p and C-index, computed here from the script
    times, events = np.array([10.0, 9, 7, 6, 3, 2]), np.array([0, 1, 1, 0, 1, 1])
    high = np.array([0, 0, 1, 1, 1, 1], bool)
    assert test["groups"]["logrank_p"] == pytest.approx(_logrank_p(times, events, high), rel=1e-6)
    assert summary["test_logrank_p"] == test["groups"]["logrank_p"]
    assert test["c_index"] == pytest.approx(_harrell(times, events, np.array([1.8, 2.0, 2.5, 3.0, 9.0, 12.0])))
    assert summary["test_c_index"] == test["c_index"] == 1.0  # higher risk died sooner in every comparable pair
    # per slide, the cut is the training slides' median: 0, 0.5, 1.5, 2, 10, 30 -> (1.5 + 2) / 2
    assert m["slides"]["test"]["groups"]["cut"] == pytest.approx(1.75, rel=1e-6)
    assert m["slides"]["test"]["n"] == 7 and m["slides"]["test"]["groups"]["high"] == 7


# --- The search picks the trial with the best validation C-index -------------------------------

# Three features: feature 0 ranks the validation patients perfectly and the test patients
# backwards, feature 2 the other way round, feature 1 in between. Each trial's scripted net reads
# the feature its base width names, so its validation C-index is known before it trains.
FEATURE_OF_WIDTH = {8: 0, 16: 1, 32: 2}
VAL_TIMES, TEST_TIMES = np.array([1.0, 2, 3, 4, 5, 6]), np.array([1.0, 2, 3, 4, 5, 6])
VAL_X = np.array([[6, 1, 1], [5, 3, 2], [4, 2, 3], [3, 5, 4], [2, 4, 5], [1, 6, 6]], np.float32)
TEST_X = VAL_X[:, ::-1].copy()  # feature 2 now ranks perfectly, feature 0 backwards


@pytest.mark.filterwarnings("ignore:The model does not have any trainable weights")  # frozen on purpose
def test_the_search_chooses_the_highest_validation_c_index_never_the_test_one(tmp_path, monkeypatch):
    from automl.budget import Deadline
    from automl.rundir import RunDir
    from automl.survival import search
    from automl.survival.search import search_architecture

    def scripted(analysis, input_shape, spec):  # risk = the feature of the spec's base width, kept frozen
        net = keras.Sequential([keras.Input(tuple(input_shape)), keras.layers.Dense(1)])
        kernel = np.zeros((3, 1), np.float32)
        kernel[FEATURE_OF_WIDTH[spec.stages[0][0]]] = 1.0
        net.set_weights([kernel, np.zeros(1, np.float32)])
        net.trainable = False
        return net, spec

    monkeypatch.setattr(search, "build", scripted)

    def split(name, x, times):
        rows = pd.DataFrame({"patient": [f"{name}{i}" for i in range(6)], "time": times, "event": 1,
                             "source": "A", "split": name})
        return x, rows[["time", "event"]].to_numpy(np.float32), rows

    data = {"train": split("train", VAL_X, VAL_TIMES), "val": split("val", VAL_X, VAL_TIMES),
            "test": split("test", TEST_X, TEST_TIMES)}
    analysis = SurvivalAnalysis(seed=22, training={"batch_size": 6}, search={"max_trials": 2, "epochs": 1},
                                verbose=0)
    run = RunDir.create(tmp_path / "run", "survival", analysis.config_sections())
    spec = search_architecture(analysis, run, data, Deadline())
    # each width's C-index, by brute force: on validation 1, 2/15, 0 (widths 8, 16, 32); on test the reverse
    val = {w: _harrell(VAL_TIMES, np.ones(6), VAL_X[:, f]) for w, f in FEATURE_OF_WIDTH.items()}
    test = {w: _harrell(TEST_TIMES, np.ones(6), TEST_X[:, f]) for w, f in FEATURE_OF_WIDTH.items()}
    assert (val[8], val[32], test[8], test[32]) == (1.0, 0.0, 0.0, 1.0)
    trials = sorted((json.loads(p.read_text()) for p in (run.path / "search" / "tuner").glob("trial_*/trial.json")),
                    key=lambda t: int(t["trial_id"]))
    widths = [t["hyperparameters"]["values"]["base_width"] for t in trials]
    assert widths == [32, 8]  # the seeded draw (seed 22): the test winner first, the validation winner second
    for t, w in zip(trials, widths):  # each trial scored by its validation C-index
        assert t["score"] == pytest.approx(val[w], abs=1e-6)
    assert spec.stages[0][0] == 8  # the validation winner (the test winner would be 32)
    assert json.loads((run.path / "search" / "chosen.json").read_text())["stages"] == spec.stages


def test_a_slide_named_with_a_folder_is_matched_by_its_file_name_with_a_note(tmp_path):
    from automl.survival.settings import ClinicalColumns, SurvivalDataSettings

    for i in range(12):
        (tmp_path / f"P{i}.svs").write_bytes(b"")
    table = pd.DataFrame({"slide": ["elsewhere/P0.svs"] + [f"P{i}.svs" for i in range(1, 12)],
                          "patient": [f"p{i}" for i in range(12)], "time": np.arange(1.0, 13.0),
                          "event": [1, 0] * 6})
    cohort, notes = clin.prepare_cohort(table, tmp_path, ClinicalColumns(), SurvivalDataSettings(val_fraction=0.25,
                                                                                                 test_fraction=0.25))
    assert len(cohort.slides) == 12
    assert [n for n in notes if "with a folder" in n] == [
        "clinical row names 'elsewhere/P0.svs' with a folder: matched to P0.svs by its file name "
        "(folders in the slide column are ignored)"]
