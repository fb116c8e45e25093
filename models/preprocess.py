"""Input preprocessing that lives inside the model, so a served model takes raw pixels.

Seed 002 §6.1.5 (L1157) / reference §2a.12: natural images are standardised per colour channel with
training-set statistics; MNIST-like images are scaled to [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LAYER_NAME = "preprocess"


@dataclass
class Preprocess:
    """Either a scale (x * scale) or per-channel standardisation ((x - mean) / std)."""

    scale: float | None = None
    mean: list[float] | None = None
    std: list[float] | None = None

    @classmethod
    def scaling(cls, pixel_max: float) -> "Preprocess":
        return cls(scale=1.0 / float(pixel_max))

    @classmethod
    def standardise(cls, images: np.ndarray) -> "Preprocess":
        """Per-channel mean and std over every pixel of `images` (N, H, W, C)."""
        x = np.asarray(images, dtype=np.float64)
        mean = x.mean(axis=(0, 1, 2))
        std = np.maximum(x.std(axis=(0, 1, 2)), 1e-6)
        return cls(mean=[float(m) for m in mean], std=[float(s) for s in std])

    def layer(self):
        """The Keras layer (Keras loads here, not at import)."""
        import keras

        if self.scale is not None:
            return keras.layers.Rescaling(self.scale, name=LAYER_NAME)
        variance = [s * s for s in self.std]
        return keras.layers.Normalization(mean=self.mean, variance=variance, name=LAYER_NAME)

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}
