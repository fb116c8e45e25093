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

from automl.population.evolve_common import GenomeOptimizer
from automl.population.leea import _seed

SELECTIONS = ("truncated", "rank", "fitness")
CROSSOVERS = ("single", "uniform", "arithmetic", "none")


class MuLambdaES(GenomeOptimizer):
    name = "es"

    def __init__(self, population_size: int = 11, parent_fraction: float = 0.5, rho: int = 3,
                 selection: str = "truncated", crossover: str = "single", mutation_rate: float = 0.5,
                 sigma: float = 0.1, elitism: bool = False, batch_size: int = 40, **kwargs):
        if selection not in SELECTIONS:
            raise ValueError(f"es.selection must be one of {', '.join(SELECTIONS)}, not {selection!r}")
        if crossover not in CROSSOVERS:
            raise ValueError(f"es.crossover must be one of {', '.join(CROSSOVERS)}, not {crossover!r}")
        if not 0.0 < parent_fraction <= 1.0:
            raise ValueError(f"es.parent_fraction must lie in (0, 1], got {parent_fraction}")
        if rho < 1:
            raise ValueError(f"es.rho must be at least 1, got {rho}")
        super().__init__(population_size, batch_size=batch_size, **kwargs)
        self.mu = max(1, int(self.size * parent_fraction))
        self.rho, self.selection, self.crossover = int(rho), selection, crossover
        self.mutation_rate, self.sigma, self.elitism = float(mutation_rate), float(sigma), bool(elitism)

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
