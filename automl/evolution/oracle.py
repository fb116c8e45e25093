"""The evolutionary oracle: a real `keras_tuner.Oracle`, so trials live on disk, a search
resumes after a kill, and Keras Tuner's chief/worker mode distributes it unchanged.

Two modes:
- `one_plus_one`: seed 001's Algorithm 4, a (1+1)-EA with niching. It is sequential: while a
  trial runs, other workers are told to wait (IDLE).
- `population`: regularized evolution (Real et al. 2019): steady-state tournament selection
  over the last P completed trials, the oldest leaving first. Any number of workers get
  children at once. With objective `pareto` the tournament compares NSGA-II rank and
  crowding on (validation accuracy, FLOPs).

The evolutionary state is replayed from the completed trials in the order they ended
(`catch_up`), so what is saved in oracle.json can never disagree with the trial files.
Random draws are seeded by (seed, trial id), so a replay or a resumed run draws the same.
"""
from __future__ import annotations

import json
import sys
import time
from typing import Callable

import keras_tuner as kt
import numpy as np
from keras_tuner.src.distribute import utils as dist_utils
from keras_tuner.src.engine import trial as trial_module

from automl.budget import Deadline
from automl.evolution.pareto import nsga_keys
from automl.evolution.settings import EvolutionSettings
from automl.evolution.space import Space
from automl.seeds import keras_tuner_seed

Status = trial_module.TrialStatus
OBJECTIVE = "val_accuracy"


# The final training's reserve: saving and start-up, then the epochs with a small margin. The final
# training stops at the deadline itself, so a short estimate costs final epochs, never the budget;
# a generous one leaves time unused (1.2 and 5 s left 19 s of 3 minutes on digits).
FINAL_BASE_SECONDS, FINAL_MARGIN = 3.0, 1.1
# Keras Tuner stops at max_trials: a search that fills a time budget raises it, so that only the
# deadline ends it (trial ids then have its five digits). Keras Tuner's built-ins use it too.
FILL_MAX_TRIALS = 99_999


