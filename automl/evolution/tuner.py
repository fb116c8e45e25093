"""The evolutionary tuner: trains each child with the weights it inherits (seed 001 Ch. 7).

`run_trial` does not call Keras Tuner's fit loop: it builds the child from its genome,
copies the parent's trained weights as the oracle's plan says, trains e epochs with a fresh
Adam (reference A7.3: only the weights are inherited), evaluates validation accuracy once
(the fitness, eq. 7.7) and saves the final weights (the next child's inheritance) where
Keras Tuner keeps a trial's checkpoint, so `get_best_models` works as for any tuner.
"""
from __future__ import annotations

import json
import threading
import time
from types import SimpleNamespace
from typing import Callable

import keras
import keras_tuner as kt
import numpy as np
from keras_tuner.src.distribute import oracle_client
from keras_tuner.src.distribute import utils as dist_utils
from keras_tuner.src.engine import trial as trial_module

from automl.budget import Deadline
from automl.callbacks import StopAtDeadline, StopOnNonFinite
from automl.evolution import remote
from automl.evolution.inherit import inherit
from automl.evolution.space import Space
from automl.io import atomic_save_model
from automl.optimizers.scaled import lr_multipliers
from automl.training import compile_classifier

Status = trial_module.TrialStatus


class EvolutionTuner(kt.Tuner):
    """The trial loop of the evolution (automl.Evolution is the public class built on it)."""

    def __init__(self, oracle, space: Space, *, learning_rate: float, seed: int, near_identity: float,
                 heartbeat: float, idle_wait: float = 1.0, say: Callable[[str], None] = print,
                 epoch_callbacks: Callable[[str, int], list] | None = None, **kwargs):
        """`learning_rate`, `seed`, `near_identity` and `heartbeat` as the public class's settings
        hold them (EvolutionSettings, SearchRun, ResBuilderSettings.init_mean_abs)."""
        self.search_space = space
        self.learning_rate, self.seed, self.near_identity = learning_rate, seed, near_identity
        self.heartbeat, self.idle_wait, self.progress = heartbeat, idle_wait, say
        self.epoch_callbacks = epoch_callbacks or (lambda label, epochs: [])
        kt.Tuner.__init__(self, oracle=oracle, hypermodel=None, **kwargs)
        if isinstance(self.oracle, oracle_client.OracleClient):  # a worker: Keras Tuner made a plaintext client
            remote.authenticate(self.oracle)

    def use_data(self, train, val, input_shape, num_classes: int | None, preprocess=None, per_step: bool = False):
        """The batched pipelines the trials train and are scored on; `num_classes` None: a
        regression task (MSE; the fitness is the validation loss, lower better)."""
        self.train, self.val = train, val
        self.input_shape, self.num_classes, self.preprocess = tuple(input_shape), num_classes, preprocess
        self.per_step = per_step

    # -- models -------------------------------------------------------------------------
    def build(self, genome) -> keras.Model:
        return self.search_space.build(genome, self.input_shape, self.num_classes, self.preprocess, self.per_step)

    def load_model(self, trial) -> keras.Model:
        model = self.build(json.loads(trial.hyperparameters.values["genome"]))
        model.load_weights(self._get_checkpoint_fname(trial.trial_id))
        return model

    def run_trial(self, trial, *args, **kwargs):
        values = trial.hyperparameters.values
        genome, plan, epochs = json.loads(values["genome"]), json.loads(values["plan"]), int(values["epochs"])
        spec = self.search_space.spec(genome)
        started = time.perf_counter()
        keras.backend.clear_session(free_memory=False)  # hundreds of trials in one process (feasibility §3)
        keras.utils.set_random_seed(self.seed * 100_003 + int(trial.trial_id))
        model = self.build(genome)
        fraction = 0.0
        if values["parent"]:
            parent_trial = self.oracle.get_trial(values["parent"])
            parent = self.load_model(parent_trial)
            parent_spec = self.search_space.spec(json.loads(parent_trial.hyperparameters.values["genome"]))
            fraction = inherit(plan, parent, model, spec, parent_spec, self.near_identity, seed=int(trial.trial_id))
        compile_trial(model, self.learning_rate, self.num_classes is None, self.search_space.lr_rule(genome))
        label = f"trial {trial.trial_id}"
        self.progress(f"{label} ({values['role']}, {values['mutation']}"
                 f"{' of ' + values['parent'] if values['parent'] else ''}): {self.search_space.describe(genome)}; "
                 f"{fraction:.1%} of the weights inherited, {epochs} epochs")
        # The chief's wall-clock budget travels with the trial (a Unix time: workers may be elsewhere).
        deadline_at = float(values.get("deadline_at") or 0.0)
        stopper = StopAtDeadline(Deadline(max(deadline_at - time.time(), 0.0)) if deadline_at else Deadline(),
                                 final_passes=0)
        with _Heartbeat(self, trial.trial_id):
            fit_start = time.perf_counter()
            if epochs:
                model.fit(self.train, epochs=epochs, verbose=0, shuffle=False,
                          callbacks=[stopper, StopOnNonFinite(), *self.epoch_callbacks(label, epochs)])
            fit_seconds = time.perf_counter() - fit_start
            scores = {"loss": 0.0, "accuracy": 0.0}
            if not stopper.cut:
                eval_start = time.perf_counter()
                scores = model.evaluate(self.val, verbose=0, callbacks=[stopper], return_dict=True)
                eval_seconds = time.perf_counter() - eval_start
        atomic_save_model(model, self._get_checkpoint_fname(trial.trial_id), weights_only=True)
        cost = self.search_space.cost(genome, model, self.input_shape, self.num_classes, self.per_step)
        trained = stopper.completed_epochs if epochs else 0
        loss = float(scores["loss"]) if np.isfinite(scores["loss"]) else 1e30  # a diverged net ranks last
        metrics = {"val_loss": loss, "flops": float(cost.flops),
                   "params": float(cost.params), "inherited_fraction": float(fraction),
                   "train_seconds": time.perf_counter() - started, "epochs_trained": float(trained),
                   "cut": float(stopper.cut)}
        if self.num_classes is not None:
            metrics["val_accuracy"] = float(scores.get("accuracy", 0.0))
        if stopper.cut:  # no fitness for a net the budget cut short: it is recorded, never selected
            self.progress(f"{label} cut by the budget after {trained}/{epochs} epochs")
        else:
            metrics.update(eval_seconds=eval_seconds, seconds_per_epoch=fit_seconds / trained if trained else 0.0)
        return metrics

    # -- the search loop ----------------------------------------------------------------
    def search(self, *fit_args, **fit_kwargs):
        """Keras Tuner's loop, except that a worker told to wait (IDLE) sleeps before asking again."""
        if dist_utils.is_chief_oracle():
            self.save()
            remote.serve(self.oracle)
            return
        self.oracle.verbose = 0  # our own progress lines replace Keras Tuner's tables
        self.on_search_begin()
        while True:
            self.pre_create_trial()
            trial = self.oracle.create_trial(self.tuner_id)
            if trial.status == Status.STOPPED:
                break
            if trial.status == Status.IDLE:
                time.sleep(self.idle_wait)
                continue
            self.on_trial_begin(trial)
            self._try_run_and_update_trial(trial, *fit_args, **fit_kwargs)
            if trial.status != Status.COMPLETED and trial.message:
                self.progress(f"trial {trial.trial_id} failed: {trial.message.strip().splitlines()[-1]}")
            self.on_trial_end(trial)
        self.on_search_end()


