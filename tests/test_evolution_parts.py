"""Evolution's parts: the inheritance table (seed 001 §7.3.3), novelty, Algorithm 4's niching,
epoch accounting and the oracle's saved state, driven without training where possible."""

import keras
import numpy as np
import pytest

from automl.evolution.inherit import inherit
from conftest import evolution_oracle
from automl.evolution.pareto import crowding, fronts, nsga_keys
from automl.evolution.space import CHANNELS, ConvStackSpace, ResidualSpace
from models import build_model

SPACE = ConvStackSpace()
PARENT = [[32, 3, 1], [64, 5, 2], [16, 1, 1]]


class Scripted:
    """An rng whose draws are given in advance (to pick the block a mutation hits)."""

    def __init__(self, integers=(), choices=()):
        self._integers, self._choices = list(integers), list(choices)

    def integers(self, n):
        return self._integers.pop(0)

    def choice(self, options, *args, **kwargs):
        return self._choices.pop(0)


def models_for(child_genome, plan, inheritance=True):
    keras.utils.set_random_seed(1)
    parent = build_model(SPACE.spec(PARENT), (8, 8, 1), 10, kernel_initializer="glorot_uniform")
    for layer in parent.layers:  # trained-looking values everywhere, BN statistics included
        layer.set_weights([w + np.random.default_rng(0).normal(0.5, 0.1, w.shape).astype(w.dtype)
                           for w in layer.get_weights()])
    child = build_model(SPACE.spec(child_genome), (8, 8, 1), 10, kernel_initializer="glorot_uniform")
    fresh = {layer.name: [w.copy() for w in layer.get_weights()] for layer in child.layers}
    fraction = inherit(plan if inheritance else {"nothing": True}, parent, child)
    return parent, child, fresh, fraction


def state_of(parent, child, fresh, name, source=None):
    """'copied' if the child's layer holds the parent's `source` layer, 'fresh' if untouched."""
    got = child.get_layer(name).get_weights()
    if source is not None and all(np.array_equal(a, b) for a, b in zip(got, parent.get_layer(source).get_weights())):
        return "copied"
    assert all(np.array_equal(a, b) for a, b in zip(got, fresh[name])), f"{name} is neither copied nor fresh"
    return "fresh"


def mutate(name, integers=(), choices=()):
    result = SPACE.mutate(PARENT, name, Scripted(integers, choices))
    assert result is not None
    return result


def test_change_stride_copies_everything():
    m = mutate("change_stride", [0], [2])
    assert m.genome == [[32, 3, 2], [64, 5, 2], [16, 1, 1]]
    parent, child, fresh, fraction = models_for(m.genome, m.plan)
    for i in range(3):
        assert state_of(parent, child, fresh, f"conv{i}", f"conv{i}") == "copied"
        assert state_of(parent, child, fresh, f"conv{i}_bn", f"conv{i}_bn") == "copied"
    assert state_of(parent, child, fresh, "head_out", "head_out") == "copied"
    assert fraction == pytest.approx(1.0)


def test_change_kernel_reinitialises_only_that_kernel():
    m = mutate("change_kernel", [1], [3])
    assert m.genome[1] == [64, 3, 2]
    parent, child, fresh, _ = models_for(m.genome, m.plan)
    assert state_of(parent, child, fresh, "conv1") == "fresh"
    assert state_of(parent, child, fresh, "conv1_bn", "conv1_bn") == "copied"      # h_i kept (eq. 7.3)
    for name in ("conv0", "conv0_bn", "conv2", "conv2_bn", "head_out"):
        assert state_of(parent, child, fresh, name, name) == "copied"


def test_channel_change_reinitialises_the_block_and_the_next_kernel():
    m = mutate("add_channels", [0])
    assert m.genome[0] == [64, 3, 1]
    parent, child, fresh, _ = models_for(m.genome, m.plan)
    assert state_of(parent, child, fresh, "conv0") == "fresh"
    assert state_of(parent, child, fresh, "conv0_bn") == "fresh"                     # theta_i (eq. 7.4)
    assert state_of(parent, child, fresh, "conv1") == "fresh"                        # k_{i+1}
    for name in ("conv1_bn", "conv2", "conv2_bn", "head_out"):
        assert state_of(parent, child, fresh, name, name) == "copied"


