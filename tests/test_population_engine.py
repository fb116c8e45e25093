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


def _own_model_scores(engine, pop, x, y):
    """Each member's (loss, correct count) by plain Keras: its weights assigned to the model, one
    call, then cross-entropy and argmax in numpy. The model's weights are restored afterwards."""
    before = engine.table.flatten()
    losses, correct = [], []
    try:
        for w in np.asarray(pop):
            engine.table.assign(w)
            p = np.asarray(engine.model(x, training=False), dtype="float64")
            p_true = np.clip(p[np.arange(len(y)), y], 1e-7, 1 - 1e-7)  # Keras clips probabilities at 1e-7
            losses.append(float(np.mean(-np.log(p_true))))
            correct.append(int(np.sum(np.argmax(p, axis=-1) == y)))
    finally:
        engine.table.assign(before)
    return np.array(losses), np.array(correct)


@pytest.mark.parametrize("name", list(MODELS))
def test_vectorised_losses_equal_the_member_loop(name):
    model, shape = MODELS[name]
    rng = np.random.default_rng(0)
    engine = PopulationEngine(model)
    pop = engine.table.flatten()[None] + 0.3 * rng.standard_normal((6, engine.size)).astype("float32")
    x = rng.standard_normal((9, *shape)).astype("float32")
    y = rng.integers(0, 3, 9)
    losses, accuracy = engine.evaluate(pop, x, y)
    reference, correct = _own_model_scores(engine, pop, x, y)
    np.testing.assert_allclose(np.asarray(losses), reference, atol=1e-5, rtol=1e-5)
    np.testing.assert_array_equal(np.round(np.asarray(accuracy) * 9), correct)  # each member's own count of 9
    assert np.ptp(reference) > 1e-3  # the members really differ
    assert engine.route == ("folded" if name == "conv" else "vectorized_map")  # dense-only: batched matmuls win


def _mlp_scores(pop, x, y):
    """The dense model (12 -> tanh 7 -> softmax 3) in numpy, from a flat member: kernel 12x7,
    bias 7, kernel 7x3, bias 3, row-major (the WeightTable's order)."""
    losses, correct = [], []
    for w in np.asarray(pop, dtype="float64"):
        k1, b1, k2, b2 = np.split(w, np.cumsum([84, 7, 21]))
        logits = np.tanh(x @ k1.reshape(12, 7) + b1) @ k2.reshape(7, 3) + b2
        p = np.exp(logits - logits.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        losses.append(np.mean(-np.log(np.clip(p[np.arange(len(y)), y], 1e-7, 1 - 1e-7))))
        correct.append(int(np.sum(p.argmax(-1) == y)))
    return np.array(losses), np.array(correct)


@pytest.mark.parametrize("name,route", [("conv", "folded"), ("dense", "vectorized_map")])
def test_each_members_accuracy_and_loss_equal_its_own_model(name, route):
    """Accuracy is each member's own (exact count of correct examples) and so is its loss (1e-5),
    against the member's weights in the model itself (the conv chain, folded route) or in numpy
    (the MLP, vectorized_map route); on a shared batch and on per-member batches taken in chunks
    of 3, so that a member scored on another member's batch or weights shows."""
    model, shape = MODELS[name]
    engine = PopulationEngine(model)
    assert engine.route == route
    rng = np.random.default_rng(8)
    pop = engine.table.flatten()[None] + 0.8 * rng.standard_normal((7, engine.size)).astype("float32")
    own = _mlp_scores if name == "dense" else (lambda p, a, b: _own_model_scores(engine, p, a, b))
    x, y = rng.standard_normal((12, *shape)).astype("float32"), rng.integers(0, 3, 12)
    losses, accuracy = engine.evaluate(pop, x, y)
    want_loss, want_correct = own(pop, x, y)
    assert len(np.unique(want_correct)) >= 3  # the members' accuracies differ
    np.testing.assert_array_equal(np.round(np.asarray(accuracy) * 12), want_correct)
    np.testing.assert_allclose(np.asarray(losses), want_loss, rtol=1e-5)
    stacks_x = rng.standard_normal((4, 12, *shape)).astype("float32")
    stacks_y = rng.integers(0, 3, (4, 12))
    assign = np.array([3, 1, 0, 2, 2, 1, 3])
    available = 3 * engine.member_bytes(12)
    assert engine.chunk_size(12, available) == 3  # chunks [0:3], [3:6], [6:7] (padded)
    losses, accuracy = engine.evaluate(pop, stacks_x, stacks_y, member_batches=assign, available_bytes=available)
    scores = [own(pop[i:i + 1], stacks_x[b], stacks_y[b]) for i, b in enumerate(assign)]
    np.testing.assert_array_equal(np.round(np.asarray(accuracy) * 12), [c[0] for _, c in scores])
    np.testing.assert_allclose(np.asarray(losses), [l[0] for l, _ in scores], rtol=1e-5)


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
    np.testing.assert_array_equal(np.round(np.asarray(accuracy) * 8),
                                  _own_model_scores(engine, pop, x, y)[1])  # each member's own count of 8
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
    with pytest.raises(MemoryBudgetError, match=r"raise memory_mb \(population.memory_mb in a config\)"):
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
    ndes = NDES()  # lambda = 4N, mu = 2N, history 16: 4 bytes * N (2 lambda + 16 mu + 2 * 16 + 4) = 4N(40N + 36)
    assert ndes._bytes(4 * n, 2 * n, n) == 4 * n * (40 * n + 36) == 400_551_389_856  # 373 GiB
    notes = ndes.plan(n, 512 * mb)
    # lambda = (512 MiB - fixed 4N(2H + 4)) // (4N(2 + H/2)) = (536,870,912 - 7,204,896) // 2,001,360 = 264,
    # mu = 132: the largest population that fits, but for the one member mu = floor(lambda/2) may save
    assert (ndes.size, ndes.mu) == (264, 132) and ndes.state_bytes(n) <= 512 * mb < ndes._bytes(266, 133, n)
    assert any("capped at 264" in note and f"{4 * n:,}" in note for note in notes)
    with pytest.raises(MemoryBudgetError, match="population.memory_mb"):
        NDES(population_size=4 * n).plan(n, 512 * mb)
    with pytest.raises(MemoryBudgetError, match="smallest population"):
        NDES(history=16).plan(10_000_000, 64 * mb)
    leea = LEEA()
    assert leea.plan(92_234, 4096 * mb) == [] and leea.size == 2000
    assert "capped at 94" in leea.plan(92_234, 100 * mb)[0] and leea.size == 94  # 104,857,600 // (3 * 4 * 92,234)
    with pytest.raises(MemoryBudgetError):
        LEEA(population_size=2000).plan(92_234, 100 * mb)
