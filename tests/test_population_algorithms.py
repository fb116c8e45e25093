"""The population optimizers: each operator does what its seed says, each optimizer learns,
and a run stopped by its budget resumes exactly where an uninterrupted run would be."""
import keras
import numpy as np
import pytest
from keras import ops

from automl.budget import Deadline
from automl.population import DE, LEEA, NDES, CoSyNE, MemoryBudgetError, MuLambdaES, PopulationEngine
from automl.population.genome import DCTGenome, make_genome


def _linear_problem(n=256, seed=0):
    """A convex problem: least squares with a known solution."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 5)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 0.0, 1.5]) + 0.3).astype("float32")
    return x, y


def _linear_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((5,)), keras.layers.Dense(1)])


def _digits(n_train=400):
    from sklearn.datasets import load_digits
    d = load_digits()
    x, y = (d.data / 16.0).astype("float32"), d.target.astype("int32")
    return (x[:n_train], y[:n_train]), (x[n_train:n_train + 200], y[n_train:n_train + 200])


def _classifier():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((64,)), keras.layers.Dense(16, activation="relu"),
                             keras.layers.Dense(10, activation="softmax")])


def _mse(model, x, y):
    return float(np.mean((np.ravel(model(x)) - y) ** 2))


# -- operators --------------------------------------------------------------------------------
def _leea_generation(**kwargs):
    model = _linear_model()
    engine = PopulationEngine(model, task="regression")
    leea = LEEA(population_size=40, batch_size=64, **kwargs)
    leea.plan(engine.size, 1 << 30)
    rng = np.random.default_rng(0)
    leea.initialise(engine.table.flatten(), engine, rng)
    before = np.asarray(leea.state["population"]).copy()
    x, y = _linear_problem(64)
    leea.generation(engine, x, y, rng, 0)
    losses = engine.loop_losses(before, x, y)
    return leea, before, np.asarray(leea.state["population"]), losses


def test_leea_elites_crossover_and_mutation():
    leea, before, after, losses = _leea_generation(sigma=0.01)
    n_e, n_c, n_m, n_t = leea.counts
    assert (n_e, n_c, n_m) == (2, 30, 8)  # p_E 0.05, p_C 0.75, p_M 0.20 of 40
    order = np.argsort(losses)
    np.testing.assert_array_equal(after[:n_e], before[order[:n_e]])  # elites: the best, unchanged
    truncation = before[order[:n_t]]
    for child in after[n_e:n_e + n_c]:  # every gene of a uniform-crossover child comes from a parent
        from_parent = np.isclose(child[None], truncation).any(axis=0)
        assert from_parent.all()
        # and from two parents, not a copy, for most children
    mixed = [len({i for i in range(n_t) if np.isclose(c, truncation[i]).any()}) >= 2 for c in after[n_e:n_e + n_c]]
    assert np.mean(mixed) >= 0.9  # a copy needs both parents equal or all 6 genes from one (2 / 64)
    steps = []
    for mutant in after[n_e + n_c:]:  # a truncation member plus sigma N(0, I)
        step = mutant[None] - truncation
        nearest = np.abs(step).sum(axis=1).argmin()
        steps.append(step[nearest])
    # 8 mutants x 6 genes of sigma N(0, 1): the RMS step is sigma to 10% (one sd, 1 / sqrt(2 * 48))
    assert np.sqrt(np.mean(np.square(steps))) == pytest.approx(0.01, rel=0.2)
    inherited = np.asarray(leea.state["inherited"])
    np.testing.assert_allclose(inherited[:n_e], -losses[order[:n_e]], rtol=1e-5)


def test_leea_arithmetic_crossover_is_the_weighted_mean():
    leea, before, after, losses = _leea_generation(crossover="arithmetic", exploit_rate=0.5)
    n_e, n_c, _, n_t = leea.counts
    truncation = before[np.argsort(losses)[:n_t]]
    mids = 0.5 * (truncation[:, None] + truncation[None])  # every pair's mean
    for child in after[n_e:n_e + n_c]:
        assert np.abs(mids - child).max(axis=-1).min() < 1e-6


def test_leea_sigma_modes():
    leea = LEEA(sigma=0.1, sigma_mode="decay", decay_steps=10)
    assert leea.sigma_at(10) == pytest.approx(0.1 * 0.99)  # eq. (5.3)
    leea, before, after, _ = _leea_generation(sigma_mode="self-adaptive", sigma=0.01)
    sigmas = np.asarray(leea.state["sigma"])
    n_e, n_c, n_m, _ = leea.counts
    assert np.all(sigmas[:n_e + n_c] == pytest.approx(0.01))  # means of equal parents
    # mutants carry their own sigma * exp(tau N(0, 1)), tau = 1 / sqrt(6 weights): all moved, none wildly
    log_ratio = np.log(sigmas[n_e + n_c:] / 0.01) * np.sqrt(6)
    assert np.all(np.abs(log_ratio) > 1e-3) and np.all(np.abs(log_ratio) < 4)


def test_ndes_selection_path_and_bounds():
    model = _linear_model()
    engine = PopulationEngine(model, task="regression")
    ndes = NDES(population_size=24, history=3, batch_size=64, ewma=False)
    ndes.plan(engine.size, 1 << 30)
    w = ndes.weights
    assert w.sum() == pytest.approx(1.0) and np.all(np.diff(w) < 0) and len(w) == 12  # log-rank, mu = lambda/2
    rng = np.random.default_rng(0)
    ndes.initialise(engine.table.flatten(), engine, rng)
    pop = np.asarray(ndes.state["population"])
    np.testing.assert_allclose(pop[0], engine.table.flatten())  # individual 0: the model's weights
    assert np.abs(pop).max() <= 2.0
    x, y = _linear_problem(64)
    ndes._batches = (len(x), np.arange(64)[None])
    ndes._assigned = np.zeros(24, dtype=int)
    losses = engine.loop_losses(pop, x, y)
    ndes.generation(engine, x[None], y[None], rng, 0)
    selected = pop[np.argsort(losses, kind="stable")[:12]]
    np.testing.assert_allclose(np.asarray(ndes.state["centre"]), (w[:, None] * selected).sum(0), atol=1e-5)
    assert len(ndes.slots) == 1
    repaired = np.asarray(ndes._bounce(ops.convert_to_tensor(np.array([[2.5, -2.25, 1.0, 6.5]], "float32"))))
    np.testing.assert_allclose(repaired, [[1.5, -1.75, 1.0, -1.5]])  # reflected back into [-2, 2]


def test_ndes_ewma_fitness_is_relative_to_the_batch():
    ndes = NDES(population_size=4)
    ndes.state = {"ewma": np.array([1.0, 2.0], "float32"), "t": np.array(0)}
    ndes._batches = (8, np.zeros((2, 4), dtype=int))
    ndes._assigned = np.array([0, 1, 0, 1])
    fitness = ndes._ewma_fitness(np.array([1.5, 1.0, 0.5, 3.0]), None, None, None)
    np.testing.assert_allclose(fitness, [0.5, -1.0, -0.5, 1.0])
    np.testing.assert_allclose(ndes.state["ewma"], [1.0, 2.0])  # alpha_1 = 1: the batch means


def test_de_trials_and_greedy_selection():
    de = DE(population_size=6, crossover_rate=0.3, mutation="rand1", scale=0.5)
    pop = ops.convert_to_tensor(np.arange(60, dtype="float32").reshape(6, 10))
    trials = np.asarray(de.trials(pop, np.random.default_rng(1), best=0))
    base = np.asarray(pop)
    for i in range(6):  # binomial crossover: each gene is the target's or the mutant's, at least one mutant gene
        assert (trials[i] != base[i]).sum() >= 1
    with pytest.raises(ValueError, match=r"population_size.*an integer >= 5 \(mutation 'rand2' takes 4"):
        DE(population_size=4, mutation="rand2")
    model = _linear_model()
    engine = PopulationEngine(model, task="regression")
    de = DE(population_size=8)
    de.plan(engine.size, 1 << 30)
    rng = np.random.default_rng(0)
    de.initialise(engine.table.flatten(), engine, rng)
    x, y = _linear_problem(64)
    before = engine.loop_losses(np.asarray(de.state["population"]), x, y)
    de.generation(engine, x, y, rng, 0)
    after = engine.loop_losses(np.asarray(de.state["population"]), x, y)
    assert np.all(after <= before + 1e-6)  # one-to-one: no member gets worse on the same batch


def test_cosyne_permutes_columns_and_keeps_genes():
    model = _linear_model()
    engine = PopulationEngine(model, task="regression")
    cos = CoSyNE(population_size=8, children=2, mutation_rate=0.0)
    cos.plan(engine.size, 1 << 30)
    rng = np.random.default_rng(0)
    cos.initialise(engine.table.flatten(), engine, rng)
    before = np.asarray(cos.state["population"]).copy()
    x, y = _linear_problem(64)
    losses = engine.loop_losses(before, x, y)
    cos.generation(engine, x, y, rng, 0)
    after = np.asarray(cos.state["population"])
    survivors = before[np.argsort(losses, kind="stable")[:6]]
    for col in range(before.shape[1]):  # each column of the survivors is a permutation of itself
        np.testing.assert_allclose(np.sort(after[:6, col]), np.sort(survivors[:, col]))
    pool = before[np.argsort(losses)[:2]]  # best 25% of 8
    for kid in after[6:]:  # without mutation, a child's genes come from the pool
        assert np.isclose(kid[None], pool).any(axis=0).all()


def test_es_truncation_takes_the_mu_best_and_rank_and_fitness_prefer_lower_losses():
    es = MuLambdaES(population_size=10, parent_fraction=0.3, selection="truncated")
    losses = np.array([5.0, 1.0, 3.0, 0.5, 9.0, 2.0, 7.0, 4.0, 6.0, 8.0])
    assert list(es.select(losses, np.random.default_rng(0))) == [3, 1, 5]
    rank = MuLambdaES(population_size=10, parent_fraction=0.3, selection="rank")
    picks = np.concatenate([rank.select(losses, np.random.default_rng(s)) for s in range(200)])
    assert np.mean(picks == 3) > np.mean(picks == 4)  # the best member is picked more than the worst
    fit = MuLambdaES(population_size=10, parent_fraction=0.3, selection="fitness")
    picks = np.concatenate([fit.select(losses, np.random.default_rng(s)) for s in range(200)])
    assert np.mean(picks == 3) > np.mean(picks == 9)  # lower loss, more likely (the seed code's bug inverted this)


def test_dct_genome_round_trip():
    w = np.random.default_rng(0).standard_normal((3, 50)).astype("float32")
    full = DCTGenome(50, 50)
    np.testing.assert_allclose(np.asarray(full.decode(ops.convert_to_tensor(full.encode(w)))), w, atol=1e-4)
    half = DCTGenome(50, 10)
    smooth = np.cos(np.linspace(0, 1, 50))[None].astype("float32")  # low-frequency: 10 coefficients suffice
    np.testing.assert_allclose(np.asarray(half.decode(ops.convert_to_tensor(half.encode(smooth)))), smooth, atol=2e-2)
    assert make_genome(50, "dct", 0.2).length == 10
    with pytest.raises(ValueError, match="direct or dct"):
        make_genome(50, "fourier", 0.2)


def _dct_matrix(n, k):
    """The first k orthonormal DCT-II basis vectors as rows, written out from the definition."""
    rows = np.cos(np.pi * (np.arange(n)[None] + 0.5) * np.arange(k)[:, None] / n) * np.sqrt(2.0 / n)
    rows[0] *= np.sqrt(0.5)
    return rows


def test_the_fast_dct_genome_equals_the_matrix_form():
    n, k = 37, 11
    basis = _dct_matrix(n, k)
    w = np.random.default_rng(1).standard_normal((4, n))
    genome = DCTGenome(n, k)
    np.testing.assert_allclose(genome.encode(w), w @ basis.T, atol=1e-5)
    genes = np.random.default_rng(2).standard_normal((4, k)).astype("float32")
    np.testing.assert_allclose(np.asarray(genome.decode(ops.convert_to_tensor(genes))), genes @ basis, atol=1e-5)


def test_a_dct_genome_of_a_large_net_keeps_no_matrix_and_fits_its_memory_budget():
    n = 784 * 32 + 32 + 32 * 10 + 10                         # the README's MLP 784-32-10: 25,450 weights
    genome = make_genome(n, "dct", 0.3)
    assert genome.length == 7635
    assert not any(isinstance(v, np.ndarray) or hasattr(v, "shape") for v in vars(genome).values())
    assert genome.bytes(17) == 4 * 2 * 17 * n                 # decoding: coefficients padded and weights
    de = DE(genome="dct", genes=0.3)                          # the default memory budget holds it
    assert de.plan(n, de.memory_bytes) == [] and de.state_bytes(n) < de.memory_bytes
    # decoding the population (and the best ever) counts: a budget that holds the genomes and their
    # scratch buffers (3 population-sized) but only half of what decoding takes is refused
    held = 4 * (3 + 1) * de.size * genome.length + 4 * n * 2
    with pytest.raises(MemoryBudgetError, match="needs"):
        de.plan(n, held + genome.bytes(de.size + 1) // 2)


# -- learning ---------------------------------------------------------------------------------
OPTIMIZERS = {
    "leea": lambda: LEEA(population_size=200, batch_size=128, sigma=0.02),
    "ndes": lambda: NDES(population_size=40, history=8, batch_size=64),
    "ndes-g": lambda: NDES(variant="ndes-g", population_size=40, history=8, batch_size=64, gradient_lr=0.05),
    "ndes-b": lambda: NDES(variant="ndes-b", population_size=40, history=8, batch_size=64),
    "de": lambda: DE(),
    "cosyne": lambda: CoSyNE(),
    "es": lambda: MuLambdaES(),
    "de-dct": lambda: DE(genome="dct", genes=6),  # all 6 coefficients: the rotated space
}


# final / start MSE after 15 epochs, measured with optimizer and model seeds 0, 1, 2, 3:
#   leea 0.10 0.047 0.30 0.19      ndes 7.6e-6 1.0e-5 3.8e-5 5.8e-6   ndes-g 3.1e-7 2.8e-7 3.3e-6 2.7e-7
#   ndes-b 6.8e-4 3.6e-4 9.9e-4 1.4e-3   de 0.014 0.0069 0.046 0.030   cosyne 2.0e-3 6.8e-4 4.6e-3 6.0e-3
#   es 3.6e-4 3.3e-5 1.8e-3 1.1e-3      de-dct 2.6e-14 1.9e-12 1.9e-11 4.5e-12
# The bound is about 10x the worst seed (the run is seeded 0; another platform's rounding can
# send it down another seed's path); LEEA's 10x would exceed 1, so it gets the worst seed's 0.30
# with a little room.
CONVEX_RATIO = {"leea": 0.4, "ndes": 4e-4, "ndes-g": 3e-5, "ndes-b": 1.5e-2, "de": 0.45, "cosyne": 0.06,
                "es": 0.02, "de-dct": 2e-10}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_each_optimizer_reduces_a_convex_loss(name):
    x, y = _linear_problem()
    model = _linear_model()
    start = _mse(model, x, y)
    state = OPTIMIZERS[name]().fit(model, (x, y), (x, y), epochs=15, task="regression")
    assert _mse(model, x, y) < CONVEX_RATIO[name] * start, state["history"][-1]


# validation accuracy after 6 epochs, seeds 0, 1, 2, 3 (chance 0.1): leea .355 .395 .355 .330,
# ndes .220 .415 .270 .355, ndes-g .365 .505 .530 .555, ndes-b .280 .370 .340 .340, de .310 .320
# .390 .285, cosyne .375 .330 .355 .470, es .360 .255 .335 .275. The bound: the worst seed less
# about 0.05 (1.5 standard deviations of an accuracy on 200 samples).
CLASSIFIER_ACCURACY = {"leea": 0.28, "ndes": 0.2, "ndes-g": 0.3, "ndes-b": 0.23, "de": 0.24, "cosyne": 0.28,
                       "es": 0.2}


@pytest.mark.parametrize("name", list(CLASSIFIER_ACCURACY))
def test_each_optimizer_trains_a_tiny_classifier(name):
    train, val = _digits()
    model = _classifier()
    OPTIMIZERS[name]().fit(model, train, val, epochs=6)
    accuracy = np.mean(np.argmax(model(val[0]), axis=-1) == val[1])
    assert accuracy > CLASSIFIER_ACCURACY[name]


def test_resume_after_a_stop_continues_the_same_run(tmp_path):
    x, y = _linear_problem()

    def run(directory, deadline=None):
        model = _linear_model()
        opt = NDES(population_size=16, history=4, batch_size=64, checkpoint_seconds=0)
        state = opt.fit(model, (x, y), (x, y), epochs=4, task="regression", checkpoint_dir=directory, deadline=deadline)
        return state, model.get_weights()

    straight, w_straight = run(tmp_path / "a")

    class AfterCalls(Deadline):  # a deadline that expires after k checks: a deterministic "kill"
        def __init__(self, k):
            super().__init__(3600)
            self.k = k

        def expired(self):
            self.k -= 1
            if self.k < 0:
                self.hit = True
                return True
            return False

    cut, _ = run(tmp_path / "b", AfterCalls(6))
    assert cut["cut"] and cut["generation"] == 6 and not cut["finished"]
    resumed, w_resumed = run(tmp_path / "b")
    assert resumed["finished"] and resumed["generation"] == straight["generation"] == 16
    for a, b in zip(w_straight, w_resumed):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert [h["val_loss"] for h in resumed["history"]] == pytest.approx([h["val_loss"] for h in straight["history"]])
