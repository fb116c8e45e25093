"""Port-Hamiltonian optimizer (seed 002 Ch. 3) and goal-oriented braking."""

import keras
import numpy as np
import pytest

from automl.optimizers import GoalOrientedBraking, PortHamiltonian
from conftest import read_jsonl, run_automl
from pipelines.cli import main


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
    alpha, k, steps = 1e-3, 4.0, 3000
    path = run_quadratic(PortHamiltonian(alpha, mass=1.0, friction=0.0), steps, k=k)
    t = alpha * np.arange(1, steps + 1)
    np.testing.assert_allclose(path, np.cos(np.sqrt(k) * t), atol=5e-3)
    assert path.min() < -0.9   # it really oscillates through the minimum: no friction, no decay


def test_high_friction_limit_is_gradient_descent_with_step_alpha_over_gamma():
    # eq. (3.6): for gamma/m large, w' = -grad L / gamma.
    alpha, gamma = 0.05, 2.0
    phs = run_quadratic(PortHamiltonian(alpha, mass=1e-7, friction=gamma), 50)
    sgd = run_quadratic(keras.optimizers.SGD(alpha / gamma), 50)
    np.testing.assert_allclose(phs, sgd, rtol=1e-4)


def test_explicit_step_is_eq_3_2_literally():
    alpha, m, gamma, k = 0.1, 2.0, 0.5, 3.0
    opt = PortHamiltonian(alpha, mass=m, friction=gamma, discretization="explicit")
    path = run_quadratic(opt, 2, w0=1.0, k=k)
    w, p = 1.0, 0.0
    for _ in range(2):
        w, p = w + alpha / m * p, p - alpha * gamma / m * p - alpha * k * w
    assert path[-1] == pytest.approx(w, rel=1e-6)


def test_semi_implicit_stays_stable_where_explicit_blows_up():
    alpha, m, gamma = 0.1, 0.01, 0.3                      # alpha * gamma / m = 3 > 2
    explicit = run_quadratic(PortHamiltonian(alpha, mass=m, friction=gamma, discretization="explicit"), 200)
    implicit = run_quadratic(PortHamiltonian(alpha, mass=m, friction=gamma), 200)
    assert not np.isfinite(explicit[-1]) or abs(explicit[-1]) > 1e6
    assert abs(implicit[-1]) < 1e-3 and np.all(np.isfinite(implicit))


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
    with pytest.raises(ValueError, match="relative goal"):
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
    exported = run_automl("export", str(run), "--out", str(tmp_path / "export"))   # fresh process
    assert exported.returncode == 0, exported.stderr


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
    assert (tmp_path / "run" / "config.yaml").exists()      # the run is kept for inspection


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