def test_last_width_change_reinitialises_the_head():
    m = mutate("add_channels", [2])
    assert m.genome[2] == [CHANNELS[1], 1, 1]
    parent, child, fresh, _ = models_for(m.genome, m.plan)
    assert state_of(parent, child, fresh, "conv2") == "fresh"
    assert state_of(parent, child, fresh, "head_out") == "fresh"
    for name in ("conv0", "conv0_bn", "conv1", "conv1_bn"):
        assert state_of(parent, child, fresh, name, name) == "copied"


def test_add_block_reinitialises_the_new_block_and_the_next_kernel():
    m = mutate("add_block", [1], [96, 5])
    assert m.genome == [[32, 3, 1], [96, 5, 1], [64, 5, 2], [16, 1, 1]]
    parent, child, fresh, _ = models_for(m.genome, m.plan)
    assert state_of(parent, child, fresh, "conv0", "conv0") == "copied"
    assert state_of(parent, child, fresh, "conv1") == "fresh" and state_of(parent, child, fresh, "conv1_bn") == "fresh"
    assert state_of(parent, child, fresh, "conv2") == "fresh"                        # k_{i+1} (eq. 7.5)
    assert state_of(parent, child, fresh, "conv2_bn", "conv1_bn") == "copied"        # h_{i+1} kept
    assert state_of(parent, child, fresh, "conv3", "conv2") == "copied"
    assert state_of(parent, child, fresh, "head_out", "head_out") == "copied"


def test_appending_a_block_of_another_width_reinitialises_the_head():
    m = mutate("add_block", [3], [128, 3])
    parent, child, fresh, _ = models_for(m.genome, m.plan)
    assert state_of(parent, child, fresh, "head_out") == "fresh"
    assert state_of(parent, child, fresh, "conv2", "conv2") == "copied"


def test_remove_block_reinitialises_the_next_kernel():
    m = mutate("remove_block", [0])
    assert m.genome == [[64, 5, 2], [16, 1, 1]]
    parent, child, fresh, _ = models_for(m.genome, m.plan)
    assert state_of(parent, child, fresh, "conv0") == "fresh"                        # eq. 7.6
    assert state_of(parent, child, fresh, "conv0_bn", "conv1_bn") == "copied"
    assert state_of(parent, child, fresh, "conv1", "conv2") == "copied"
    assert state_of(parent, child, fresh, "head_out", "head_out") == "copied"
    m = mutate("remove_block", [2])                                                  # the last: c_n changes
    parent, child, fresh, _ = models_for(m.genome, m.plan)
    assert state_of(parent, child, fresh, "head_out") == "fresh"


def test_no_inheritance_reinitialises_everything():
    m = mutate("change_stride", [0], [2])
    parent, child, fresh, fraction = models_for(m.genome, m.plan, inheritance=False)
    assert fraction == 0.0
    for layer in child.layers:
        if layer.get_weights():
            assert state_of(parent, child, fresh, layer.name) == "fresh"


def test_invalid_mutations_are_refused():
    assert SPACE.mutate([[256, 3, 1]], "add_channels", Scripted([0])) is None
    assert SPACE.mutate([[16, 3, 1]], "remove_channels", Scripted([0])) is None
    assert SPACE.mutate([[16, 3, 1]], "remove_block", Scripted([0])) is None
    three = [[16, 3, 2], [16, 3, 2], [16, 3, 2], [16, 3, 1]]
    assert SPACE.mutate(three, "change_stride", Scripted([3], [2])) is None           # a 4th stride-2 conv


