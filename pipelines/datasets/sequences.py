"""Sequence datasets: the seeds' synthetic tasks and digit images read as sequences.

All generators are numpy, seeded, and return (x, y) with x of shape (n, T, features). Tasks
whose lengths vary pad at the front with zeros, so every sequence ends at the last step (where
the answer is read). Sources (reference 000 §3.2.2, §3.3.1; Hochreiter & Schmidhuber 1997):

- adding: [a, marker], a ~ U[-1, 1]; marker -1 at the first and last step, 1 at two steps (the
  first in [0, 10), the second in the first half); target 0.5 + (a1 + a2) / 4 (the DMU and nDES
  code; a mark at index 0 counts 0); length uniform in [L, 1.1 L). Regression.
- multiplication: the same with a ~ U[0, 1] and target a1 * a2 (a mark at index 0 counts 1).
- parity: a sequence of +-1 of length uniform in [L/2, L); target +1 for an odd count of +1,
  else -1 (the nDES code). Regression (MSE), as in the seed.
- temporal_order: 8 one-hot symbols (E, B, X, Y, a, b, c, d): E first, B last, X or Y at three
  windows (10-20, 33-43, 66-76 % of the length), noise elsewhere; class 4 s1 + 2 s2 + s3 of 8
  (H&S Task 6b, the DMU code). Classification.
- noisy: one-hot over `symbols` (100); the first symbol is x or y (the last two), then fresh noise
  symbols; predict the first symbol at the end (H&S 2c, the DMU code's NoiseSeq).
- noise_free: the same, but the symbols in between are the fixed sequence a_1, a_2, ... (H&S 2a).
- copy_memory: 10 symbols of 1-8, blanks (0), a delimiter (9); output blanks, then the 10 symbols
  in the last 10 steps (Arjovsky et al. 2016). Per-step classification.
- digits and mnist5k read row by row (T = height) or pixel by pixel (T = height * width),
  optionally under a fixed seeded permutation of the pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from automl.data import Splits

READINGS = ("rows", "pixels", "pixels-permuted")


@dataclass
class SequenceDataset(Splits):
    task: str                  # "regression" or "classification"
    num_classes: int | None    # None for regression
    per_step: bool = False     # one target per time step (copy memory)

    @property
    def class_names(self) -> list[str] | None:
        return None if self.num_classes is None else [str(i) for i in range(self.num_classes)]

    def describe(self) -> dict:
        return {"name": self.name, "kind": "sequence", "task": self.task, "classes": self.num_classes,
                "per_step": self.per_step, "input_shape": list(self.input_shape), "train": int(len(self.y_train)),
                "validation": int(len(self.y_val)), "test": int(len(self.y_test))}


def _pad_front(rows: list[np.ndarray], length: int) -> np.ndarray:
    out = np.zeros((len(rows), length, rows[0].shape[-1]), np.float32)
    for i, row in enumerate(rows):
        out[i, length - len(row):] = row
    return out


def _marked(n: int, length: int, rng: np.random.Generator, product: bool):
    max_len = length + length // 10
    rows, targets = [], np.zeros(n, np.float32)
    for i in range(n):
        t = int(rng.integers(length, max(max_len, length + 1)))
        values = rng.uniform(0, 1, t) if product else rng.uniform(-1, 1, t)
        marks = np.zeros(t)
        marks[0] = marks[-1] = -1
        first = int(rng.integers(0, min(10, t - 1)))
        second = first
        while second == first:
            second = int(rng.integers(0, max(t // 2 - 1, 2)))
        marks[[first, second]] = 1
        picked = [1.0 if (k == 0 and product) else 0.0 if k == 0 else values[k] for k in (first, second)]
        targets[i] = picked[0] * picked[1] if product else 0.5 + (picked[0] + picked[1]) / 4
        rows.append(np.stack([values, marks], axis=-1))
    return _pad_front(rows, max(max_len - 1, length)), targets


def adding(n, length, rng):
    return _marked(n, length, rng, product=False)


def multiplication(n, length, rng):
    return _marked(n, length, rng, product=True)


def parity(n, length, rng):
    rows, targets = [], np.zeros(n, np.float32)
    for i in range(n):
        bits = rng.choice([-1.0, 1.0], size=int(rng.integers(max(length // 2, 1), length)))
        targets[i] = 1.0 if int((bits > 0).sum()) % 2 else -1.0
        rows.append(bits[:, None])
    return _pad_front(rows, length - 1), targets


TEMPORAL_SYMBOLS = ("E", "B", "X", "Y", "a", "b", "c", "d")


def temporal_order(n, length, rng):
    max_len = length + length // 10
    rows, targets = [], np.zeros(n, np.int32)
    for i in range(n):
        t = int(rng.integers(length, max(max_len, length + 1)))
        symbols = rng.integers(4, 8, t)                       # noise a, b, c, d
        symbols[0], symbols[-1] = 0, 1                         # E ... B
        label = 0
        for low, high in ((0.10, 0.20), (0.33, 0.43), (0.66, 0.76)):
            at = int(rng.integers(int(low * t), int(high * t) + 1))
            which = int(rng.integers(2))                       # X = 0, Y = 1
            symbols[at] = 2 + which
            label = 2 * label + which
        targets[i] = label
        rows.append(np.eye(8, dtype=np.float32)[symbols])
    return _pad_front(rows, max(max_len - 1, length)), targets


def _first_symbol(n, length, rng, symbols: int, noisy: bool):
    first = rng.integers(symbols - 2, symbols, n)              # x or y: the last two symbols
    middle = rng.integers(0, symbols - 2, (n, length - 1)) if noisy else \
        np.tile(np.arange(length - 1) % (symbols - 2), (n, 1))
    seq = np.concatenate([first[:, None], middle], axis=1)
    return np.eye(symbols, dtype=np.float32)[seq], first.astype(np.int32)


def noisy(n, length, rng, symbols: int = 100):
    return _first_symbol(n, length, rng, symbols, noisy=True)


def noise_free(n, length, rng, symbols: int = 100):
    return _first_symbol(n, length, rng, symbols, noisy=False)


def copy_memory(n, length, rng, remember: int = 10):
    total = length + 2 * remember
    seq = np.zeros((n, total), np.int64)
    data = rng.integers(1, 9, (n, remember))
    seq[:, :remember] = data
    seq[:, length + remember - 1] = 9                          # the delimiter: "now repeat"
    targets = np.zeros((n, total), np.int32)
    targets[:, -remember:] = data
    return np.eye(10, dtype=np.float32)[seq], targets


# Each synthetic task: its generator, its task and its number of classes (None: regression).
TASKS = {"adding": (adding, "regression", None), "multiplication": (multiplication, "regression", None),
         "parity": (parity, "regression", None), "temporal_order": (temporal_order, "classification", 8),
         "noisy": (noisy, "classification", 100), "noise_free": (noise_free, "classification", 100),
         "copy_memory": (copy_memory, "classification", 10)}
SYNTHETIC = tuple(TASKS)


def synthetic(name: str, length: int, sizes: tuple[int, int, int], seed: int) -> SequenceDataset:
    """Train, validation and test sets from independent seeded streams."""
    generate, task, classes = TASKS[name]
    parts = [generate(count, length, np.random.default_rng([seed, k])) for k, count in enumerate(sizes)]
    (xa, ya), (xb, yb), (xc, yc) = parts
    return SequenceDataset(f"{name}-{length}", xa, ya, xb, yb, xc, yc, task, classes,
                           per_step=name == "copy_memory")


def as_sequences(images: np.ndarray, reading: str, seed: int = 0) -> np.ndarray:
    """(n, H, W, 1) images as (n, H, W) rows or (n, H*W, 1) pixels, optionally permuted."""
    n, h, w = images.shape[:3]
    if reading == "rows":
        return images.reshape(n, h, w).astype(np.float32)
    pixels = images.reshape(n, h * w, 1).astype(np.float32)
    if reading == "pixels-permuted":
        pixels = pixels[:, np.random.default_rng(seed).permutation(h * w)]
    return pixels


def is_sequence_name(name: str, bundled: tuple[str, ...]) -> bool:
    """A synthetic task, or a bundled image set read as sequences: digits-rows, mnist5k-pixels-permuted."""
    if name in SYNTHETIC:
        return True
    base, _, reading = name.partition("-")
    return base in bundled and reading in READINGS


def from_images(name: str, images, reading: str, seed: int) -> SequenceDataset:
    """An ImageDataset's splits read as sequences, pixels scaled to [0, 1]."""
    def read(x):
        return as_sequences(x / images.pixel_max, reading, seed)

    return SequenceDataset(name, read(images.x_train), images.y_train, read(images.x_val), images.y_val,
                           read(images.x_test), images.y_test, "classification", images.num_classes)
