"""The search spaces by name: the conv stack and residual spaces (automl.evolution.space) and the
recurrent space (automl.evolution.recurrent_space), which builds on the first module's base class."""
from __future__ import annotations

from automl.evolution.recurrent_space import UNITS, RecurrentSpace
from automl.evolution.settings import SPACES
from automl.evolution.space import CHANNELS, ConvStackSpace, ResidualSpace, Space
from models.zoo import RB0_POOLING_STAGES


def resolve_space(name: str, sequential: bool) -> str:
    """Space "auto": the conv space for images, the recurrent space for sequences."""
    return ("recurrent" if sequential else "conv") if name == "auto" else name


def make_space(name: str, pooling_stages: int = RB0_POOLING_STAGES, max_channels: int = CHANNELS[-1], start: dict | None = None,
               max_units: int | None = None) -> Space:
    """`start`: the recurrent space's first genome (the configured model); `max_units` caps its widths."""
    if name == "conv":
        return ConvStackSpace(max_channels)
    if name == "residual":
        return ResidualSpace(pooling_stages, max_channels)
    if name == "recurrent":
        return RecurrentSpace(start, max_units or UNITS[-1])
    raise ValueError(f"unknown search space {name!r} (choose {', '.join(SPACES)})")
