"""The population core against independent computations: nDES's generations replayed in plain
numpy (offspring formula, evolution path, history ring, EWMA fitness, restarts; seed 000
Algorithm 1 with the [code] details of reference 000 §2.1.5), LEEA's fitness inheritance
(seed 001 eq. 5.2) on a scripted generation, and the trainer keeping the best validated member
of all epochs, not the last one's."""
import math

import keras
import numpy as np
import pytest
from keras import ops

from automl.population import LEEA, NDES, PopulationEngine
from automl.population.base import PopulationOptimizer


def _linear_model(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])  # N = 4 + 1 = 5 weights


def _linear_data(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 1.5]) + 0.3 + 0.1 * rng.standard_normal(n)).astype("float32")
    return x, y


def _mse(w, x, y):
    """The linear model's loss in float64: w = (kernel[4], bias)."""
    w = np.asarray(w, dtype="float64")
    return np.mean((np.asarray(x, "float64") @ w[:4] + w[4] - np.asarray(y, "float64")) ** 2)


def _bounce(pop, b=2.0):
    """Bounce-back into [-b, b], reflecting modulo the interval's width ([code])."""
    z = np.mod(pop + b, 4 * b)
    return -b + np.where(z > 2 * b, 4 * b - z, z)


# -- nDES -------------------------------------------------------------------------------------
SEED, LAM, MU, H, N, TOL = 3, 8, 4, 2, 5, 0.05  # tol 0.05: the decaying noise shows at float32 precision


class NDESReference:
    """nDES (seed 000 Algorithm 1, [code] form) in float64 numpy, drawing its random numbers from
    the same generators in the same order as automl.population.ndes, so both must agree."""

    def __init__(self, w0, x, y, batch_size):
        self.ccum, self.cp = 0.96, 1.0 / math.sqrt(N)             # [code] defaults: c_d 0.96, c_e 1/sqrt(N)
        w = np.log(MU + 1) - np.log(np.arange(1, MU + 1))          # log-rank weights ln(mu+1) - ln(i)
        self.weights = w / w.sum()
        order = np.random.default_rng([SEED, 2]).permutation(len(x))
        self.batches = order.reshape(-1, batch_size)               # fixed for the whole run (seed 000 L968)
        self.x, self.y = x, y
        self.centre = w0.astype("float64")
        rng = np.random.default_rng([SEED, 0, 7])                  # fit's initialisation generator
        noise = ops.convert_to_numpy(keras.random.normal((LAM, N), seed=int(rng.integers(2**31))))
        scale = math.sqrt(6 / (4 + 1))                              # Xavier: kernel 4x1; the bias takes the kernel's
        pop = w0[None] + scale * noise
        pop[0] = w0                                                 # individual 0 is the model's weights
        self.pop = _bounce(pop.astype("float64"))
        self.path = np.zeros(N)
        self.ring = []                                              # (selected / sqrt2, shift, path) per slot
        self.ewma = np.array([_mse(w0, x[b], y[b]) for b in self.batches])  # [code] initial model's losses
        self.t = 0

    def generation(self, rng):
        t, pop = self.t, self.pop
        assigned = (t * LAM + np.arange(LAM)) % len(self.batches)  # cyclic, in creation order
        raw = np.array([_mse(w, self.x[self.batches[b]], self.y[self.batches[b]]) for w, b in zip(pop, assigned)])
        fitness = raw - self.ewma[assigned]                          # eq. 4: relative to the batch's EWMA
        alpha = 1.0 / (t + 1) ** (1 / 3)                             # [code] alpha_t = 1/t^(1/3), t from 1
        for b in np.unique(assigned):
            self.ewma[b] = (1 - alpha) * self.ewma[b] + alpha * raw[assigned == b].mean()
        selected = pop[np.argsort(fitness, kind="stable")[:MU]]
        centre = self.weights @ selected
        shift = centre - pop.mean(axis=0)                            # selection shift ([code] Delta~)
        step = centre - self.centre                                  # midpoint shift
        c = self.cp
        self.path = step if t == 0 else (1 - c) * self.path + math.sqrt(MU * c * (2 - c)) * step
        entry = (selected / math.sqrt(2), shift, self.path)
        if len(self.ring) < H:
            self.ring.append(entry)
        else:
            self.ring[t % H] = entry                                 # the ring's slot t mod H
        filled = len(self.ring)
        tau1, tau2 = rng.integers(0, filled, LAM), rng.integers(0, filled, LAM)
        j, k = rng.integers(0, MU, LAM), rng.integers(0, MU, LAM)
        xi1, xi2 = rng.standard_normal(LAM), rng.standard_normal(LAM)
        noise = ops.convert_to_numpy(keras.random.normal((LAM, N), seed=int(rng.integers(2**31))))
        magnitude = TOL * (1 - min(2 / math.sqrt(N), 1)) ** (t / 2) / math.sqrt(N)  # tol (1-c_cov)^(t/2) / sqrt(N)
        hx = np.stack([s[0] for s in self.ring])
        hs = np.stack([s[1] for s in self.ring])
        hp = np.stack([s[2] for s in self.ring])
        d = (math.sqrt(self.ccum) * (hx[tau1, j] - hx[tau1, k] + xi1[:, None] * hs[tau1])
             + math.sqrt(1 - self.ccum) * xi2[:, None] * hp[tau2])
        self.pop = _bounce(centre[None] + d + magnitude * noise)
        self.centre, self.t = centre, t + 1
        return fitness


