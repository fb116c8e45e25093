"""Keras Tuner's built-in tuners over our spaces draw the same trials for the same seed, the
default seed 0 included (Keras Tuner reads seed 0 as "no seed" and draws a random one)."""
import automl
from automl.evolution.space import ConvStackSpace
from automl.seeds import keras_tuner_seed
from conftest import evolution_oracle


def _first_draws(directory, seed, n=3):
    tuner = automl.RandomSearch(max_trials=n, seed=seed, directory=str(directory), project_name="p", verbose=0)
    draws = []
    for i in range(n):
        trial = tuner.oracle.create_trial(f"tuner{i}")
        draws.append(dict(trial.hyperparameters.values))
    return draws


def test_keras_tuner_seed_is_one_to_one_and_never_zero():
    seeds = [keras_tuner_seed(s) for s in range(-3, 50)]
    assert 0 not in seeds and len(set(seeds)) == len(seeds)


def test_the_same_seed_draws_the_same_trials_seed_zero_included(tmp_path):
    first = _first_draws(tmp_path / "a", 0)
    assert first == _first_draws(tmp_path / "b", 0)
    assert first != _first_draws(tmp_path / "c", 5)


def test_the_evolution_oracle_is_seeded_by_our_seed_zero_included():
    """The evolution's draws come from np.random.default_rng([oracle.seed, trial]): a random
    oracle seed would make every run, and every resume, draw other children."""
    seeds = [evolution_oracle(ConvStackSpace(), seed=s).seed for s in (0, 0, 5)]
    assert seeds == [1, 1, 6]
