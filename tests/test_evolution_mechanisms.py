"""The evolution's selection and bookkeeping, against hand computations and scripted scenarios:
the regularized tournament (Real et al. 2019) and its NSGA-II form (Deb et al. 2002), the
inheritance plan of stacked mutations (seed 001 §7.3.3 with the novelty redraw of reference
A7.2), the final-training reserve under a wall-clock budget, and the epoch budget with workers
training at once. No network is trained here."""
import math
import time

import keras
import numpy as np
import pytest

from automl.budget import Deadline
from automl.evolution.inherit import inherit
from conftest import evolution_oracle
from automl.evolution.settings import EvolutionSettings
from automl.evolution.pareto import crowding, dominates, fronts, nsga_keys
from automl.evolution.space import NOTHING, NOVELTY_DRAWS, ConvStackSpace, compose
from models import build_model

SPACE = ConvStackSpace()
INF = math.inf


def make_oracle(tmp_path, **kw):
    settings = dict(budget_epochs=96, epochs_per_trial=4, seed=5, niching_probability=0.0)  # 2-digit trial ids
    settings.update(kw)
    return evolution_oracle(SPACE, tmp_path, **settings)


def finish(oracle, trial, score, flops=1000.0, **metrics):
    oracle.update_trial(trial.trial_id, {"val_accuracy": score, "flops": flops, "params": 1.0,
                                         "inherited_fraction": 0.5, "train_seconds": 0.1, **metrics})
    trial.status = "COMPLETED"
    oracle.end_trial(trial)


def run_trials(oracle, scores, flops=None):
    """One trial after another, each finished with its scripted score (and FLOPs)."""
    ids = []
    for i, score in enumerate(scores):
        trial = oracle.create_trial("w0")
        assert trial.status == "RUNNING"
        finish(oracle, trial, score, flops[i] if flops else 1000.0)
        ids.append(trial.trial_id)
    return ids


# -- the regularized tournament ------------------------------------------------------------
# Population P = 4, tournament S = 2. Trials 00-03 (initial) score best of all but age out when
# 04-07 arrive: the tournament must only see 04-07, and take the best of the S it drew.
AGED = {"00": 0.95, "01": 0.9, "02": 0.85, "03": 0.8}
LIVE = {"04": 0.3, "05": 0.6, "06": 0.4, "07": 0.5}


@pytest.fixture(scope="module")
def tournament_oracle(tmp_path_factory):
    oracle = make_oracle(tmp_path_factory.mktemp("tournament"), mode="population", population_size=4,
                         tournament_size=2)
    assert run_trials(oracle, [*AGED.values(), *LIVE.values()]) == [*AGED, *LIVE]
    assert oracle.evo["population"] == list(LIVE)           # aging: the last P, whatever their fitness
    return oracle


def expected_winner(seed, n, members, score):
    """Independent replay: the S members drawn without replacement, the highest score wins."""
    drawn = [members[i] for i in np.random.default_rng([seed, n]).choice(len(members), 2, replace=False)]
    assert len(set(drawn)) == 2
    return max(drawn, key=score.__getitem__)


def test_the_tournament_draws_s_distinct_members_of_the_live_population_and_the_best_wins(tournament_oracle):
    oracle = tournament_oracle
    winners = []
    for n in range(300):
        parent, role = oracle._select_parent(np.random.default_rng([oracle.seed, n]))
        assert role == "tournament"
        assert parent == expected_winner(oracle.seed, n, list(LIVE), LIVE)
        winners.append(parent)
    # Without replacement the r-th best of P wins with probability C(P - r, S - 1) / C(P, S):
    # 3/6, 2/6, 1/6 and 0 for 05 (0.6), 07 (0.5), 06 (0.4) and 04 (0.3): the worst never wins.
    counts = {t: winners.count(t) for t in LIVE}
    assert counts["04"] == 0
    for t, p in (("05", 3 / 6), ("07", 2 / 6), ("06", 1 / 6)):
        assert abs(counts[t] - 300 * p) < 4 * math.sqrt(300 * p * (1 - p)), counts


