"""Direct and DCT-compressed genomes (seed 003 L59-61, L87, after Koutnik et al. 2010).

A DCT genome holds the K lowest-frequency coefficients of the orthonormal DCT-II of the flat
weight vector; decoding zero-pads them to N and applies the inverse (DCT-III). The seed's
code truncates the *weights* to K entries before transforming (scipy.fftpack's n=K); we keep
the low-frequency coefficients of the whole vector, the clean reading of reference 003 §1.2(C).
"""
from __future__ import annotations

import numpy as np
from keras import ops
from scipy.fft import dct, idct

from automl.population.engine import BYTES


class DirectGenome:
    def __init__(self, n: int):
        self.n = self.length = n

    def encode(self, weights: np.ndarray) -> np.ndarray:
        return np.asarray(weights, dtype="float32")

    def decode(self, genomes):
        return genomes

    def bytes(self, members: int) -> int:
        return 0


class DCTGenome:
    """The K lowest-frequency coefficients of the orthonormal DCT-II of the weight vector.

    Encoding and decoding use scipy.fft's fast transforms (O(N log N) per member, nothing kept
    between calls), not a K x N cosine matrix: for an MLP 784-32-10 with 30% of the coefficients
    kept that matrix took 9.7 s and 3.7 GB to build (issue #20). Same coefficients to 1e-6."""

    def __init__(self, n: int, length: int):
        if not 1 <= length <= n:
            raise ValueError(f"a DCT genome has between 1 and {n} genes (the weight count), got {length}")
        self.n, self.length = n, int(length)

    def encode(self, weights: np.ndarray) -> np.ndarray:
        return dct(np.asarray(weights, dtype="float32"), type=2, norm="ortho", axis=-1)[..., :self.length]

    def decode(self, genomes):
        genes = np.asarray(ops.convert_to_numpy(genomes), dtype="float32")
        padded = np.zeros(genes.shape[:-1] + (self.n,), dtype="float32")  # the high frequencies are zero
        padded[..., :self.length] = genes
        return ops.convert_to_tensor(idct(padded, type=2, norm="ortho", axis=-1).astype("float32"))

    def bytes(self, members: int) -> int:
        """Decoding `members` genomes: the zero-padded coefficients and the weights, each members x N."""
        return BYTES * 2 * members * self.n


def make_genome(n: int, genome: str, genes) -> DirectGenome | DCTGenome:
    """genome "direct", or "dct" with `genes` coefficients (an int, or a fraction of n if < 1)."""
    if genome == "direct":
        return DirectGenome(n)
    if genome == "dct":
        count = int(round(genes * n)) if isinstance(genes, float) and genes < 1 else int(genes)
        return DCTGenome(n, max(1, min(count, n)))
    raise ValueError(f"genome must be direct or dct, not {genome!r}")
