"""ResBuilder's cycle decisions (seed 002 §6.1; reference §2a.6-2a.8), driven on scripted cases.

Each test drives one decision of `automl.resbuilder.search` with values chosen so the outcome
can be worked out by hand: the LayerLasso momentum (when removal runs or is skipped), the
Penalized loss (CE + L1/L2 + lambda_M * G_M, as Keras reports it while training), the best-epoch
keeper and the choice of the best net on validation accuracy only.
"""
import time
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf

from automl.resbuilder.growth import blocks_to_remove, mean_abs_weights
from automl.resbuilder.morph import conv_groups, morphnet_penalty
from automl.resbuilder.search import Penalized, ResBuilderCycle, SearchData, _KeepBest
from models import Block, ResNetSpec, Stage, build_model
from models.spec import block_layer
from pipelines.config import load_config

SHAPE = (8, 8, 1)
CLASSES = 3
TAU_LL = 0.015625  # 1/64: exactly representable, so "gain == tau_LL" is an exact tie


def _data():
    """12 training images (6 x class 0, 4 x class 1, 2 x class 2); validation/test images
    5 x class 0, 3 x class 1, 2 x class 2. Unequal shares give each scripted head its own loss."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (12, *SHAPE)).astype("float32")
    y = np.array([0] * 6 + [1] * 4 + [2] * 2)
    xv = rng.uniform(0, 1, (10, *SHAPE)).astype("float32")
    yv = np.array([0] * 5 + [1] * 3 + [2] * 2)
    train = tf.data.Dataset.from_tensor_slices((x, y)).batch(12)          # one batch per epoch
    val = tf.data.Dataset.from_tensor_slices((xv, yv)).batch(10)
    return SearchData(train=train, val=val, test=val, input_shape=SHAPE, num_classes=CLASSES), (x, y)


def _engine(tmp_path, records=None, best=None, train=None, **rb):
    cfg = load_config("search")
    rb_cfg = cfg.resbuilder.replace(**{"start_pooling_stages": 1, "insertions": 4, "morph_steps": 1,
                                       "momentum_gain": TAU_LL, **rb})
    train_cfg = cfg.train.replace(**(train or {}))
    data, _ = _data()
    return ResBuilderCycle(rb_cfg, train_cfg, data, tmp_path / "store", seed=0, log=lambda line: None,
                      on_architecture=(records.append if records is not None else None),
                      on_best=(lambda model, b: best.append(dict(b))) if best is not None else None)


# -- LayerLasso momentum (reference §2a.6) ---------------------------------------------------

SPEC = ResNetSpec(stem_filters=4, stages=[Stage(blocks=[Block(0, 4), Block(1, 4, inserted=True)])])


def _prepare_end_step(tmp_path, t, architectures, previous, val, **rb):
    """A step whose With-Reg training just ended; inserted block 1 has mean |w| = 1e-5 < tau = 1e-3,
    so the removal rule takes it whenever it runs."""
    records = []
    engine = _engine(tmp_path, records, **rb)
    keras.utils.set_random_seed(0)
    model = build_model(SPEC, SHAPE, CLASSES)
    for part in ("conv1", "conv2"):
        kernel = model.get_layer(block_layer(1, part)).kernel
        kernel.assign(np.full(kernel.shape, 1e-5, "float32"))
    model.save_weights(engine.store / "with_reg_9.weights.h5")
    assert blocks_to_remove(SPEC, mean_abs_weights(model, SPEC), 1e-3) == [1]   # the rule's own verdict
    results = {v: {"val_accuracy": acc, "test_accuracy": 0.0, "seconds": 1.0} for v, acc in
               (("with_reg", val), ("no_reg_wi", 0.25), ("no_reg_ri", 0.125))}
    engine.state.update(spec=SPEC.to_dict(), m=0, t=t, architectures=architectures, step=9,
                        previous_with_reg_val=previous,
                        current={"spec": SPEC.to_dict(), "inserted": 1 if t else None, "results": results,
                                 "started": time.time(), "with_reg_weights": "with_reg_9.weights.h5"})
    return engine, records


@pytest.mark.parametrize("t, architectures, momentum, previous, val, removed", [
    # gain = 0.53125 - 0.5 = 0.03125 > tau_LL = 0.015625 after an insertion: removal skipped
    (1, 1, True, 0.5, 0.53125, []),
    # gain = 0.515625 - 0.5 = 0.015625 == tau_LL: not *more* than tau_LL, so removal runs
    (1, 1, True, 0.5, 0.515625, [1]),
    # the insertion hurt (gain -0.25): removal runs
    (1, 1, True, 0.5, 0.25, [1]),
    # the same large gain with the momentum switched off (Theta_LL = False): removal runs
    (1, 1, False, 0.5, 0.53125, [1]),
    # t = 0 (no insertion in this step): the momentum never skips, even with a large gain
    (0, 1, True, 0.5, 0.53125, [1]),
    # no previous With-Reg training in this MorphNet step (gain undefined): removal runs
    (2, 1, True, None, 0.53125, [1]),
    # the very first training of the run: never a removal
    (0, 0, True, None, 0.53125, []),
])
def test_momentum_skips_removal_only_after_an_insertion_that_gained_more_than_tau_ll(
        tmp_path, t, architectures, momentum, previous, val, removed):
    engine, records = _prepare_end_step(tmp_path, t, architectures, previous, val, layerlasso_momentum=momentum)
    engine._end_step()
    (record,) = records
    gain = None if previous is None else val - previous
    assert record["removed_blocks"] == removed
    assert record["with_reg_gain"] == gain
    assert record["momentum_skip"] == (t > 0 and momentum and gain is not None and gain > TAU_LL)
    s = engine.state
    # the removal reaches the next step's spec; the With-Reg result becomes the next reference
    assert [b.id for b in ResNetSpec.from_dict(s["spec"]).blocks()] == ([0] if removed else [0, 1])
    assert s["previous_with_reg_val"] == val and s["architectures"] == architectures + 1
    assert s["parent"] == {"spec": SPEC.to_dict(), "weights": "with_reg_9.weights.h5"}
    assert s["t"] == t + 1 and s["current"] is None and s["seen"] == [SPEC.signature()]


# -- the Penalized loss: L = CE + lambda_L G_L + lambda_M G_M + lambda_0 L2 (eq. 4.5) -----------

def _numpy_reference_loss(model, x, y, l1, l2, morph):
    """Cross-entropy on the training-mode forward pass, plus the regularizers recomputed in numpy."""
    probs = model(x, training=True).numpy().astype("float64")
    ce = -np.mean(np.log(probs[np.arange(len(y)), y]))
    kernels = {l.name: l.kernel.numpy().astype("float64") for l in model.layers if hasattr(l, "kernel")}
    reg = l2 * sum((k ** 2).sum() for k in kernels.values())
    reg += l1 * sum(np.abs(k).sum() for name, k in kernels.items() if name.startswith("block"))
    return ce + reg + morph


NET = ResNetSpec(stem_filters=4, stages=[Stage(blocks=[Block(0, 4)])])
# G_M at init (every gamma 1, all alive; pair cost 2*3*3*8*8 = 1152 for each conv):
#   stem:   1152 * (1 input channel * 4 gammas)               =  4,608
#   conv1:  1152 * (4 gammas * 4 alive + 4 alive * 4 gammas)  = 36,864
#   conv2:  the same                                          = 36,864
G_M_AT_INIT = 4608 + 36864 + 36864   # = 78,336


def test_penalty_at_init_matches_the_hand_count():
    model = build_model(NET, SHAPE, CLASSES)
    groups = conv_groups(NET, SHAPE, CLASSES)
    assert float(morphnet_penalty(model, groups, 1e-2)) == pytest.approx(G_M_AT_INIT, rel=1e-6)


def test_penalized_compute_loss_adds_weight_times_penalty_to_the_compiled_loss():
    keras.utils.set_random_seed(0)
    model = build_model(NET, SHAPE, CLASSES, block_l1=1e-3, l2=1e-3)
    groups = conv_groups(NET, SHAPE, CLASSES)
    wrapped = Penalized(model, lambda: morphnet_penalty(model, groups, 1e-2), 1e-5)
    wrapped.compile(loss="sparse_categorical_crossentropy")
    _, (x, y) = _data()
    y_pred = wrapped(x, training=True)
    got = float(wrapped.compute_loss(x=x, y=y, y_pred=y_pred, training=True))
    # 1e-5 * 78,336 = 0.78336 on top of CE + L1 + L2
    assert got == pytest.approx(_numpy_reference_loss(model, x, y, 1e-3, 1e-3, 1e-5 * G_M_AT_INIT), rel=1e-5)


# -- the best-epoch keeper ---------------------------------------------------------------------

def test_keep_best_holds_the_weights_of_the_first_best_epoch_and_ignores_cut_epochs():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    stopper = SimpleNamespace(cut=False)
    keep = _KeepBest(stopper)
    keep.set_model(model)
    vals = [0.5, 0.75, 0.625, 0.75, 0.25]   # best 0.75 first reached in epoch 2 (index 1)
    for epoch, v in enumerate(vals):
        model.set_weights([np.full((2, 1), epoch, "float32"), np.full((1,), epoch, "float32")])
        keep.on_epoch_end(epoch, {"val_accuracy": v})
    assert (keep.best, keep.epoch, keep.completed) == (0.75, 2, 5)
    # a snapshot of epoch index 1, not the final or the first weights; a tie later does not replace it
    np.testing.assert_array_equal(keep.weights[0], np.ones((2, 1)))
    stopper.cut = True                                                # the budget cut epoch 6 short
    model.set_weights([np.full((2, 1), 9, "float32"), np.full((1,), 9, "float32")])
    keep.on_epoch_end(5, {"val_accuracy": 1.0})
    assert (keep.best, keep.epoch, keep.completed) == (0.75, 2, 5)
    np.testing.assert_array_equal(keep.weights[1], np.ones((1,)))


class _ScriptedHead(keras.callbacks.Callback):
    """Before each epoch, points the head at one class: zero kernel, bias 10 on that class, so the
    net predicts that class for every image and its validation accuracy is that class' share."""

    def __init__(self, classes):
        super().__init__()
        self.classes, self.val, self.loss = classes, [], []

    def on_epoch_begin(self, epoch, logs=None):
        head = getattr(self.model, "inner", self.model).get_layer("head_out")   # With-Reg: Penalized
        bias = np.zeros(CLASSES, "float32")
        bias[self.classes[epoch]] = 10.0
        head.kernel.assign(np.zeros(head.kernel.shape, "float32"))
        head.bias.assign(bias)

    def on_epoch_end(self, epoch, logs=None):
        self.val.append(logs["val_accuracy"])
        self.loss.append(logs["loss"])


