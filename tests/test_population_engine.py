"""The population engine: vectorised evaluation equals the per-member loop, gradients are each
member's own, chunks and per-member batches change nothing, memory refusals come first."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from automl.population import NDES, LEEA, MemoryBudgetError, PopulationEngine, WeightTable
from models.recurrent import DMU


def _models():
    keras.utils.set_random_seed(1)
    dense = keras.Sequential([keras.Input((12,)), keras.layers.Dense(7, activation="tanh"),
                              keras.layers.Dense(3, activation="softmax")])
    conv = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(3, 3, activation="relu"),
                             keras.layers.BatchNormalization(), keras.layers.MaxPooling2D(),
                             keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")])
    recurrent = {name: keras.Sequential([keras.Input((5, 2)), layer, keras.layers.Dense(3, activation="softmax")])
                 for name, layer in (("rnn", keras.layers.SimpleRNN(4)), ("gru", keras.layers.GRU(4)),
                                     ("lstm", keras.layers.LSTM(4)), ("dmu", DMU(4, hidden=[4])))}
    return {"dense": (dense, (12,)), "conv": (conv, (8, 8, 1)),
            **{k: (m, (5, 2)) for k, m in recurrent.items()}}


MODELS = _models()


@pytest.mark.parametrize("name", list(MODELS))
def test_vectorised_losses_equal_the_member_loop(name):
    model, shape = MODELS[name]
    rng = np.random.default_rng(0)
    engine = PopulationEngine(model)
    pop = engine.table.flatten()[None] + 0.3 * rng.standard_normal((6, engine.size)).astype("float32")
    x = rng.standard_normal((9, *shape)).astype("float32")
    y = rng.integers(0, 3, 9)
    losses, accuracy = engine.evaluate(pop, x, y)
    reference = engine.loop_losses(pop, x, y)
    np.testing.assert_allclose(np.asarray(losses), reference, atol=1e-5, rtol=1e-5)
    assert np.all((np.asarray(accuracy) >= 0) & (np.asarray(accuracy) <= 1))
    assert np.ptp(reference) > 1e-3  # the members really differ
    assert engine.route == ("folded" if name == "conv" else "vectorized_map")  # dense-only: batched matmuls win


def _folded_models():
    keras.utils.set_random_seed(5)
    layers = keras.layers
    rich = keras.Sequential([
        keras.Input((9, 9, 2)), layers.Rescaling(0.5, offset=0.1),
        layers.BatchNormalization(center=False),  # the shared batch becomes P members here
        layers.Conv2D(4, 3, strides=2, padding="valid", use_bias=False), layers.ReLU(),
        layers.Conv2D(5, 2, dilation_rate=2, padding="same", activation="tanh"),
        layers.BatchNormalization(), layers.AveragePooling2D(2, padding="same"), layers.Dropout(0.5),
        layers.Conv2D(3, 1, activation="softmax"),  # softmax over each member's own channels
        layers.GlobalAveragePooling2D(), layers.Dense(6, activation="elu"), layers.LeakyReLU(0.2),
        layers.Dense(3), layers.Softmax()])
    sequence = keras.Sequential([
        keras.Input((7, 3)), layers.Conv1D(4, 3, activation="relu"), layers.MaxPooling1D(2),
        layers.Conv1D(5, 2, padding="same"), layers.GlobalMaxPooling1D(), layers.Dense(3, activation="softmax")])
    image = keras.Input((6, 6, 1))
    hidden = layers.Conv2D(2, 3, padding="same", activation="relu")(image)
    branched = keras.Model(image, layers.Dense(3, activation="softmax")(
        layers.Flatten()(layers.Add()([hidden, layers.Conv2D(2, 1)(image)]))))
    return {"rich": (rich, (9, 9, 2), "folded"), "conv1d": (sequence, (7, 3), "folded"),
            "branched": (branched, (6, 6, 1), "vectorized_map")}


FOLDED = _folded_models()


@pytest.mark.parametrize("name", list(FOLDED))
def test_folded_pass_equals_vectorized_map_and_the_loop(name):
    """The folded pass (members side by side in the channels, grouped convolutions) gives every
    member's own loss, accuracy and gradient, on a shared batch and on per-member batches."""
    model, shape, route = FOLDED[name]
    rng = np.random.default_rng(6)
    engine, mapped = PopulationEngine(model), PopulationEngine(model, folded=False)
    assert engine.route == route and mapped.route == "vectorized_map"
    pop = engine.table.flatten()[None] + 0.3 * rng.standard_normal((5, engine.size)).astype("float32")
    x = rng.standard_normal((8, *shape)).astype("float32")
    y = rng.integers(0, 3, 8)
    losses, accuracy = engine.evaluate(pop, x, y)
    np.testing.assert_allclose(np.asarray(losses), engine.loop_losses(pop, x, y), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(accuracy), np.asarray(mapped.evaluate(pop, x, y)[1]))
    batches_x = rng.standard_normal((3, 8, *shape)).astype("float32")
    batches_y = rng.integers(0, 3, (3, 8))
    assign = np.array([2, 0, 1, 1, 2])
    own, _ = engine.evaluate(pop, batches_x, batches_y, member_batches=assign)
    expected = [engine.loop_losses(pop[i:i + 1], batches_x[b], batches_y[b])[0] for i, b in enumerate(assign)]
    np.testing.assert_allclose(np.asarray(own), expected, atol=1e-5, rtol=1e-5)
    _, grads = engine.losses_and_gradients(pop, x, y)
    _, reference = mapped.losses_and_gradients(pop, x, y)
    np.testing.assert_allclose(np.asarray(grads), np.asarray(reference), atol=1e-5, rtol=1e-4)


