"""The settings classes' shared rules (issue #17: no rule written twice): the helpers of
automl.settings.Settings, and the same finiteness rule for every learning rate."""
import math

import pytest

from automl.evolution.settings import EvolutionSettings
from automl.settings import ArgumentError, Settings
from automl.training_settings import PhsSettings, TrainingSettings
from automl.tuner_settings import TunerSettings


class _Probe(Settings):
    """A settings class with no arguments of its own, to call the rule helpers on."""

    def __init__(self):
        pass


@pytest.mark.parametrize("cls", [EvolutionSettings, TunerSettings, TrainingSettings, PhsSettings])
@pytest.mark.parametrize("rate", [math.inf, -math.inf, math.nan])
def test_every_learning_rate_is_finite(cls, rate):
    with pytest.raises(ArgumentError, match=r"argument `learning_rate` must be a number > 0") as info:
        cls(learning_rate=rate)
    assert info.value.argument == "learning_rate"


@pytest.mark.parametrize("cls", [EvolutionSettings, TunerSettings, TrainingSettings, PhsSettings])
def test_a_finite_learning_rate_is_taken(cls):
    assert cls(learning_rate=0.5).learning_rate == 0.5


@pytest.mark.parametrize("make", [lambda: EvolutionSettings(batch_size=True), lambda: TunerSettings(max_trials=True),
                                  lambda: TrainingSettings(epochs=True), lambda: TrainingSettings(plateau_patience=False)])
def test_a_bool_is_no_count(make):
    with pytest.raises(ArgumentError, match=r"must be an integer >= \d"):
        make()


def test_check_count_bounds():
    probe = _Probe()
    for low in (0, 1, 2):
        probe.check_count("n", low, low)
        probe.check_count("n", low + 1, low)
        with pytest.raises(ArgumentError, match=rf"`n` must be an integer >= {low}. Received: n={low - 1}"):
            probe.check_count("n", low - 1, low)
    for bad in (True, 1.0, "1", None):
        with pytest.raises(ArgumentError, match=r"`n` must be an integer >= 1"):
            probe.check_count("n", bad, 1)
    with pytest.raises(ArgumentError, match=r"must be an integer >= 0 \(0 turns it off\)"):
        probe.check_count("n", -1, 0, " (0 turns it off)")


@pytest.mark.parametrize("low_open, high_open, expected", [
    (False, False, "[0, 1]"), (True, False, "(0, 1]"), (False, True, "[0, 1)"), (True, True, "(0, 1)")])
def test_check_unit_bounds(low_open, high_open, expected):
    probe = _Probe()
    check = lambda value: probe.check_unit("u", value, low_open=low_open, high_open=high_open)  # noqa: E731
    check(0.5)
    for value, is_open in ((0, low_open), (1, high_open)):
        if is_open:
            with pytest.raises(ArgumentError, match=rf"`u` must be in {expected}".replace("(", r"\(").replace(
                    ")", r"\)").replace("[", r"\[")):
                check(value)
        else:
            check(value)
    for bad in (-1e-9, 1 + 1e-9, math.nan, math.inf, True, "0.5"):
        with pytest.raises(ArgumentError, match=r"`u` must be in "):
            check(bad)


def test_check_positive_and_bool():
    probe = _Probe()
    probe.check_positive("x", 1e-300)
    probe.check_positive("x", 0, zero=True)
    for bad, zero in ((0, False), (-1e-9, True), (math.inf, False), (math.inf, True), (math.nan, True), (True, False)):
        with pytest.raises(ArgumentError, match=r"`x` must be a number >"):
            probe.check_positive("x", bad, zero=zero)
    probe.check_bool("b", True)
    probe.check_bool("b", False)
    for bad in (0, 1, "true", None):
        with pytest.raises(ArgumentError, match=r"`b` must be True or False"):
            probe.check_bool("b", bad)