def test_a_tournament_over_the_whole_population_always_picks_its_best(tournament_oracle):
    oracle = tournament_oracle
    oracle.tournament_size = 4
    try:
        assert {oracle._select_parent(np.random.default_rng(n))[0] for n in range(20)} == {"05"}
    finally:
        oracle.tournament_size = 2


def test_create_trial_mutates_the_tournament_winner_of_the_trials_own_draw(tmp_path):
    oracle = make_oracle(tmp_path, mode="population", population_size=4, tournament_size=2)
    run_trials(oracle, [*AGED.values(), *LIVE.values()])
    assert oracle.evo["population"] == list(LIVE)           # aging: the oldest left, not the worst
    trial = oracle.create_trial("w0")
    values = trial.hyperparameters.values
    assert trial.trial_id == "08" and values["role"] == "tournament"
    # The oracle's draws are seeded by (seed, trial id): the tournament is the first of them.
    assert values["parent"] == expected_winner(oracle.seed, 8, list(LIVE), LIVE)
    assert oracle.evo["best"] == "00"                       # the best ever, even though it aged out


# NSGA-II tournament on (accuracy, FLOPs). Population: A = 00 (0.9, 400), B = 01 (0.8, 100),
# C = 02 (0.7, 300), D = 03 (0.6, 50). B dominates C (0.8 >= 0.7, 100 <= 300), nothing else
# dominates: front 0 = {A, B, D}, front 1 = {C}. Crowding in front 0: A and D are the extremes
# (inf); B: accuracy gap (0.9 - 0.6) / (0.9 - 0.6) = 1 plus FLOPs gap (400 - 50) / (400 - 50) = 1,
# so 2. C, alone in its front, is an extreme too (inf). Keys (rank, -crowding), smaller wins:
PARETO_POINTS = {"00": (0.9, 400.0), "01": (0.8, 100.0), "02": (0.7, 300.0), "03": (0.6, 50.0)}
PARETO_KEYS = {"00": (0, -INF), "01": (0, -2.0), "02": (1, -INF), "03": (0, -INF)}


def test_the_pareto_tournament_ranks_the_whole_population_and_takes_rank_then_crowding(tmp_path):
    oracle = make_oracle(tmp_path, mode="population", population_size=4, tournament_size=2, objective="pareto")
    points = list(PARETO_POINTS.values())
    run_trials(oracle, [p[0] for p in points], [p[1] for p in points])
    assert nsga_keys(points) == list(PARETO_KEYS.values())
    members = list(PARETO_POINTS)
    seen_pairs = set()
    for n in range(60):
        drawn = [members[i] for i in np.random.default_rng([oracle.seed, n]).choice(4, 2, replace=False)]
        expected = min(drawn, key=PARETO_KEYS.__getitem__)    # ties (A and D): the first drawn, as min keeps it
        assert oracle._select_parent(np.random.default_rng([oracle.seed, n]))[0] == expected, drawn
        seen_pairs.add(tuple(drawn))
    # The draws include the telling cases: B beats C (rank 0 with crowding 2 beats rank 1 with inf),
    # and A beats B drawn before it (ranked in the population; in a pair of two both would be inf).
    assert ("02", "01") in seen_pairs and ("01", "00") in seen_pairs


# -- NSGA-II sorting and crowding ----------------------------------------------------------------
def test_non_dominated_sorting_ranks_a_hand_made_set():
    points = [(0.9, 100.0), (0.8, 10.0), (0.7, 50.0), (0.95, 1000.0), (0.6, 5.0), (0.7, 60.0), (0.9, 100.0),
              (0.85, 100.0)]
    # 2 is dominated by 1 (0.8 >= 0.7, 10 <= 50); 5 by 2; 7 by 0 (same FLOPs, lower accuracy);
    # 6 equals 0, and equal points do not dominate each other. 2 and 7 do not dominate each other.
    assert fronts(points) == [[0, 1, 3, 4, 6], [2, 7], [5]]
    assert dominates((0.8, 10.0), (0.7, 50.0)) and not dominates((0.7, 50.0), (0.8, 10.0))
    assert dominates((0.9, 10.0), (0.9, 20.0)) and dominates((0.9, 10.0), (0.8, 10.0))
    assert not dominates((0.9, 100.0), (0.9, 100.0))
    assert not dominates((0.9, 100.0), (0.8, 10.0)) and not dominates((0.8, 10.0), (0.9, 100.0))


