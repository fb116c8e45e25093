"""The budget's reserve for finalising, on a scripted clock (no real durations are asserted).

Deadline: work stops when left() - reserve <= 0, even though left() > 0 (the reserve is the
time finalising needs, inside the budget). StopAtDeadline: each complete evaluation pass sets
the reserve to base + final_passes * (the pass's seconds), never lowering it; a cut pass leaves
it alone. `automl train` (pipelines/train.py) keeps back 1 + |test| / |val| passes: the final
validation and test of the chosen model.
"""
import json
import time
import types

import keras
import numpy as np
import pytest

import automl.budget
import automl.callbacks
from automl.budget import Deadline
from automl.callbacks import StopAtDeadline


class Clock:
    """A clock that moves only when the test moves it."""

    def __init__(self, t: float = 0.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock(monkeypatch):
    """The scripted clock behind Deadline (time.monotonic) and StopAtDeadline (time.perf_counter)."""
    c = Clock()
    monkeypatch.setattr(automl.budget, "time", types.SimpleNamespace(monotonic=c, time=time.time))
    monkeypatch.setattr(automl.callbacks, "time", types.SimpleNamespace(perf_counter=c))
    return c


def test_work_stops_when_only_the_reserve_is_left_though_the_budget_is_not_spent(clock):
    clock.t = 130.0
    deadline = Deadline(100, started=50.0, reserve=10.0)   # started 80 s ago: 20 s left, 10 of them reserved
    assert deadline.elapsed() == 80.0 and deadline.left() == 20.0 and deadline.work_left() == 10.0
    assert not deadline.expired() and not deadline.hit
    clock.t = 139.5                                         # 100 - 89.5 - 10 = 0.5 s of work left
    assert deadline.work_left() == 0.5 and not deadline.expired()
    clock.t = 140.0                                         # 100 - 90 - 10 = 0: stop now, with 10 s left
    assert deadline.left() == 10.0 and deadline.work_left() == 0.0
    assert deadline.expired() and deadline.hit
    deadline.reserve = 4.0                                  # a later phase needs less: work may go on
    assert deadline.work_left() == 6.0 and not deadline.expired() and deadline.hit   # hit is remembered
    assert deadline.report() == {"budget_seconds": 100, "wall_seconds": 90.0, "ended_by": "budget"}


def test_a_deadline_without_a_budget_never_expires(clock):
    clock.t = 1e9
    deadline = Deadline(started=0.0, reserve=1e12)
    assert deadline.left() == np.inf and not deadline.expired() and deadline.wall_at is None
    assert deadline.report()["ended_by"] == "strategy"


def test_a_deadline_counts_from_when_it_started_not_from_when_it_was_made(clock):
    clock.t = 1000.0
    assert Deadline(60, started=990.0).left() == 50.0     # the CLI passes the command's start
    assert Deadline(60).left() == 60.0                     # no start given: now


def tiny_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])


def evaluation_pass(stopper, clock, batch_seconds):
    """One evaluation pass of len(batch_seconds) batches as Keras drives the callback."""
    stopper.on_test_begin()
    for batch, seconds in enumerate(batch_seconds):
        clock.t += seconds
        stopper.on_test_batch_end(batch)
        if stopper.model.stop_evaluating:
            break
    stopper.on_test_end()


def test_each_complete_pass_sets_the_reserve_to_base_plus_final_passes_times_its_seconds(clock):
    deadline = Deadline(1000, started=0.0)
    stopper = StopAtDeadline(deadline)                   # defaults: base 3 s, final_passes 2
    stopper.set_model(tiny_model())
    stopper.model.stop_evaluating = False
    clock.t = 10.0
    evaluation_pass(stopper, clock, [1.0, 1.0, 0.5])
    assert deadline.reserve == 3.0 + 2 * 2.5              # a 2.5 s pass: 8 s kept back
    evaluation_pass(stopper, clock, [1.0])
    assert deadline.reserve == 8.0                        # a faster pass never lowers it
    evaluation_pass(stopper, clock, [2.0, 2.0])
    assert deadline.reserve == 3.0 + 2 * 4.0              # a slower one raises it: 11 s
    assert not stopper.cut and not deadline.hit

    custom = StopAtDeadline(Deadline(1000, started=0.0), final_passes=5.0, base=0.5)
    custom.set_model(stopper.model)
    evaluation_pass(custom, clock, [0.25, 0.25])
    assert custom.deadline.reserve == 0.5 + 5.0 * 0.5     # its own base and passes: 3 s


