"""The population engine: P flat weight vectors of one Keras model, evaluated in one call.

A member is the model's trainable variables flattened into one vector (seed 000 L316; seed 001
§5.2.3 keeps the whole population on the device as one tensor). `WeightTable` maps vectors to
variables; `PopulationEngine` computes every member's loss on a batch with one folded pass
where the model is a chain of common layers with a convolution (`folded.py`: members side by
side in the channels, a convolution of P members is one grouped convolution) and otherwise
with `model.stateless_call` under `ops.vectorized_map` (pfor under TensorFlow, vmap under
JAX), in chunks that respect a memory budget. Non-trainable state (BatchNorm's moving statistics,
normalisation constants) is not part of a member: every member is evaluated in inference
mode with the model's current statistics, which is also how the chosen member is later
tested and served, so training fitness and deployment agree.
"""
from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from automl.errors import MemoryBudgetError
from automl.population.backend import compile_function, grouped_conv_differentiable, on_accelerator, value_and_grad_sum
from automl.population.folded import FoldedForward
from automl.population_settings import PopulationRunSettings
from automl.task import CLASSIFICATION, TASKS

BYTES = 4  # float32
MB = 1 << 20


def megabytes(n: float) -> str:
    """A byte count as a message shows it: "0.4 MB", "12 MB", "1,024 MB"; never negative (a
    budget already spent shows as 0)."""
    n = max(n, 0) / MB
    return f"{n:,.1f} MB" if n < 10 else f"{n:,.0f} MB"
_RUN = PopulationRunSettings.defaults()  # memory_mb and jit default as `population.memory_mb`, `.jit`


class WeightTable:
    """The shape table of a model's trainable variables: flatten, unflatten, assign."""

    def __init__(self, model: keras.Model):
        self.variables = list(model.trainable_variables)
        if not self.variables:
            raise ValueError(f"model {model.name!r} has no trainable weights to evolve")
        self.shapes = [tuple(int(d) for d in v.shape) for v in self.variables]
        self.sizes = [int(np.prod(s)) if s else 1 for s in self.shapes]
        self.offsets = np.cumsum([0] + self.sizes)
        self.size = int(self.offsets[-1])

    def flatten(self) -> np.ndarray:
        """The model's current trainable weights as one float32 vector."""
        return np.concatenate([np.ravel(ops.convert_to_numpy(v.value)) for v in self.variables]).astype("float32")

    def unflatten(self, vector) -> list:
        """The variables' tensors from one vector (a backend tensor; works inside vectorized_map)."""
        return [ops.reshape(vector[a:b], s) for a, b, s in zip(self.offsets[:-1], self.offsets[1:], self.shapes)]

    def unflatten_population(self, pop) -> list:
        """The variables' tensors of a population [P, N]: one [P, *shape] tensor per variable."""
        return [ops.reshape(pop[:, a:b], (-1, *s)) for a, b, s in zip(self.offsets[:-1], self.offsets[1:], self.shapes)]

    def assign(self, vector) -> None:
        vector = np.asarray(ops.convert_to_numpy(vector), dtype="float32")
        if vector.shape != (self.size,):
            raise ValueError(f"a weight vector of this model has {self.size} entries, got shape {vector.shape}")
        for v, a, b, s in zip(self.variables, self.offsets[:-1], self.offsets[1:], self.shapes):
            v.assign(vector[a:b].reshape(s))

    def xavier_scale(self) -> np.ndarray:
        """Per-weight std sqrt(6 / (fan_in + fan_out)) of each weight tensor, as nDES's initialiser
        ([code] XavierMVNPopulationInitializer, reference 000 §2.1.5); a bias (1-D) tensor takes the
        coefficient of the tensor before it."""
        scale, previous = np.empty(self.size, dtype="float32"), 1.0
        for shape, a, b in zip(self.shapes, self.offsets[:-1], self.offsets[1:]):
            if len(shape) >= 2:
                receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
                previous = math.sqrt(6.0 / (shape[-2] * receptive + shape[-1] * receptive))
            scale[a:b] = previous
        return scale


def _prod(shape) -> int:
    return int(np.prod([d for d in shape if d is not None])) if shape else 1


def layer_output_floats(model: keras.Model) -> list[int]:
    """Floats of each layer's output for one example (recurrent layers: their gates, every step)."""
    sizes = []
    for layer in model.layers:
        try:
            out = layer.output
        except (AttributeError, ValueError):
            continue
        shapes = [t.shape for t in (out if isinstance(out, (list, tuple)) else [out])]
        floats = sum(_prod(s[1:]) for s in shapes)
        if isinstance(layer, keras.layers.RNN):
            floats += (layer.input.shape[1] or 1) * 8 * _prod(shapes[0][-1:])
        sizes.append(floats)
    return sizes