def test_regression_losses_and_per_member_batches():
    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    engine = PopulationEngine(model, task="regression")
    rng = np.random.default_rng(1)
    pop = rng.standard_normal((5, engine.size)).astype("float32")
    batches_x = rng.standard_normal((3, 8, 4)).astype("float32")
    batches_y = rng.standard_normal((3, 8)).astype("float32")
    assign = np.array([2, 0, 1, 1, 2])
    losses, _ = engine.evaluate(pop, batches_x, batches_y, member_batches=assign)
    for i, b in enumerate(assign):
        w, bias = pop[i, :4], pop[i, 4]
        expected = np.mean((batches_x[b] @ w + bias - batches_y[b]) ** 2)
        assert abs(float(losses[i]) - expected) < 1e-5


def test_chunks_give_the_same_losses():
    model, shape = MODELS["dense"]
    engine = PopulationEngine(model)
    rng = np.random.default_rng(3)
    pop = rng.standard_normal((11, engine.size)).astype("float32")
    x, y = rng.standard_normal((16, *shape)).astype("float32"), rng.integers(0, 3, 16)
    whole, _ = engine.evaluate(pop, x, y)
    per = engine.member_bytes(16)
    chunked, _ = engine.evaluate(pop, x, y, available_bytes=3 * per)  # chunks of 3, the last one padded
    assert engine.chunk_size(16, 3 * per) == 3
    np.testing.assert_allclose(np.asarray(chunked), np.asarray(whole), atol=1e-6)
    with pytest.raises(MemoryBudgetError, match="raise population.memory_mb"):
        engine.evaluate(pop, x, y, available_bytes=per - 1)
    # in-graph slices of 2 members (the CPU cache slicing of the folded pass), shared and per-member batches
    model, shape = MODELS["conv"]
    engine = PopulationEngine(model)
    pop = rng.standard_normal((11, engine.size)).astype("float32")
    x = rng.standard_normal((16, *shape)).astype("float32")
    whole, _ = engine.evaluate(pop, x, y)
    sliced = PopulationEngine(model, cache_mb=2 * 4 * 16 * engine.widest / (1 << 20))
    assert sliced.slice_size(16) == 2 and sliced.slice_size(16, chunk=320) == 10  # at most 32 slices
    assert PopulationEngine(model, cache_mb=0).slice_size(16) is None
    assert PopulationEngine(MODELS["gru"][0]).slice_size(16) is None  # vectorized_map is not sliced
    np.testing.assert_allclose(np.asarray(sliced.evaluate(pop, x, y)[0]), np.asarray(whole), atol=1e-6)
    stacks_x, stacks_y = rng.standard_normal((2, 16, *shape)).astype("float32"), rng.integers(0, 3, (2, 16))
    assign = rng.integers(0, 2, 11)
    np.testing.assert_allclose(np.asarray(sliced.evaluate(pop, stacks_x, stacks_y, member_batches=assign)[0]),
                               np.asarray(engine.evaluate(pop, stacks_x, stacks_y, member_batches=assign)[0]), atol=1e-6)