def test_a_pass_cut_by_the_deadline_stops_at_its_batch_and_leaves_the_reserve(clock):
    deadline = Deadline(100, started=0.0)
    stopper = StopAtDeadline(deadline)
    stopper.set_model(tiny_model())
    stopper.model.stop_evaluating = False
    clock.t = 97.0
    evaluation_pass(stopper, clock, [1.0, 1.0, 1.0, 1.0, 1.0])   # time is up after the third batch
    assert clock.t == 100.0 and stopper.model.stop_evaluating and stopper.cut
    assert deadline.reserve == 0.0                        # a partial pass says nothing of a full one's cost


# -- the reserve in `automl train` --------------------------------------------------------

class CheckedDeadline(Deadline):
    """Each check of the deadline takes one scripted second, so the clock counts the checks
    (one before training, then one after every training and every validation batch)."""

    def __init__(self, seconds, clock):
        super().__init__(seconds, started=0.0)
        self.clock, self.checks = clock, []

    def expired(self):
        self.clock.t += 1.0
        stop = super().expired()
        self.checks.append((self.clock.t, self.left(), self.work_left(), stop))
        return stop


def test_train_stops_where_the_reserve_of_one_validation_and_one_test_pass_begins(tmp_path, clock):
    from automl.rundir import RunDir
    from pipelines import config as configs
    from pipelines.datasets import sequences as seq
    from pipelines.train import run_training

    # 16 training, 8 validation and 16 test sequences in batches of 4: 4 training and 2 validation
    # batches per epoch; finalising is 1 validation + 16/8 = 2 validation-sized test passes, so
    # final_passes = 3 and the reserve after a 2 s validation pass is 3 + 3 * 2 = 9 s.
    data = seq.synthetic("adding", 5, (16, 8, 16), seed=0)
    cfg = configs.load_config("train", None, ["data.batch_size=4", "train.epochs=5", "model.units=2",
                                              "model.hidden=2"])
    run = RunDir.create(tmp_path / "run", "train", configs.to_dict(cfg))
    deadline = CheckedDeadline(24.0, clock)
    summary = run_training(cfg, run, quiet=True, data=data, deadline=deadline)
    # Checks: t=1 before fit; epoch 1 trains at t=2..5, validates at 6, 7 (reserve 0 -> 9);
    # epoch 2 at 8..11 and 12, 13; epoch 3 at 14, then at t=15: 24 - 15 - 9 = 0 -> stop, 9 s left.
    # Keras still opens the validation pass; its first check (t=16) cuts it.
    assert deadline.reserve == 3.0 + 3 * 2.0
    assert [t for t, _, _, stop in deadline.checks if stop] == [15.0, 16.0]
    assert deadline.checks[14] == (15.0, 9.0, 0.0, True) and len(deadline.checks) == 16
    assert all(work > 0 for _, _, work, stop in deadline.checks if not stop)
    state = json.loads((run.path / "checkpoints" / "state.json").read_text())
    assert state["epoch"] == 2 and state["cut_epoch"] == 3 and not state["finished"]
    assert [h["epoch"] for h in state["history"]] == [1, 2]
    assert summary["epochs"] == 2 and summary["budget"] == {"budget_seconds": 24.0, "wall_seconds": 16.0,
                                                            "ended_by": "budget"}


def test_the_eta_leaves_out_the_first_epoch_and_follows_the_recent_ones():
    from automl.callbacks import recent_mean

    assert recent_mean([30.0]) == 30.0                                  # all there is after epoch 1
    assert recent_mean([30.0, 2.0, 4.0]) == 3.0                         # tracing's epoch 1 left out
    assert recent_mean([30.0, 9.0, 1.0, 2.0, 3.0]) == 2.0               # the last three