@pytest.fixture(scope="module")
def ndes_run():
    """Three generations of nDES (lambda 8, mu 4, H 2: the third overwrites ring slot 0) beside
    the reference; the states after each generation."""
    x, y = _linear_data(40, seed=11)  # 5 fixed batches of 8
    model = _linear_model()
    engine = PopulationEngine(model, task="regression")
    ndes = NDES(population_size=LAM, history=H, batch_size=8, tol=TOL, seed=SEED)
    ndes.plan(engine.size, 1 << 30)
    w0 = engine.table.flatten()
    ndes.initialise(w0, engine, np.random.default_rng([SEED, 0, 7]))
    ref = NDESReference(w0, x, y, 8)
    states = [(_snapshot(ndes), _ref_snapshot(ref, None))]
    for t in range(3):
        xb, yb = ndes.batch(x, y, len(x), t, 5, None)
        ndes.generation(engine, xb, yb, np.random.default_rng([SEED, t + 1]), t)
        fitness = ref.generation(np.random.default_rng([SEED, t + 1]))
        states.append((_snapshot(ndes), _ref_snapshot(ref, fitness)))
    return ndes, states


def _snapshot(ndes):
    s = {k: np.asarray(ops.convert_to_numpy(ndes.state[k]), dtype="float64")
         for k in ("population", "centre", "path", "ewma")}
    s["ring"] = [tuple(np.asarray(ops.convert_to_numpy(a), dtype="float64") for a in slot) for slot in ndes.slots]
    s["restarts"] = int(ndes.state["restarts"])
    return s


def _ref_snapshot(ref, fitness):
    return {"population": ref.pop.copy(), "centre": ref.centre.copy(), "path": ref.path.copy(),
            "ewma": ref.ewma.copy(), "ring": [tuple(a.copy() for a in slot) for slot in ref.ring], "fitness": fitness}


def test_ndes_initial_population_is_the_centre_plus_xavier_noise(ndes_run):
    _, states = ndes_run
    got, want = states[0]
    np.testing.assert_allclose(got["population"], want["population"], rtol=1e-6, atol=1e-6)
    assert np.abs(want["population"]).max() <= 2.0 and got["ring"] == []


