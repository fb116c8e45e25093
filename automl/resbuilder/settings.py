"""ResBuilder's settings: the one definition of each parameter (see automl.settings).

Light on purpose (no TensorFlow): the command line validates `resbuilder.*` with this class.
"""
from __future__ import annotations

from typing import Literal

from automl.settings import Settings
from models.zoo import RB0_POOLING_STAGES, START_NETS

START_CHOICES = ("auto", *START_NETS)
INITIALIZERS = ("he_normal", "glorot_uniform")

LARGE_INPUT_PIXELS = 128  # seed 002: zeta_large for inputs of 128 pixels or more (Animals10 at 300 px)


class ResBuilderSettings(Settings):
    """ResBuilder's schedule and regularisation (seed 002 Ch. 4 and §6.1; docs/references.md).

    The defaults are a short schedule for a first result in minutes on a CPU; `preset="thesis"`
    is the thesis' schedule (seed 002 §6.1.1.2: n_Λ 4, n_M 7, 20 epochs, ζ 1e8).

    Args:
        start: the start net: auto (rb-0net for the full cycle; rb-r18 for MorphNet alone, insertions 0, as the thesis' MorphNet column of Table 6.1 shrinks and grows ResNet-18), rb-0net (seed 002 §6.1.1.1, L1317: one 64-channel conv), rb-r18 (ResNet-18 with the ImageNet stem, as the authors' code) or rb-r18-cifar (3x3 stem).
        start_pooling_stages: pooling stages of RB-0Net; 2 pools make 3 stages (reference ambiguity 10: not given in the thesis).
        insertions: n_Λ, insertion steps before each MorphNet step (thesis 4, the code 3; reference ambiguity 6).
        morph_steps: n_M, MorphNet steps at most (thesis 7).
        epochs: epochs of each of the three trainings of an architecture ([code] exact_number_of_epochs = 20; reference ambiguity 8).
        layerlasso_momentum: Θ_LL: skip removal while the last insertion helped (seed 002 L1114; §6.1.4).
        momentum_gain: τ_LL = 0.015, the With-Reg validation-accuracy gain above which removal is skipped (the thesis measured test accuracy; we never do).
        lambda_morph: λ_M = 1e-7, the MorphNet regulariser's strength.
        morph_threshold: τ_M, |γ| below which a channel is dead ([code] morphThreshold = 1e-2; not in the thesis).
        intensity: I_M, the blend of the old width and the alive channels (1: 100%; reference ambiguity 5).
        zeta: ζ, the FLOP budget of a MorphNet step (thesis 1e8; [code] "low" budget 1e7; reference ambiguity 7).
        zeta_large: ζ for inputs of 128 pixels or more (seed 002: Animals10 at 300 px, 1e9).
        lambda_lasso: λ_Λ = 1e-8, LayerLasso L1 on the residual blocks' convs only (reference ambiguity 2).
        lasso_threshold: τ_Λ = 1e-3 on the mean |w| of an inserted conv, below which its block is removed (reference ambiguity 1).
        lambda_l2: λ_0 = 1e-5, the L2 on every kernel, in all three trainings.
        init_mean_abs: mean |w| an inserted block starts with (seed 002 L963: "of the order of 1e-2").
        initializer: the kernels' initialisation: he_normal (ours: He et al.'s for ReLU nets) or glorot_uniform (the authors' code: Keras' default, reference 002 §2a.5 [code]); inserted blocks start near the identity either way (init_mean_abs).
        fill_budget: ours (issue #18), not the thesis': with a wall-clock budget, time left when the schedule ends (more than 10% of the budget) goes to further MorphNet rounds of the same cycle while one more architecture's trainings fit, then to continued No-Reg training of the best net, kept only if its validation accuracy improves. False in the thesis preset, so its schedule is exact.
    """

    PRESETS = {
        "quick": {},
        "thesis": {"insertions": 4, "morph_steps": 7, "epochs": 20, "zeta": 1e8, "fill_budget": False,
                   "initializer": "glorot_uniform"},
    }

    def __init__(self, *, start: Literal[START_CHOICES] = "auto", start_pooling_stages: int = RB0_POOLING_STAGES,
                 insertions: int = 3, morph_steps: int = 1, epochs: int = 12, layerlasso_momentum: bool = True,
                 momentum_gain: float = 0.015, lambda_morph: float = 1e-7, morph_threshold: float = 1e-2,
                 intensity: float = 1.0, zeta: float = 1e7, zeta_large: float = 1e9, lambda_lasso: float = 1e-8,
                 lasso_threshold: float = 1e-3, lambda_l2: float = 1e-5, init_mean_abs: float = 1e-2,
                 initializer: Literal[INITIALIZERS] = "he_normal", fill_budget: bool = True):
        self.check_choice("start", start, START_CHOICES)
        self.check_choice("initializer", initializer, INITIALIZERS)
        for name, value, low in (("start_pooling_stages", start_pooling_stages, 0), ("insertions", insertions, 0),
                                 ("morph_steps", morph_steps, 1), ("epochs", epochs, 1)):
            self.check_count(name, value, low)
        for name, value in (("layerlasso_momentum", layerlasso_momentum), ("fill_budget", fill_budget)):
            self.check_bool(name, value)
        for name, value in (("momentum_gain", momentum_gain), ("lambda_morph", lambda_morph),
                            ("morph_threshold", morph_threshold), ("lambda_lasso", lambda_lasso),
                            ("lasso_threshold", lasso_threshold), ("lambda_l2", lambda_l2),
                            ("init_mean_abs", init_mean_abs)):
            self.check_positive(name, value, zero=True)
        self.check_unit("intensity", intensity, low_open=True)
        for name, value in (("zeta", zeta), ("zeta_large", zeta_large)):
            self.check_positive(name, value, note=" (FLOPs)")
        self.start, self.start_pooling_stages = start, start_pooling_stages
        self.insertions, self.morph_steps, self.epochs = insertions, morph_steps, epochs
        self.layerlasso_momentum, self.momentum_gain = layerlasso_momentum, float(momentum_gain)
        self.lambda_morph, self.morph_threshold, self.intensity = float(lambda_morph), float(morph_threshold), float(intensity)
        self.zeta, self.zeta_large = float(zeta), float(zeta_large)
        self.lambda_lasso, self.lasso_threshold = float(lambda_lasso), float(lasso_threshold)
        self.lambda_l2, self.init_mean_abs = float(lambda_l2), float(init_mean_abs)
        self.fill_budget, self.initializer = fill_budget, initializer

    @property
    def start_name(self) -> str:
        """The start net, `start` with auto resolved: ResNet-18 when MorphNet runs alone (insertions
        0, `--strategy morphnet`: the thesis' MorphNet column of Table 6.1), else RB-0Net."""
        if self.start != "auto":
            return self.start
        return "rb-r18" if self.insertions == 0 else "rb-0net"

    @staticmethod
    def zeta_argument(input_shape) -> str:
        """Which FLOP budget an input of `input_shape` (H, W, C) gets: `zeta_large` from 128 pixels."""
        return "zeta_large" if min(input_shape[:2]) >= LARGE_INPUT_PIXELS else "zeta"

