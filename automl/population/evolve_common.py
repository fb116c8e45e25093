"""What DE, CoSyNE and the (mu, lambda)-ES share: a small population of genomes, evaluated on
one fresh batch per generation (seed 003 L109: "all 4 tested algorithms ... receive the same
input"), the best member ever seen kept as a validation candidate, and the initial population
drawn from the model's own initialisers (seed 003 L107: the same init for every algorithm)."""
from __future__ import annotations

import numpy as np
from keras import ops

from automl.population.base import BYTES, PopulationOptimizer, refuse
from automl.population.genome import make_genome
from automl.population.leea import _fresh_initialisations


class GenomeOptimizer(PopulationOptimizer):
    scratch = 3  # population-sized buffers besides the population (mutants, trials, masks)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        s = self.settings
        self.size, self.genome_kind, self.genes = s.population_size, s.genome, s.genes

    def plan(self, n, available):
        self.genome = make_genome(n, self.genome_kind, self.genes)
        need = self.state_bytes(n)
        if need > available:
            raise refuse(self.name, f"a population of {self.size} x {self.genome.length:,} genes", need, available)
        return []

    def state_bytes(self, n):
        return (BYTES * (self.scratch + 1) * self.size * max(self.genome.length, 1)
                + self.genome.bytes(self.size + 1) + BYTES * n * 2)  # +1: the best ever, a candidate too

    def initialise(self, w0, engine, rng):
        pop = _fresh_initialisations(engine, self.size, rng)
        self.state = {"population": ops.convert_to_tensor(self.genome.encode(pop)),
                      "best_genome": ops.convert_to_tensor(self.genome.encode(w0[None])[0]),
                      "best_loss": np.array(np.inf)}

    def evaluate(self, engine, genomes, x, y):
        losses, _ = engine.evaluate(self.genome.decode(genomes), x, y,
                                    available_bytes=self.available_for_evaluation(engine))
        losses = ops.convert_to_numpy(losses).astype("float64")
        return np.where(np.isfinite(losses), losses, np.inf)

    def remember_best(self, genomes, losses) -> None:
        """The lowest batch loss ever seen, and its genome (the seed's "min loss")."""
        i = int(np.argmin(losses))
        if losses[i] < float(self.state["best_loss"]):
            self.state["best_loss"] = np.array(losses[i])
            self.state["best_genome"] = genomes[i]

    def candidates(self):
        pop = ops.concatenate([self.state["population"], ops.convert_to_tensor(self.state["best_genome"])[None]], axis=0)
        return self.genome.decode(pop)

    @staticmethod
    def stats(losses, evaluations) -> dict:
        finite = losses[np.isfinite(losses)]
        return {"best": float(finite.min()) if finite.size else float("inf"),
                "mean": float(finite.mean()) if finite.size else float("inf"), "evaluations": evaluations}