@pytest.mark.parametrize("t", [1, 2, 3])
def test_ndes_generation_equals_the_numpy_reference(ndes_run, t):
    """After generation t: centre, path, EWMA, every history slot and the offspring
    m(t+1) + sqrt(cd)[(x_j - x_k)/sqrt2 + xi1 shift(tau1)] + sqrt(1-cd) xi2 path(tau2) + noise."""
    ndes, states = ndes_run
    got, want = states[t]
    fitness = want["fitness"]
    gaps = np.diff(np.sort(fitness))
    assert gaps.min() > 1e-4 and np.ptp(fitness) > TOL  # a well-defined ranking, and no restart is due
    assert got["restarts"] == 0
    np.testing.assert_allclose(got["centre"], want["centre"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["path"], want["path"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["ewma"], want["ewma"], rtol=1e-5)
    assert len(got["ring"]) == len(want["ring"]) == min(t, H)
    for mine, theirs in zip(got["ring"], want["ring"]):
        for a, b in zip(mine, theirs):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["population"], want["population"], rtol=1e-5, atol=1e-5)


def test_ndes_path_and_ewma_by_hand(ndes_run):
    """The path recursion and the EWMA weight at t = 2, 3 written out: p = (1 - c)p + sqrt(mu c (2 - c))
    step with c = 1/sqrt5 (sqrt(4 * 0.4472136 * 1.5527864) = sqrt(2.7777088) = 1.6666460), p = step at
    t = 1; alpha_2 = 2^(-1/3) = 0.7937005, alpha_3 = 3^(-1/3) = 0.6933613."""
    _, states = ndes_run
    c = 1 / math.sqrt(5)
    assert math.sqrt(4 * c * (2 - c)) == pytest.approx(1.6666460, abs=1e-7)
    for t in (2, 3):
        prev, now = states[t - 1][0], states[t][0]
        step = now["centre"] - prev["centre"]
        np.testing.assert_allclose(now["path"], (1 - c) * prev["path"] + 1.6666460 * step, rtol=1e-5, atol=1e-6)
    first = states[1][0]
    np.testing.assert_allclose(first["path"], first["centre"] - states[0][0]["centre"], rtol=1e-5, atol=1e-6)
    # every batch is seen each generation (8 members on 5 batches): EWMA_b <- (1 - alpha) EWMA_b + alpha mean_b
    for t, alpha in ((2, 0.7937005), (3, 0.6933613)):
        prev, now = states[t - 1][0]["ewma"], states[t][0]["ewma"]
        means = (now - (1 - alpha) * prev) / alpha  # must be the batch means of generation t's raw losses
        fitness = states[t][1]["fitness"]
        assigned = ((t - 1) * LAM + np.arange(LAM)) % 5
        raw = fitness + prev[assigned]
        np.testing.assert_allclose(means, [raw[assigned == b].mean() for b in range(5)], rtol=1e-4)


def test_ndes_ring_overwrites_slot_t_mod_h(ndes_run):
    """H = 2: generation 3 (t = 2) replaces slot 0 and keeps slot 1 from generation 2."""
    _, states = ndes_run
    second, third = states[2][0]["ring"], states[3][0]["ring"]
    for a, b in zip(second[1], third[1]):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(second[0][1], third[0][1])
    np.testing.assert_allclose(third[0][2], states[3][0]["path"])  # the newest path sits in slot 0


def test_ndes_ewma_weight_by_hand_after_the_first_generation():
    """alpha_2 = 1/2^(1/3) = 0.793700526: EWMA [1, 2] with batch means 3 (batch 0: 2 and 4) and 0.5
    gives [1 + 0.7937 * 2, 2 - 0.7937 * 1.5] = [2.5874011, 0.8094492]; the fitness is loss - old EWMA."""
    ndes = NDES(population_size=4)
    ndes.state = {"ewma": np.array([1.0, 2.0], "float32"), "t": np.array(1)}
    ndes._batches = (8, np.zeros((2, 4), dtype=int))
    ndes._assigned = np.array([0, 1, 0, 1])
    fitness = ndes._ewma_fitness(np.array([2.0, 0.5, 4.0, 0.5]), None, None, None)
    np.testing.assert_allclose(fitness, [1.0, -1.5, 3.0, -1.5])
    np.testing.assert_allclose(ndes.state["ewma"], [2.5874011, 0.8094492], rtol=1e-6)


def _collapsed_generation(t, total):
    """One generation of a population of identical members on one batch (EWMA off): the fitness
    range is 0 < tol, so a restart is due exactly when t < 0.8 * total."""
    x, y = _linear_data(16, seed=5)
    model = _linear_model(1)
    engine = PopulationEngine(model, task="regression")
    ndes = NDES(variant="ndes-b", population_size=8, history=2, batch_size=16, ewma=False, seed=4)
    ndes.plan(engine.size, 1 << 30)
    ndes.initialise(engine.table.flatten(), engine, np.random.default_rng(0))
    centre = engine.table.flatten()
    ndes.state["population"] = ops.convert_to_tensor(np.repeat(centre[None], 8, axis=0))
    ndes.state["t"] = np.array(t)
    ndes.total_generations = total
    ndes._batches = (16, np.arange(16)[None])
    ndes._assigned = np.zeros(8, dtype=int)
    rng = np.random.default_rng([4, t + 1])
    ndes.generation(engine, x[None], y[None], rng, t)
    # replay: the generation draws tau1, tau2, j, k, xi1, xi2 (nDES-B: no noise); a restart draws its seed next
    replay = np.random.default_rng([4, t + 1])
    for high in (1, 1, 4, 4):
        replay.integers(0, high, 8)
    replay.standard_normal(8), replay.standard_normal(8)
    noise = ops.convert_to_numpy(keras.random.normal((8, 5), seed=int(replay.integers(2**31))))
    restarted = _bounce(centre[None] + math.sqrt(6 / 5) * noise)
    restarted[0] = centre
    return ndes, centre, restarted


@pytest.mark.parametrize("t,restart", [(7, True), (8, False)])
def test_ndes_restarts_on_a_collapsed_range_only_before_80_percent_of_the_budget(t, restart):
    """Total 10 generations: t = 7 < 8 restarts around the new centre (individual 0 the centre,
    the others centre + Xavier noise, history and path emptied); t = 8 does not, and the
    offspring of identical parents are the centre itself (no differences, no shift, no step)."""
    ndes, centre, restarted = _collapsed_generation(t, 10)
    pop = np.asarray(ops.convert_to_numpy(ndes.state["population"]))
    np.testing.assert_allclose(np.asarray(ndes.state["centre"]), centre, rtol=1e-6)
    assert int(ndes.state["restarts"]) == int(restart)
    if restart:
        np.testing.assert_allclose(pop, restarted, rtol=1e-6, atol=1e-6)
        assert ndes.slots == [] and not np.any(np.asarray(ndes.state["path"]))
    else:
        np.testing.assert_allclose(pop, np.repeat(centre[None], 8, axis=0), atol=1e-6)
        assert len(ndes.slots) == 1


# -- LEEA fitness inheritance -------------------------------------------------------------------
def test_leea_fitness_inheritance_on_a_scripted_generation():
    """Eq. 5.2 with alpha = 0.25: u_adj = 0.75 u_inh + 0.25 u ranks the members; a member
    without an inherited value (NaN) keeps u. The next generation inherits u_adj: elites their
    own, crossover children the mean of their parents', mutants their parent's."""
    x, y = _linear_data(16, seed=7)
    model = _linear_model(2)
    engine = PopulationEngine(model, task="regression")
    leea = LEEA(population_size=8, fitness_inheritance=0.25, elite_fraction=0.25, crossover_fraction=0.5,
                truncation=0.5, sigma=0.1, batch_size=16)
    leea.plan(engine.size, 1 << 30)
    assert leea.counts == (2, 4, 2, 4)
    rng = np.random.default_rng(9)
    pop = (0.5 * rng.standard_normal((8, 5))).astype("float32")
    u = -np.array([_mse(w, x, y) for w in pop])
    # inherited values that reverse the raw ranking: the worse the member on this batch, the higher
    raw_rank = np.argsort(np.argsort(-u))  # 0 = best raw fitness
    inherited = (-1.0 + 0.5 * raw_rank).astype("float32")
    inherited[int(np.argmax(u))] = np.nan  # the raw best has nothing to inherit: u_adj = u
    leea.state = {"population": ops.convert_to_tensor(pop), "inherited": ops.convert_to_tensor(inherited),
                  "sigma": ops.convert_to_tensor(np.full(8, 0.1, "float32"))}
    leea.generation(engine, x, y, np.random.default_rng(21), 0)

    u_adj = np.where(np.isnan(inherited), u, 0.75 * inherited + 0.25 * u)
    order = np.argsort(-u_adj)
    assert np.diff(np.sort(u_adj)).min() > 1e-3 and order[0] != np.argmax(u)  # inheritance changes the ranking
    np.testing.assert_array_equal(np.asarray(leea._last_order), order)
    # replay the generation's draws: pairs from T, the crossover mask's seed, the mutants' parents
    replay = np.random.default_rng(21)
    truncation = order[:4]
    pairs = replay.choice(truncation, size=(4, 2))
    mask_seed = int(replay.integers(2**31))
    parents = replay.choice(truncation, size=2)
    noise_seed = int(replay.integers(2**31))
    expected = np.concatenate([u_adj[order[:2]], 0.5 * (u_adj[pairs[:, 0]] + u_adj[pairs[:, 1]]), u_adj[parents]])
    np.testing.assert_allclose(np.asarray(leea.state["inherited"]), expected, rtol=1e-5)
    after = np.asarray(leea.state["population"])
    np.testing.assert_array_equal(after[:2], pop[order[:2]])  # elites copied unchanged
    fitter = np.where(u_adj[pairs[:, 0]] >= u_adj[pairs[:, 1]], pairs[:, 0], pairs[:, 1])
    other = np.where(fitter == pairs[:, 0], pairs[:, 1], pairs[:, 0])
    mask = ops.convert_to_numpy(keras.random.uniform((4, 5), seed=mask_seed)) < 0.5
    np.testing.assert_array_equal(after[2:6], np.where(mask, pop[fitter], pop[other]))
    noise = ops.convert_to_numpy(keras.random.normal((2, 5), seed=noise_seed))
    np.testing.assert_allclose(after[6:], pop[parents] + 0.1 * noise, rtol=1e-6, atol=1e-7)


# -- the best validated epoch -----------------------------------------------------------------
class Scripted(PopulationOptimizer):
    """An optimizer whose candidates after generation t are script[t]: the trainer's choice of
    the best validated member is then fully known in advance."""

    name = "scripted"

    def __init__(self, script, **kwargs):
        super().__init__(**kwargs)
        self.script = [np.asarray(s, dtype="float32") for s in script]

    def plan(self, n, available):
        return []

    def state_bytes(self, n):
        return 0

    def initialise(self, w0, engine, rng):
        self.state = {"t": np.array(0)}

    def generation(self, engine, x, y, rng, t):
        self.state["t"] = np.array(t)
        return {"best": 1.0, "mean": 2.0, "evaluations": len(self.script[t])}

    def candidates(self):
        return ops.convert_to_tensor(self.script[int(self.state["t"])])


# Validation: 4 points, 2 classes; a Dense(2, softmax) on 2 inputs is w = (kernel[2x2] row-major, bias[2]).
XV = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.2], [0.3, 1.0]], "float32")
YV = np.array([0, 1, 0, 1])