def test_novelty_is_enforced_and_stacks_when_every_single_mutation_was_seen():
    rng = np.random.default_rng(0)
    genome = [[16, 1, 1]]
    neighbours = set()
    for name in SPACE.mutation_weights:
        for _ in range(500):
            m = SPACE.mutate(genome, name, rng)
            if m is not None:
                neighbours.add(SPACE.key(m.genome))
    seen = neighbours | {SPACE.key(genome)}
    child = SPACE.propose(genome, rng, seen)
    assert SPACE.key(child.genome) not in seen and "+" in child.name                 # two stacked mutations
    seen = {SPACE.key(genome)}
    for _ in range(60):
        child = SPACE.propose(genome, rng, seen)
        assert SPACE.key(child.genome) not in seen
        seen.add(SPACE.key(child.genome))
        genome = child.genome


def test_residual_space_inherits_by_name_and_inserts_near_identity_blocks():
    space = ResidualSpace(pooling_stages=1)
    rng = np.random.default_rng(3)
    parent_genome = space.initial(rng)
    child = space.mutate(parent_genome, "add_block", rng)
    parent = build_model(space.spec(parent_genome), (8, 8, 1), 10)
    model = build_model(space.spec(child.genome), (8, 8, 1), 10)
    fresh = {layer.name: layer.get_weights() for layer in model.layers}
    fraction = inherit(child.plan, parent, model, space.spec(child.genome), space.spec(parent_genome), 1e-2)
    (new,) = {b.id for b in space.spec(child.genome).blocks()} - {b.id for b in space.spec(parent_genome).blocks()}
    sizes = {layer.name: sum(w.size for w in layer.get_weights()) for layer in model.layers}
    inserted = [name for name in sizes if name.startswith(f"block{new}_")]
    assert inserted and sizes[f"block{new}_conv1"] > 0
    # Every layer but the inserted block's keeps its name and shape, so it is the parent's; the
    # share copied is everything but the inserted block.
    for layer in model.layers:
        if layer.name not in inserted and sizes[layer.name]:
            assert all(np.array_equal(a, b) for a, b in zip(layer.get_weights(),
                                                             parent.get_layer(layer.name).get_weights()))
    assert fraction == pytest.approx(1 - sum(sizes[n] for n in inserted) / sum(sizes.values()), rel=1e-12)
    # ResBuilder's start: its two convs drawn N(0, sigma) with E|w| = 1e-2, sigma = 1e-2 * sqrt(pi / 2),
    # from the rng seeded by the trial (0 here), conv1 first; the rest of the block stays fresh.
    rng = np.random.default_rng(0)
    for part in ("conv1", "conv2"):
        kernel = model.get_layer(f"block{new}_{part}").get_weights()[0]
        np.testing.assert_array_equal(kernel, rng.normal(0.0, 1e-2 * np.sqrt(np.pi / 2), kernel.shape)
                                      .astype(kernel.dtype))
    for name in inserted:
        if name not in (f"block{new}_conv1", f"block{new}_conv2"):
            assert all(np.array_equal(a, b) for a, b in zip(model.get_layer(name).get_weights(), fresh[name]))


# -- the oracle, driven by hand --------------------------------------------------------
def make_oracle(tmp_path, **kw):
    settings = dict(budget_epochs=20, epochs_per_trial=4, seed=3)
    settings.update(kw)
    return evolution_oracle(SPACE, tmp_path, **settings)


def finish(oracle, trial, score, flops=1000.0):
    oracle.update_trial(trial.trial_id, {"val_accuracy": score, "flops": flops, "params": 1.0,
                                         "inherited_fraction": 0.5, "train_seconds": 0.1})
    trial.status = "COMPLETED"
    oracle.end_trial(trial)


def test_one_plus_one_accounts_the_epoch_budget_exactly_and_keeps_the_better(tmp_path):
    oracle = make_oracle(tmp_path, niching_probability=0.0)
    scores = iter([0.1, 0.5, 0.4, 0.6, 0.6, 0.7])
    epochs = []
    while True:
        trial = oracle.create_trial("tuner0")
        if trial.status == "STOPPED":
            break
        assert trial.status == "RUNNING"
        assert oracle.create_trial("other").status == "IDLE"          # (1+1) is sequential
        epochs.append(trial.hyperparameters.values["epochs"])
        finish(oracle, trial, next(scores))
    assert epochs == [0, 4, 4, 4, 4, 4]                                # initial net untrained (Algorithm 4 l.16)
    assert oracle.evo["used_epochs"] == 20 == oracle.committed_epochs()
    values = {t.trial_id: t.hyperparameters.values for t in oracle.trials.values()}
    assert values["02"]["parent"] == "01" and values["03"]["parent"] == "01"    # 0.4 did not replace 0.5
    assert values["04"]["parent"] == "03" and values["05"]["parent"] == "03"    # 0.6 is not > 0.6
    assert oracle.evo["best"] == "05"


