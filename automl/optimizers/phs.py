"""Port-Hamiltonian optimizer with goal-oriented braking (seed 002 Ch. 3; reference §2b).

Training as a heavy ball of mass m under friction γ (eq. 3.3):
    ω' = p / m,    p' = -(γ/m) p - ∇L(ω)
Two discretisations with step α:
- "explicit", eq. (3.2) as printed: ω ← ω + (α/m) p;  p ← p - α(γ/m) p - α∇L.
  The momentum factor (1 - αγ/m) makes it diverge once αγ/m > 2, which many of the thesis'
  table settings reach after braking (reference ambiguity 15).
- "semi_implicit" (default): p ← (p - α∇L) / (1 + αγ/m);  ω ← ω + (α/m) p.
  Friction is integrated implicitly, so it is stable for any αγ/m; for large γ it becomes
  gradient descent with step α/γ, the high-friction limit eq. (3.6).

Goal-oriented braking ("who breaks early, looses", §3.3): keep γ low to explore until the
monitored training loss reaches a goal, then multiply γ by a factor, once. The friction, the
braked flag and the braking step are optimizer variables, so they are saved with the model and
a resumed run stays braked.
"""
from __future__ import annotations

import math
import sys

import keras
from keras import ops

from automl.training_settings import PhsSettings, check_braking, check_port_hamiltonian

_DEFAULT = PhsSettings.defaults()  # one set of defaults: the config section `training.phs`


@keras.saving.register_keras_serializable(package="automl")
class PortHamiltonian(keras.optimizers.Optimizer):
    """A Keras optimizer that trains as a heavy ball with friction (seed 002 Ch. 3).

    Its defaults are `PhsSettings`' (seed 002 Table 3.2's best FashionMNIST row). Brake it with
    the `GoalOrientedBraking` callback.

    Args:
        learning_rate: the step α (a float or a Keras learning-rate schedule).
        mass: the mass m, > 0.
        friction: the friction γ before braking, >= 0.
        discretization: "semi_implicit" (stable for any αγ/m) or "explicit", eq. (3.2) as
            printed, which diverges once αγ/m > 2 (reference ambiguity 15).
        name: the optimizer's name.
        **kwargs: Keras' common optimizer arguments (clipnorm, weight_decay, ...).
    """

    def __init__(
        self,
        learning_rate=_DEFAULT["learning_rate"],
        mass: float = _DEFAULT["mass"],
        friction: float = _DEFAULT["friction"],
        discretization: str = _DEFAULT["discretization"],
        name: str = "port_hamiltonian",
        **kwargs,
    ):
        check_port_hamiltonian("PortHamiltonian", mass, friction, discretization)  # the rules PhsSettings applies
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.mass = float(mass)
        self.initial_friction = float(friction)
        self.discretization = discretization

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.momenta = self.add_optimizer_variables(variables, "momentum")
        self.friction = self.add_variable((), initializer=keras.initializers.Constant(self.initial_friction),
                                          name="friction")
        self.braked = self.add_variable((), initializer="zeros", name="braked")
        self.brake_step = self.add_variable((), initializer=keras.initializers.Constant(-1.0), name="brake_step")
        # L0 of a relative goal; kept here so that a resumed run measures against the same L0.
        self.initial_loss = self.add_variable((), initializer=keras.initializers.Constant(float("nan")),
                                              name="initial_loss")

    def update_step(self, gradient, variable, learning_rate):
        alpha = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        mass = ops.cast(self.mass, variable.dtype)
        damping = alpha * ops.cast(self.friction, variable.dtype) / mass   # αγ/m
        p = self.momenta[self._get_variable_index(variable)]
        if self.discretization == "explicit":
            self.assign_add(variable, alpha / mass * p)
            self.assign(p, p - damping * p - alpha * gradient)
        else:
            self.assign(p, (p - alpha * gradient) / (1.0 + damping))
            self.assign_add(variable, alpha / mass * p)

    # -- braking -------------------------------------------------------------------------
    @property
    def is_braked(self) -> bool:
        return self.built and float(ops.convert_to_numpy(self.braked)) > 0

    def brake(self, factor: float) -> bool:
        """Multiply the friction by `factor`, once; False when it was already braked."""
        if self.is_braked:
            return False
        self.friction.assign(self.friction * factor)
        self.braked.assign(1.0)
        self.brake_step.assign(ops.cast(self.iterations, "float32"))
        return True

    def get_config(self):
        config = super().get_config()
        config.update(mass=self.mass, friction=self.initial_friction, discretization=self.discretization)
        return config


class GoalOrientedBraking(keras.callbacks.Callback):
    """Brakes a PortHamiltonian optimizer once the monitored training loss reaches the goal.

    Args:
        goal: the loss (absolute) or the fraction of the first loss gone (relative) at which to brake.
        factor: the friction's factor at braking, > 0.
        goal_mode: "absolute" or "relative" (below).
        monitor: "running" or "epoch" (below).
        stream: where the braking message is written (None: standard error; False: nowhere).

    Defaults are `PhsSettings`' brake_goal, brake_factor, brake_mode and monitor.

    goal_mode "absolute": brake when loss <= goal (reference ambiguity 17's best reading of the
    tables' "breaking at c"); "relative": brake when loss <= (1 - goal) * L0, a fractional
    reduction of the initial loss L0 (the first batch's loss). monitor "running": Keras' running
    mean of the loss over the current epoch, checked after every batch; "epoch": the epoch mean,
    checked at the end of each epoch.
    """

    def __init__(self, goal: float = _DEFAULT["brake_goal"], factor: float = _DEFAULT["brake_factor"],
                 goal_mode: str = _DEFAULT["brake_mode"], monitor: str = _DEFAULT["monitor"], stream=None):
        super().__init__()
        check_braking("GoalOrientedBraking", goal, factor, goal_mode, monitor)  # the rules PhsSettings applies
        self.goal, self.factor, self.goal_mode, self.monitor = goal, factor, goal_mode, monitor
        self.stream = stream
        self.braked_at: dict | None = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        optimizer = self.model.optimizer
        if math.isnan(float(ops.convert_to_numpy(optimizer.initial_loss))):
            optimizer.initial_loss.assign(float(loss))
        if self.monitor == "running":
            self._check(float(loss), batch)

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor == "epoch" and logs and "loss" in logs:
            self._check(float(logs["loss"]), None)
        if logs is not None:
            logs["friction"] = float(ops.convert_to_numpy(self.model.optimizer.friction))
            logs["braked"] = float(self.model.optimizer.is_braked)

    def target(self) -> float | None:
        if self.goal_mode == "absolute":
            return self.goal
        initial = float(ops.convert_to_numpy(self.model.optimizer.initial_loss))
        return None if math.isnan(initial) else (1.0 - self.goal) * initial

    def _check(self, loss: float, batch):
        optimizer = self.model.optimizer
        target = self.target()
        if target is None or optimizer.is_braked or loss > target:
            return
        optimizer.brake(self.factor)
        step = int(ops.convert_to_numpy(optimizer.brake_step))
        self.braked_at = {"epoch": self._epoch + 1, "step": step, "loss": loss, "target": target}
        if self.stream is not False:
            print(f"braking at epoch {self._epoch + 1}, step {step}: loss {loss:.4f} <= goal {target:.4f}; "
                  f"friction x{self.factor:g} -> {float(ops.convert_to_numpy(optimizer.friction)):g}",
                  file=self.stream or sys.stderr, flush=True)
