"""Seed 003's DE, CoSyNE and (mu/rho, lambda)-ES, one generation at a time, against the seed's
formulas recomputed here in plain numpy from the same random draws (reference 003 §1.5).

The loss is a scripted sphere, sum(w^2) per member (`Sphere`), so every selection is known in
closed form without a network; each replay repeats the generator calls of one generation in the
order the optimizer makes them, so any change to a formula, a comparison or a probability shows
as a different population."""
import keras
import numpy as np
import pytest
from keras import ops

from automl.population import DE, CoSyNE, MuLambdaES
from automl.population.genome import DirectGenome


class Sphere:
    """A stand-in for PopulationEngine.evaluate: loss = sum of squares of each member."""

    size = 1

    def __init__(self, flat: bool = False):
        self.flat, self.calls = flat, 0

    def evaluate(self, pop, x, y, available_bytes=None):
        self.calls += 1
        w = np.asarray(ops.convert_to_numpy(pop), "float64")
        losses = np.zeros(len(w)) if self.flat else (w ** 2).sum(axis=1)
        return losses, np.zeros(len(w))


def _ready(opt, pop):
    """`opt` with the population `pop` and no best member yet (as `initialise` leaves it)."""
    opt.genome = DirectGenome(pop.shape[1])
    opt.state = {"population": ops.convert_to_tensor(pop), "best_genome": ops.convert_to_tensor(pop[0]),
                 "best_loss": np.array(np.inf)}
    return opt


def _pop(p, k, seed=0):
    return np.random.default_rng(seed).standard_normal((p, k)).astype("float32")


# -- DE ---------------------------------------------------------------------------------------
def _de_mutant(kind, pop, i, others, best, f):
    """Seed 003's mutation formulas (reference 003 §1.5) for target i; a..d the first four others."""
    x, bst = pop[i], pop[best]
    a, b, c, d = (pop[j] for j in others[:4])
    return {"rand1": a + f * (b - c),  # textbook DE/rand/1: a random base
            "rand2": x + f * (a - b + c - d),
            "best1": bst + f * (a - b),
            "best2": bst + f * (a - b + c - d),
            "curtobest1": x + f * (bst - x + a - b),
            "randtobest2": a + f * (bst - x + a - b + c - d),
            "current1": x + f * (a - b)}[kind]


def _de_replay(kind, pop, seed, best, cr, f):
    """DE's trials recomputed: a random order of the *other* members per target, the mutant,
    then binomial crossover (gene from the mutant iff u < CR, plus one forced gene j_rand)."""
    rng = np.random.default_rng(seed)
    p, k = pop.shape
    pop = pop.astype("float64")
    order = rng.random((p, p))
    mask = rng.random((p, k)) < cr
    j_rand = rng.integers(0, k, p)
    trials = np.empty_like(pop)
    for i in range(p):
        others = [j for j in np.argsort(order[i]) if j != i]  # the target is never its own donor
        mutant = _de_mutant(kind, pop, i, others, best, f)
        take = mask[i].copy()
        take[j_rand[i]] = True
        trials[i] = np.where(take, mutant, pop[i])
    return trials