class PopulationEngine:
    """Losses (and accuracies, and optionally gradients) of P members of `model` on a batch.

    task: "classification" (the model outputs class probabilities; sparse cross-entropy) or
    "regression" (mean squared error). `memory_mb` bounds the evaluation's working memory:
    P is cut into chunks that fit. folded: use the folded pass where the model allows it
    (`route` says which one runs); False forces `vectorized_map`. cache_mb: the slice size
    above (default CACHE_MB on a CPU, no slicing on a GPU; 0 turns it off).
    """

    SAFETY = 3  # pfor/vmap keeps intermediates of several layers alive at once
    # On a CPU, a chunk is evaluated in slices of members whose widest layer output fits about
    # this much, so that it is still in cache when the next op reads it: the benchmark's small
    # CNN at P = 256 on 2 cores (2 MB L2 per core, 32 MB L3), chunks of 29: 0.23 s in slices of
    # 5 members (8 MB), 0.27 s in slices of 10 (16 MB), 0.29 s unsliced; slices of 1 lose again
    CACHE_MB = 8
    MAX_SLICES = 32  # each slice is traced into the graph: bound its size

    def __init__(self, model: keras.Model, task: str = CLASSIFICATION.name, memory_mb: float = _RUN["memory_mb"],
                 jit: bool = _RUN["jit"], folded: bool = True, cache_mb: float | None = None):
        if task not in TASKS:
            raise ValueError(f"task must be {' or '.join(TASKS)}, not {task!r}")
        self.model, self.task, self.jit = model, task, jit
        self.table = WeightTable(model)
        self.size = self.table.size
        self.memory_bytes = int(memory_mb * MB)
        outputs = layer_output_floats(model)
        self.activations = _prod(model.inputs[0].shape[1:]) + sum(outputs)  # floats per example, forward
        self.widest = max(outputs, default=1)
        if cache_mb is None:
            cache_mb = 0 if on_accelerator() else self.CACHE_MB
        self.cache_bytes = int(cache_mb * MB)
        self.folded = FoldedForward.of(model, self.table.variables) if folded else None
        self._compiled: dict = {}

    @property
    def route(self) -> str:
        """How members are evaluated: "folded" or "vectorized_map" (per-member batches of a
        model whose first layers are shared-input only always take vectorized_map)."""
        return "folded" if self.folded is not None else "vectorized_map"

    # -- memory ------------------------------------------------------------------------------
    def member_bytes(self, batch: int, gradients: bool = False) -> int:
        """Working memory of evaluating one member on `batch` examples."""
        forward = self.SAFETY * batch * self.activations + 2 * self.size
        return BYTES * ((3 * forward + 2 * self.size) if gradients else forward)

    def slice_size(self, batch: int, chunk: int | None = None) -> int | None:
        """Members per in-graph slice of a chunk (None: no slicing). Only the folded pass is
        sliced (where it was measured to help), into at most MAX_SLICES slices per chunk."""
        if not self.cache_bytes or self.folded is None:
            return None
        piece = max(1, self.cache_bytes // (BYTES * batch * self.widest))
        return piece if chunk is None else max(piece, math.ceil(chunk / self.MAX_SLICES))

    def chunk_size(self, batch: int, available_bytes: int, gradients: bool = False) -> int:
        per = self.member_bytes(batch, gradients)
        if per > available_bytes:
            raise MemoryBudgetError(
                f"evaluating even one member of this {self.size:,}-weight model on a batch of {batch} needs "
                f"{megabytes(per)} but only {megabytes(available_bytes)} of population.memory_mb is left; "
                "raise memory_mb (population.memory_mb in a config) or lower the batch size")
        return max(1, available_bytes // per)

    # -- evaluation --------------------------------------------------------------------------
    def _outputs(self, pop, x, non_trainable, per_member: bool, gradients: bool = False):
        """The model's outputs [P, B, ...] for the members `pop` [P, N]. Gradients go through
        vectorized_map where the backend cannot differentiate the folded pass's grouped convolutions."""
        folded_ok = not gradients or grouped_conv_differentiable()
        if self.folded is not None and (not per_member or self.folded.member_input) and folded_ok:
            return self.folded(self.table.unflatten_population(pop), non_trainable, x, member_input=per_member)

        def member(w, batch):
            return self.model.stateless_call(self.table.unflatten(w), non_trainable, batch, training=False)[0]
        if per_member:
            return ops.vectorized_map(lambda a: member(a[0], a[1]), (pop, x))
        return ops.vectorized_map(lambda w: member(w, x), pop)

    def _scores(self, out, y, per_member: bool):
        """(losses [P], accuracies [P]) from outputs [P, B, ...]; targets y [B, ...], or [P, B, ...]
        per member. Accuracies are zeros for a regression task."""
        if not per_member:
            y = ops.broadcast_to(ops.expand_dims(y, 0), (ops.shape(out)[0], *ops.shape(y)))
        axes = tuple(range(1, len(y.shape)))
        if self.task == "regression":
            out = ops.reshape(out, ops.shape(y))
            return ops.mean(ops.square(out - y), axis=axes), ops.zeros(ops.shape(out)[:1])
        loss = keras.losses.sparse_categorical_crossentropy(y, out)
        correct = ops.cast(ops.equal(ops.argmax(out, axis=-1), ops.cast(y, "int32")), "float32")
        return ops.mean(loss, axis=axes), ops.mean(correct, axis=axes)

    def _function(self, per_member: bool, gradients: bool, chunk: int, piece: int | None):
        key = (per_member, gradients, chunk, piece)
        if key not in self._compiled:
            def whole(pop, x, y, nt):
                return self._scores(self._outputs(pop, x, nt, per_member, gradients), y, per_member)

            def metrics(pop, x, y, nt):
                if piece is None or piece >= chunk:
                    return whole(pop, x, y, nt)
                parts = [whole(pop[i:i + piece], x[i:i + piece] if per_member else x,
                               y[i:i + piece] if per_member else y, nt) for i in range(0, chunk, piece)]
                return tuple(ops.concatenate([part[k] for part in parts], axis=0) for k in range(2))
            if gradients:
                def losses(pop, x, y, nt):
                    return metrics(pop, x, y, nt)[0]
                fn = value_and_grad_sum(losses)
            else:
                fn = metrics
            self._compiled[key] = compile_function(fn, jit=self.jit)
        return self._compiled[key]

    def evaluate(self, pop, x, y, member_batches=None, available_bytes: int | None = None):
        """(losses [P], accuracies [P]) of the members `pop` [P, N] on the batch `x`, `y`.

        member_batches: each member its own batch: `x`, `y` are stacks of batches [B, b, ...] and
        member i uses batch member_batches[i] (gathered chunk by chunk, so memory stays bounded).
        Accuracies are zeros for a regression task.
        """
        return self._chunked(pop, x, y, member_batches, False, available_bytes)

    def losses_and_gradients(self, pop, x, y, member_batches=None, available_bytes: int | None = None):
        """(losses [P], gradients [P, N]): each member's own loss gradient (for nDES-G)."""
        return self._chunked(pop, x, y, member_batches, True, available_bytes)

    def _chunked(self, pop, x, y, member_batches, gradients, available_bytes):
        pop = ops.convert_to_tensor(pop, "float32")
        x = ops.convert_to_tensor(x)
        y = ops.convert_to_tensor(y)
        if x.dtype not in ("float32",):
            x = ops.cast(x, "float32")
        if self.task == "regression":
            y = ops.cast(y, "float32")
        count = int(pop.shape[0])
        per_member = member_batches is not None
        if per_member:
            member_batches = np.asarray(member_batches)
            if member_batches.shape != (count,):
                raise ValueError(f"member_batches needs one batch index per member ({count}), got {member_batches.shape}")
        batch = int(x.shape[1] if per_member else x.shape[0])
        most = self.chunk_size(batch, available_bytes or self.memory_bytes, gradients)
        chunk = math.ceil(count / math.ceil(count / most))  # equal chunks: the last one pads least
        fn = self._function(per_member, gradients, chunk, self.slice_size(batch, chunk))
        nt = [v.value for v in self.model.non_trainable_variables]
        firsts, seconds = [], []
        for start in range(0, count, chunk):
            stop = min(start + chunk, count)
            part = _padded(pop[start:stop], chunk)
            if per_member:
                idx = np.resize(member_batches[start:stop], chunk)  # padding rows reuse real batches
                xs, ys = ops.take(x, idx, axis=0), ops.take(y, idx, axis=0)
            else:
                xs, ys = x, y
            a, b = fn(part, xs, ys, nt)
            firsts.append(a[: stop - start])
            seconds.append(b[: stop - start])
        join = (lambda parts: parts[0]) if len(firsts) == 1 else (lambda parts: ops.concatenate(parts, axis=0))
        return join(firsts), join(seconds)

    def loop_losses(self, pop, x, y) -> np.ndarray:
        """The same losses by the naive route, one member at a time (assign, then call): the
        reference the vectorised path is tested and benchmarked against. Leaves the model's
        weights at the last member."""
        losses = []
        for w in np.asarray(ops.convert_to_numpy(pop)):
            self.table.assign(w)
            out = self.model(x, training=False)
            if self.task == "regression":
                out = ops.reshape(out, ops.shape(y))
                losses.append(float(ops.mean(ops.square(out - ops.cast(y, "float32")))))
            else:
                losses.append(float(ops.mean(keras.losses.sparse_categorical_crossentropy(y, out))))
        return np.array(losses, dtype="float32")


def _padded(tensor, size: int):
    """`tensor` with its first axis zero-padded to `size`, so every chunk has one shape (no retrace)."""
    short = size - int(tensor.shape[0])
    if short == 0:
        return tensor
    pad = ops.zeros((short, *tensor.shape[1:]), dtype=tensor.dtype)
    return ops.concatenate([tensor, pad], axis=0)
