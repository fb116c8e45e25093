"""Direct and DCT-compressed genomes (seed 003 L59-61, L87, after Koutnik et al. 2010).

A DCT genome holds the K lowest-frequency coefficients of the orthonormal DCT-II of the flat
weight vector; decoding zero-pads them to N and applies the inverse (DCT-III). The seed's
code truncates the *weights* to K entries before transforming (scipy.fftpack's n=K); we keep
the low-frequency coefficients of the whole vector, the clean reading of reference 003 §1.2(C).
"""
from __future__ import annotations

import math

import numpy as np
from keras import ops

from automl.population.engine import BYTES


class DirectGenome:
    def __init__(self, n: int):
        self.n = self.length = n

    def encode(self, weights: np.ndarray) -> np.ndarray:
        return np.asarray(weights, dtype="float32")

    def decode(self, genomes):
        return genomes

    def bytes(self) -> int:
        return 0


class DCTGenome:
    def __init__(self, n: int, length: int):
        if not 1 <= length <= n:
            raise ValueError(f"a DCT genome has between 1 and {n} genes (the weight count), got {length}")
        self.n, self.length = n, int(length)
        k = np.arange(self.length)[:, None]
        basis = np.cos(math.pi * (np.arange(n)[None] + 0.5) * k / n) * math.sqrt(2.0 / n)
        basis[0] *= math.sqrt(0.5)
        self.basis_np = basis.astype("float32")  # rows: the first K orthonormal DCT-II basis vectors
        self.basis = ops.convert_to_tensor(self.basis_np)

    def encode(self, weights: np.ndarray) -> np.ndarray:
        return np.asarray(weights, dtype="float32") @ self.basis_np.T

    def decode(self, genomes):
        return ops.matmul(genomes, self.basis)

    def bytes(self) -> int:
        return BYTES * self.length * self.n


def make_genome(n: int, genome: str, genes) -> DirectGenome | DCTGenome:
    """genome "direct", or "dct" with `genes` coefficients (an int, or a fraction of n if < 1)."""
    if genome == "direct":
        return DirectGenome(n)
    if genome == "dct":
        count = int(round(genes * n)) if isinstance(genes, float) and genes < 1 else int(genes)
        return DCTGenome(n, max(1, min(count, n)))
    raise ValueError(f"genome must be direct or dct, not {genome!r}")