def test_niching_runs_k_steps_from_the_worse_child_and_replaces_the_parent_only_if_better(tmp_path):
    oracle = make_oracle(tmp_path, budget_epochs=40, niching_probability=1.0, niching_steps=2)
    scores = {"00": 0.1, "01": 0.5, "02": 0.3, "03": 0.4, "04": 0.45, "05": 0.2, "06": 0.35, "07": 0.9, "08": 0.95}
    for _ in scores:
        trial = oracle.create_trial("tuner0")
        finish(oracle, trial, scores[trial.trial_id])
    v = {t.trial_id: t.hyperparameters.values for t in oracle.trials.values()}
    assert [v[t]["role"] for t in sorted(v)] == ["initial", "main", "main", "niche", "niche", "main", "niche",
                                                 "niche", "main"]
    assert v["03"]["parent"] == "02"           # the niche starts from the child that was not better
    assert v["04"]["parent"] == "03"           # inside the niche, (1+1) on its own
    assert v["05"]["parent"] == "01"           # niche best 0.45 < 0.5: the main parent stays
    assert v["06"]["parent"] == "05" and v["07"]["parent"] == "06"   # 0.35 > 0.2 inside the niche
    assert v["08"]["parent"] == "07"           # niche best 0.9 > 0.5: it becomes the parent
    assert oracle.evo["best"] == "08"


def test_a_niche_the_search_end_cuts_short_still_competes_for_the_result(tmp_path):
    oracle = make_oracle(tmp_path, budget_epochs=40, niching_probability=1.0, niching_steps=3)
    for tid, score in {"00": 0.1, "01": 0.5, "02": 0.3, "03": 0.7}.items():   # 03: the niche's first step
        trial = oracle.create_trial("tuner0")
        assert trial.trial_id == tid
        finish(oracle, trial, score)
    assert oracle.evo["niche"]["parent"] == "03" and oracle.evo["niche"]["steps_left"] == 2
    assert oracle.evo["best"] == "01"          # the main line: the niche has not ended
    assert oracle.final_best() == "03"         # the search ends here: 0.7 > 0.5, as at the niche's end
    oracle.evo["niche"]["parent"] = "02"       # a niche that found nothing better
    assert oracle.final_best() == "01"


def test_population_mode_serves_many_workers_and_ages_out_the_oldest(tmp_path):
    oracle = make_oracle(tmp_path, mode="population", population_size=3, tournament_size=2, budget_epochs=32)
    running = [oracle.create_trial(f"w{i}") for i in range(3)]
    assert all(t.status == "RUNNING" and t.hyperparameters.values["role"] == "initial" for t in running)
    assert oracle.create_trial("w3").status == "IDLE"   # no completed parent yet
    for t, s in zip(running, (0.3, 0.2, 0.1)):
        finish(oracle, t, s)
    done = 3
    while True:
        trial = oracle.create_trial("w0")
        if trial.status == "STOPPED":
            break
        assert trial.hyperparameters.values["parent"] in oracle.evo["population"]
        finish(oracle, trial, 0.05 * done)
        done += 1
    assert oracle.evo["used_epochs"] == 32 and done == 8
    assert oracle.evo["population"] == ["05", "06", "07"]           # aging: the last P, whatever the fitness
    assert oracle.evo["best"] == "07"                                # 0.35, the best ever (00 had 0.3)
    assert len(set(oracle.evo["seen"])) == len(oracle.evo["seen"]) == 8


