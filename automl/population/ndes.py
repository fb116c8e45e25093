"""nDES, the matrix-free differential evolution strategy (seed 000 appendix B.2, Algorithm 1
and the modifications of L964-L994; defaults and operator details from the authors' code as
quoted in reference 000 §2.1.5). Variants: nDES (differential + random-noise mutation), nDES-G
(differential + a gradient step per member) and nDES-B (Adam with early stopping first, then
differential mutation only, around the trained weights).

Readings where the paper and the code differ or say nothing:
- m(t+1) = sum_i w_i x_(i:lambda) with log-rank weights w_i ∝ ln(mu+1) - ln(i) ([code]);
- the archived difference uses the selection shift m(t+1) - mean(population) ([code], in effect);
- one history slot tau1 for the archived pair and the shift, another tau2 for the path ([code]);
- out-of-bounds members are repaired by bounce-back before evaluation (Lamarckian), where the
  code penalises them instead; the repaired point is what the paper's bounds mean;
- a restart re-samples the population around the current centre when the fitness range
  collapses below `tol` while less than 80% of the budget is spent ([code]).
"""
from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from automl.population.backend import compile_function
from automl.population.base import BYTES, PopulationOptimizer, documented, refuse
from automl.population.engine import megabytes
from automl.task import TASKS
from automl.population_settings import NDES_VARIANTS, NdesSettings
from automl.settings import ArgumentError, one_of


