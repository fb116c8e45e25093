"""Seeds handed to the libraries the engine drives. Light (pure Python)."""


def keras_tuner_seed(seed: int) -> int:
    """The seed to give Keras Tuner for our `seed`. Its oracles read 0 as "no seed"
    (`seed or random.randint(1, 10000)`), so our default seed 0 would draw other trials in each
    run; non-negative seeds are shifted off 0, one to one."""
    return seed + 1 if seed >= 0 else seed
