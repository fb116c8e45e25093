"""Mutations of the Keras Tuner wiring (automl/tuning.py): see tools/mutations.py."""

MUTATIONS = [
    dict(id="kt-seed-zero-unseeded", mechanism="Keras Tuner seeding (seed 0 is 'no seed' to Keras Tuner)",
         what="wire cut", file="automl/tuning.py", find="seed=keras_tuner_seed(seed),", replace="seed=seed,",
         tests=["tests/test_tuning_seed.py::test_the_same_seed_draws_the_same_trials_seed_zero_included"]),
    dict(id="kt-oracle-seed-zero-unseeded", mechanism="the evolution oracle's seed (0 is 'no seed' to Keras Tuner)",
         what="wire cut", file="automl/evolution/oracle.py", find="seed=keras_tuner_seed(seed),", replace="seed=seed,",
         tests=["tests/test_tuning_seed.py::test_the_evolution_oracle_is_seeded_by_our_seed_zero_included"]),
]
