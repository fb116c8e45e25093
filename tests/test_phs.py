"""Port-Hamiltonian optimizer (seed 002 Ch. 3) and goal-oriented braking."""

import json

import keras
import numpy as np
import pytest

from automl.optimizers import GoalOrientedBraking, PortHamiltonian
from conftest import read_jsonl, run_automl
from pipelines.cli import main
from pipelines.config import run_config


def run_quadratic(optimizer, steps, w0=1.0, k=1.0):
    """Minimise L = k w^2 / 2 (gradient k w); the trajectory of w."""
    w = keras.Variable(np.array([w0], "float32"))
    path = []
    for _ in range(steps):
        optimizer.apply_gradients([(k * w.value, w)])
        path.append(float(w.numpy()[0]))
    return np.array(path)


def test_frictionless_unit_mass_follows_the_analytic_solution():
    # gamma = 0, m = 1: w'' = -k w, so w(t) = w0 cos(sqrt(k) t), with t = alpha * steps.
    # 1,600 steps reach t = 1.6, just past half a period (pi / 2): w swings from +1 to -1.
    alpha, k, steps = 1e-3, 4.0, 1600
    path = run_quadratic(PortHamiltonian(alpha, mass=1.0, friction=0.0), steps, k=k)
    t = alpha * np.arange(1, steps + 1)
    np.testing.assert_allclose(path, np.cos(np.sqrt(k) * t), atol=5e-3)
    assert path.min() < -0.99   # it swings through the minimum to the far side: no friction, no decay


def test_high_friction_limit_is_gradient_descent_with_step_alpha_over_gamma():
    # eq. (3.6): for gamma/m large, w' = -grad L / gamma.
    alpha, gamma = 0.05, 2.0
    phs = run_quadratic(PortHamiltonian(alpha, mass=1e-7, friction=gamma), 50)
    sgd = run_quadratic(keras.optimizers.SGD(alpha / gamma), 50)
    np.testing.assert_allclose(phs, sgd, rtol=1e-4)


def _steps(opt, w0, k, steps, brake_after=None, factor=1.0):
    """Minimise L = sum(k w^2) / 2 with `opt`; (w, p) after every step, braking once after step `brake_after`."""
    w = keras.Variable(np.array(w0, "float32"))
    out = []
    for step in range(steps):
        opt.apply_gradients([(k * w.value, w)])
        out.append((w.numpy().copy(), opt.momenta[0].numpy().copy()))
        if step + 1 == brake_after:
            assert opt.brake(factor)
    return out


def _reference(discretization, w0, k, steps, alpha, m, gammas):
    """eq. (3.2) (explicit) or its semi-implicit variant in float64; gammas[i] is the friction of step i."""
    w, p = np.array(w0, float), np.zeros(len(w0))
    out = []
    for gamma in gammas[:steps]:
        g = k * w
        if discretization == "explicit":
            w, p = w + alpha / m * p, p - alpha * gamma / m * p - alpha * g
        else:
            p = (p - alpha * g) / (1 + alpha * gamma / m)
            w = w + alpha / m * p
        out.append((w, p))
    return out


def test_explicit_step_is_eq_3_2_literally():
    # w_{k+1} = w_k + (a/m) p_k ; p_{k+1} = p_k - a(g/m) p_k - a k w_k  (a=0.1, m=2, g=0.5, k=3, w0=1):
    # step 1: w = 1, p = -0.3; step 2: w = 1 + 0.05 * -0.3 = 0.985, p = -0.3 + 0.025*0.3 - 0.3 = -0.5925;
    # step 3: w = 0.985 - 0.05 * 0.5925 = 0.955375, p = -0.5925 * 0.975 - 0.3 * 0.985 = -0.8731875
    alpha, m, gamma, k = 0.1, 2.0, 0.5, 3.0
    opt = PortHamiltonian(alpha, mass=m, friction=gamma, discretization="explicit")
    got = _steps(opt, [1.0], k, 3)
    hand = [(1.0, -0.3), (0.985, -0.5925), (0.955375, -0.8731875)]
    for (w, p), (w_hand, p_hand) in zip(got, hand):
        assert w[0] == pytest.approx(w_hand, rel=1e-6) and p[0] == pytest.approx(p_hand, rel=1e-6)