@pytest.mark.parametrize("variant, val_accuracy, head_class", [
    ("no_reg_ri", 0.5, 0),   # No-Reg: measured at its best epoch (epoch 2, class 0: 5 of 10)
    ("with_reg", 0.3, 1),    # With-Reg: its final weights (epoch 3, class 1: 3 of 10) decide removal
])
def test_training_reports_ce_plus_regularizers_plus_lambda_m_g_m_and_no_reg_keeps_its_best_epoch(
        tmp_path, variant, val_accuracy, head_class):
    # Learning rate 1e-30 (the settings refuse 0): Adam's steps of ~1e-30 vanish in float32, so
    # only the scripted head changes. Epochs predict class 2, 0, 1: validation
    # accuracy 0.2, 0.5, 0.3, so the best epoch is the middle one, neither the first nor the last.
    engine = _engine(tmp_path, lambda_morph=1e-5, lambda_lasso=1e-3, lambda_l2=1e-3, epochs=3,
                     train={"learning_rate": 1e-30, "reduce_lr_on_plateau": False})
    script = _ScriptedHead([2, 0, 1])
    engine.epoch_callbacks = lambda label: [script]
    keras.utils.set_random_seed(0)
    current = {"spec": NET.to_dict(), "inserted": None, "results": {}}
    model, result = engine._train_variant(variant, NET, current, "arch 1")
    assert script.val == pytest.approx([0.2, 0.5, 0.3])
    assert result["best_epoch"] == 2
    assert result["val_accuracy"] == pytest.approx(val_accuracy)
    assert result["test_accuracy"] == pytest.approx(val_accuracy)           # test = validation data here
    assert int(np.argmax(model.get_layer("head_out").bias.numpy())) == head_class

    # The loss Keras reported for the epoch whose weights the returned net holds (one batch per
    # epoch): With-Reg, CE + L1 (block convs) + L2 + 1e-5 * G_M = ... + 0.78336; No-Reg, CE + L2
    # only (reference §2a.7). The gammas are still at init (lr 0), so G_M = G_M_AT_INIT.
    _, (x, y) = _data()
    with_reg = variant == "with_reg"
    expected = _numpy_reference_loss(model, x, y, 1e-3 if with_reg else 0.0, 1e-3,
                                     1e-5 * G_M_AT_INIT if with_reg else 0.0)
    assert script.loss[2 if with_reg else 1] == pytest.approx(expected, rel=1e-5)