# A front of five (accuracy up, FLOPs up), given out of order. Sorted: a = 4 (0.5, 10),
# b = 1 (0.6, 20), c = 3 (0.8, 40), d = 0 (0.9, 80), e = 2 (1.0, 110).
# Accuracy range 0.5: b (0.8 - 0.5) / 0.5 = 0.6, c (0.9 - 0.6) / 0.5 = 0.6, d (1.0 - 0.8) / 0.5 = 0.4.
# FLOPs range 100:   b (40 - 10) / 100 = 0.3, c (80 - 20) / 100 = 0.6, d (110 - 40) / 100 = 0.7.
# Sums: b 0.9, c 1.2, d 1.1; a and e infinite. Point 5 (0.7, 40) is dominated by c.
FRONT = [(0.9, 80.0), (0.6, 20.0), (1.0, 110.0), (0.8, 40.0), (0.5, 10.0), (0.7, 40.0)]


def test_crowding_distance_is_the_sum_of_normalised_neighbour_gaps_with_infinite_extremes():
    distance = crowding(FRONT, [0, 1, 2, 3, 4])
    assert distance[4] == distance[2] == INF
    assert distance[1] == pytest.approx(0.9, rel=1e-12)
    assert distance[3] == pytest.approx(1.2, rel=1e-12)
    assert distance[0] == pytest.approx(1.1, rel=1e-12)
    assert crowding([(0.5, 3.0), (0.5, 3.0), (0.5, 3.0)], [0, 1, 2])[1] == 0.0      # no spread on either axis


def test_nsga_keys_order_by_rank_then_by_larger_crowding():
    keys = nsga_keys(FRONT)
    assert [k[0] for k in keys] == [0, 0, 0, 0, 0, 1]
    assert [k[1] for k in keys] == pytest.approx([-1.1, -0.9, -INF, -1.2, -INF, -INF], rel=1e-12)
    # Crowded comparison: the extremes, then c (1.2), d (1.1), b (0.9), then the dominated point.
    assert sorted(range(6), key=lambda i: keys[i]) == [2, 4, 3, 0, 1, 5]


# -- the inheritance plan of stacked mutations --------------------------------------------------
def test_compose_follows_each_child_block_back_to_the_parent_block_it_came_from():
    # parent (3 blocks) -> middle (4 blocks) -> child (5 blocks); [source, copy kernel, copy rest].
    first = {"blocks": [[0, True, True], [1, False, True], [None, False, False], [2, False, True]], "head": True}
    second = {"blocks": [[3, True, True], [None, False, False], [2, True, True], [0, True, False],
                         [1, True, True]], "head": False}
    assert compose(first, second) == {"blocks": [
        [2, False, True],      # middle 3 = parent 2 with a fresh kernel: the kernel stays fresh
        [None, False, False],  # new in the child
        [None, False, False],  # middle 2 was new in the middle: nothing of the parent in it
        [0, True, False],      # middle 0 = parent 0 whole; the child keeps only its kernel
        [1, False, True],      # middle 1 = parent 1 with a fresh kernel
    ], "head": False}
    # The head survives only if both mutations kept it.
    one = {"blocks": [[0, True, True]], "head": False}
    assert compose(one, {"blocks": [[0, True, True]], "head": True}) == {"blocks": [[0, True, True]], "head": False}
    assert compose(NOTHING, second) == NOTHING and compose(first, NOTHING) == NOTHING
    assert compose({"by_name": True}, {"by_name": True}) == {"by_name": True}