@documented
class NDES(PopulationOptimizer):
    """nDES, the matrix-free differential evolution strategy (seed 000 B.2), or its variants
    nDES-G and nDES-B (`automl.NDES_G(...)`, `automl.NDES_B(...)`): `NDES(...).fit(model, (x, y),
    (x_val, y_val), epochs=N)`.

    Args:
        variant: ndes (differential and random-noise mutation), ndes-g (a gradient step per member instead of the noise) or ndes-b (Adam with early stopping first, then differential mutation only).
        fuse: XLA-compile the offspring update (elementwise only, so it always compiles; 10x faster than op by op on a CPU).
    """

    settings_class = NdesSettings

    def __init__(self, *, variant: str = "ndes", fuse: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.check("variant", variant, variant in NDES_VARIANTS, one_of(NDES_VARIANTS))
        self.check("fuse", fuse, isinstance(fuse, bool), "True or False")
        s = self.settings
        self.name = variant
        self.variant, self.requested, self.requested_mu = variant, s.population_size, s.mu  # None: "auto"
        self.uses_gradients = variant == "ndes-g"
        self.history, self.ccum, self.cp_setting = s.history, s.ccum, s.cp
        self.bounds, self.tol, self.init, self.uniform_init = s.bounds, s.tol, s.init, s.uniform_init
        self.gradient_lr, self.ewma = s.gradient_lr, s.ewma
        self.bootstrap_fraction, self.bootstrap_patience = s.bootstrap_fraction, s.bootstrap_patience
        self.bootstrap_lr, self.max_population = s.bootstrap_lr, s.max_population
        self.fuse = fuse

    # sizes -------------------------------------------------------------------------------------
    def _bytes(self, lam: int, mu: int, n: int) -> int:
        # population + offspring scratch (2 lambda), history of mu selected per slot, shifts and paths
        return BYTES * n * (2 * lam + self.history * mu + 2 * self.history + 4)

    def plan(self, n, available):
        mu_of = (lambda lam: lam // 2) if self.requested_mu is None else (lambda lam: int(self.requested_mu))
        notes = []
        if self.requested is None:
            lam = min(4 * n, self.max_population)  # lambda = 4N: the DES authors' advice (seed 000 L1075), [code] default
            if lam < 4 * n:
                notes.append(f"{self.name}: lambda capped at {lam:,} (4N = {4 * n:,}; ndes.max_population)")
            per = BYTES * n * (2 + self.history * (0.5 if self.requested_mu is None else 0))
            fixed = self._bytes(0, 0 if self.requested_mu is None else int(self.requested_mu), n)
            fits = int((available - fixed) // max(per, 1))
            if fits < lam:
                if fits < 4:
                    raise refuse(self.name, f"the smallest population (4 members, history {self.history}) of "
                                 f"{n:,} weights", self._bytes(4, mu_of(4), n), available)
                notes.append(f"{self.name}: lambda capped at {fits:,} (4N = {4 * n:,} with history {self.history} "
                             f"needs {megabytes(self._bytes(4 * n, mu_of(4 * n), n))}) to fit population.memory_mb")
                lam = fits
            self.size = lam
        else:
            self.size = int(self.requested)
        self.mu = max(1, mu_of(self.size))
        if self.mu > self.size:
            raise ArgumentError(type(self).__name__, "mu", self.mu, f"at most the population size ({self.size})")
        need = self._bytes(self.size, self.mu, n)
        if need > available:
            raise refuse(self.name, f"lambda = {self.size:,} with mu = {self.mu:,} and history {self.history} for "
                         f"{n:,} weights", need, available)
        # [code] cp = 1/sqrt(N); ccum = mu/(mu+2) by default, 0.96 in the experiments (seed 000 L1014)
        self.cp = 1.0 / math.sqrt(n) if self.cp_setting is None else float(self.cp_setting)
        weights = np.log(self.mu + 1) - np.log(np.arange(1, self.mu + 1))
        self.weights = (weights / weights.sum()).astype("float32")
        return notes

    def state_bytes(self, n):
        return self._bytes(self.size, self.mu, n)

    # nDES-B: the gradient bootstrap ------------------------------------------------------------
    def before_population(self, model, engine, train, validation, epochs, run):
        if self.variant != "ndes-b":
            return
        budget = max(1, int(self.bootstrap_fraction * epochs))
        # The caller's compile settings (its metrics go into the saved best member) come back after.
        caller_compile = model.get_compile_config() if model.compiled else None
        model.compile(optimizer=keras.optimizers.Adam(self.bootstrap_lr),
                      loss=TASKS[engine.task].loss)
        stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=self.bootstrap_patience,
                                             restore_best_weights=True)
        keras.utils.set_random_seed(self.seed)
        history = model.fit(*train, validation_data=tuple(validation), epochs=budget, batch_size=self.batch_size,
                            callbacks=[stop], verbose=0)
        used = len(history.history["loss"])
        if caller_compile is not None:
            model.compile_from_config(caller_compile)
        run["bootstrap_epochs"] = used
        # The bootstrap's epochs come out of the same budget: skip that many epochs of generations.
        run["generation"] = used * self.steps_per_epoch(len(train[1]))
        run["history"].extend({"epoch": i + 1, "phase": "adam", **{k: float(v[i]) for k, v in history.history.items()}}
                              for i in range(used))

    # algorithm ---------------------------------------------------------------------------------
    def initialise(self, w0, engine, rng):
        self.state = {"centre": ops.convert_to_tensor(w0), "t": np.array(0), "filled": np.array(0),
                      "ewma": np.zeros(0, dtype="float32"), "restarts": np.array(0)}
        self.scale = engine.table.xavier_scale()
        self._sample_population(w0, rng)

    def _sample_population(self, centre, rng):
        """Individual 0 is the centre; the others centre + s ⊙ N(0, I), s the Xavier coefficient
        ([code] XavierMVNPopulationInitializer), or U(-a, a) elementwise ([code] RNN scripts)."""
        n = centre.size
        if self.init == "uniform" and int(self.state["restarts"]) == 0:
            pop = rng.uniform(-self.uniform_init, self.uniform_init, size=(self.size, n)).astype("float32")
        else:
            noise = ops.convert_to_numpy(keras.random.normal((self.size, n), seed=int(rng.integers(2**31))))
            pop = centre[None] + self.scale[None] * noise
        pop[0] = centre
        self.state["population"] = self._repair(ops.convert_to_tensor(pop))
        self.state["path"] = ops.zeros((n,))
        self.state["filled"] = np.array(0)
        self.slots = []  # the history ring: (selected / sqrt2 [mu, N], shift [N], path [N]) per slot

    def _repair(self, pop):
        """Bounce-back into [-b, b]: reflect at the bounds, modulo the interval's width ([code])."""
        if float(ops.max(ops.abs(pop))) <= self.bounds:
            return pop
        return self._bounce(pop)

    def batch(self, x, y, n, t, steps, rng):
        """Fixed batches for the whole run (seed 000 L968), member i of generation t taking batch
        (t * lambda + i) mod B in creation order; returns the stacked batches [B, b, ...]."""
        if not hasattr(self, "_batches") or self._batches[0] != n:
            order = np.random.default_rng([self.seed, 2]).permutation(n)
            b = min(self.batch_size, n)
            self._batches = (n, np.take(order, np.arange(steps * b), mode="wrap").reshape(steps, b))
        batches = self._batches[1]
        self._assigned = (t * self.size + np.arange(self.size)) % len(batches)
        if getattr(self, "_stacked_for", None) is not x:
            self._stacked = (ops.take(x, batches, axis=0), ops.take(y, batches, axis=0))
            self._stacked_for = x
        return self._stacked

    def generation(self, engine, x, y, rng, t):
        pop, n = self.state["population"], engine.size
        if not hasattr(self, "scale"):
            self.scale = engine.table.xavier_scale()
        available = self.available_for_evaluation(engine)
        if self.uses_gradients:
            losses, grads = engine.losses_and_gradients(pop, x, y, self._assigned, available_bytes=available)
        else:
            losses, _ = engine.evaluate(pop, x, y, self._assigned, available_bytes=available)
        raw = ops.convert_to_numpy(losses).astype("float64")
        raw = np.where(np.isfinite(raw), raw, np.nanmax(np.where(np.isfinite(raw), raw, -np.inf), initial=0) + 1e3)
        fitness = self._ewma_fitness(raw, engine, x, y)  # x, y: the stacked fixed batches
        if self.uses_gradients:  # Lamarckian SGD step after evaluation (Algorithm 1 line 18, [code] sign)
            pop = self._repair(pop - self.gradient_lr * ops.where(ops.isfinite(grads), grads, 0.0))

        order = np.argsort(fitness, kind="stable")
        selected = ops.take(pop, order[: self.mu], axis=0)
        weights = ops.convert_to_tensor(self.weights)
        centre_new = ops.sum(weights[:, None] * selected, axis=0)
        shift = centre_new - ops.mean(pop, axis=0)          # the selection shift ([code] Δ̃)
        step = centre_new - self.state["centre"]             # the midpoint shift
        c_e = self.cp
        if int(self.state["t"]) == 0:
            path = step                                      # Algorithm 1 line 8
        else:
            path = (1 - c_e) * self.state["path"] + math.sqrt(self.mu * c_e * (2 - c_e)) * step
        entry = (selected / math.sqrt(2.0), shift, path)
        if len(self.slots) < self.history:
            self.slots.append(entry)
        else:
            self.slots[int(self.state["t"]) % self.history] = entry
        filled = len(self.slots)

        # Differential mutation (lines 11-16, [code] form):
        # d = sqrt(cd) [(x_j - x_k)/sqrt2 + xi1 shift(tau1)] + sqrt(1 - cd) xi2 path(tau2)
        lam = self.size
        tau1, tau2 = rng.integers(0, filled, lam), rng.integers(0, filled, lam)
        j, k = rng.integers(0, self.mu, lam), rng.integers(0, self.mu, lam)
        xi1 = ops.convert_to_tensor(rng.standard_normal(lam).astype("float32"))[:, None]
        xi2 = ops.convert_to_tensor(rng.standard_normal(lam).astype("float32"))[:, None]
        diff = self._archived_differences(tau1, j, k)
        noise, magnitude = ops.zeros(()), 0.0
        if self.variant == "ndes":
            # [code] random noise tol (1 - 2/sqrt(N))^(t/2) N(0, I) / sqrt(N); Algorithm 1 line 20 with c_cov = 2/sqrt(N)
            c_cov = min(2.0 / math.sqrt(n), 1.0)
            magnitude = self.tol * (1 - c_cov) ** (int(self.state["t"]) / 2) / math.sqrt(n)
            noise = keras.random.normal((lam, n), seed=int(rng.integers(2**31)))
        if not hasattr(self, "_offspring_fn"):
            self._offspring_fn = compile_function(self._offspring, jit=self.fuse)
        offspring = self._offspring_fn(
            centre_new, diff, ops.stack([slot[1] for slot in self.slots]), ops.stack([slot[2] for slot in self.slots]),
            ops.convert_to_tensor(tau1.astype("int32")), ops.convert_to_tensor(tau2.astype("int32")), xi1, xi2,
            noise, ops.convert_to_tensor(magnitude, "float32"))
        self.state.update(population=offspring, centre=centre_new, path=path,
                          t=np.array(int(self.state["t"]) + 1), filled=np.array(filled))
        early = t < 0.8 * getattr(self, "total_generations", math.inf)
        if np.ptp(fitness) < self.tol and early:  # [code] restart on a collapsed range, before 80% of the budget
            self.state["restarts"] = np.array(int(self.state["restarts"]) + 1)
            self._sample_population(np.asarray(ops.convert_to_numpy(centre_new)), rng)
        return {"best": float(np.min(raw)), "mean": float(np.mean(raw)), "evaluations": lam}

    def _offspring(self, centre, diff, shifts, paths, tau1, tau2, xi1, xi2, noise, magnitude):
        """m(t+1) + d for every member, plus the noise, repaired: one fused elementwise pass (XLA
        made this 10x faster than op-by-op on the CPU)."""
        cd = self.ccum
        d = (math.sqrt(cd) * (diff + xi1 * ops.take(shifts, tau1, axis=0))
             + math.sqrt(1 - cd) * xi2 * ops.take(paths, tau2, axis=0))
        return self._bounce(centre[None] + d + magnitude * noise)

    def _bounce(self, pop):
        lo, width = -self.bounds, 2 * self.bounds
        z = ops.mod(pop - lo, 2 * width)
        return lo + ops.where(z > width, 2 * width - z, z)

    SMALL_HISTORY = 64 << 20  # bytes: below this, one gather from the stacked history

    def _archived_differences(self, tau1, j, k):
        """(x_j - x_k) / sqrt2 from history slot tau1, for every member. A small history is stacked
        and gathered with fixed shapes (no recompiling per generation under JAX); a large one is
        read slot by slot, so storing a slot never copies the whole history."""
        mu, n = self.mu, int(self.slots[0][0].shape[1])
        if len(self.slots) * mu * n * BYTES > self.SMALL_HISTORY:
            return self._from_slots(tau1, lambda slot, rows: ops.take(slot[0], j[rows], axis=0)
                                    - ops.take(slot[0], k[rows], axis=0))
        stacked = ops.concatenate([slot[0] for slot in self.slots], axis=0)
        base = tau1 * mu
        return ops.take(stacked, base + j, axis=0) - ops.take(stacked, base + k, axis=0)

    def _from_slots(self, slot_of_member, rows_fn):
        """rows_fn(slot, member_rows) for each history slot, reassembled in member order: the
        ring stays a list of tensors, so storing a slot never copies the whole history."""
        parts, order = [], []
        for s, slot in enumerate(self.slots):
            rows = np.flatnonzero(slot_of_member == s)
            if rows.size:
                parts.append(rows_fn(slot, rows))
                order.append(rows)
        inverse = np.argsort(np.concatenate(order))
        return ops.take(ops.concatenate(parts, axis=0), inverse, axis=0)

    def _ewma_fitness(self, raw, engine, x, y):
        """Fitness = loss on the member's batch minus that batch's EWMA (eqs. 4, 5), then the EWMA
        update with alpha_t = 1 / t^(1/3) ([code]; the paper prints the t-th root)."""
        if not self.ewma:
            return raw
        batches = len(self._batches[1])
        ewma = np.asarray(self.state["ewma"], dtype="float64")
        if ewma.size != batches:  # [code] initial EWMA[b] = the initial model's loss on batch b
            centre = ops.repeat(ops.convert_to_tensor(self.state["centre"])[None], batches, axis=0)
            init, _ = engine.evaluate(centre, x, y, np.arange(batches), self.available_for_evaluation(engine))
            ewma = ops.convert_to_numpy(init).astype("float64")
        fitness = raw - ewma[self._assigned]
        t = int(self.state["t"]) + 1
        alpha = 1.0 / t ** (1.0 / 3.0)
        sums = np.bincount(self._assigned, weights=raw, minlength=batches)
        counts = np.bincount(self._assigned, minlength=batches)
        seen = counts > 0
        ewma[seen] = (1 - alpha) * ewma[seen] + alpha * sums[seen] / counts[seen]
        self.state["ewma"] = ewma.astype("float32")
        return fitness

    def extra_state(self):
        return {**self.state, **_history_arrays(self.slots)}

    def load_extra_state(self, state):
        hx, hs, hp = (state.pop(k, None) for k in ("history_x", "history_shift", "history_path"))
        self.state = state
        self.slots = [] if hx is None else [(hx[i], hs[i], hp[i]) for i in range(int(hx.shape[0]))]
        # the ring's write position continues at t mod history, as in an uninterrupted run

    def candidates(self):
        """The whole population and its centre (seed 000 L984: the best of the final population
        on validation)."""
        parts = [self.state["population"], ops.convert_to_tensor(self.state["centre"])[None]]
        return ops.concatenate(parts, axis=0)





def _history_arrays(slots):
    return {"history_x": ops.stack([s[0] for s in slots]), "history_shift": ops.stack([s[1] for s in slots]),
            "history_path": ops.stack([s[2] for s in slots])} if slots else {}