def test_gradients_are_each_members_own():
    model, shape = MODELS["gru"]
    engine = PopulationEngine(model)
    rng = np.random.default_rng(4)
    pop = engine.table.flatten()[None] + 0.2 * rng.standard_normal((3, engine.size)).astype("float32")
    x, y = rng.standard_normal((6, *shape)).astype("float32"), rng.integers(0, 3, 6)
    losses, grads = engine.losses_and_gradients(pop, x, y)
    for i in range(3):
        engine.table.assign(pop[i])
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, model(x, training=False)))
        expected = np.concatenate([np.ravel(g) for g in tape.gradient(loss, model.trainable_variables)])
        np.testing.assert_allclose(np.asarray(grads[i]), expected, atol=1e-5)
        assert abs(float(losses[i]) - float(loss)) < 1e-5


def test_weight_table_round_trip_and_xavier_scale():
    model, _ = MODELS["dense"]
    table = WeightTable(model)
    assert table.size == 12 * 7 + 7 + 7 * 3 + 3
    w = np.arange(table.size, dtype="float32")
    before = table.flatten()
    table.assign(w)
    np.testing.assert_array_equal(table.flatten(), w)
    kernel = np.asarray(model.layers[0].kernel.value)
    assert kernel[0, 1] == 1.0 and kernel[1, 0] == 7.0  # row-major, in the variable's own shape
    table.assign(before)
    scale = table.xavier_scale()
    assert scale[0] == pytest.approx(np.sqrt(6 / 19)) and scale[12 * 7] == pytest.approx(np.sqrt(6 / 19))  # bias: previous
    assert scale[-1] == pytest.approx(np.sqrt(6 / 10))
    with pytest.raises(ValueError, match="entries"):
        table.assign(np.zeros(3))


def test_memory_budget_caps_defaults_and_refuses_explicit_sizes():
    mb = 1 << 20
    n = 50_034  # seed 000's FashionMNIST CNN
    ndes = NDES()  # lambda = 4N with history 16 needs tens of GB
    assert ndes._bytes(4 * n, 2 * n, n) > 20 * 1024 * mb
    notes = ndes.plan(n, 512 * mb)
    assert ndes.size < 4 * n and ndes.state_bytes(n) <= 512 * mb
    assert any("capped" in note and f"{4 * n:,}" in note for note in notes)
    with pytest.raises(MemoryBudgetError, match="population.memory_mb"):
        NDES(population_size=4 * n).plan(n, 512 * mb)
    with pytest.raises(MemoryBudgetError, match="smallest population"):
        NDES(history=16).plan(10_000_000, 64 * mb)
    leea = LEEA()
    assert leea.plan(92_234, 4096 * mb) == [] and leea.size == 2000
    assert "capped" in leea.plan(92_234, 100 * mb)[0] and leea.size < 2000
    with pytest.raises(MemoryBudgetError):
        LEEA(population_size=2000).plan(92_234, 100 * mb)