class LoggedSpace(ConvStackSpace):
    """Records every mutation draw (None for an invalid one), to replay what propose did."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def mutate(self, genome, name, rng):
        step = super().mutate(genome, name, rng)
        self.calls.append((genome, step))
        return step


def trained_looking(genome, seed):
    keras.utils.set_random_seed(seed)
    model = build_model(SPACE.spec(genome), (8, 8, 1), 10, kernel_initializer="glorot_uniform")
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        layer.set_weights([w + rng.normal(0.5, 0.1, w.shape).astype(w.dtype) for w in layer.get_weights()])
    return model


def origins(child, parent):
    """For each child layer with weights: the parent layer it is an exact copy of, or None."""
    found = {}
    for layer in child.layers:
        got = layer.get_weights()
        if not got:
            continue
        found[layer.name] = next((p.name for p in parent.layers if [w.shape for w in p.get_weights()] ==
                                  [w.shape for w in got] and all(np.array_equal(a, b) for a, b in
                                                                  zip(got, p.get_weights()))), None)
    return found


def test_a_stacked_mutation_inherits_exactly_what_survives_both_steps():
    parent_genome = [[32, 3, 1], [16, 5, 1]]
    rng = np.random.default_rng(4)
    neighbours = set()
    for name in SPACE.mutation_weights:                     # every single mutation of the parent
        for _ in range(3000 if name == "add_block" else 300):
            step = SPACE.mutate(parent_genome, name, rng)
            if step is not None:
                neighbours.add(SPACE.key(step.genome))
    space = LoggedSpace()
    child = space.propose(parent_genome, np.random.default_rng(11), neighbours | {SPACE.key(parent_genome)})
    assert child.name.count("+") == 1                       # no single mutation was new: two stacked
    # propose's order: NOVELTY_DRAWS single draws (all seen), then the first valid draw is the
    # middle, then single draws from the middle until one is new (the child).
    assert all(g == parent_genome for g, _ in space.calls[:NOVELTY_DRAWS])
    middle = next(step for _, step in space.calls[NOVELTY_DRAWS:] if step is not None)
    last_from, last = space.calls[-1]
    assert last_from == middle.genome and last.genome == child.genome
    assert child.name == f"{middle.name}+{last.name}"

    # Two steps through real models: parent -> middle -> child with each step's own plan, against
    # the child built straight from the parent with the composed plan. A child layer must hold a
    # parent layer in one case exactly when it does in the other.
    parent = trained_looking(parent_genome, 1)
    mid_model = trained_looking(middle.genome, 2)           # its fresh layers are not the parent's
    inherit(middle.plan, parent, mid_model)
    chained = trained_looking(child.genome, 3)
    inherit(last.plan, mid_model, chained)
    direct = trained_looking(child.genome, 3)
    fresh = {layer.name: layer.get_weights() for layer in direct.layers}
    fraction = inherit(child.plan, parent, direct)
    expected = origins(chained, parent)
    assert origins(direct, parent) == expected
    assert any(expected.values()) and not all(expected.values())   # the case tells something
    for name, source in expected.items():                 # whatever is not the parent's stays fresh
        if source is None:
            assert all(np.array_equal(a, b) for a, b in zip(direct.get_layer(name).get_weights(), fresh[name]))
    sizes = {layer.name: sum(w.size for w in layer.get_weights()) for layer in direct.layers}
    assert fraction == pytest.approx(sum(sizes[n] for n, s in expected.items() if s) / sum(sizes.values()),
                                     rel=1e-12)


def test_without_inheritance_every_proposal_including_a_stacked_one_inherits_nothing(tmp_path):
    rng = np.random.default_rng(0)
    genome = [[16, 1, 1]]
    assert SPACE.propose(genome, rng, {SPACE.key(genome)}, inheritance=False).plan == NOTHING
    oracle = make_oracle(tmp_path, inheritance=False)
    run_trials(oracle, [0.1, 0.2])
    plans = [t.hyperparameters.values["plan"] for t in oracle.trials.values()]
    assert plans == ['{"nothing": true}', '{"nothing": true}']


# -- the final-training reserve under a wall-clock budget ------------------------------------
def timed_oracle(tmp_path, final_epochs, deadline=None):
    """(1+1)-EA: 00 the untrained initial net, 01 better (the best; 2 s/epoch, 0.5 s per
    evaluation), 02 worse (3 s/epoch, 1 s per evaluation, and the last)."""
    oracle = make_oracle(tmp_path, final_epochs=final_epochs, deadline=deadline)
    for score, per_epoch, evaluation, trained in ((0.1, 0.0, 0.2, 0), (0.5, 2.0, 0.5, 4), (0.3, 3.0, 1.0, 4)):
        trial = oracle.create_trial("w0")
        finish(oracle, trial, score, seconds_per_epoch=per_epoch, eval_seconds=evaluation,
               epochs_trained=float(trained))
    assert int(oracle.evo["best"]) == 1  # ids of five digits: the oracle fills a time budget
    return oracle


def test_the_final_reserve_is_the_best_nets_seconds_per_epoch_times_the_final_epochs(tmp_path):
    oracle = make_oracle(tmp_path / "a", final_epochs=30)
    assert oracle.final_reserve() == 3.0                                 # nothing timed yet
    trial = oracle.create_trial("w0")
    finish(oracle, trial, 0.1, seconds_per_epoch=0.0, eval_seconds=0.2, epochs_trained=0.0)
    assert oracle.final_reserve() == 3.0                                 # the initial net trained no epoch
    oracle = timed_oracle(tmp_path / "b", final_epochs=30)
    # The best (01), not the last trained (02): 3 + 1.1 * 30 epochs * 2 s + 3 * 0.5 s = 70.5 s
    # (the last would give 3 + 1.1 * 30 * 3 + 3 * 1 = 105 s).
    assert oracle.final_reserve() == pytest.approx(70.5, rel=1e-12)
    assert timed_oracle(tmp_path / "c", final_epochs=10).final_reserve() == pytest.approx(26.5, rel=1e-12)


def test_the_search_starts_no_trial_once_the_work_left_is_below_the_final_reserve(tmp_path):
    # 100 s budget with 40 s gone: 60 s left. Final 30 epochs need 70.5 s: no new trial, and the
    # budget, not the strategy, ended the search.
    deadline = Deadline(100.0)
    oracle = timed_oracle(tmp_path / "a", final_epochs=30, deadline=deadline)
    deadline.started = time.monotonic() - 40.0
    assert oracle.create_trial("w0").status == "STOPPED"
    assert deadline.reserve == pytest.approx(70.5, rel=1e-12) and deadline.hit
    # Final 10 epochs need 26.5 s < 60 s: the next trial runs, and its trainer must stop
    # 60 - 26.5 = 33.5 s from now (the end it carries, as a Unix time, for distributed workers).
    deadline = Deadline(100.0)
    oracle = timed_oracle(tmp_path / "b", final_epochs=10, deadline=deadline)
    deadline.started = time.monotonic() - 40.0
    trial = oracle.create_trial("w0")
    assert trial.status == "RUNNING" and not deadline.hit
    assert trial.hyperparameters.values["deadline_at"] - time.time() == pytest.approx(33.5, abs=2.0)


def test_the_evolution_pipeline_hands_the_final_epochs_and_the_budget_to_the_oracle(tmp_path, monkeypatch):
    from automl.rundir import RunDir
    from pipelines import config as configs
    from automl.evolution.tuner import EvolutionTuner
    from pipelines import evolution

    class Captured(Exception):
        pass

    def capture(tuner, *args, **kwargs):
        raise Captured(tuner.oracle)

    monkeypatch.setattr(EvolutionTuner, "search", capture)  # automl.Evolution.search runs this loop
    cfg = configs.load_config("search", None, ["evolution.final_epochs=7", "evolution.max_channels=16"],
                              preset="quick")
    run = RunDir.create(tmp_path / "run", "search", configs.to_dict(cfg))
    deadline = Deadline(600.0)
    with pytest.raises(Captured) as caught:
        evolution.run_evolution(cfg, run, quiet=True, deadline=deadline)
    oracle = caught.value.args[0]
    assert oracle.final_epochs == 7 and oracle.deadline is deadline


# -- the epoch budget with workers training at once ---------------------------------------------
class ClockDeadline(Deadline):
    """A wall-clock budget whose time is set by the test."""

    def __init__(self, left: float):
        super().__init__(seconds=1e9)
        self.time_left = left

    def work_left(self) -> float:
        return self.time_left - self.reserve


@pytest.mark.parametrize("fill", [True, False])
def test_with_a_time_budget_the_evolution_fills_it_past_its_epoch_budget(tmp_path, fill):
    """Budget 8 epochs, 4 per trial, and time to spare: filling goes on with more children, past
    the epoch budget and past Keras Tuner's max_trials, until the time is spent; without filling
    (the thesis preset) the epoch budget ends it."""
    deadline = ClockDeadline(1e6)
    oracle = make_oracle(tmp_path, budget_epochs=8, niching_probability=0.0, final_epochs=0, fill_budget=fill,
                         deadline=deadline)
    assert oracle.filling() is fill
    ids = run_trials(oracle, [0.1, 0.2, 0.3] + ([0.4] * 10 if fill else []))  # 00 initial (0 epochs), then 4 each
    assert oracle.evo["used_epochs"] == (48 if fill else 8)
    assert len(ids[-1]) == (5 if fill else 2)                      # trial ids: Keras Tuner's max_trials' digits
    if fill:
        deadline.time_left = 0.0                                   # the time is spent
    assert oracle.create_trial("w0").status == "STOPPED"
    assert deadline.hit is fill
    assert oracle.evo["best"] == ids[3 if fill else 2]


@pytest.mark.parametrize("train_initial", [True, False])
def test_the_initial_net_trains_before_it_is_scored_unless_the_thesis_rule_is_asked(tmp_path, train_initial):
    oracle = make_oracle(tmp_path, train_initial=train_initial)
    first = oracle.create_trial("w0")
    assert first.hyperparameters.values["role"] == "initial"
    assert first.hyperparameters.values["epochs"] == (4 if train_initial else 0)
    assert EvolutionSettings(**EvolutionSettings.preset("thesis")).train_initial is False  # the thesis' rule


def test_epochs_of_running_trials_count_against_the_budget(tmp_path):
    # Budget 8 epochs, 4 per trial: two workers get a trial; a third waits (8 + 4 > 8 while two
    # run) and, once both ended, is told the search is over.
    oracle = make_oracle(tmp_path, mode="population", population_size=3, tournament_size=2, budget_epochs=8)
    first, second = oracle.create_trial("w0"), oracle.create_trial("w1")
    assert first.status == second.status == "RUNNING"
    assert oracle.committed_epochs() == 8
    assert oracle.create_trial("w2").status == "IDLE"
    finish(oracle, first, 0.4)
    assert oracle.create_trial("w2").status == "IDLE"
    finish(oracle, second, 0.5)
    assert oracle.create_trial("w2").status == "STOPPED"
    assert oracle.evo["used_epochs"] == 8 and oracle.evo["best"] == second.trial_id


def test_checkpoints_record_the_best_when_the_used_epochs_pass_each_mark(tmp_path):
    # (1+1): 00 untrained (0 epochs used), 01 (4), 02 (8), 03 (12). Mark 4 is reached by 01, the
    # best then; mark 10 by 03 (8 < 10 <= 12), when 02 (0.7) is the best.
    oracle = make_oracle(tmp_path, checkpoints=(10, 4))
    run_trials(oracle, [0.1, 0.5, 0.7, 0.6])
    assert oracle.evo["checkpoints"] == [{"epochs": 4, "trial": "01"}, {"epochs": 10, "trial": "02"}]
