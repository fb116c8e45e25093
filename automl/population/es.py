"""A plain (mu/rho, lambda) evolution strategy: seed 003's "EA" (L95-99, L234-245; reference
003 §1.5). lambda children replace the population each generation (a comma strategy).

Selection of the mu parents: truncation, rank-based, or fitness-proportional. Children fold
rho parents pairwise by single-point, uniform or arithmetic crossover (or copy one parent), and
each child is mutated as a whole by sigma N(0, I) with probability p. Elitism puts the best
member ever seen into the last parent slot. Two bugs of the seed's code are not copied:
fitness-proportional selection there favours the *higher* loss, and its mutation fires with
probability 1 - p (reference 003 §1.5).
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from automl.population.base import documented
from automl.population.evolve_common import GenomeOptimizer
from automl.population.leea import _seed
from automl.population_settings import EsSettings


@documented
class MuLambdaES(GenomeOptimizer):
    """A (mu/rho, lambda) evolution strategy, seed 003's EA (L95-99, L234-245):
    `MuLambdaES(...).fit(model, (x, y), (x_val, y_val), epochs=N)`."""

    name = "es"
    settings_class = EsSettings

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        s = self.settings
        self.mu = max(1, int(self.size * s.parent_fraction))
        self.rho, self.selection, self.crossover = s.rho, s.selection, s.crossover
        self.mutation_rate, self.sigma, self.elitism = s.mutation_rate, s.sigma, s.elitism

    def generation(self, engine, x, y, rng, t):
        pop = self.state["population"]
        lam, k = self.size, int(pop.shape[1])
        losses = self.evaluate(engine, pop, x, y)
        self.remember_best(pop, losses)
        parents = ops.take(pop, self.select(losses, rng), axis=0)
        if self.elitism:
            parents = ops.concatenate([parents[:-1], ops.convert_to_tensor(self.state["best_genome"])[None]], axis=0)
        mu = int(parents.shape[0])
        picks = rng.integers(0, mu, size=(lam, self.rho if self.crossover != "none" else 1))
        children = ops.take(parents, picks[:, 0], axis=0)
        for r in range(1, picks.shape[1]):  # fold the rho parents pairwise
            other = ops.take(parents, picks[:, r], axis=0)
            if self.crossover == "uniform":
                children = ops.where(keras.random.uniform((lam, k), seed=_seed(rng)) < 0.5, children, other)
            elif self.crossover == "single":
                cut = rng.integers(1, max(k, 2), size=lam)[:, None]
                children = ops.where(ops.convert_to_tensor(np.arange(k)[None] < cut), children, other)
            else:
                children = 0.5 * (children + other)
        mutate = (rng.random(lam) < self.mutation_rate).astype("float32")[:, None]
        noise = self.sigma * keras.random.normal((lam, k), seed=_seed(rng)) * ops.convert_to_tensor(mutate)
        self.state["population"] = children + noise
        return self.stats(losses, lam)

    def select(self, losses, rng) -> np.ndarray:
        order = np.argsort(losses, kind="stable")
        if self.selection == "truncated":
            return order[: self.mu]
        n = len(losses)
        if self.selection == "rank":  # p ∝ n - rank (the best rank 0 most likely)
            weights = (n - np.arange(n)).astype("float64")
            candidates = order
        else:  # fitness-proportional on the loss gap to the worst member (lower loss, more likely)
            finite = np.where(np.isfinite(losses), losses, np.nan)
            weights = np.nan_to_num(np.nanmax(finite) - finite, nan=0.0) + 1e-12
            candidates = np.arange(n)
        return rng.choice(candidates, size=self.mu, replace=False, p=weights / weights.sum())