@pytest.mark.parametrize("kind", ["rand1", "rand2", "best1", "best2", "curtobest1", "randtobest2", "current1"])
def test_de_each_mutation_formula_and_crossover_match_a_numpy_replay(kind):
    pop = _pop(7, 9)
    de = DE(population_size=7, crossover_rate=0.3, mutation=kind, scale=0.7)
    trials = np.asarray(de.trials(ops.convert_to_tensor(pop), np.random.default_rng(4), best=3))
    np.testing.assert_allclose(trials, _de_replay(kind, pop, 4, best=3, cr=0.3, f=0.7), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cr", [0.0, 0.2, 0.9, 1.0])
def test_de_crossover_takes_a_gene_from_the_mutant_with_probability_cr_and_always_one(cr):
    # The same generator seed gives the same donors whatever CR is, so CR = 1 yields the mutants.
    p, k = 50, 200
    pop = ops.convert_to_tensor(_pop(p, k))
    mutant = np.asarray(DE(population_size=p, crossover_rate=1.0, mutation="rand1").trials(
        pop, np.random.default_rng(9), best=0))
    trial = np.asarray(DE(population_size=p, crossover_rate=cr, mutation="rand1").trials(
        pop, np.random.default_rng(9), best=0))
    target = np.asarray(pop)
    assert np.all((trial == mutant) | (trial == target))  # every gene is the mutant's or the target's
    from_mutant = (trial == mutant) & (mutant != target)
    assert from_mutant.sum(axis=1).min() >= 1  # j_rand: at least one gene from the mutant in every row
    if cr == 0.0:
        np.testing.assert_array_equal(from_mutant.sum(axis=1), 1)  # exactly the forced gene
    elif cr == 1.0:
        assert from_mutant.all()
    else:
        # P(gene from mutant) = CR + (1 - CR) / k; 10,000 genes: one standard deviation <= 0.005
        assert from_mutant.mean() == pytest.approx(cr + (1 - cr) / k, abs=0.015)


def test_de_generation_keeps_the_better_of_target_and_trial_and_the_best_member_for_the_next():
    pop = _pop(6, 4, seed=1)
    de = _ready(DE(population_size=6, crossover_rate=0.5, mutation="best1", scale=0.8), pop)
    engine = Sphere()
    stats = de.generation(engine, None, None, np.random.default_rng(2), 0)
    trials = _de_replay("best1", pop, 2, best=0, cr=0.5, f=0.8)  # the first generation's best: member 0
    parent_loss, trial_loss = (pop.astype("float64") ** 2).sum(1), (trials ** 2).sum(1)
    take = trial_loss <= parent_loss
    assert 0 < take.sum() < 6  # the scenario exercises both outcomes
    expected = np.where(take[:, None], trials, pop)
    after = np.asarray(de.state["population"])
    np.testing.assert_allclose(after, expected, rtol=1e-5, atol=1e-6)
    kept = np.minimum(trial_loss, parent_loss)
    assert int(de.state["best_index"]) == int(np.argmin(kept))
    assert stats["best"] == pytest.approx(kept.min(), rel=1e-5)
    assert stats["mean"] == pytest.approx(kept.mean(), rel=1e-5)
    assert stats["evaluations"] == 12  # targets and trials on the same batch
    # the best ever: the lowest loss of the generation (targets and trials), and its genome
    assert float(de.state["best_loss"]) == pytest.approx(kept.min(), rel=1e-5)
    np.testing.assert_allclose(np.asarray(de.state["best_genome"]), expected[np.argmin(kept)], rtol=1e-6)
    # the next generation's best1 base is that member
    de.generation(engine, None, None, np.random.default_rng(3), 1)
    trials2 = _de_replay("best1", after, 3, best=int(np.argmin(kept)), cr=0.5, f=0.8)
    expected2 = np.where(((trials2 ** 2).sum(1) <= (after.astype("float64") ** 2).sum(1))[:, None], trials2, after)
    np.testing.assert_allclose(np.asarray(de.state["population"]), expected2, rtol=1e-5, atol=1e-6)


def test_de_on_a_plateau_takes_the_trial():
    # seed 003 [code]: offspring_loss <= parent_loss, so equal losses move to the trial (drift on flat ground)
    pop = _pop(5, 3)
    de = _ready(DE(population_size=5, crossover_rate=0.5, mutation="best1"), pop)
    de.generation(Sphere(flat=True), None, None, np.random.default_rng(0), 0)
    trials = _de_replay("best1", pop, 0, best=0, cr=0.5, f=0.5)
    np.testing.assert_allclose(np.asarray(de.state["population"]), trials, rtol=1e-5, atol=1e-6)


def test_de_state_round_trip_continues_with_the_same_best_member():
    # what a checkpoint keeps (extra_state) is enough for the next generation to be the same
    pop = _pop(6, 4, seed=5)
    first = _ready(DE(population_size=6, mutation="best1"), pop)
    first.generation(Sphere(), None, None, np.random.default_rng(0), 0)
    resumed = _ready(DE(population_size=6, mutation="best1"), pop)
    resumed.load_extra_state({k: np.asarray(ops.convert_to_numpy(v)) for k, v in first.extra_state().items()})
    kept = np.asarray(first.state["population"], "float64")
    assert np.argmin((kept ** 2).sum(1)) != 0  # the best is not member 0, so a lost best index shows
    first.generation(Sphere(), None, None, np.random.default_rng(1), 1)
    resumed.generation(Sphere(), None, None, np.random.default_rng(1), 1)
    np.testing.assert_array_equal(np.asarray(resumed.state["population"]), np.asarray(first.state["population"]))


# -- (mu/rho, lambda)-ES ----------------------------------------------------------------------
def _es_generation(pop, seed, **kwargs):
    es = _ready(MuLambdaES(**kwargs), pop)
    es.generation(Sphere(), None, None, np.random.default_rng(seed), 0)
    return es, np.asarray(es.state["population"])


def test_es_single_point_crossover_and_gaussian_mutation_match_a_replay():
    p, k = 8, 6
    pop = _pop(p, k, seed=2)
    es, after = _es_generation(pop, 5, population_size=p, parent_fraction=0.5, rho=2, crossover="single",
                               mutation_rate=0.5, sigma=0.3)
    losses = (pop.astype("float64") ** 2).sum(1)
    parents = pop[np.argsort(losses)[:4]]  # truncation: mu = 0.5 * 8 best
    rng = np.random.default_rng(5)
    picks = rng.integers(0, 4, size=(p, 2))  # rho = 2 parents per child, with replacement
    cut = rng.integers(1, k, size=p)  # one-point crossover: p1[:cut] + p2[cut:]
    mutate = rng.random(p) < 0.5  # each child mutated with probability p (not 1 - p: the seed code's bug)
    noise = 0.3 * np.asarray(keras.random.normal((p, k), seed=int(rng.integers(2**31))))  # sigma N(0, I)
    children = np.stack([np.concatenate([parents[a][:c], parents[b][c:]]) for (a, b), c in zip(picks, cut)])
    assert 0 < mutate.sum() < p  # both outcomes occur
    np.testing.assert_allclose(after, children + noise * mutate[:, None], rtol=1e-5, atol=1e-6)
    # the best member seen, kept for validation
    assert float(es.state["best_loss"]) == pytest.approx(losses.min())
    np.testing.assert_array_equal(np.asarray(es.state["best_genome"]), pop[np.argmin(losses)])


def test_es_arithmetic_crossover_folds_rho_parents_pairwise():
    p, k = 6, 5
    pop = _pop(p, k, seed=3)
    _, after = _es_generation(pop, 1, population_size=p, parent_fraction=0.5, rho=3, crossover="arithmetic",
                              mutation_rate=0.0)
    parents = pop[np.argsort((pop.astype("float64") ** 2).sum(1))[:3]]
    picks = np.random.default_rng(1).integers(0, 3, size=(p, 3))
    # ((p1 + p2) / 2 + p3) / 2, folded in order (seed 003 [code])
    expected = np.stack([0.5 * (0.5 * (parents[a] + parents[b]) + parents[c]) for a, b, c in picks])
    np.testing.assert_allclose(after, expected, rtol=1e-5, atol=1e-6)


def test_es_elitism_puts_the_best_ever_member_in_the_last_parent_slot():
    p, k = 6, 4
    pop = _pop(p, k, seed=4)
    elite = np.full(k, 0.01, "float32")  # better than any member of this generation
    es = _ready(MuLambdaES(population_size=p, parent_fraction=0.5, crossover="none", mutation_rate=0.0,
                           elitism=True), pop)
    es.state.update(best_genome=ops.convert_to_tensor(elite), best_loss=np.array(-1.0))
    es.generation(Sphere(), None, None, np.random.default_rng(6), 0)
    order = np.argsort((pop.astype("float64") ** 2).sum(1))
    parents = np.stack([pop[order[0]], pop[order[1]], elite])  # mu = 3: the 2 best, then the elite
    picks = np.random.default_rng(6).integers(0, 3, size=(p, 1))[:, 0]  # no crossover: copies
    assert 2 in picks  # the elite is among the children
    np.testing.assert_array_equal(np.asarray(es.state["population"]), parents[picks])
    np.testing.assert_array_equal(np.asarray(es.state["best_genome"]), elite)  # a worse generation keeps it
    assert float(es.state["best_loss"]) == -1.0


@pytest.mark.parametrize("selection", ["rank", "fitness"])
def test_es_selection_probabilities(selection):
    # mu = 1 of 10: the frequency of each member over 4,000 seeded draws (one sd <= 0.0065)
    losses = np.array([5.0, 1.0, 3.0, 0.5, 9.0, 2.0, 7.0, 4.0, 6.0, 8.0])
    es = MuLambdaES(population_size=10, parent_fraction=0.1, selection=selection)
    rng = np.random.default_rng(0)
    picks = np.concatenate([es.select(losses, rng) for _ in range(4000)])
    if selection == "rank":  # p ∝ n - rank: 10/55 for the best, 1/55 for the worst
        rank = np.argsort(np.argsort(losses))
        expected = (10 - rank) / 55.0
    else:  # p ∝ max loss - loss: lower loss, more likely; the worst (9.0) never
        expected = (9.0 - losses) / (9.0 - losses).sum()
    frequency = np.bincount(picks, minlength=10) / len(picks)
    np.testing.assert_allclose(frequency, expected, atol=0.025)
    many = MuLambdaES(population_size=10, parent_fraction=0.5, selection=selection).select(losses, rng)
    assert len(set(many.tolist())) == 5  # mu parents without replacement


# -- CoSyNE -----------------------------------------------------------------------------------
def test_cosyne_generation_matches_a_numpy_replay():
    p, k, c = 8, 5, 4
    pop = _pop(p, k, seed=6)
    cos = _ready(CoSyNE(population_size=p, children=c, mutation_rate=0.3, gamma=0.2), pop)
    cos.generation(Sphere(), None, None, np.random.default_rng(7), 0)
    after = np.asarray(cos.state["population"])

    order = np.argsort((pop.astype("float64") ** 2).sum(1), kind="stable")
    rng = np.random.default_rng(7)
    parents = rng.choice(order[:2], size=(c // 2, 2))  # pairs from the best 25% (2 of 8)
    mask = rng.random((c // 2, k)) < 0.5  # uniform crossover, two complementary children per pair
    kids = np.concatenate([np.where(mask, pop[parents[:, 0]], pop[parents[:, 1]]),
                           np.where(mask, pop[parents[:, 1]], pop[parents[:, 0]])])
    mutate = rng.random((c, k)) < 0.3
    cauchy = 0.2 * np.tan(np.pi * (rng.random((c, k)) - 0.5))  # Cauchy(0, gamma) by inversion
    kids = kids + np.where(mutate, cauchy, 0.0)
    survivors = pop[order[:p - c]]  # the worst c rows are replaced
    shuffle = np.argsort(rng.random((p - c, k)), axis=0)  # an independent permutation per column
    permuted = np.stack([survivors[shuffle[:, j], j] for j in range(k)], axis=1)
    assert 0 < mutate.sum() < c * k
    assert len({tuple(shuffle[:, j]) for j in range(k)}) > 1  # the columns do not share one permutation
    assert not np.array_equal(permuted, survivors)
    np.testing.assert_allclose(after[:p - c], permuted, rtol=1e-6)
    np.testing.assert_allclose(after[p - c:], kids, rtol=1e-5, atol=1e-6)
