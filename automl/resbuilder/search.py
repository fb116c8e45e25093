"""The ResBuilder cycle (seed 002 Ch. 4 and §6.1; reference §2a.8, reconstructed with the code).

    N <- start net
    for m in 1..n_M:
        for t in 0..n_L:
            t = 0: train N from scratch; t > 0: insert a near-identity block into N and continue
            from N's weights. Each architecture gets three trainings (§6.1.2): With-Reg (CE +
            LayerLasso + MorphNet + L2; it decides the architecture), No-Reg warm-started from the
            With-Reg weights, and No-Reg from random init (L2 only).
            Then LayerLasso removal (not after the very first training; skipped after an insertion
            that gained more than tau_LL validation accuracy: the momentum).
        MorphNet step: shrink to alive channels, scale to the FLOP budget; retrain from scratch.
    The architecture from the last MorphNet step is trained once more, then the run ends; it
    also ends when MorphNet collapses the net.

The best architecture is the No-Reg training with the highest validation accuracy over the
whole run. Test accuracy is logged per architecture for reporting only, never used to choose.

State is saved after every completed training (state.json and With-Reg weights in `store`),
so a killed run resumes at the next training and redoes nothing.

Budget fill (ours, issue #18; `fill_budget`, off in the thesis preset): with a wall-clock budget,
when the schedule ends with more than FILL_SHARE of the budget left, the cycle goes on as if
`morph_steps` were larger (one more MorphNet round at a time) while one more architecture's
trainings fit in the time left (their mean so far), and then trains the best net further (No-Reg,
warm start; its best epoch by validation accuracy replaces the best only if it is higher) until
the deadline. The fill's progress is part of the saved state, so a resume continues it.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import keras
import numpy as np

from automl.budget import Deadline, format_duration
from automl.callbacks import StopAtDeadline
from automl.io import atomic_save_model, atomic_write_json
from automl.resbuilder.growth import (blocks_to_remove, init_near_identity, insert_random_block, mean_abs_weights,
                                      remove_blocks)
from automl.resbuilder.morph import Collapse, alive_channels, conv_groups, fit_to_budget, morph_widths, morphnet_penalty
from automl.resbuilder.settings import ResBuilderSettings
from automl.task import CLASSIFICATION
from automl.training import compile_classifier, schedule_callbacks
from models import build_model, count, transfer_weights
from models.spec import ResNetSpec
from models.zoo import start_net

VARIANTS = ("with_reg", "no_reg_wi", "no_reg_ri")
FILL_SHARE = 0.1  # issue #18: no strategy leaves more than 10% of a budget unused


@dataclass
class SearchData:
    """What the search needs of a dataset: batched tf.data pipelines and the input's shape."""

    train: object
    val: object
    test: object
    input_shape: tuple
    num_classes: int
    preprocess: object = None


class Penalized(keras.Model):
    """Trains `inner` with an extra loss term: weight * penalty(inner)."""

    def __init__(self, inner: keras.Model, penalty: Callable, weight: float):
        super().__init__(name=f"{inner.name}_penalized")
        self.inner, self.penalty, self.weight = inner, penalty, weight

    def call(self, x, training=False):
        return self.inner(x, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)
        return loss + self.weight * self.penalty()


class _KeepBest(keras.callbacks.Callback):
    """Holds the weights of the epoch with the best validation accuracy."""

    def __init__(self, stopper=None):
        super().__init__()
        self.stopper = stopper
        self.best, self.epoch, self.weights, self.completed = -1.0, 0, None, 0

    def on_epoch_end(self, epoch, logs=None):
        if self.stopper is not None and self.stopper.cut:
            return  # an epoch the budget cut: its metrics are partial and do not compete
        self.completed = epoch + 1
        value = (logs or {}).get("val_accuracy", -1.0)
        if value > self.best:
            self.best, self.epoch, self.weights = value, epoch + 1, self.model.get_weights()


