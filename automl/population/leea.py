"""Prellberg's GPU-resident limited-evaluation EA (seed 001 Ch. 5, Algorithm 2; reference
001 §2.2). Every member is evaluated on the same fresh batch each generation; the next
population is the elites (copied, re-evaluated next generation), crossover children of pairs
from the truncation set and mutants of parents from it. Crossover children are not mutated."""
from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from automl.population.base import BYTES, PopulationOptimizer, documented, fit_count, refuse
from automl.population_settings import LEEA_AUTO_POPULATION, LeeaSettings
from automl.settings import is_number


@documented
class LEEA(PopulationOptimizer):
    """LEEA, the limited-evaluation EA (seed 001 Ch. 5, Algorithm 2): `LEEA(...).fit(model,
    (x, y), (x_val, y_val), epochs=N)`.

    Args:
        init_scale: 0: each member a fresh draw of the model's initialisers (seed 001 L882); > 0: the model's own weights perturbed by N(0, init_scale²) instead.
    """

    name = "leea"
    settings_class = LeeaSettings

    def __init__(self, *, init_scale: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.check("init_scale", init_scale, is_number(init_scale) and init_scale >= 0, "a number >= 0")
        s = self.settings
        self.requested = s.population_size  # None: "auto", LEEA_AUTO_POPULATION capped to the memory
        self.rho, self.p_e, self.p_c = s.truncation, s.elite_fraction, s.crossover_fraction
        self.crossover, self.exploit = s.crossover, s.exploit_rate
        self.sigma0, self.sigma_mode, self.decay_steps, self.tau = s.sigma, s.sigma_mode, s.decay_steps, s.tau
        self.alpha, self.init_scale = s.fitness_inheritance, init_scale

    # sizes -------------------------------------------------------------------------------------
    def plan(self, n, available):
        per_member = 3 * n * BYTES  # population, next population, crossover mask/noise
        fits = fit_count(per_member, available)
        if self.requested is None:
            self.size = max(2, min(LEEA_AUTO_POPULATION, fits))
            return [] if self.size == LEEA_AUTO_POPULATION else [
                f"leea: population capped at {self.size} (default {LEEA_AUTO_POPULATION}) to fit memory_mb "
                "(population.memory_mb in a config)"]
        self.size = int(self.requested)
        if self.size > fits:
            raise refuse(self.name, f"a population of {self.size:,} x {n:,} weights", self.size * per_member, available)
        return []

    def state_bytes(self, n):
        return 3 * self.size * n * BYTES

    @property
    def counts(self):
        lam = self.size
        elites = int(round(self.p_e * lam))
        children = int(round(self.p_c * lam))
        return elites, children, lam - elites - children, max(2, int(round(self.rho * lam)))

    def sigma_at(self, t: int) -> float:
        if self.sigma_mode == "decay":  # eq. (5.3): sigma_i = 0.99^(i/k) sigma_0
            return self.sigma0 * 0.99 ** (t / self.decay_steps)
        return self.sigma0

    # algorithm ---------------------------------------------------------------------------------
    def initialise(self, w0, engine, rng):
        """Glorot-uniform weights, zero biases (seed 001 L882): each member a fresh draw of the
        model's initialisers. `init_scale` > 0 instead perturbs the model's weights by that std."""
        if self.init_scale > 0:
            pop = w0[None] + self.init_scale * rng.standard_normal((self.size, w0.size), dtype=np.float32)
        else:
            pop = _fresh_initialisations(engine, self.size, rng)
        self.state = {
            "population": ops.convert_to_tensor(pop.astype("float32")),
            "inherited": ops.convert_to_tensor(np.full(self.size, np.nan, dtype="float32")),
            "sigma": ops.convert_to_tensor(np.full(self.size, self.sigma0, dtype="float32")),
        }

    def generation(self, engine, x, y, rng, t):
        pop, inherited, sigma = self.state["population"], self.state["inherited"], self.state["sigma"]
        losses, _ = engine.evaluate(pop, x, y, available_bytes=self.available_for_evaluation(engine))
        u = -losses  # fitness (5.1): the negative batch loss
        u = ops.where(ops.isfinite(u), u, -np.inf)
        # (5.2) u_adj = (1 - alpha) u_inh + alpha u; alpha = 1 (default) disables inheritance.
        u_adj = ops.where(ops.isnan(inherited), u, (1.0 - self.alpha) * inherited + self.alpha * u)
        order = ops.argsort(-u_adj)
        n_e, n_c, n_m, n_t = self.counts
        u_np = ops.convert_to_numpy(u_adj)
        order_np = ops.convert_to_numpy(order)
        truncation = order_np[:n_t]

        elites = order_np[:n_e]
        pairs = rng.choice(truncation, size=(n_c, 2))
        fitter = np.where(u_np[pairs[:, 0]] >= u_np[pairs[:, 1]], pairs[:, 0], pairs[:, 1])
        other = np.where(fitter == pairs[:, 0], pairs[:, 1], pairs[:, 0])
        a, b = ops.take(pop, fitter, axis=0), ops.take(pop, other, axis=0)
        if self.crossover == "uniform":  # (4.1); [code] a gene comes from the fitter parent w.p. exploit_rate
            mask = keras.random.uniform((n_c, engine.size), seed=_seed(rng)) < self.exploit
            children = ops.where(mask, a, b)
        else:  # (4.2) arithmetic: the corresponding weighted mean
            children = self.exploit * a + (1.0 - self.exploit) * b
        parents = rng.choice(truncation, size=n_m)
        noise = keras.random.normal((n_m, engine.size), seed=_seed(rng))  # drawn on the device (seed 001 §5.2.3)
        sigma_np = ops.convert_to_numpy(sigma)
        if self.sigma_mode == "self-adaptive":  # (5.4): sigma' = sigma exp(tau N(0,1)), per solution
            tau = self.tau if self.tau is not None else 1.0 / math.sqrt(engine.size)
            mutant_sigma = sigma_np[parents] * np.exp(tau * rng.standard_normal(n_m)).astype("float32")
            child_sigma = 0.5 * (sigma_np[pairs[:, 0]] + sigma_np[pairs[:, 1]])
        else:
            mutant_sigma = np.full(n_m, self.sigma_at(t), dtype="float32")
            child_sigma = np.full(n_c, self.sigma_at(t), dtype="float32")
        mutants = ops.take(pop, parents, axis=0) + ops.convert_to_tensor(mutant_sigma)[:, None] * noise

        self.state["population"] = ops.concatenate([ops.take(pop, elites, axis=0), children, mutants], axis=0)
        self.state["inherited"] = ops.convert_to_tensor(np.concatenate([
            u_np[elites],                                          # elites keep their own fitness
            0.5 * (u_np[pairs[:, 0]] + u_np[pairs[:, 1]]),         # crossover: the parents' mean
            u_np[parents],                                         # mutation: the parent's
        ]).astype("float32"))
        self.state["sigma"] = ops.convert_to_tensor(np.concatenate([sigma_np[elites], child_sigma,
                                                                    mutant_sigma]).astype("float32"))
        self._last_order, self._last_pop = order_np, pop
        losses_np = ops.convert_to_numpy(losses)
        return {"best": float(np.nanmin(losses_np)), "mean": float(np.nanmean(losses_np)),
                "evaluations": self.size}

    def candidates(self):
        """The best members of the last evaluated generation, elites first."""
        if not hasattr(self, "_last_order"):
            return self.state["population"][: self.validation_candidates]
        k = min(self.validation_candidates, len(self._last_order))
        return ops.take(self._last_pop, self._last_order[:k], axis=0)


def _fresh_initialisations(engine, count: int, rng) -> np.ndarray:
    """`count` independent draws of the model's own initialisers (Glorot-uniform kernels and zero
    biases for Dense), as flat vectors; drawn per variable with numpy for speed and determinism."""
    table = engine.table
    pop = np.zeros((count, table.size), dtype=np.float32)
    for v, shape, a, b in zip(table.variables, table.shapes, table.offsets[:-1], table.offsets[1:]):
        if len(shape) < 2:
            value = ops.convert_to_numpy(v.value)  # biases, BN gamma/beta: the model's initial constants
            pop[:, a:b] = np.ravel(value)
            continue
        receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
        limit = math.sqrt(6.0 / (shape[-2] * receptive + shape[-1] * receptive))
        pop[:, a:b] = rng.uniform(-limit, limit, size=(count, b - a)).astype(np.float32)
    return pop


def _seed(rng: np.random.Generator) -> int:
    """A seed for one device-side draw, taken from the generation's generator (so resumable)."""
    return int(rng.integers(2**31))