class _Heartbeat:
    """While a worker trains, ping the chief so that it can tell a dead worker from a slow one."""

    def __init__(self, tuner: EvolutionTuner, trial_id: str):
        self.tuner, self.trial_id = tuner, trial_id
        self.active = tuner.heartbeat > 0 and dist_utils.has_chief_oracle() and not dist_utils.is_chief_oracle()
        self.stop = threading.Event()

    def __enter__(self):
        if self.active:
            self.thread = threading.Thread(target=self._beat, daemon=True)
            self.thread.start()
        return self

    def _beat(self):
        while not self.stop.wait(self.tuner.heartbeat):
            try:
                self.tuner.oracle.get_trial(self.trial_id)
            except Exception:  # the chief may be busy or restarting; the next beat retries
                pass

    def __exit__(self, *exc):
        self.stop.set()
        if self.active:
            self.thread.join()


def compile_trial(model: keras.Model, learning_rate: float, regression: bool = False, lr_rule: bool = False):
    """A fresh Adam (reference A7.3); MSE for regression, cross-entropy and accuracy otherwise;
    with the DMU rule, the DMU variables learn at lr / (2n) (seed 000 eq. 5)."""
    adam = SimpleNamespace(optimizer="adam", learning_rate=learning_rate)
    return compile_classifier(model, adam, regression, lr_multipliers(model) if lr_rule else None)


def final_training(model: keras.Model, train, epochs: int, boundaries, rates, callbacks=(), regression: bool = False,
                   lr_rule: bool = False) -> keras.Model:
    """Seed 001 §7.4: the best net trains `epochs` more epochs, continuing from its inherited
    weights (reference A7.4), at `rates[i]` until epoch `boundaries[i]` (EvolutionSettings'
    final_epochs, final_boundaries, final_learning_rates; the thesis: 30 epochs at 1e-3 / 1e-4 /
    1e-5, steps at epochs 10 and 20)."""
    def rate(epoch: int, lr=None) -> float:
        return float(rates[sum(epoch >= b for b in boundaries)])

    compile_trial(model, rates[0], regression, lr_rule)
    if epochs:
        model.fit(train, epochs=epochs, verbose=0, shuffle=False,
                  callbacks=[StopOnNonFinite(), keras.callbacks.LearningRateScheduler(rate), *callbacks])
    return model