def test_semi_implicit_steps_match_the_update_worked_by_hand():
    # p_{k+1} = (p_k - a k w_k) / (1 + a g / m) ; w_{k+1} = w_k + (a/m) p_{k+1}  (a=0.1, m=2, g=0.5, k=3):
    # step 1 from w0 = 1: p = -0.3 / 1.025 = -0.29268293, w = 1 - 0.05 * 0.29268293 = 0.98536585.
    alpha, m, gamma, k = 0.1, 2.0, 0.5, 3.0
    opt = PortHamiltonian(alpha, mass=m, friction=gamma)
    got = _steps(opt, [1.0, -2.0], k, 4)
    assert got[0][1][0] == pytest.approx(-0.3 / 1.025, rel=1e-6)
    assert got[0][0][0] == pytest.approx(1 - 0.05 * 0.3 / 1.025, rel=1e-6)
    for (w, p), (w_ref, p_ref) in zip(got, _reference("semi_implicit", [1.0, -2.0], k, 4, alpha, m, [gamma] * 4)):
        np.testing.assert_allclose(w, w_ref, rtol=1e-6)
        np.testing.assert_allclose(p, p_ref, rtol=1e-6)


@pytest.mark.parametrize("discretization", ["semi_implicit", "explicit"])
def test_the_braked_friction_is_the_one_the_next_steps_use(discretization):
    # Two steps at g = 0.2, brake x10, two steps at g = 2.0; mass 2 and friction enter only as g/m.
    alpha, m, gamma, k, factor = 0.1, 2.0, 0.2, 1.5, 10.0
    opt = PortHamiltonian(alpha, mass=m, friction=gamma, discretization=discretization)
    got = _steps(opt, [1.0, 0.5], k, 4, brake_after=2, factor=factor)
    ref = _reference(discretization, [1.0, 0.5], k, 4, alpha, m, [gamma, gamma, gamma * factor, gamma * factor])
    for (w, p), (w_ref, p_ref) in zip(got, ref):
        np.testing.assert_allclose(w, w_ref, rtol=1e-6)
        np.testing.assert_allclose(p, p_ref, rtol=1e-6)
    assert float(opt.friction.numpy()) == pytest.approx(2.0, rel=1e-6) and int(opt.brake_step.numpy()) == 2
    # The config keeps the initial friction (a reloaded optimizer restores the braked one from its variables).
    config = opt.get_config()
    assert (config["mass"], config["friction"], config["discretization"]) == (m, gamma, discretization)
    again = PortHamiltonian.from_config(config)
    assert (again.mass, again.initial_friction, again.discretization) == (m, gamma, discretization)


def test_semi_implicit_stays_stable_where_explicit_blows_up():
    alpha, m, gamma = 0.1, 0.01, 0.3                      # alpha * gamma / m = 3 > 2
    explicit = run_quadratic(PortHamiltonian(alpha, mass=m, friction=gamma, discretization="explicit"), 200)
    implicit = run_quadratic(PortHamiltonian(alpha, mass=m, friction=gamma), 200)
    assert not np.isfinite(explicit[-1]) or abs(explicit[-1]) > 1e6
    assert abs(implicit[-1]) < 1e-3 and np.all(np.isfinite(implicit))
    reference = [w[0] for w, _ in _reference("semi_implicit", [1.0], 1.0, 200, alpha, m, [gamma] * 200)]
    np.testing.assert_allclose(implicit, reference, rtol=1e-4, atol=1e-8)


class _FakeModel:
    def __init__(self, optimizer):
        self.optimizer = optimizer


def _built_optimizer(friction=0.1):
    opt = PortHamiltonian(0.1, mass=10.0, friction=friction)
    opt.build([keras.Variable(np.zeros(2, "float32"))])
    return opt


