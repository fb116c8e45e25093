"""The budget fill (ours, issue #18): time left when a strategy's schedule ends goes on working.

Deterministic: the deadlines are scripted on the run's own state (no clock), and the nets' heads
are scripted so each training's validation accuracy is known (see test_resbuilder_engine).
"""
import pytest

from automl.budget import Deadline
from automl.resbuilder.search import ResBuilderCycle
from pipelines.config import load_config
from tests.test_resbuilder_engine import _data, _ScriptedHead

# Validation shares (5 x class 0, 3 x class 1, 2 x class 2): a head on class c scores VAL[c].
VAL = {0: 0.5, 1: 0.3, 2: 0.2}


class StateDeadline(Deadline):
    """A 1000 s budget whose work left is read off the run's state: `script(state)` seconds."""

    def __init__(self, script):
        super().__init__(seconds=1000.0)
        self.script, self.engine = script, None

    def work_left(self) -> float:
        return self.script(self.engine.state)


def fill_script(state):
    """Half the budget is left until 3 architectures are trained (the schedule's 2 and a fill round
    of 1), then too little for another architecture but some for continued training, which the
    budget cuts once two continued trainings are done."""
    if state["architectures"] < 3:
        return 500.0
    return 1e-9 if (state["fill"] or {}).get("continued", 0) < 2 else -1.0


class Kill(Exception):
    pass


def _engine(tmp_path, deadline=None, records=None, best=None, kill_at=None, **rb):
    cfg = load_config("search")
    # RB-0Net: insertions 0 alone would start from ResNet-18 (resbuilder.start auto, MorphNet alone)
    rb_cfg = cfg.resbuilder.replace(start="rb-0net", start_pooling_stages=1, insertions=0, morph_steps=1, epochs=1,
                                    **rb)
    # lr 1e-30: only the scripted heads change the nets (see test_resbuilder_engine)
    train_cfg = cfg.train.replace(learning_rate=1e-30, reduce_lr_on_plateau=False)
    data, _ = _data()

    def heads(label):
        if kill_at and kill_at in label:
            raise Kill(label)
        # the schedule's trainings all score 0.2; continued 1 scores 0.5 (better), continued 2 0.3 (worse)
        cls = {"continued 1": 0, "continued 2": 1}.get(label.split(" ", 2)[-1], 2)
        return [_ScriptedHead([cls])]

    engine = ResBuilderCycle(rb_cfg, train_cfg, data, tmp_path / "store", seed=0, log=lambda line: None,
                             on_architecture=records.append if records is not None else None,
                             on_best=(lambda model, b: best.append(dict(b))) if best is not None else None,
                             epoch_callbacks=heads, deadline=deadline)
    if isinstance(deadline, StateDeadline):
        deadline.engine = engine
    return engine


def test_resbuilder_fills_the_budget_with_a_round_then_continued_training_and_resumes_it(tmp_path):
    """One run killed during its second continued training, then resumed (one test: the trainings
    are the slow part). insertions=0: the schedule is arch 1, MorphNet, arch 2."""
    records, best = [], []
    with pytest.raises(Kill):
        _engine(tmp_path, StateDeadline(fill_script), records, best, kill_at="continued 2").run()
    state = _engine(tmp_path, StateDeadline(fill_script), records, best).run()   # the resume
    archs = [r for r in records if r["kind"] == "architecture"]
    continued = [r for r in records if r["kind"] == "continued"]
    # the fill: one more MorphNet round (as morph_steps=2 would go on), marked as the fill's
    assert [(r["architecture"], r["morph_step"], r["budget_fill"]) for r in archs] == [
        (1, 0, False), (2, 1, False), (3, 2, True)]
    assert state["fill"]["morph_steps"] == 1 and state["fill"]["architectures"] == 1
    assert state["fill"]["schedule_stop_reason"] == "1 MorphNet steps done"
    assert state["done"] and state["stop_reason"] == "2 MorphNet steps done" and state["cut"] is None
    # continued training of the best: 0.5 beats 0.2 and replaces it; 0.3 does not beat 0.5. The
    # kill lost only continued 2, which the resume trained from continued 1's weights.
    assert [(r["continued"], r["val_accuracy"], r["improved"]) for r in continued] == [
        (1, pytest.approx(0.5), True), (2, pytest.approx(0.3), False)]
    assert all(r["architecture"] == state["best"]["architecture"] and r["budget_fill"] for r in continued)
    assert state["fill"]["continued"] == 2 and state["fill"]["improved"] == 1
    assert state["fill"]["weights"] == "continued_2.weights.h5"
    assert state["best"]["variant"] == "continued 1" and state["best"]["val_accuracy"] == pytest.approx(0.5)
    assert [b["val_accuracy"] for b in best] == [pytest.approx(0.2), pytest.approx(0.5)]


def _done(tmp_path, deadline, **rb):
    """An engine whose schedule has just ended (nothing trained: only the fill's decision runs)."""
    engine = _engine(tmp_path, deadline, **rb)
    engine.state.update(done=True, stop_reason="1 MorphNet steps done")
    return engine


@pytest.mark.parametrize("fill_budget, left, fills", [
    (True, 100.0 + 1e-6, True),    # more than 10% of the 1000 s budget left: the fill starts
    (True, 100.0, False),          # exactly 10%: not more, nothing is filled
    (False, 500.0, False),         # fill_budget off (the thesis preset): the schedule is exact
])
def test_resbuilder_fill_starts_only_with_more_than_a_tenth_of_the_budget_left(tmp_path, fill_budget, left, fills):
    engine = _done(tmp_path, StateDeadline(lambda s: left), fill_budget=fill_budget)
    engine._fill()
    assert (engine.state["fill"] is not None) == fills


def test_resbuilder_without_a_budget_never_fills(tmp_path):
    engine = _done(tmp_path, None)
    assert engine._fill() is False and engine.state["fill"] is None
    assert engine.run()["fill"] is None


def test_thesis_preset_turns_the_fill_off():
    from automl.resbuilder.settings import ResBuilderSettings

    assert ResBuilderSettings.preset("thesis")["fill_budget"] is False and ResBuilderSettings().fill_budget


@pytest.mark.parametrize("left, fits", [(200.0, True), (199.99, False)])
def test_resbuilder_fill_starts_another_architecture_only_while_its_mean_cost_fits(tmp_path, left, fits):
    engine = _done(tmp_path, StateDeadline(lambda s: left))
    engine.state.update(architectures=2, train_seconds=400.0)   # 200 s per architecture so far
    assert engine._fits() is fits
    if not fits:  # the best trains further instead (none here yet, so the fill ends)
        assert engine._fill() is False and engine.state["fill"]["phase"] == "continue"
