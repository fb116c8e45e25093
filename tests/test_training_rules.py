"""`automl train`'s gradient mechanisms, checked against hand computations on tiny seeded runs:

- the DMU learning-rate rule as the workflow wires it (seed 000 eq. 5: beta_DMU = beta / (2n)),
  on one real Adam step;
- the DMU weight decay divided by 2n as well (seed 000 L1230; reference 000 §2.2);
- a resume after a kill restores the weights and the optimizer state: it ends where an
  uninterrupted run ends;
- regression runs keep the epoch of the lowest validation loss (Checkpointer mode "min").

The runs use one batch per epoch (the whole training set), so a resumed run's reshuffled batch
holds the same sequences and the comparison is exact up to float32 summation order.
"""
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import pipelines.train
from automl.callbacks import Checkpointer
from automl.rundir import RunDir
from models.sequence import SequenceSpec, build_sequence_model
from pipelines import config as configs
from pipelines.datasets import sequences as seq
from pipelines.train import run_training, sequence_spec

LR = 1e-2
OVERRIDES = ["data.batch_size=32", "train.epochs=3", f"train.learning_rate={LR}", "model.units=3", "model.hidden=4"]


class Killed(Exception):
    """Stands for kill -9 right after an epoch's checkpoint was written."""


class KilledAfterFirstEpoch(Checkpointer):
    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        raise Killed