@pytest.mark.parametrize("mode, goal, brake_batch", [("absolute", 0.2, 3), ("relative", 0.6, 2)])
def test_braking_fires_exactly_once_at_the_goal(mode, goal, brake_batch):
    opt = _built_optimizer()
    cb = GoalOrientedBraking(goal, factor=50, goal_mode=mode, stream=False)
    cb.set_model(_FakeModel(opt))
    cb.on_epoch_begin(0)
    for batch, loss in enumerate([2.0, 1.0, 0.5, 0.1, 0.05, 0.01]):
        opt.iterations.assign(batch + 1)
        cb.on_train_batch_end(batch, {"loss": loss})
    assert opt.is_braked
    assert float(opt.friction.numpy()) == pytest.approx(0.1 * 50)   # multiplied once, not per batch
    assert int(opt.brake_step.numpy()) == brake_batch + 1
    assert cb.braked_at["epoch"] == 1


@pytest.mark.parametrize("mode, goal, losses, target", [
    ("absolute", 0.25, [1.0, 0.5, 0.25, 0.1], 0.25),
    ("relative", 0.75, [2.0, 3.0, 0.5, 0.1], 0.5),   # (1 - 0.75) * L0 with L0 = 2.0, the first batch's loss
])
def test_braking_fires_when_the_loss_reaches_the_goal_exactly(mode, goal, losses, target):
    # "upon reaching this target" (ref §2b.2): loss <= target brakes, so a loss equal to it does.
    opt = _built_optimizer()
    cb = GoalOrientedBraking(goal, factor=5, goal_mode=mode, stream=False)
    cb.set_model(_FakeModel(opt))
    cb.on_epoch_begin(0)
    for batch, loss in enumerate(losses):
        opt.iterations.assign(batch + 1)
        cb.on_train_batch_end(batch, {"loss": loss})
        assert opt.is_braked == (batch >= 2), batch
    assert float(opt.initial_loss.numpy()) == losses[0]
    assert cb.braked_at == {"epoch": 1, "step": 3, "loss": target, "target": target}
    assert float(opt.friction.numpy()) == pytest.approx(0.1 * 5, rel=1e-6)


def test_epoch_monitor_waits_for_the_epoch_mean():
    opt = _built_optimizer()
    cb = GoalOrientedBraking(0.2, factor=10, monitor="epoch", stream=False)
    cb.set_model(_FakeModel(opt))
    cb.on_epoch_begin(0)
    cb.on_train_batch_end(0, {"loss": 0.1})
    assert not opt.is_braked
    cb.on_epoch_end(0, {"loss": 0.3})
    assert not opt.is_braked
    cb.on_epoch_begin(1)
    cb.on_epoch_end(1, {"loss": 0.15})
    assert opt.is_braked and cb.braked_at["epoch"] == 2


@pytest.mark.parametrize("kwargs, name", [({"mass": 0.0}, "mass"), ({"mass": -1.0}, "mass"),
                                          ({"friction": -0.1}, "friction"),
                                          ({"discretization": "rk4"}, "discretization")])
def test_bad_optimizer_values_name_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        PortHamiltonian(0.1, **kwargs)


def test_bad_braking_values():
    with pytest.raises(ValueError, match="factor"):
        GoalOrientedBraking(0.2, factor=0.5)
    with pytest.raises(ValueError, match="goal_mode 'relative'"):
        GoalOrientedBraking(1.5, factor=5, goal_mode="relative")


def _tiny_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                             keras.layers.Dense(3, activation="softmax")])