# -- the best net: highest No-Reg validation accuracy, then fewer FLOPs; never test accuracy -------

def test_best_is_chosen_on_validation_accuracy_then_fewer_flops_never_on_test(tmp_path):
    chosen = []
    engine = _engine(tmp_path, best=chosen)
    cost = lambda flops: SimpleNamespace(flops=flops, params=flops // 10)   # noqa: E731
    steps = [  # (architectures so far, variant, val, test, flops)
        (0, "no_reg_wi", 0.6, 0.9, 1000),    # first: best
        (0, "no_reg_ri", 0.7, 0.5, 1000),    # higher validation, lower test: best
        (1, "no_reg_wi", 0.65, 0.99, 500),   # best test of all, lower validation: not best
        (1, "no_reg_ri", 0.7, 0.4, 2000),    # ties on validation with more FLOPs: not best
        (2, "no_reg_wi", 0.7, 0.3, 800),     # ties on validation with fewer FLOPs: best
    ]
    model = build_model(NET, SHAPE, CLASSES)    # the best's weights are kept for the budget fill
    for architectures, variant, val, test, flops in steps:
        engine.state["architectures"] = architectures
        engine._maybe_best(model, NET, cost(flops), variant, {"val_accuracy": val, "test_accuracy": test})
    assert [(b["architecture"], b["variant"], b["test_accuracy"]) for b in chosen] == [
        (1, "no_reg_wi", 0.9), (1, "no_reg_ri", 0.5), (3, "no_reg_wi", 0.3)]
    assert engine.state["best"] == {"architecture": 3, "variant": "no_reg_wi", "val_accuracy": 0.7,
                                    "test_accuracy": 0.3, "flops": 800, "params": 80, "spec": NET.to_dict()}


def test_the_search_eta_counts_the_architectures_the_schedule_has_left(tmp_path):
    from automl.budget import Deadline

    engine = _engine(tmp_path, morph_steps=2, insertions=3)              # 2 x (3 + 1) + 1 = 9 architectures
    s = engine.state
    assert engine.architectures_left() == 9 and engine.search_eta(1e5) is None
    s.update(m=0, t=2, architectures=2, train_seconds=60.0)              # 30 s per architecture so far
    assert engine.architectures_left() == 7 and engine.search_eta(1e5) == "3m30s"   # one size known: the mean
    s.update(m=2, t=0, architectures=8, train_seconds=240.0)             # the last MorphNet step's net
    assert engine.architectures_left() == 1 and engine.search_eta(1e5) == "30s"
    engine.deadline = Deadline(100.0)
    s.update(m=1, t=0, architectures=4, train_seconds=120.0)             # 5 left: 150 s > the 100 s budget
    assert engine.search_eta(1e5).endswith("(the budget)")


def test_the_search_eta_prices_the_nets_to_come_by_their_flops(tmp_path):
    from automl.budget import format_duration
    from automl.resbuilder.search import seconds_at

    costs = [[1e5, 12.0], [2e5, 20.0], [8e5, 40.0]]       # the two largest: 4x the FLOPs, 2x the time
    assert seconds_at(3.2e6, costs) == pytest.approx(80.0)  # seconds ~ FLOPs^0.5
    assert seconds_at(3.2e6, [[1e5, 10.0], [2e5, 30.0]]) == pytest.approx(480.0)  # p at most 1: linear
    assert seconds_at(3.2e6, [[1e5, 30.0], [2e5, 10.0]]) == pytest.approx(10.0)   # p at least 0
    assert seconds_at(8e5, [[1e5, 12.0], [1e5, 18.0]]) == 15.0   # one size known: the mean
    engine = _engine(tmp_path, morph_steps=2, insertions=3)
    s = engine.state
    s.update(m=0, t=2, architectures=2, train_seconds=50.0, costs=costs[1:])
    # 7 left: this round's 2 at the current net's 8e5 FLOPs, then 5 after MorphNet steps at zeta
    expected = 2 * 40.0 + 5 * seconds_at(max(8e5, engine.zeta), costs[1:])
    assert engine.search_eta(8e5) == format_duration(expected) != format_duration(7 * 25.0)
    s.update(m=2, t=0, architectures=8)                                 # the last MorphNet step's net
    assert engine.search_eta(8e5) == format_duration(40.0)


def test_a_no_reg_training_the_budget_cuts_still_offers_its_best_whole_epoch(tmp_path):
    """Anytime: the budget ends arch 1's No-Reg WI training during its third epoch; the best of
    its two whole epochs (by validation accuracy) becomes the best net, marked as cut."""
    from automl.budget import Deadline

    class Flag(Deadline):
        def __init__(self):
            super().__init__(seconds=1e9)
            self.passed = False

        def work_left(self) -> float:
            return -1.0 if self.passed else 1e9

    deadline, seen, weights_seen, best = Flag(), [], [], []

    class EndAfterTwoEpochs(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(logs["val_accuracy"])
            weights_seen.append(self.model.get_weights())
            deadline.passed = epoch == 1

    cfg = load_config("search")
    data, _ = _data()
    engine = ResBuilderCycle(cfg.resbuilder.replace(start_pooling_stages=1, epochs=4), cfg.train, data,
                             tmp_path / "store", seed=0, log=lambda line: None,
                             on_best=lambda model, b: best.append((dict(b), model.get_weights())),
                             epoch_callbacks=lambda label: [EndAfterTwoEpochs()] if label.endswith("no_reg_wi") else [],
                             deadline=deadline)
    state = engine.run()
    assert state["cut"]["variant"] == "no_reg_wi" and state["cut"]["epochs"] == 2
    seen = seen[:2]                                                       # the third, cut epoch never competes
    record, weights = best[-1]
    assert record["architecture"] == 1 and record["variant"] == "no_reg_wi, cut by the budget"
    assert record["val_accuracy"] == max(seen) == state["best"]["val_accuracy"]
    chosen = weights_seen[seen.index(max(seen))]                          # the first best whole epoch's weights
    assert all(np.array_equal(a, b) for a, b in zip(weights, chosen))
    model = build_model(ResNetSpec.from_dict(record["spec"]), SHAPE, CLASSES)
    model.set_weights(weights)
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    assert model.evaluate(data.val, verbose=0, return_dict=True)["accuracy"] == pytest.approx(max(seen))


@pytest.mark.parametrize("insertions, start, expected", [
    (0, "auto", "rb-r18"),        # MorphNet alone: the thesis' MorphNet column shrinks ResNet-18 (Table 6.1)
    (4, "auto", "rb-0net"),       # the full cycle grows from RB-0Net (seed 002 §6.1.1.1)
    (0, "rb-0net", "rb-0net"),    # an explicit start wins
])
def test_the_start_net_follows_the_strategy_unless_set(tmp_path, insertions, start, expected):
    from models.zoo import start_net

    engine = _engine(tmp_path, insertions=insertions, start=start, zeta=1e9)
    assert engine.cfg.start_name == expected
    assert engine.state["spec"] == start_net(expected, 1).to_dict()


@pytest.mark.parametrize("preset, expected", [(None, "HeNormal"), ("thesis", "GlorotUniform")])
def test_the_thesis_preset_initialises_as_the_authors_code(tmp_path, preset, expected):
    from automl.resbuilder.settings import ResBuilderSettings
    from models.spec import ResNetSpec

    initializer = ResBuilderSettings(**ResBuilderSettings.preset(preset)).initializer
    engine = _engine(tmp_path, initializer=initializer)
    model = engine._model(ResNetSpec.from_dict(engine.state["spec"]), with_reg=False)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs and {type(c.kernel_initializer).__name__ for c in convs} == {expected}
