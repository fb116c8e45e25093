"""Differential Evolution with binomial crossover (seed 003 L89-93, L227-232).

Mutation types: "rand1" is the textbook DE/rand/1 (a + F(b - c), Storn & Price), the issue's
rand/1/bin; the other five are seed 003's, with its code's formulas (reference 003 §1.5):
  rand2        x + F(a - b + c - d)
  best1        best + F(a - b)
  best2        best + F(a - b + c - d)
  curtobest1   x + F(best - x + a - b)
  randtobest2  a + F(best - x + a - b + c - d)
  current1     x + F(a - b)   (the seed code's own "rand1", kept under an honest name)
a..e are distinct members other than the target x; best is the member with the lowest loss in
the last generation (member 0 in the first, before any loss is known), kept in the state so a
resumed run uses the same one. The generation is synchronous (all trials
from the same population, then one-to-one greedy selection), which vectorises; the seed's code
replaces in place. Targets are re-evaluated on each fresh batch with their trials, so the
selection compares losses on the same data (the seed's code compares with a stale loss).
"""
from __future__ import annotations

import numpy as np
from keras import ops

from automl.population.base import documented
from automl.population.evolve_common import GenomeOptimizer
from automl.population_settings import DeSettings


@documented
class DE(GenomeOptimizer):
    """Differential evolution with binomial crossover (seed 003 L89-93, L227-232): `DE(...).fit(model,
    (x, y), (x_val, y_val), epochs=N)`."""

    name = "de"
    settings_class = DeSettings

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        s = self.settings
        self.cr, self.mutation, self.f = s.crossover_rate, s.mutation, s.scale

    def generation(self, engine, x, y, rng, t):
        pop = self.state["population"]
        p = self.size
        trials = self.trials(pop, rng, best=int(self.state.get("best_index", 0)))
        losses = self.evaluate(engine, ops.concatenate([pop, trials], axis=0), x, y)
        parent_loss, trial_loss = losses[:p], losses[p:]
        take = trial_loss <= parent_loss  # greedy one-to-one selection (seed 003 [code]: <=)
        pop = ops.where(ops.convert_to_tensor(take)[:, None], trials, pop)
        kept = np.where(take, trial_loss, parent_loss)
        self.state["best_index"] = np.array(int(np.argmin(kept)))  # in the state: a resumed run keeps it
        self.state["population"] = pop
        self.remember_best(pop, kept)
        return self.stats(kept, 2 * p)

    def trials(self, pop, rng, best: int):
        """Mutants by the configured type, then binomial crossover with one guaranteed gene."""
        p, k = self.size, int(pop.shape[1])
        others = np.argsort(rng.random((p, p)) + np.eye(p) * 2, axis=1)[:, :p - 1]  # a random order of the others
        a, b, c, d, e = (ops.take(pop, others[:, min(i, p - 2)], axis=0) for i in range(5))
        x, f = pop, self.f
        best_row = ops.repeat(pop[best][None], p, axis=0)
        mutant = {
            "rand1": lambda: a + f * (b - c),
            "rand2": lambda: x + f * (a - b + c - d),
            "best1": lambda: best_row + f * (a - b),
            "best2": lambda: best_row + f * (a - b + c - d),
            "curtobest1": lambda: x + f * (best_row - x + a - b),
            "randtobest2": lambda: a + f * (best_row - x + a - b + c - d),
            "current1": lambda: x + f * (a - b),
        }[self.mutation]()
        mask = rng.random((p, k)) < self.cr
        mask[np.arange(p), rng.integers(0, k, p)] = True
        return ops.where(ops.convert_to_tensor(mask), mutant, x)
