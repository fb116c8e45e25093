"""An image-classification dataset held in memory, with deterministic splits."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from models.preprocess import Preprocess

# natural: colour photos, standardised per channel, shifted and flipped.
# digits: MNIST-like grey images, scaled to [0, 1], shifted but never flipped.
KINDS = ("natural", "digits")


@dataclass
class ImageDataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    kind: str
    pixel_max: float

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(v) for v in self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def preprocess(self) -> Preprocess:
        """Seed 002 §2.3: standardise natural images per channel, scale digits to [0, 1].

        Statistics come from the training split alone, never from validation or test.
        """
        if self.kind == "digits":
            return Preprocess.scaling(self.pixel_max)
        return Preprocess.standardise(self.x_train)

    def augment(self, setting: str) -> str:
        """The configured augmentation; "auto" is shifts and flips for natural images, shifts for digits."""
        if setting != "auto":
            return setting
        return "shift_flip" if self.kind == "natural" else "shift"

    def describe(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "input_shape": list(self.input_shape),
            "classes": self.num_classes,
            "train": int(len(self.y_train)),
            "validation": int(len(self.y_val)),
            "test": int(len(self.y_test)),
        }


def split(x: np.ndarray, y: np.ndarray, fraction: float, seed: int):
    """A seeded split, stratified by class where every class has at least two members."""
    _, counts = np.unique(y, return_counts=True)
    stratify = y if counts.min() >= 2 and len(counts) <= fraction * len(y) else None
    x_a, x_b, y_a, y_b = train_test_split(
        x, y, test_size=fraction, random_state=seed, stratify=stratify, shuffle=True
    )
    return x_a, y_a, x_b, y_b


def from_arrays(
    name: str,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray] | None,
    class_names: list[str],
    kind: str,
    pixel_max: float,
    validation_split: float,
    test_split: float,
    split_seed: int,
) -> ImageDataset:
    """Carve test (when the source has none) and then validation out of train."""
    x, y = train
    if test is None:
        x, y, x_test, y_test = split(x, y, test_split, split_seed)
    else:
        x_test, y_test = test
    x_train, y_train, x_val, y_val = split(x, y, validation_split, split_seed)
    return ImageDataset(
        name=name,
        x_train=x_train, y_train=y_train.astype(np.int32),
        x_val=x_val, y_val=y_val.astype(np.int32),
        x_test=x_test, y_test=np.asarray(y_test).astype(np.int32),
        class_names=list(class_names), kind=kind, pixel_max=float(pixel_max),
    )
