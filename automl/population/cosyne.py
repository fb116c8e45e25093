"""CoSyNE, cooperative synapse neuroevolution (seed 003 L75-87, L218-225; reference 003 §1.5).

Each generation: evaluate every row on the batch; replace the worst rows with children of
parents from the best 25% (uniform crossover, children in pairs), each child gene mutated with
probability p by Cauchy(0, gamma) noise; then permute every column (a per-synapse
subpopulation) independently among the other rows, the seed's "purely random shuffle".
We follow the seed's text where its code mutates and spares the last rows instead of the
children's rows (reference 003 §1.5, repo quirks).
"""
from __future__ import annotations

import numpy as np
from keras import ops

from automl.population.base import documented
from automl.population.evolve_common import GenomeOptimizer
from automl.population_settings import CosyneSettings


@documented
class CoSyNE(GenomeOptimizer):
    """CoSyNE, cooperative synapse neuroevolution (seed 003 L75-87, L218-225): `CoSyNE(...).fit(model,
    (x, y), (x_val, y_val), epochs=N)`."""

    name = "cosyne"
    settings_class = CosyneSettings

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        s = self.settings
        self.children, self.mutation_rate, self.gamma = s.children, s.mutation_rate, s.gamma

    def generation(self, engine, x, y, rng, t):
        pop = self.state["population"]
        p, k, c = self.size, int(pop.shape[1]), self.children
        losses = self.evaluate(engine, pop, x, y)
        self.remember_best(pop, losses)
        order = np.argsort(losses, kind="stable")
        pool = order[: max(1, int(0.25 * p))]

        parents = rng.choice(pool, size=(c // 2, 2))
        mask = rng.random((c // 2, k)) < 0.5
        first, second = ops.take(pop, parents[:, 0], axis=0), ops.take(pop, parents[:, 1], axis=0)
        m = ops.convert_to_tensor(mask)
        kids = ops.concatenate([ops.where(m, first, second), ops.where(m, second, first)], axis=0)
        mutate = rng.random((c, k)) < self.mutation_rate
        cauchy = self.gamma * np.tan(np.pi * (rng.random((c, k)) - 0.5))
        kids = kids + ops.convert_to_tensor(np.where(mutate, cauchy, 0.0).astype("float32"))

        rest = order[: p - c]  # every row but the replaced ones, permuted column by column
        shuffle = np.argsort(rng.random((p - c, k)), axis=0)
        survivors = ops.take(pop, rest, axis=0)
        survivors = ops.take_along_axis(survivors, ops.convert_to_tensor(shuffle), axis=0)
        self.state["population"] = ops.concatenate([survivors, kids], axis=0)
        return self.stats(losses, p)