def _gap(g0, g1, b):
    """A member whose logit of class 0 minus class 1 is g0 x0 + g1 x1 + b (kernel [[g0, 0], [g1, 0]],
    bias [b, 0])."""
    return [g0, 0.0, g1, 0.0, b, 0.0]


def _numpy_scores(w):
    w = np.asarray(w, "float64")
    logits = XV @ w[:4].reshape(2, 2) + w[4:]
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    return float(np.mean(-np.log(p[np.arange(4), YV]))), float(np.mean(p.argmax(1) == YV))


def test_fit_keeps_the_best_validated_member_of_all_epochs_not_the_last():
    """Epoch 1: the higher accuracy (1.0) wins over the lower loss (0.75). Epoch 2: two members
    at 1.0, the lower loss wins. Epoch 3: 1.0 again with a higher loss (a tie on accuracy, not
    better). Epoch 4: a lower loss than epoch 2's but accuracy 0.75. The model ends with epoch
    2's lower-loss member; each record reports its epoch's best."""
    low = _gap(100, 0, -29.99)  # point 4 wrong by 0.01, the rest right by 30+: acc 0.75, loss log(1 + e^0.01)/4
    script = [
        [low, _gap(0.8, -0.8, 0)],                   # acc 0.75 / 1.0 (s (x0 - x1): all right), loss 0.17 / 0.40
        [_gap(1.0, -1.0, 0), _gap(1.5, -1.5, 0)],    # both acc 1.0; s = 1.5 has the lower loss (0.24 < 0.35)
        [_gap(1.2, -1.2, 0)],                        # acc 1.0, a loss between the two
        [_gap(0.5, -0.5, -0.6), low],                # acc 0.5 (points 1, 3 wrong) / 0.75 with the lowest loss
    ]
    scores = [[_numpy_scores(w) for w in epoch] for epoch in script]
    (l_low, a_low), (l_e1, a_e1) = scores[0]
    (l1, a1), (l4, a4) = scores[1]
    (l_tie, a_tie), = scores[2]
    assert a_e1 == a1 == a4 == a_tie == 1.0 and l4 < l_tie < l1 < l_e1 and a_low == 0.75 and l_low < l4
    assert scores[3][0][1] == 0.5 and scores[3][1] == scores[0][0]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="softmax")])
    x = np.zeros((4, 2), "float32")
    run = Scripted(script, batch_size=4).fit(model, (x, np.array([0, 1, 0, 1])), (XV, YV), epochs=4)
    assert run["best_epoch"] == 2 and run["best"] == 1.0 and run["best_tie"] == pytest.approx(l4, rel=1e-5)
    kernel, bias = model.get_weights()
    np.testing.assert_array_equal(np.concatenate([kernel.ravel(), bias]), np.float32(script[1][1]))
    chosen = [max(range(len(e)), key=lambda i: (e[i][1], -e[i][0])) for e in scores]
    assert chosen == [1, 1, 0, 1]
    assert [h["val_accuracy"] for h in run["history"]] == [scores[e][i][1] for e, i in enumerate(chosen)]
    np.testing.assert_allclose([h["val_loss"] for h in run["history"]],
                               [scores[e][i][0] for e, i in enumerate(chosen)], rtol=1e-5)
    assert [h["epoch"] for h in run["history"]] == [1, 2, 3, 4]