class EvolutionOracle(kt.Oracle):
    def __init__(self, space: Space, settings: EvolutionSettings, *, seed: int, minimize_loss: bool = False,
                 chief: bool = True, **kwargs):
        """The search's `settings` as automl.EvolutionSettings validated them (nothing is
        defaulted or checked again here). `minimize_loss`: the fitness is the validation loss,
        lower better (regression tasks); otherwise validation accuracy (seed 001 eq. 7.7).
        `chief`: False on a distributed worker, which never times out other workers' trials."""
        self.space, self.mode, self.objective_kind = space, settings.mode, settings.objective
        self.budget_epochs, self.epochs_per_trial = settings.budget_epochs, settings.epochs_per_trial
        self.inheritance = settings.inheritance
        self.niching_probability, self.niching_steps = settings.niching_probability, settings.niching_steps
        self.population_size, self.tournament_size = settings.population_size, settings.tournament_size
        self.checkpoints = sorted(settings.checkpoints)
        self.worker_timeout = settings.worker_timeout if chief else 0.0
        self.on_trial_end: Callable | None = None  # set by the search that runs this oracle
        self.deadline, self.final_epochs = Deadline(), settings.final_epochs
        self.fill_budget, self.train_initial = settings.fill_budget, settings.train_initial
        self._heard: dict[str, float] = {}  # trial id -> last heartbeat (chief only; not state)
        self._tuner_seen: dict[str, float] = {}
        # Trial ids are zero-padded to len(str(max_trials)); the budget, not max_trials, stops the search.
        max_trials = self.budget_epochs // max(self.epochs_per_trial, 1) + self.population_size + 1
        self.minimize_loss = minimize_loss
        objective = kt.Objective("val_loss", "min") if minimize_loss else kt.Objective(OBJECTIVE, "max")
        super().__init__(objective=objective, max_trials=max_trials, seed=keras_tuner_seed(seed),
                         max_consecutive_failed_trials=3, **kwargs)
        self.evo = self._fresh_state()
        self.verbose = 0  # Keras Tuner's per-trial tables; the pipeline prints its own lines

    @staticmethod
    def _fresh_state() -> dict:
        return {"absorbed": [], "seen": [], "parent": None, "niche": None, "population": [], "best": None,
                "used_epochs": 0, "checkpoints": [], "initial_created": 0, "cut": []}

    # -- keras-tuner hooks ---------------------------------------------------------------
    def populate_space(self, trial_id):
        self.catch_up()
        running = bool(self.ongoing_trials) or bool(self._retry_queue)
        if self.mode == "one_plus_one" and running:
            return {"status": Status.IDLE}
        if self.deadline.active:
            self.deadline.reserve = self.final_reserve()
            if self.deadline.expired():  # the wall-clock budget: no new trial; running ones end at a batch
                return {"status": Status.IDLE if running else Status.STOPPED}
        initial = self._needs_initial()
        epochs = 0 if (initial and self.mode == "one_plus_one" and not self.train_initial) else self.epochs_per_trial
        if (self.committed_epochs() + epochs > self.budget_epochs and not self.filling()) or initial is None:
            return {"status": Status.IDLE if running else Status.STOPPED}
        rng = np.random.default_rng([self.seed, int(trial_id)])
        seen = set(self.evo["seen"])
        if initial:
            genome, parent, mutation, plan, role = self._initial(rng, seen), "", "initial", {"nothing": True}, "initial"
            self.evo["initial_created"] += 1
        else:
            parent, role = self._select_parent(rng)
            child = self.space.propose(self._genome(parent), rng, seen, inheritance=self.inheritance)
            genome, mutation, plan = child.genome, child.name, child.plan
        self.evo["seen"].append(self.space.key(genome))
        return {"status": Status.RUNNING, "values": {
            "genome": json.dumps(genome), "parent": parent, "mutation": mutation, "plan": json.dumps(plan),
            "epochs": epochs, "role": role, "deadline_at": self.deadline.wall_at or 0.0}}

    def use_deadline(self, deadline: Deadline) -> None:
        """Work to `deadline`; when it fills the budget, the epoch budget no longer ends the search,
        so neither may Keras Tuner's max_trials (trial ids then have its five digits)."""
        self.deadline = deadline
        if self.filling():
            self.max_trials = max(self.max_trials, FILL_MAX_TRIALS)

    def filling(self) -> bool:
        """True when the search goes on past budget_epochs until the wall-clock budget is spent."""
        return self.fill_budget and self.deadline.active

    @kt.synchronized
    def create_trial(self, tuner_id):
        now = time.time()
        self._tuner_seen[tuner_id] = now
        self._reclaim_dead(now)
        trial = super().create_trial(tuner_id)
        if trial.status == Status.RUNNING:
            self._heard[trial.trial_id] = now
            # A retried trial (in flight at a kill, or reclaimed from a dead worker) carries the
            # deadline of the run that created it; it works to this run's deadline instead.
            trial.hyperparameters.values["deadline_at"] = self.deadline.wall_at or 0.0
        return trial

    def get_trial(self, trial_id):
        """Workers call this as their heartbeat while a trial trains (see EvolutionTuner)."""
        self._heard[trial_id] = time.time()
        return super().get_trial(trial_id)

    @kt.synchronized
    def end_trial(self, trial):
        if not any(t.trial_id == trial.trial_id for t in self.ongoing_trials.values()):
            # A worker declared dead (its trial went to another worker) came back: its result is
            # dropped so that every trial is accounted for exactly once.
            return
        super().end_trial(trial)
        self.catch_up()
        self.save()

    def get_best_trials(self, num_trials=1):
        self.catch_up()
        best = self.evo["best"]
        ranked = super().get_best_trials(max(len(self.trials), 1))
        if best is None:
            return ranked[:num_trials]
        return ([self.trials[best]] + [t for t in ranked if t.trial_id != best])[:num_trials]

    def get_state(self):
        return {**super().get_state(), "evolution": self.evo, "settings": self.settings()}

    def set_state(self, state):
        super().set_state(state)
        self.evo = state.get("evolution", self._fresh_state())

    def settings(self) -> dict:
        return {"space": self.space.name, "mode": self.mode, "objective": self.objective_kind,
                "minimize_loss": self.minimize_loss,
                "budget_epochs": self.budget_epochs, "epochs_per_trial": self.epochs_per_trial,
                "inheritance": self.inheritance, "niching_probability": self.niching_probability,
                "niching_steps": self.niching_steps, "population_size": self.population_size,
                "tournament_size": self.tournament_size}

    # -- tuner ids: a dead worker must not keep the chief waiting forever -----------------
    @property
    def tuner_ids(self):
        if self.worker_timeout and hasattr(self, "_tuner_seen"):
            busy = set(self.ongoing_trials)
            now = time.time()
            for tuner_id in list(self._tuner_ids):
                if tuner_id not in busy and now - self._tuner_seen.get(tuner_id, now) > self.worker_timeout:
                    self._tuner_ids.discard(tuner_id)
        return self._tuner_ids

    @tuner_ids.setter
    def tuner_ids(self, value):
        self._tuner_ids = value

    def _reclaim_dead(self, now: float) -> None:
        """Send the trial of a worker silent for worker_timeout seconds to the retry queue."""
        if not self.worker_timeout or not dist_utils.has_chief_oracle():
            return
        for tuner_id, trial in list(self.ongoing_trials.items()):
            if now - self._heard.get(trial.trial_id, now) > self.worker_timeout:
                self.ongoing_trials.pop(tuner_id)
                self._tuner_ids.discard(tuner_id)
                trial.status = Status.INVALID
                self._retry_queue.append(trial.trial_id)
                print(f"worker {tuner_id} silent for {now - self._heard[trial.trial_id]:.0f} s: "
                      f"trial {trial.trial_id} goes to another worker", file=sys.stderr, flush=True)

    # -- the evolution ------------------------------------------------------------------
    def committed_epochs(self) -> int:
        """Training epochs of every trial that completed (as trained: a budget may cut one short),
        runs, or waits for a retry. Failed trials give their epochs back: they produced no network."""
        return sum(self.trained_epochs(t.trial_id) if t.status == Status.COMPLETED
                   else int(t.hyperparameters.values.get("epochs", 0))
                   for t in self.trials.values() if t.status in (Status.COMPLETED, Status.RUNNING, Status.INVALID))

    def trained_epochs(self, t: str) -> int:
        metrics = self.trials[t].metrics
        if metrics.exists("epochs_trained"):
            return int(metrics.get_last_value("epochs_trained"))
        return int(self.trials[t].hyperparameters.values["epochs"])

    def is_cut(self, t: str) -> bool:
        metrics = self.trials[t].metrics
        return metrics.exists("cut") and bool(metrics.get_last_value("cut"))

    def final_reserve(self) -> float:
        """Time to keep for the final training of the current best net: its measured seconds per
        epoch times the final epochs, plus its validation and test passes."""
        best = self.evo["best"]
        timed = [t for t in self.evo["absorbed"] if self.trials[t].metrics.exists("seconds_per_epoch")
                 and self.trained_epochs(t) > 0]
        if not timed:
            return FINAL_BASE_SECONDS
        source = best if best in timed else timed[-1]
        metrics = self.trials[source].metrics
        return FINAL_BASE_SECONDS + FINAL_MARGIN * self.final_epochs * metrics.get_last_value("seconds_per_epoch") \
            + 3.0 * metrics.get_last_value("eval_seconds")

    def _needs_initial(self) -> bool | None:
        """True: create an initial net; False: mutate; None: wait for results first."""
        if self.mode == "one_plus_one":
            return self.evo["parent"] is None  # at the start, or after the initial net failed
        if self.evo["initial_created"] < self.population_size:
            return True
        if self.evo["population"]:
            return False
        return None if self.ongoing_trials or self._retry_queue else True

    def _initial(self, rng, seen: set[str]):
        genome = self.space.initial(rng)
        draws = 0
        while self.space.key(genome) in seen:  # initial population members differ too
            step = self.space.mutate(genome, self.space.draw_mutation_name(rng), rng)
            genome = step.genome if step is not None else genome
            draws += 1
            if draws > 10_000:
                raise RuntimeError("cannot find a new initial architecture")
        return genome

    def _select_parent(self, rng) -> tuple[str, str]:
        if self.mode == "one_plus_one":
            niche = self.evo["niche"]
            return (niche["parent"], "niche") if niche else (self.evo["parent"], "main")
        population = self.evo["population"]
        sample = [population[i] for i in rng.choice(len(population), min(self.tournament_size, len(population)),
                                                    replace=False)]
        if self.objective_kind == "pareto":
            keys = nsga_keys([self.point(t) for t in population])
            rank = dict(zip(population, keys))
            return min(sample, key=lambda t: rank[t]), "tournament"
        return max(sample, key=self.score), "tournament"

    def catch_up(self) -> None:
        """Absorb the trials that ended since the last call, in the order they ended."""
        done = set(self.evo["absorbed"])
        for trial_id in self.end_order:
            if trial_id not in done and self.trials[trial_id].status in (Status.COMPLETED, Status.FAILED):
                self._absorb(trial_id)
                done.add(trial_id)

    def _absorb(self, t: str) -> None:
        evo = self.evo
        evo["absorbed"].append(t)
        trial = self.trials[t]
        if trial.status != Status.COMPLETED:
            return
        before = evo["used_epochs"]
        evo["used_epochs"] += self.trained_epochs(t)
        role = trial.hyperparameters.values["role"]
        if self.is_cut(t):  # cut short by the budget: recorded, never a parent or the best
            evo["cut"].append(t)
        elif self.mode == "one_plus_one":
            self._absorb_one_plus_one(t, role)
        else:
            evo["population"].append(t)
            if len(evo["population"]) > self.population_size:
                evo["population"].pop(0)  # aging: the oldest leaves, whatever its fitness
            if evo["best"] is None or self.score(t) > self.score(evo["best"]):
                evo["best"] = t
        for mark in self.checkpoints:
            if before < mark <= evo["used_epochs"]:
                evo["checkpoints"].append({"epochs": mark, "trial": evo["best"]})
        if self.on_trial_end is not None:
            self.on_trial_end(trial, self)

    def _absorb_one_plus_one(self, t: str, role: str) -> None:
        """Algorithm 4 (seed 001 L1153), lines 5-12, one trained child at a time."""
        evo = self.evo
        if role == "initial":
            evo["parent"] = evo["best"] = t
            return
        if role == "niche":
            niche = evo["niche"]
            if self.score(t) > self.score(niche["parent"]):
                niche["parent"] = t
            niche["steps_left"] -= 1
            if niche["steps_left"] == 0:  # line 10: the niche's result against the main parent
                if self.score(niche["parent"]) > self.score(evo["parent"]):
                    evo["parent"] = niche["parent"]
                evo["niche"] = None
        elif self.score(t) > self.score(evo["parent"]):  # line 10
            evo["parent"] = t
        else:  # line 7: a child that is not better may start a niche of k steps from itself
            coin = np.random.default_rng([self.seed, int(t), 7]).random()
            if self.niching_steps > 0 and coin < self.niching_probability:
                evo["niche"] = {"origin": t, "parent": t, "steps_left": self.niching_steps}
        evo["best"] = evo["parent"]

    def final_best(self) -> str | None:
        """The search's result: its best trial. In the (1+1)-EA, a niche that the end of the search
        cut short is compared with the main parent as at the niche's own end (Algorithm 4 line 10),
        so a better net found in it is not lost."""
        best, niche = self.evo["best"], self.evo["niche"]
        if self.mode == "one_plus_one" and niche and best is not None \
                and self.score(niche["parent"]) > self.score(best):
            return niche["parent"]
        return best

    # -- trial data ---------------------------------------------------------------------
    def score(self, t: str) -> float:
        """The fitness, higher better (a loss enters negated)."""
        value = float(self.trials[t].score)
        return -value if self.minimize_loss else value

    def point(self, t: str) -> tuple[float, float]:
        metrics = self.trials[t].metrics
        return self.score(t), float(metrics.get_last_value("flops"))

    def _genome(self, t: str):
        return json.loads(self.trials[t].hyperparameters.values["genome"])
