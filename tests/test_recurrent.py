"""The DMU and RHN cells (seed 000 appendix B.3) and the DMU learning-rate rule."""
import numpy as np
import pytest
import keras

from automl.optimizers.scaled import ScaledAdam, ScaledSGD, lr_multipliers
from models.recurrent import DMU, RHN, DMUCell


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def test_dmu_step_matches_the_equations_by_hand():
    m, d = 2, 3
    layer = DMU(d, return_sequences=True)
    x = np.array([[[0.5, -1.0], [2.0, 0.25]]], dtype="float32")
    layer(x)
    rng = np.random.default_rng(1)
    kernel = rng.normal(size=(m + d, 2 * d)).astype("float32")
    bias = rng.normal(size=(2 * d,)).astype("float32")
    layer.cell.kernels[0].assign(kernel)
    layer.cell.biases[0].assign(bias)
    h = np.zeros(d, "float32")
    expected = []
    for x_t in x[0]:                                       # <z, h^> = [x, h] W + b;  z first
        out = np.concatenate([x_t, h]) @ kernel + bias
        z, candidate = out[:d], out[d:]
        h = h * sigmoid(z) + np.tanh(candidate) * (1 - sigmoid(z))
        expected.append(h)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x))[0], np.array(expected), rtol=1e-5, atol=1e-6)


def test_dmu_initial_gate_bias_and_hidden_layers():
    cell = DMUCell(4, hidden=[5, 6], gate_bias=3.0)
    cell.build((None, 2))
    bias = keras.ops.convert_to_numpy(cell.biases[-1])
    assert np.all(bias[:4] == 3.0) and np.all(bias[4:] == 0.0)          # +3 on z only
    assert [tuple(k.shape) for k in cell.kernels] == [(6, 5), (5, 6), (6, 8)]
    assert cell.depth == 3 and cell.lr_multiplier == pytest.approx(1 / 6)


def test_state_is_preserved_for_large_z():
    layer = DMU(3, gate_bias=60.0)
    x = np.random.default_rng(0).normal(size=(2, 20, 4)).astype("float32")
    h0 = np.array([[0.3, -0.7, 0.9], [0.1, 0.2, -0.4]], "float32")
    out = keras.ops.convert_to_numpy(layer(x, initial_state=[h0]))
    np.testing.assert_allclose(out, h0, atol=1e-5)


@pytest.mark.parametrize("m, d, hidden, count", [
    (3, 5, [], 2 * 5 * (3 + 5 + 1)),                                      # 2d(m+d+1)
    (3, 5, [7], (3 + 5) * 7 + 7 + 2 * 5 * 7 + 2 * 5),
    (2, 4, [6, 8], (2 + 4) * 6 + 6 + 6 * 8 + 8 + 2 * 4 * 8 + 2 * 4),
])
def test_dmu_parameter_counts(m, d, hidden, count):
    layer = DMU(d, hidden=hidden)
    layer(np.zeros((1, 3, m), "float32"))
    assert layer.count_params() == count


def test_rhn_parameter_count_and_carry():
    layer = RHN(4, depth=3)
    layer(np.zeros((1, 2, 5), "float32"))
    assert layer.count_params() == 5 * 8 + 3 * (4 * 8 + 8)
    assert layer.get_config()["depth"] == 3


@pytest.mark.parametrize("optimizer_cls", [ScaledSGD, ScaledAdam])
def test_the_learning_rate_rule_moves_dmu_weights_by_the_scaled_step(optimizer_cls):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4, 3)), DMU(5, hidden=[6]), keras.layers.Dense(2)])
    multipliers = lr_multipliers(model)
    assert set(multipliers.values()) == {0.25} and len(multipliers) == 4   # depth 2: beta / 4
    lr = 0.01
    model.compile(optimizer_cls(lr, multipliers=multipliers), "mse")
    x = np.random.default_rng(0).normal(size=(8, 4, 3)).astype("float32")
    y = np.ones((8, 2), "float32")
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = keras.ops.mean(keras.losses.mean_squared_error(y, model(x)))
    grads = tape.gradient(loss, model.trainable_variables)
    before = [v.numpy().copy() for v in model.trainable_variables]
    model.train_on_batch(x, y)
    for v, b, g in zip(model.trainable_variables, before, grads):
        step = np.abs(v.numpy() - b)
        # SGD: step = lr |g|. Adam's first step, bias-corrected: lr |g| / (|g| + eps / sqrt(1 - beta_2)).
        g = np.abs(g.numpy())
        unit = lr * g if optimizer_cls is ScaledSGD else lr * g / (g + 1e-7 / np.sqrt(1 - 0.999))
        expected = multipliers.get(v.path, 1.0)
        moved = unit > 1e-3 * unit.max()          # float32 rounding swamps the tiniest steps
        assert step[moved].sum() / unit[moved].sum() == pytest.approx(expected, rel=1e-2), v.path