def test_fit_regression_keeps_the_lowest_validation_loss(tmp_path):
    """Regression: the lowest loss of all candidates of all epochs (epoch 2's second member), in
    the model and in the saved best model."""
    xv, yv = _linear_data(12, seed=4)
    truth = np.array([1.0, -2.0, 0.5, 1.5, 0.3])
    script = [[truth + 1.0, truth + 0.8], [truth + 0.5, truth + 0.05], [truth + 0.3], [truth - 0.2, truth + 0.6]]
    losses = [[_mse(w, xv, yv) for w in epoch] for epoch in script]
    assert min(min(e) for e in losses) == losses[1][1]
    model = _linear_model()
    run = Scripted(script, batch_size=12).fit(model, (xv, yv), (xv, yv), epochs=4, task="regression",
                                              best_path=tmp_path / "best.keras")
    assert run["best_epoch"] == 2 and run["best"] == pytest.approx(-losses[1][1], rel=1e-5)
    np.testing.assert_allclose([h["val_loss"] for h in run["history"]], [min(e) for e in losses], rtol=1e-5)
    for weights in (model.get_weights(), keras.models.load_model(tmp_path / "best.keras").get_weights()):
        np.testing.assert_array_equal(np.concatenate([w.ravel() for w in weights]), np.float32(script[1][1]))