def variables(model) -> dict[str, np.ndarray]:
    """A copy of the weights by variable path, in the model's order."""
    return {v.path: keras.ops.convert_to_numpy(v).copy() for v in model.weights}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same seeded DMU run on the adding problem, once uninterrupted and once killed after
    epoch 1 and resumed; the initial weights and those after epoch 1 (one Adam step) are kept."""
    data = seq.synthetic("adding", 6, (32, 16, 16), seed=0)
    cfg = configs.load_config("train", None, OVERRIDES)
    built = []

    def spy(*args, **kwargs):
        model = build_sequence_model(*args, **kwargs)
        built.append((model, variables(model)))
        return model

    out = {"data": data, "cfg": cfg}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipelines.train, "build_sequence_model", spy)
        whole = RunDir.create(tmp_path_factory.mktemp("whole") / "run", "train", configs.to_dict(cfg))
        run_training(cfg, whole, quiet=True, data=data)
        killed = RunDir.create(tmp_path_factory.mktemp("killed") / "run", "train", configs.to_dict(cfg))
        mp.setattr(pipelines.train, "Checkpointer", KilledAfterFirstEpoch)
        with pytest.raises(Killed):
            run_training(cfg, killed, quiet=True, data=data)
    out["initial"] = built[0][1]
    out["initial_killed"] = built[1][1]
    out["after_one_step"] = variables(built[1][0])
    out["optimizer"] = built[1][0].optimizer
    out["killed_state"] = json.loads((killed.path / "checkpoints" / "state.json").read_text())
    run_training(cfg, killed, quiet=True, data=data)               # the resume: no monkeypatch now
    out["whole"], out["resumed"] = whole, killed
    return out


def adam_first_step(gradient: np.ndarray, lr: float) -> np.ndarray:
    """Keras Adam's first update, in float64: m = (1 - b1) g, v = (1 - b2) g^2,
    alpha = lr sqrt(1 - b2) / (1 - b1), step = alpha m / (sqrt(v) + eps) = lr g sqrt(1 - b2) / (sqrt(1 - b2) |g| + eps),
    which is lr * sign(g) wherever |g| >> eps / sqrt(1 - b2) = 3.2e-6."""
    g = gradient.astype(np.float64)
    b1, b2, eps = 0.9, 0.999, 1e-7
    m, v = (1 - b1) * g, (1 - b2) * g ** 2
    return lr * np.sqrt(1 - b2) / (1 - b1) * m / (np.sqrt(v) + eps)


def test_automl_train_moves_the_dmu_by_lr_over_2n_and_the_head_by_lr_in_one_adam_step(runs):
    data, cfg = runs["data"], runs["cfg"]
    # An independent gradient at the initial weights: the mean squared error over the whole
    # training set (the run's only batch).
    model = build_sequence_model(sequence_spec(cfg.model), data.input_shape, None)
    model.set_weights(list(runs["initial_killed"].values()))
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean((model(data.x_train)[:, 0] - data.y_train) ** 2)
    grads = dict(zip(runs["initial_killed"], tape.gradient(loss, model.trainable_weights)))
    assert set(runs["optimizer"].multipliers.values()) == {0.25} and runs["optimizer"].__class__.__name__ == "ScaledAdam"
    moved = {}
    for path, g in grads.items():
        scale = 1 / (2 * 2) if path.startswith("dmu0/") else 1.0   # model.depth 2: n = 2, lr / 4
        step = runs["initial_killed"][path] - runs["after_one_step"][path]
        # |step - exact| <= half a float32 ulp of the new weight, plus the gradient's own rounding.
        atol = np.spacing(np.float32(np.abs(runs["after_one_step"][path]).max()))
        np.testing.assert_allclose(step, adam_first_step(keras.ops.convert_to_numpy(g), LR * scale),
                                   rtol=1e-3, atol=atol, err_msg=path)
        moved[path] = np.abs(step).max()
    # The DMU's kernels and biases and the head's all moved, each by its own learning rate at most.
    assert sorted(p.split("/")[0] for p in moved) == ["dmu0"] * 4 + ["head_out"] * 2
    assert all(LR * 0.25 * 0.9 < s <= LR * 0.25 * 1.0001 for p, s in moved.items() if p.startswith("dmu0/"))
    assert all(LR * 0.9 < s <= LR * 1.0001 for p, s in moved.items() if p.startswith("head_out/"))


def test_a_killed_and_resumed_run_ends_where_an_uninterrupted_run_ends(runs):
    assert runs["killed_state"]["epoch"] == 1
    for a, b in zip(runs["initial"].values(), runs["initial_killed"].values()):
        np.testing.assert_array_equal(a, b)                                   # the same seeded start
    whole = keras.models.load_model(runs["whole"].path / "checkpoints" / "last.keras")
    resumed = keras.models.load_model(runs["resumed"].path / "checkpoints" / "last.keras")
    # Three Adam steps in both: the resumed optimizer carried its step count and moments over,
    # and its DMU rule still names the reloaded DMU's variables (in this process, where several
    # DMUs were built before: Keras' automatic names were numbered, and the rule matched none).
    assert int(whole.optimizer.iterations) == int(resumed.optimizer.iterations) == 3
    assert set(resumed.optimizer.multipliers) == {v.path for v in resumed.trainable_weights if v.path.startswith("dmu0/")}
    for a, b in zip(whole.weights, resumed.weights):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(b), keras.ops.convert_to_numpy(a),
                                   rtol=0, atol=1e-6, err_msg=a.path)
    for a, b in zip(whole.optimizer.variables, resumed.optimizer.variables):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(b), keras.ops.convert_to_numpy(a),
                                   rtol=1e-4, atol=1e-9, err_msg=a.path)
    # ... and differ from the start by three Adam steps of about lr each (so they did train).
    start = np.concatenate([w.ravel() for w in runs["initial"].values()])
    end = np.concatenate([keras.ops.convert_to_numpy(w).ravel() for w in whole.weights])
    assert 2.5 * LR < np.abs(end - start).max() < 3.05 * LR
    history = [h["epoch"] for h in json.loads((runs["resumed"].path / "checkpoints" / "state.json").read_text())["history"]]
    assert history == [1, 2, 3]                                               # each epoch once


def test_a_regression_run_keeps_the_epoch_of_the_lowest_validation_loss(runs):
    for run in (runs["whole"], runs["resumed"]):
        state = json.loads((run.path / "checkpoints" / "state.json").read_text())
        losses = [h["val_loss"] for h in state["history"]]
        assert len(set(losses)) == 3                               # the lowest and the highest differ
        assert state["best_epoch"] == 1 + int(np.argmin(losses))
        # The summary's validation MSE is best.keras evaluated again: the kept epoch's model.
        assert run.summary()["val_mse"] == pytest.approx(min(losses), rel=1e-5)


def test_checkpointer_in_min_mode_saves_the_lowest_loss_and_keeps_that_mode_on_resume(tmp_path):
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])

    def epochs(cp, start, losses):
        for epoch, loss in enumerate(losses, start):
            model.layers[0].kernel.assign([[float(epoch + 1)]])     # the weights name their epoch
            cp.on_epoch_end(epoch, {"val_loss": loss})

    cp = Checkpointer(tmp_path / "ck", tmp_path / "best.keras", monitor="val_loss", mode="min")
    cp.set_model(model)
    cp.on_train_begin()
    epochs(cp, 0, [0.5, 0.2, 0.3, 0.1, 0.4])
    assert cp.state["best_epoch"] == 4
    assert keras.models.load_model(tmp_path / "best.keras").get_weights()[0][0, 0] == 4.0

    resumed = Checkpointer(tmp_path / "ck", tmp_path / "best.keras", monitor="val_loss", mode="min")
    resumed.set_model(model)
    resumed.on_train_begin()
    epochs(resumed, 5, [0.15, 0.05, 0.08])                # 0.15 is no better than 0.1; 0.05 is
    assert resumed.state["best_epoch"] == 7
    assert keras.models.load_model(tmp_path / "best.keras").get_weights()[0][0, 0] == 7.0


@pytest.mark.parametrize("cell, lr_rule, divisor", [
    ("dmu", True, 2 * 3),      # depth n = 3: the DMU's decay is l2 / 2n
    ("dmu", False, 1),         # the ablation: the plain decay
    ("lstm", True, 1),         # the rule is the DMU's only
    ("rhn", True, 1),          # the RHN's input and recurrent kernels
])
def test_the_dmu_weight_decay_is_divided_by_2n_under_the_rule(cell, lr_rule, divisor):
    keras.utils.set_random_seed(0)
    l2 = 0.01
    spec = SequenceSpec(cell=cell, units=3, depth=3 if cell == "dmu" else 1, hidden=4)
    model = build_sequence_model(spec, (5, 2), num_classes=None, l2=l2, lr_rule=lr_rule)
    kernels = [keras.ops.convert_to_numpy(w) for w in model.weights
               if "kernel" in w.path and not w.path.startswith("head_out")]
    head = keras.ops.convert_to_numpy(model.get_layer("head_out").kernel).astype(np.float64)
    assert len(kernels) == (3 if cell == "dmu" else 2)     # the DMU's 3 FNN kernels; kernel + recurrent
    # Keras' L2(c) adds c * sum(w^2) per kernel; biases are not decayed, the head at the plain rate
    # (the seed's code: the dense layers keep wd, reference 000 §2.2.4).
    expected = (l2 / divisor * sum(float((k.astype(np.float64) ** 2).sum()) for k in kernels)
                + l2 * float((head ** 2).sum()))
    assert float(sum(keras.ops.convert_to_numpy(loss) for loss in model.losses)) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("lr_rule", [True, False])
def test_the_weight_decay_of_a_sequence_model_reaches_its_loss(tmp_path, monkeypatch, lr_rule):
    """model.weight_decay = wd, as PyTorch's coupled Adam(weight_decay=wd): an L2 of wd / 2 on
    every kernel, the DMU's divided by 2n under the learning-rate rule (seed 000 eq. 5)."""
    data = seq.synthetic("adding", 6, (32, 16, 16), seed=0)
    wd = 0.2
    cfg = configs.load_config("train", None, [*OVERRIDES, f"model.weight_decay={wd}",
                                               f"model.lr_rule={'true' if lr_rule else 'false'}"])
    built = []
    monkeypatch.setattr(pipelines.train, "build_sequence_model",
                        lambda *a, **k: built.append(build_sequence_model(*a, **k)) or built[-1])
    run_training(cfg, RunDir.create(tmp_path / "run", "train", configs.to_dict(cfg)), quiet=True, data=data)
    model = built[0]
    dmu = 1 / (2 * cfg.model.depth) if lr_rule else 1.0
    expected = sum((wd / 2) * (dmu if v.path.startswith("dmu0/") else 1.0) * np.sum(keras.ops.convert_to_numpy(v) ** 2)
                   for v in model.trainable_weights if "kernel" in v.path)
    assert sum(float(loss) for loss in model.losses) == pytest.approx(expected, rel=1e-5)
    assert expected > 0