def test_save_and_load_round_trips_the_optimizer_state(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 4)).astype("float32"), rng.integers(0, 3, 64)
    model = _tiny_model()
    model.compile(PortHamiltonian(0.1, mass=2.0, friction=0.3), "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False,
              callbacks=[GoalOrientedBraking(100.0, factor=7, stream=False)])   # goal met at once
    assert model.optimizer.is_braked
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")

    opt = loaded.optimizer
    assert isinstance(opt, PortHamiltonian) and opt.is_braked
    assert float(opt.friction.numpy()) == pytest.approx(0.3 * 7)
    assert int(opt.iterations.numpy()) == 4 and int(opt.brake_step.numpy()) == 1
    for a, b in zip(model.optimizer.momenta, opt.momenta):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)   # both continue identically
    loaded.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_cli_phs_go_trains_brakes_logs_and_exports(tmp_path, tiny_arch):
    run = tmp_path / "run"
    assert main(["train", "--optimizer", "phs-go", "--arch", tiny_arch, "--out", str(run), "--quiet",
                 "--set", "train.epochs=2", "--set", "train.phs.brake_goal=100"]) == 0
    (record,) = read_jsonl(run / "log.jsonl")
    assert record["optimizer"] == "phs-go"
    assert record["braking"] == {"epoch": 1, "step": 1, "friction": pytest.approx(0.1 * 50)}
    # the thesis' protocol by default: no augmentation (digits' auto would shift); the fixed step:
    # test_the_plateau_schedule_follows_the_optimizer_unless_set
    assert json.loads((run / "meta.json").read_text())["augment"] == "none"
    exported = run_automl("export", str(run), "--out", str(tmp_path / "export"))   # fresh process
    assert exported.returncode == 0, exported.stderr
    # The run's best model keeps its braked optimizer (a resume continues braked); the exported
    # .keras file is its inference copy, which predicts as it does.
    best = keras.models.load_model(run / "best.keras")
    assert isinstance(best.optimizer, PortHamiltonian) and best.optimizer.is_braked
    assert float(best.optimizer.friction.numpy()) == pytest.approx(0.1 * 50, rel=1e-6)
    assert best.optimizer.mass == 10.0 and best.optimizer.discretization == "semi_implicit"
    again = keras.models.load_model(tmp_path / "export" / "model.keras")
    x = np.random.default_rng(0).uniform(0, 16, (16, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(again.predict(x, verbose=0), best.predict(x, verbose=0), atol=1e-6)


@pytest.mark.parametrize("optimizer, setting, plateau", [
    ("phs", "auto", False), ("phs-go", "auto", False),    # the thesis' fixed step
    ("adam", "auto", True), ("sgd", "auto", True),        # ResBuilder's code schedule
    ("phs", True, True), ("adam", False, False),          # as the user sets it
])
def test_the_plateau_schedule_follows_the_optimizer_unless_set(optimizer, setting, plateau):
    from automl.training import schedule_callbacks
    from automl.training_settings import TrainingSettings

    cfg = TrainingSettings(optimizer=optimizer, reduce_lr_on_plateau=setting)
    callbacks = schedule_callbacks(cfg, stream=False)
    assert any(isinstance(c, keras.callbacks.ReduceLROnPlateau) for c in callbacks) == plateau
    with pytest.raises(ValueError, match="true, false or auto"):
        TrainingSettings(reduce_lr_on_plateau="sometimes")


def test_cli_rejects_bad_phs_values(capsys):
    for flag, key in (("train.phs.mass=0", "train.phs.mass"), ("train.phs.friction=-1", "train.phs.friction"),
                      ("train.phs.brake_factor=0.5", "train.phs.brake_factor")):
        assert main(["train", "--optimizer", "phs-go", "--set", flag]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and f"'{key}'" in err


def test_divergence_stops_with_a_clear_message(tmp_path, tiny_arch, capsys):
    code = main(["train", "--optimizer", "phs", "--arch", tiny_arch, "--out", str(tmp_path / "run"), "--quiet",
                 "--set", "train.phs.discretization=explicit", "--set", "train.phs.mass=0.001",
                 "--set", "train.phs.friction=10", "--set", "train.epochs=3"])
    assert code == 1
    err = capsys.readouterr().err
    assert "training diverged" in err and "Traceback" not in err
    # The run is kept for inspection, with the settings that diverged (αγ/m = 0.1 * 10 / 0.001 = 1000 > 2).
    phs = run_config(tmp_path / "run").train.phs
    assert (phs.discretization, phs.mass, phs.friction, phs.learning_rate) == ("explicit", 0.001, 10.0, 0.1)


def test_braking_epoch_is_the_first_braked_epoch_even_with_float32_friction():
    from pipelines.train import _braking

    model = _tiny_model()
    model.compile(PortHamiltonian(0.1, mass=10.0, friction=0.1), "sparse_categorical_crossentropy")
    model.optimizer.build(model.trainable_variables)
    model.optimizer.brake(50)
    history = [{"epoch": 1, "friction": 0.10000000149011612, "braked": 0.0},   # float32(0.1) > 0.1
               {"epoch": 2, "friction": 0.10000000149011612, "braked": 0.0},
               {"epoch": 3, "friction": 5.0, "braked": 1.0}]
    assert _braking(model, {"history": history})["epoch"] == 3