def test_dmu_model_saves_loads_and_exports(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6, 2)), DMU(4, hidden=[5], return_sequences=True), RHN(3, depth=2),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(ScaledAdam(1e-3, multipliers=lr_multipliers(model)), "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(4, 6, 2)).astype("float32")
    model.fit(x, np.array([0, 1, 0, 1]), epochs=1, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert isinstance(loaded.optimizer, ScaledAdam) and loaded.optimizer.multipliers == model.optimizer.multipliers
    model.export(str(tmp_path / "saved"), format="tf_saved_model", verbose=False)
    import tensorflow as tf

    saved = tf.saved_model.load(str(tmp_path / "saved"))
    served = saved.serve(x)
    np.testing.assert_allclose(served.numpy(), model.predict(x, verbose=0), atol=1e-5)


def test_a_reloaded_dmu_keeps_its_learning_rate_rule_whatever_was_built_before(tmp_path):
    inputs = keras.Input((4, 3))                    # functional, as models.sequence builds them
    model = keras.Model(inputs, keras.layers.Dense(2)(DMU(5, hidden=[6], name="dmu")(inputs)))
    model.compile(ScaledAdam(1e-2, multipliers=lr_multipliers(model)), "mse")
    model.optimizer.build(model.trainable_variables)
    model.save(tmp_path / "m.keras")
    DMU(2)(np.zeros((1, 2, 1), "float32"))          # more DMUs in this process (a search, a resume)
    loaded = keras.models.load_model(tmp_path / "m.keras")
    # The rule is saved with the optimizer keyed by variable path; the reloaded DMU's paths must
    # be the same, or every factor silently falls back to 1 (Keras numbers automatic cell names).
    dmu = {v.path for v in loaded.trainable_variables if v.path.startswith("dmu/")}
    assert len(dmu) == 4 and set(loaded.optimizer.multipliers) == dmu
    assert set(loaded.optimizer.multipliers.values()) == {0.25}


@pytest.mark.parametrize("cell", ["dmu", "lstm", "gru", "rnn", "rhn"])
def test_sequence_models_build_for_every_cell(cell):
    from models.sequence import SequenceSpec, build_sequence_model

    spec = SequenceSpec(cell=cell, units=4, layers=2, depth=2 if cell in ("dmu", "rhn") else 1)
    model = build_sequence_model(spec, (7, 3), num_classes=None)
    assert model.output_shape == (None, 1)
    per_step = build_sequence_model(spec, (7, 3), num_classes=5, per_step=True)
    assert per_step.output_shape == (None, 7, 5)


def test_depth_deepens_the_step_or_stacks_plain_cells():
    from models.sequence import SequenceSpec, build_sequence_model
    from models.spec import SpecError

    lstm = build_sequence_model(SequenceSpec(cell="lstm", units=3, depth=2), (5, 2), num_classes=None)
    assert [l.name for l in lstm.layers if "lstm" in l.name] == ["lstm0", "lstm1"]      # Table VIII: two stacked
    dmu = build_sequence_model(SequenceSpec(cell="dmu", units=3, depth=3, hidden=4), (5, 2), num_classes=None)
    assert dmu.get_layer("dmu0").cell.depth == 3 and len([l for l in dmu.layers if "dmu" in l.name]) == 1
    with pytest.raises(SpecError, match="cell must be one of"):
        SequenceSpec(cell="transformer").validate()
    assert SequenceSpec.from_dict(SequenceSpec(cell="gru").to_dict()).cell == "gru"
