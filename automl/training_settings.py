"""How a net is trained: the one definition of each training parameter (see automl.settings).

`TrainingSettings` is the `train:` section of a config and the schedule of every gradient training
(`automl train`, ResBuilder's trainings, a fixed net); `PhsSettings` is its `phs:` part, the
port-Hamiltonian optimizer and its braking. The rules of those two (`check_port_hamiltonian`,
`check_braking`) are also what automl.optimizers.PortHamiltonian and GoalOrientedBraking apply.

Light on purpose (no TensorFlow): the command line validates `train.*` with these classes.
"""
from __future__ import annotations

import math
from typing import Literal

from automl.settings import ArgumentError, Settings, is_finite_number, one_of

GRADIENT_OPTIMIZERS = ("adam", "sgd", "phs", "phs-go")
PHS_OPTIMIZERS = ("phs", "phs-go")  # the port-Hamiltonian optimizer, seed 002 Ch. 3
# The gradient-free optimizers of automl.population (its registry is checked against this list).
POPULATION_OPTIMIZERS = ("leea", "ndes", "ndes-g", "ndes-b", "de", "cosyne", "es")
OPTIMIZERS = GRADIENT_OPTIMIZERS + POPULATION_OPTIMIZERS
# The optimizers that can scale single variables' learning rates (the DMU rule, seed 000 eq. 5).
LR_RULE_OPTIMIZERS = ("adam", "sgd")
DISCRETIZATIONS = ("semi_implicit", "explicit")
BRAKE_MODES = ("absolute", "relative")
BRAKE_MONITORS = ("running", "epoch")
DISTRIBUTE = ("auto", "off", "mirrored")


def lr_rule_refusal(optimizer: str) -> str | None:
    """Why the DMU learning-rate rule cannot train with `optimizer`, or None when it can."""
    if optimizer in LR_RULE_OPTIMIZERS:
        return None
    return (f"the DMU learning-rate rule needs optimizer {' or '.join(LR_RULE_OPTIMIZERS)}, not {optimizer}; "
            "turn it off with --set model.lr_rule=false (lr_rule=False)")


def check_port_hamiltonian(owner: str, mass, friction, discretization) -> None:
    """The port-Hamiltonian optimizer's rules (ArgumentError naming the argument)."""
    if not (is_finite_number(mass) and mass > 0):
        raise ArgumentError(owner, "mass", mass, "a number > 0")
    if not (is_finite_number(friction) and friction >= 0):
        raise ArgumentError(owner, "friction", friction, "a number >= 0")
    if discretization not in DISCRETIZATIONS:
        raise ArgumentError(owner, "discretization", discretization, one_of(DISCRETIZATIONS))


def check_braking(owner: str, goal, factor, goal_mode, monitor, names=("goal", "factor", "goal_mode", "monitor")) -> None:
    """Goal-oriented braking's rules; `names` are the arguments' names where they differ."""
    goal_name, factor_name, mode_name, monitor_name = names
    if goal_mode not in BRAKE_MODES:
        raise ArgumentError(owner, mode_name, goal_mode, one_of(BRAKE_MODES))
    if monitor not in BRAKE_MONITORS:
        raise ArgumentError(owner, monitor_name, monitor, one_of(BRAKE_MONITORS))
    if not (is_finite_number(factor) and factor >= 1):
        raise ArgumentError(owner, factor_name, factor, "a number >= 1")
    if goal_mode == "relative" and not (is_finite_number(goal) and 0 < goal < 1):
        raise ArgumentError(owner, goal_name, goal, f"in (0, 1) for {mode_name} 'relative' (a fraction of the first loss)")
    if goal_mode == "absolute" and not (is_finite_number(goal) and goal > 0):
        raise ArgumentError(owner, goal_name, goal, "a number > 0 (a loss)")