class ResBuilderCycle:
    """The cycle itself, driven by automl.ResBuilder (the public class) with its settings as `cfg`."""

    def __init__(self, cfg, train_cfg, data: SearchData, store: str | Path, seed: int = 0,
                 log: Callable[[str], None] = print, on_architecture: Callable[[dict], None] | None = None,
                 on_best: Callable[[keras.Model, dict], None] | None = None,
                 epoch_callbacks: Callable[[str], list] | None = None, deadline: Deadline | None = None):
        self.cfg, self.train_cfg, self.data = cfg, train_cfg, data
        self.deadline = deadline or Deadline()
        self.store = Path(store)
        self.log = log
        self.on_architecture = on_architecture or (lambda record: None)
        self.on_best = on_best or (lambda model, record: None)
        self.epoch_callbacks = epoch_callbacks or (lambda label: [])
        self.zeta = getattr(cfg, ResBuilderSettings.zeta_argument(data.input_shape))
        self.state = self._load() or self._fresh(seed)
        stem = count(ResNetSpec.from_dict(self.state["spec"]), data.input_shape, data.num_classes).layers[0]
        if self.zeta < stem.flops:
            raise ValueError(f"the FLOP budget zeta={self.zeta:g} is below the start net's stem conv alone "
                             f"({stem.flops:,} FLOPs on {tuple(data.input_shape)} inputs)")
        self.store.mkdir(parents=True, exist_ok=True)
        self.rng = np.random.default_rng()
        self.rng.bit_generator.state = self.state["rng"]

    # -- state ---------------------------------------------------------------------------
    def _fresh(self, seed: int) -> dict:
        start = start_net(self.cfg.start_name, self.cfg.start_pooling_stages)
        # parent: the With-Reg training that the next step starts from ({"spec", "weights"}), or
        # None to train from scratch (at the start and after a MorphNet step).
        return {"spec": start.to_dict(), "parent": None, "m": 0, "t": 0, "step": 0,
                "seen": [], "rng": np.random.default_rng(seed).bit_generator.state,
                "current": None, "previous_with_reg_val": None, "best": None,
                "done": False, "stop_reason": None, "architectures": 0,
                # ours (issue #18): seconds of all completed trainings (the estimate of one more
                # architecture), whether MorphNet collapsed, and the budget fill's progress
                "train_seconds": 0.0, "collapsed": False, "fill": None}

    def _load(self) -> dict | None:
        path = self.store / "state.json"
        return json.loads(path.read_text()) if path.exists() else None

    def _save(self) -> None:
        self.state["rng"] = self.rng.bit_generator.state
        atomic_write_json(self.store / "state.json", self.state)

    def _save_weights(self, model: keras.Model, name: str) -> str:
        atomic_save_model(model, self.store / name, weights_only=True)
        return name

    def _model(self, spec: ResNetSpec, with_reg: bool) -> keras.Model:
        return build_model(spec, self.data.input_shape, self.data.num_classes, self.data.preprocess,
                           kernel_initializer=self.cfg.initializer,
                           block_l1=self.cfg.lambda_lasso if with_reg else 0.0, l2=self.cfg.lambda_l2)

    def _weights_model(self, spec_dict: dict, weights: str) -> keras.Model:
        model = self._model(ResNetSpec.from_dict(spec_dict), with_reg=False)
        model.load_weights(self.store / weights)
        return model

    # -- the cycle -----------------------------------------------------------------------
    def run(self) -> dict:
        """Runs to the end, or until the budget ends it (then `state["cut"]` says what was cut;
        the run is not done, and a resumed run redoes only the training that was cut)."""
        self.state["cut"] = None
        while True:
            if self.state["done"]:
                if not self._fill():  # the budget fill's next step, if a budget leaves time for one
                    break
                continue
            if self.deadline.expired():
                break
            if self.state["current"] is None:
                if self._filling() and not self._fits():  # no further architecture fits: train the best on
                    self.state["done"], self.state["fill"]["phase"] = True, "continue"
                    self._save()
                    continue
                self._begin_step()  # sets up a step, or moves to MorphNet, or ends the run
                continue
            if not self._train_step():
                break
            self._end_step()
        if self.deadline.hit and not self.state["done"]:
            self.log("ResBuilder stopped by the budget"
                     + (f" during {self.state['cut']['variant']} of arch {self.state['cut']['architecture']}"
                        if self.state["cut"] else ""))
        else:
            fill = self.state.get("fill")
            self.log(f"ResBuilder finished: {self.state['stop_reason']}" + (
                f"; budget fill: {fill['architectures']} more architecture(s), {fill['continued']} continued "
                f"training(s) of the best ({fill['improved']} improved it)" if fill else ""))
        return self.state

    # -- the budget fill (ours, issue #18) -------------------------------------------------
    def _morph_steps(self) -> int:
        fill = self.state.get("fill")
        return self.cfg.morph_steps + (fill["morph_steps"] if fill else 0)

    def _filling(self) -> bool:
        fill = self.state.get("fill")
        return fill is not None and fill["phase"] == "cycles"

    def _fits(self) -> bool:
        """Whether one more architecture (three trainings, at their mean so far) fits in the time left."""
        s = self.state
        if not self.deadline.active or s["architectures"] == 0:
            return False
        return s.get("train_seconds", 0.0) / s["architectures"] <= self.deadline.work_left()

    def _fill(self) -> bool:
        """One step of the budget fill once the schedule is done: another MorphNet round, or one
        continued training of the best. False when there is none (no budget, fill_budget off,
        too little time left, or the deadline)."""
        s, deadline = self.state, self.deadline
        if not (self.cfg.fill_budget and deadline.active):
            return False
        if s.get("fill") is None:
            if deadline.work_left() <= FILL_SHARE * deadline.seconds:
                return False  # the schedule used the budget: nothing is filled
            s["fill"] = {"phase": "cycles", "morph_steps": 0, "architectures": 0, "continued": 0, "improved": 0,
                         "weights": None, "schedule_stop_reason": s["stop_reason"]}
            self.log(f"budget fill: {deadline.work_left():.0f} s of {deadline.seconds:.0f} s are left after the "
                     "schedule; the cycle goes on, then the best net trains further")
        if deadline.expired():
            return False
        fill = s["fill"]
        if fill["phase"] == "cycles" and not s.get("collapsed") and self._fits():
            fill["morph_steps"] += 1  # as the schedule with one more MorphNet step would go on
            s["done"] = False
            self._advance()
            self._save()
            return True
        fill["phase"] = "continue"
        if s["best"] is None or not (self.store / "best.weights.h5").exists():
            return False
        self._continue_best()
        return True

    def _continue_best(self) -> None:
        """Trains the best net `epochs` more epochs (No-Reg, warm start from the last such training,
        or the best's weights); its best epoch replaces the best only on higher validation accuracy."""
        s, fill, best = self.state, self.state["fill"], self.state["best"]
        spec = ResNetSpec.from_dict(best["spec"])
        cost = count(spec, self.data.input_shape, self.data.num_classes)
        model = self._weights_model(best["spec"], fill["weights"] or "best.weights.h5")
        compile_classifier(model, self.train_cfg)
        stopper = StopAtDeadline(self.deadline, final_passes=0)
        keep = _KeepBest(stopper)
        label = f"arch {best['architecture']} continued {fill['continued'] + 1}"
        started, wall = time.perf_counter(), time.time()
        model.fit(self.data.train, validation_data=self.data.val, epochs=self.cfg.epochs, verbose=0, shuffle=False,
                  callbacks=[stopper, *schedule_callbacks(self.train_cfg), keep, *self.epoch_callbacks(label)])
        if keep.epoch == 0:  # the budget cut its first epoch: nothing to compare
            return
        fill["continued"] += 1
        fill["weights"] = self._save_weights(model, f"continued_{fill['continued']}.weights.h5")  # the next starts here
        best_epoch = keep.weights
        model.set_weights(best_epoch)
        model.compile(loss=CLASSIFICATION.loss, metrics=list(CLASSIFICATION.metrics))
        test = model.evaluate(self.data.test, return_dict=True, verbose=0) if self.data.test is not None else None
        improved = keep.best > best["val_accuracy"]  # validation only; the test split is reported
        record = {"kind": "continued", "arch": f"{label}", "architecture": best["architecture"],
                  "continued": fill["continued"], "budget_fill": True, "spec": best["spec"],
                  "params": cost.params, "flops": cost.flops, "epochs": keep.completed, "best_epoch": keep.epoch,
                  "val_accuracy": keep.best, "test_accuracy": None if test is None else float(test["accuracy"]),
                  "improved": improved, "seconds": time.perf_counter() - started, "wall_seconds": time.time() - wall}
        if improved:
            fill["improved"] += 1
            s["best"] = {**best, "variant": f"continued {fill['continued']}", "val_accuracy": keep.best,
                         "test_accuracy": record["test_accuracy"]}
            self._save_weights(model, "best.weights.h5")
            self.on_best(model, s["best"])
        self.on_architecture(record)
        self._save()
        keras.backend.clear_session(free_memory=False)

    def _begin_step(self) -> None:
        s = self.state
        spec = ResNetSpec.from_dict(s["spec"])
        inserted = None
        if s["t"] > 0:
            grown = insert_random_block(spec, self.rng, set(s["seen"]))
            if grown is None:  # every single insertion was trained already: go to MorphNet
                self.log("no untried insertion is left; moving on to the MorphNet step")
                s["t"] = self.cfg.insertions
                return self._morph(spec)
            spec, inserted = grown
        s["current"] = {"spec": spec.to_dict(), "inserted": inserted, "results": {}, "started": time.time()}
        self._save()

    def _train_step(self) -> None:
        current = self.state["current"]
        spec = ResNetSpec.from_dict(current["spec"])
        cost = count(spec, self.data.input_shape, self.data.num_classes)
        label = (f"arch {self.state['architectures'] + 1} (after {self.state['m']}/{self._morph_steps()} "
                 f"MorphNet steps, insertion {self.state['t']}/{self.cfg.insertions})")
        eta = self.search_eta(cost.flops)
        self.log(f"{label}: {len(spec.blocks())} blocks, {cost.params:,} params, {cost.flops:,} FLOPs"
                 + (f"; search ETA {eta}" if eta else ""))
        for variant in VARIANTS:
            if variant in current["results"]:
                continue  # completed before a resume
            if self.deadline.expired():
                return False
            model, result = self._train_variant(variant, spec, current, label)
            if result.get("cut"):  # the budget ended it: redone on resume; a No-Reg one's best epoch competes
                self.state["cut"] = {"architecture": self.state["architectures"] + 1, "variant": variant, **result}
                if "test_accuracy" in result:
                    self._maybe_best(model, spec, cost, f"{variant}, cut by the budget", result)
                self._save()
                return False
            if variant == "with_reg":
                current["with_reg_weights"] = self._save_weights(model, f"with_reg_{self.state['step']}.weights.h5")
            current["results"][variant] = result
            if variant != "with_reg":
                self._maybe_best(model, spec, cost, variant, result)
            self._save()
            keras.backend.clear_session(free_memory=False)
        return True

    def architectures_left(self) -> int:
        """Architectures the schedule still trains, the current one included: n_L + 1 per MorphNet
        round left, then the last MorphNet step's net (fewer when no untried insertion is left)."""
        s = self.state
        return max((self._morph_steps() - s["m"]) * (self.cfg.insertions + 1) - s["t"] + 1, 1)

    def search_eta(self, flops: float) -> str | None:
        """The time the whole search has left, capped by the budget; None before a first architecture.

        Each architecture left costs its three trainings at its FLOPs (`seconds_at`, from those
        trained so far): the current one's `flops` for the rest of this MorphNet round (insertions
        only grow a net, so a lower bound), and the FLOP budget zeta after a MorphNet step (which
        resizes the net to it)."""
        s = self.state
        if s["architectures"] == 0:
            return None if not self.deadline.active else f"{format_duration(self.deadline.work_left())} (the budget)"
        left = self.architectures_left()
        in_round = min(left, self.cfg.insertions + 1 - s["t"]) if s["m"] < self._morph_steps() else left
        # a state from before costs were kept: the mean time per architecture
        costs = s.get("costs") or [[0.0, s.get("train_seconds", 0.0) / s["architectures"]]]
        seconds = in_round * seconds_at(flops, costs) + (left - in_round) * seconds_at(max(flops, self.zeta), costs)
        if self._filling() or seconds >= self.deadline.work_left():  # a budget fill runs to the deadline
            return f"{format_duration(max(self.deadline.work_left(), 0))} (the budget)"
        return format_duration(seconds)

    def _train_variant(self, variant: str, spec: ResNetSpec, current: dict, label: str):
        with_reg = variant == "with_reg"
        model = self._model(spec, with_reg)
        source = None
        parent = self.state["parent"]
        if variant == "with_reg" and parent:
            source = self._weights_model(parent["spec"], parent["weights"])
        elif variant == "no_reg_wi":
            source = self._weights_model(current["spec"], current["with_reg_weights"])
        if source is not None:
            transfer_weights(source, model)
        if with_reg and current["inserted"] is not None:
            init_near_identity(model, current["inserted"], self.cfg.init_mean_abs, self.rng)

        trained = model
        if with_reg and self.cfg.lambda_morph > 0:
            groups = conv_groups(spec, self.data.input_shape, self.data.num_classes)
            trained = Penalized(model, lambda: morphnet_penalty(model, groups, self.cfg.morph_threshold),
                                self.cfg.lambda_morph)
        compile_classifier(trained, self.train_cfg)  # Adam 1e-3 by default, as in the thesis
        stopper = StopAtDeadline(self.deadline, final_passes=0)  # the best net was already evaluated
        keep = _KeepBest(stopper)
        callbacks = [stopper, *schedule_callbacks(self.train_cfg), keep, *self.epoch_callbacks(f"{label} {variant}")]
        started = time.perf_counter()
        trained.fit(self.data.train, validation_data=self.data.val, epochs=self.cfg.epochs,
                    callbacks=callbacks, verbose=0, shuffle=False)
        if stopper.cut:
            result = {"cut": True, "epochs": keep.completed, "best_epoch": keep.epoch,
                      "val_accuracy": keep.best if keep.epoch else None, "seconds": time.perf_counter() - started}
            if not with_reg and keep.epoch:  # its best whole epoch still competes for the best (anytime)
                model.set_weights(keep.weights)
                result["test_accuracy"] = self._test_accuracy(model)
            return model, result
        if not with_reg:
            # No-Reg variants are measured at their best epoch; With-Reg's final weights are
            # what the removal and MorphNet decisions read.
            model.set_weights(keep.weights)
        if trained is not model:  # the wrapper was compiled; evaluate the bare net, penalty-free
            model.compile(loss=CLASSIFICATION.loss, metrics=list(CLASSIFICATION.metrics))
        val = model.evaluate(self.data.val, return_dict=True, verbose=0)
        return model, {"val_accuracy": float(val["accuracy"]), "test_accuracy": self._test_accuracy(model),
                       "best_epoch": keep.epoch, "seconds": time.perf_counter() - started}

    def _test_accuracy(self, model: keras.Model) -> float | None:
        """The test split's accuracy, where there is one: for reporting only, never to choose."""
        if self.data.test is None:
            return None
        return float(model.evaluate(self.data.test, return_dict=True, verbose=0)["accuracy"])

    def _maybe_best(self, model, spec, cost, variant, result) -> None:
        best = self.state["best"]
        key = (result["val_accuracy"], -cost.flops)
        if best is None or key > (best["val_accuracy"], -best["flops"]):
            self._save_weights(model, "best.weights.h5")  # what the budget fill trains further
            self.state["best"] = {"architecture": self.state["architectures"] + 1, "variant": variant,
                                  "val_accuracy": result["val_accuracy"], "test_accuracy": result["test_accuracy"],
                                  "flops": cost.flops, "params": cost.params, "spec": spec.to_dict()}
            self.on_best(model, self.state["best"])

    def _end_step(self) -> None:
        s, current = self.state, self.state["current"]
        spec = ResNetSpec.from_dict(current["spec"])
        cost = count(spec, self.data.input_shape, self.data.num_classes)
        with_reg = self._weights_model(current["spec"], current["with_reg_weights"])
        val = current["results"]["with_reg"]["val_accuracy"]
        gain = None if s["previous_with_reg_val"] is None else val - s["previous_with_reg_val"]

        removed: list[int] = []
        skip = s["t"] > 0 and self.cfg.layerlasso_momentum and gain is not None and gain > self.cfg.momentum_gain
        if s["architectures"] > 0 and not skip:
            removed = blocks_to_remove(spec, mean_abs_weights(with_reg, spec), self.cfg.lasso_threshold)
        s["architectures"] += 1
        record = {
            "kind": "architecture", "architecture": s["architectures"], "morph_step": s["m"], "insertion": s["t"],
            "inserted_block": current["inserted"], "spec": current["spec"],
            "depth": 1 + 2 * len(spec.blocks()), "blocks": len(spec.blocks()),
            "widths": [spec.stem_filters] + [w for b in spec.blocks() for w in (b.inner, b.filters)],
            "params": cost.params, "flops": cost.flops, **current["results"],
            "removed_blocks": removed, "momentum_skip": bool(skip),
            "with_reg_gain": gain, "wall_seconds": time.time() - current["started"],
            "budget_fill": s.get("fill") is not None,
        }
        self.on_architecture(record)
        if removed:
            self.log(f"LayerLasso removes block(s) {removed}")
        s["seen"].append(spec.signature())
        s["previous_with_reg_val"] = val
        s["spec"] = remove_blocks(spec, removed).to_dict()
        s["parent"] = {"spec": current["spec"], "weights": current["with_reg_weights"]}
        s["current"], s["step"] = None, s["step"] + 1
        seconds = sum(r["seconds"] for r in current["results"].values())
        s["train_seconds"] = s.get("train_seconds", 0.0) + seconds
        s.setdefault("costs", []).append([cost.flops, seconds])  # the search ETA's measurements
        if s.get("fill") is not None:
            s["fill"]["architectures"] += 1
        self._advance(with_reg)
        self._save()

    def _advance(self, with_reg: keras.Model | None = None) -> None:
        """The schedule's next step after a trained architecture: done, an insertion, or MorphNet."""
        s = self.state
        if s["m"] >= self._morph_steps():  # the last MorphNet step's net has now been trained
            s["done"], s["stop_reason"] = True, f"{self._morph_steps()} MorphNet steps done"
        elif s["t"] < self.cfg.insertions:
            s["t"] += 1
        else:
            self._morph(ResNetSpec.from_dict(s["spec"]), with_reg)

    def _morph(self, spec: ResNetSpec, with_reg: keras.Model | None = None) -> None:
        s = self.state
        if with_reg is None:
            with_reg = self._weights_model(s["parent"]["spec"], s["parent"]["weights"])
        groups = conv_groups(spec, self.data.input_shape, self.data.num_classes)
        alive = alive_channels(with_reg, groups, self.cfg.morph_threshold)
        try:
            morphed, kappa = fit_to_budget(spec, morph_widths(spec, alive, self.cfg.intensity), self.zeta,
                                           self.data.input_shape, self.data.num_classes)
        except Collapse as e:
            s["done"], s["stop_reason"], s["collapsed"] = True, f"MorphNet collapsed the net: {e}", True
            self._save()
            return
        flops = count(morphed, self.data.input_shape, self.data.num_classes).flops
        self.log(f"MorphNet step {s['m'] + 1}: alive {sum(alive.values())} channels, kappa {kappa:.3f}, "
                 f"{flops:,} FLOPs (budget {self.zeta:,.0f})")
        s["m"] += 1
        s["t"] = 0
        s["spec"], s["parent"] = morphed.to_dict(), None  # retrained from scratch
        s["previous_with_reg_val"] = None
        self._save()


def seconds_at(flops: float, costs: list) -> float:
    """Seconds of an architecture's three trainings at `flops`, from `costs` ([flops, seconds] of
    those trained so far): a power law, seconds ~ FLOPs^p, through the two largest nets (closest in
    size to those to come). p is between 0 (small nets: all overhead) and 1 (all compute); measured
    on digits, a line through small nets overshot the next, larger ones 2.5x. The mean of all
    while fewer than two sizes are known."""
    sizes = sorted({f: t for f, t in costs}.items())
    if len(sizes) < 2 or sizes[-2][0] <= 0 or min(t for _, t in sizes[-2:]) <= 0:
        return sum(t for _, t in costs) / len(costs)
    (f1, t1), (f2, t2) = sizes[-2:]
    p = min(max(math.log(t2 / t1) / math.log(f2 / f1), 0.0), 1.0)
    return t2 * (max(flops, 1.0) / f2) ** p