def test_oracle_state_round_trips(tmp_path):
    oracle = make_oracle(tmp_path, budget_epochs=40, niching_probability=0.5)
    for score in (0.1, 0.3, 0.2, 0.25):
        finish(oracle, oracle.create_trial("tuner0"), score)
    reloaded = make_oracle(tmp_path, budget_epochs=40, niching_probability=0.5)
    reloaded.reload()
    assert reloaded.evo == oracle.evo
    a, b = oracle.create_trial("tuner0"), reloaded.create_trial("tuner0")
    assert a.trial_id == b.trial_id and a.hyperparameters.values == b.hyperparameters.values


def test_a_trial_in_flight_at_a_kill_works_to_the_resumed_runs_deadline(tmp_path):
    from automl.budget import Deadline

    oracle = make_oracle(tmp_path, deadline=Deadline(60.0))
    finish(oracle, oracle.create_trial("tuner0"), 0.3)
    in_flight = oracle.create_trial("tuner0")
    first_deadline = in_flight.hyperparameters.values["deadline_at"]
    assert first_deadline > 0                                        # the killed run's deadline travels with it
    resumed = make_oracle(tmp_path, deadline=Deadline(600.0))       # --resume with a new budget
    resumed.reload()                                                 # the trial in flight goes for retry
    retried = resumed.create_trial("tuner0")
    assert retried.trial_id == in_flight.trial_id
    assert retried.hyperparameters.values["deadline_at"] > first_deadline + 500


def test_a_result_of_a_trial_reclaimed_from_a_dead_worker_is_dropped(tmp_path, monkeypatch):
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", "1")
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    oracle = make_oracle(tmp_path, mode="population", population_size=2, tournament_size=1, worker_timeout=0.2)
    first = oracle.create_trial("w0")
    oracle._heard[first.trial_id] -= 10                             # w0 went silent
    second = oracle.create_trial("w1")
    assert second.trial_id == first.trial_id                        # the retry goes to a live worker
    finish(oracle, second, 0.4)
    stale = oracle.trials[first.trial_id]
    oracle.end_trial(stale)                                         # the dead worker's late answer: ignored
    assert oracle.end_order.count(first.trial_id) == 1
    assert "w0" not in oracle.tuner_ids


def test_only_the_chief_times_out_a_silent_worker(tmp_path, monkeypatch):
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", "1")
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "w1")
    oracle = make_oracle(tmp_path, mode="population", population_size=2, tournament_size=1, worker_timeout=0.2,
                         chief=False)
    first = oracle.create_trial("w0")
    oracle._heard[first.trial_id] -= 10
    assert oracle.create_trial("w1").trial_id != first.trial_id    # a worker's oracle keeps w0's trial


def test_pareto_ranking():
    points = [(0.9, 100.0), (0.8, 10.0), (0.7, 50.0), (0.95, 1000.0), (0.6, 5.0)]
    assert fronts(points)[0] == [0, 1, 3, 4] and fronts(points)[1] == [2]
    distance = crowding(points, fronts(points)[0])
    # Front 0 sorted by accuracy: 4 (0.6), 1 (0.8), 0 (0.9), 3 (0.95), range 0.35; by FLOPs: 4 (5),
    # 1 (10), 0 (100), 3 (1000), range 995. Interior: 1 = 0.3/0.35 + 95/995, 0 = 0.15/0.35 + 990/995.
    assert distance[3] == distance[4] == float("inf")
    assert distance[1] == pytest.approx((0.9 - 0.6) / 0.35 + (100 - 5) / 995, rel=1e-12)
    assert distance[0] == pytest.approx((0.95 - 0.8) / 0.35 + (1000 - 10) / 995, rel=1e-12)
    keys = nsga_keys(points)
    assert keys[2] == (1, -float("inf"))                             # alone in its front: an extreme
    assert sorted(range(5), key=lambda i: keys[i]) == [3, 4, 0, 1, 2]  # extremes, then 0 (1.42), 1 (0.95)


def test_pareto_needs_a_population():
    from automl.evolution.settings import EvolutionSettings

    with pytest.raises(ValueError, match="argument `objective` must be 'accuracy' unless mode is 'population'"):
        EvolutionSettings(mode="one_plus_one", objective="pareto")
    assert EvolutionSettings(mode="population", objective="pareto").objective == "pareto"
