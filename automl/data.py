"""An image-classification dataset held in memory, with deterministic splits."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from automl.data_settings import DataSettings
from models.preprocess import Preprocess

# natural: colour photos, standardised per channel, shifted and flipped.
# digits: MNIST-like grey images, scaled to [0, 1], shifted but never flipped.
KINDS = ("natural", "digits")


def kind_of(channels: int) -> str:
    """Grey images are digit-like: scaled to [0, 1] (seed 002 §6.1.5, L1157) and never flipped
    (the thesis flipped every dataset, but a mirrored digit is another symbol); colour ones natural."""
    return "digits" if channels == 1 else "natural"


@dataclass
class Splits:
    """A dataset's three splits in memory (images here; sequences in pipelines.datasets)."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.x_train.shape[1:])


@dataclass
class ImageDataset(Splits):
    class_names: list[str]
    kind: str
    pixel_max: float

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def preprocess(self) -> Preprocess:
        """Seed 002 §6.1.5 (L1157): standardise natural images per channel, scale digits to [0, 1].

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
    from sklearn.model_selection import train_test_split  # here: the command line imports this module to check input

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


def as_arrays(x, y=None, argument: str = "x") -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) from numpy arrays, or from a tf.data.Dataset of (image, label) elements or
    batches, read into memory (the engine's splits, caches and augmentation work on arrays)."""
    if hasattr(x, "element_spec") and hasattr(x, "as_numpy_iterator"):  # a tf.data.Dataset
        if y is not None:
            raise ValueError(f"`{argument}` is a tf.data.Dataset of (image, label) pairs, so y must be None")
        pairs = list(x.as_numpy_iterator())
        if not pairs or not isinstance(pairs[0], tuple) or len(pairs[0]) != 2:
            raise ValueError(f"`{argument}` must yield (image, label) pairs")
        xs, ys = zip(*pairs)
        batched = np.ndim(ys[0]) == 1
        x, y = (np.concatenate(xs), np.concatenate(ys)) if batched else (np.stack(xs), np.asarray(ys))
    if y is None:
        raise ValueError(f"`{argument}` needs its labels: pass y, or a tf.data.Dataset of (image, label) pairs")
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 3:  # (N, H, W): one grey channel
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
        raise ValueError(f"`{argument}` must hold images, (N, H, W) or (N, H, W, C) with 1, 3 or 4 channels; "
                         f"received shape {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(f"the labels must be one per image, shape ({len(x)},); received shape {y.shape}")
    if not np.issubdtype(x.dtype, np.number) or not np.all(np.isfinite(x)):
        raise ValueError(f"`{argument}` must hold finite numbers")
    return x, y


def image_data(x, y=None, validation_data=None, validation_split: float | None = None, test_data=None,
               split_seed: int | None = None, name: str = "arrays") -> ImageDataset:
    """An ImageDataset from the arrays a Python caller gives (see `automl.ResBuilder.search`).

    Labels may be any values: they are numbered in sorted order and kept as class names. Without
    `validation_data`, `validation_split` of `x` is held out, stratified and seeded by `split_seed`
    (defaults: automl.DataSettings', 0.2 and 42).
    Grey images are scaled to [0, 1] by the training maximum (255 for uint8), colour images are
    standardised per channel on the training split, as the bundled datasets are.
    """
    x, y = as_arrays(x, y)
    classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError(f"the labels must name at least two classes; received {classes.tolist()}")
    index = {c: i for i, c in enumerate(classes.tolist())}

    def encode(labels, argument):
        unknown = set(np.unique(labels).tolist()) - set(index)
        if unknown:
            raise ValueError(f"`{argument}` has labels that the training data does not: {sorted(unknown)[:5]}")
        return np.array([index[v] for v in labels.tolist()], np.int32)

    if validation_data is not None:
        if validation_split is not None:
            raise ValueError("give validation_data or validation_split, not both")
        xv, yv = as_arrays(*(validation_data if isinstance(validation_data, tuple) else (validation_data,)),
                           argument="validation_data")
        x_train, y_train, x_val, y_val = x, encode(y, "y"), xv, encode(yv, "validation_data")
    else:
        settings = DataSettings.given(validation_split=validation_split, split_seed=split_seed)
        x_train, y_train, x_val, y_val = split(x, encode(y, "y"), settings.validation_split, settings.split_seed)
    if test_data is not None:
        xt, yt = as_arrays(*(test_data if isinstance(test_data, tuple) else (test_data,)), argument="test_data")
        x_test, y_test = xt, encode(yt, "test_data")
    else:  # no test split: an empty one, never used to choose
        x_test, y_test = x_train[:0], y_train[:0]
    for argument, other in (("validation_data", x_val), ("test_data", x_test)):
        if other.shape[1:] != x_train.shape[1:] and len(other):
            raise ValueError(f"`{argument}` images are {other.shape[1:]}, the training images {x_train.shape[1:]}")
    pixel_max = 255.0 if x_train.dtype == np.uint8 else max(float(x_train.max()), 1.0)
    return ImageDataset(name=name, x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val, x_test=x_test,
                        y_test=y_test, class_names=[str(c) for c in classes.tolist()],
                        kind=kind_of(x_train.shape[-1]), pixel_max=pixel_max)