class PhsSettings(Settings):
    """The port-Hamiltonian optimizer and goal-oriented braking (seed 002 Ch. 3; reference §2b).
    Defaults: the best FashionMNIST row of seed 002 Table 3.2 (91.02%).

    Args:
        learning_rate: the step α (seed 002 Table 3.2: 0.1).
        mass: the mass m (seed 002 Table 3.2: 10).
        friction: the friction γ before braking (seed 002 Table 3.2: 0.1).
        discretization: semi_implicit (stable for any αγ/m) or explicit, eq. (3.2) as printed, which diverges once αγ/m > 2 (reference ambiguity 15).
        brake_goal: the loss at which the friction is multiplied, once (seed 002 Table 3.2: "breaking at 0.15", read as an absolute loss; reference ambiguity 17).
        brake_mode: absolute (brake at a loss) or relative (brake when this fraction of the first loss is gone; reference ambiguity 17).
        brake_factor: the friction's factor at braking (seed 002 Table 3.2: "with factor 50").
        monitor: running (Keras' running mean of the epoch's training loss, after every batch) or epoch (the epoch mean, at its end); not stated in the thesis (reference ambiguity 17).
    """

    def __init__(self, *, learning_rate: float = 0.1, mass: float = 10.0, friction: float = 0.1,
                 discretization: Literal[DISCRETIZATIONS] = "semi_implicit", brake_goal: float = 0.15,
                 brake_mode: Literal[BRAKE_MODES] = "absolute", brake_factor: float = 50.0,
                 monitor: Literal[BRAKE_MONITORS] = "running"):
        owner = type(self).__name__
        self.check_positive("learning_rate", learning_rate)
        check_port_hamiltonian(owner, mass, friction, discretization)
        check_braking(owner, brake_goal, brake_factor, brake_mode, monitor,
                      names=("brake_goal", "brake_factor", "brake_mode", "monitor"))
        self.learning_rate, self.mass, self.friction = float(learning_rate), float(mass), float(friction)
        self.discretization, self.brake_goal, self.brake_mode = discretization, float(brake_goal), brake_mode
        self.brake_factor, self.monitor = float(brake_factor), monitor


class TrainingSettings(Settings):
    """How a net is trained (seed 002's code as quoted in reference §2a.10, unless marked).

    Args:
        epochs: training epochs ([code] exact_number_of_epochs = 20; reference ambiguity 8).
        optimizer: adam (seed 002 §6.1.1.2), sgd, phs (port-Hamiltonian), phs-go (with goal-oriented braking), or, for `automl train`, a gradient-free population optimizer: leea, ndes, ndes-g, ndes-b, de, cosyne, es.
        learning_rate: the learning rate of adam and sgd ([code] Adam lr 1e-3); phs has its own.
        momentum: sgd's momentum.
        phs: the port-Hamiltonian optimizer's settings (PhsSettings, or a dict of its arguments).
        reduce_lr_on_plateau: ReduceLROnPlateau on the validation loss: true, false, or auto: on for adam and sgd ([code]), off for phs and phs-go (seed 002 L698-734: the port-Hamiltonian study used a fixed step α).
        plateau_factor: its factor ([code] sqrt(0.1)).
        plateau_patience: its patience in epochs ([code] 5).
        min_lr: its lowest learning rate ([code] 0.5e-6).
        early_stopping_patience: epochs without a better validation loss before stopping; 0 turns early stopping off ([code] train_till_converged=False; reference §2a.8).
        distribute: auto (MirroredStrategy when several GPUs are visible), mirrored (always) or off.
    """

    def __init__(self, *, epochs: int = 20, optimizer: Literal[OPTIMIZERS] = "adam", learning_rate: float = 1e-3,
                 momentum: float = 0.9, phs: PhsSettings | None = None,
                 reduce_lr_on_plateau: bool | Literal["auto"] = "auto",
                 plateau_factor: float = math.sqrt(0.1), plateau_patience: int = 5, min_lr: float = 5e-7,
                 early_stopping_patience: int = 0, distribute: Literal[DISTRIBUTE] = "auto"):
        self.check_count("epochs", epochs, 1)
        self.check_choice("optimizer", optimizer, OPTIMIZERS)
        self.check_positive("learning_rate", learning_rate)
        self.check_unit("momentum", momentum, high_open=True)
        self.check("reduce_lr_on_plateau", reduce_lr_on_plateau,
                   isinstance(reduce_lr_on_plateau, bool) or reduce_lr_on_plateau == "auto", "true, false or auto")
        self.check_unit("plateau_factor", plateau_factor, low_open=True, high_open=True)
        self.check_count("plateau_patience", plateau_patience, 0)
        self.check_positive("min_lr", min_lr, zero=True)
        self.check_count("early_stopping_patience", early_stopping_patience, 0, " (0 turns it off)")
        self.check_choice("distribute", distribute, DISTRIBUTE)
        self.epochs, self.optimizer, self.learning_rate, self.momentum = epochs, optimizer, float(learning_rate), float(momentum)
        self.phs = phs if isinstance(phs, PhsSettings) else PhsSettings(**(phs or {}))
        self.reduce_lr_on_plateau, self.plateau_factor = reduce_lr_on_plateau, float(plateau_factor)
        self.plateau_patience, self.min_lr = plateau_patience, float(min_lr)
        self.early_stopping_patience, self.distribute = early_stopping_patience, distribute

    @property
    def plateau(self) -> bool:
        """Whether ReduceLROnPlateau runs: `reduce_lr_on_plateau`, with auto resolved by the optimizer."""
        if self.reduce_lr_on_plateau == "auto":
            return self.optimizer not in PHS_OPTIMIZERS
        return self.reduce_lr_on_plateau
