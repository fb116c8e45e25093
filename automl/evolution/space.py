"""Search spaces of the evolutionary strategy: genomes, mutations and inheritance plans.

A space turns a genome (plain JSON data) into an architecture spec, draws one mutation at a
time and says, for every block of the child, which weights come from which parent block.
The plan is data, so the oracle (which may run in another process: the chief) can decide it
and the worker that trains the child applies it (automl.evolution.inherit).

Plan format: {"blocks": [[parent_index | None, copy_kernel, copy_rest], ...], "head": bool}
for the conv stack (positional), or {"by_name": True} for the residual space (ResBuilder's
blocks keep stable ids, so layer name + shape identifies what can be kept).
"""
from __future__ import annotations

import abc
import json
from dataclasses import dataclass

import numpy as np

from automl.evolution.settings import CHANNELS
from models import build_model, count
from models.spec import Block, Conv, ConvNetSpec, ResNetSpec
from models.zoo import RB0_POOLING_STAGES, rb_0net

# Seed 001 Ch. 7, Fig. 7.1 (reference 001 §2.4); the widths are automl.evolution.settings.CHANNELS.
KERNELS = (1, 3, 5)
STRIDES = (1, 2)
MAX_STRIDE2 = 3
# Relative frequencies of the mutations (seed 001 L1169-L1181).
MUTATION_WEIGHTS = {"add_block": 3, "remove_block": 3, "add_channels": 2, "remove_channels": 2,
                    "change_kernel": 2, "change_stride": 1}
NOVELTY_DRAWS = 200  # single-mutation draws before mutations are stacked (reference A7.2)


@dataclass
class Mutation:
    name: str
    genome: object
    plan: dict


NOTHING = {"nothing": True}  # the thesis' baseline plan: every weight re-initialised


def compose(first: dict, second: dict) -> dict:
    """The plan of two mutations applied one after the other (parent -> middle -> child)."""
    if first.get("nothing") or second.get("nothing"):
        return NOTHING
    if first.get("by_name") or second.get("by_name"):
        return {"by_name": True}
    blocks = []
    for source, kernel, rest in second["blocks"]:
        if source is None:
            blocks.append([None, False, False])
            continue
        origin, kernel0, rest0 = first["blocks"][source]
        kernel, rest = kernel and kernel0, rest and rest0
        blocks.append([origin if (kernel or rest) else None, kernel, rest])
    return {"blocks": blocks, "head": first["head"] and second["head"]}


class Space(abc.ABC):
    """Common part: novelty-enforcing proposal on top of one-mutation draws."""

    name = ""
    mutation_weights: dict[str, int] = MUTATION_WEIGHTS

    def key(self, genome) -> str:
        return json.dumps(genome, sort_keys=True)

    def draw_mutation_name(self, rng: np.random.Generator) -> str:
        names = list(self.mutation_weights)
        weights = np.array([self.mutation_weights[n] for n in names], dtype=float)
        return names[int(rng.choice(len(names), p=weights / weights.sum()))]

    def propose(self, genome, rng: np.random.Generator, seen: set[str], inheritance: bool = True) -> Mutation:
        """A child never evaluated before (seed 001 L1181; reference A7.2).

        Fresh single mutations of the parent are drawn first; invalid ones (e.g. add channels
        at 256) count as failed draws. Only if none of NOVELTY_DRAWS is new are mutations
        stacked on a mutated child.
        """
        current = Mutation("", genome, self.identity_plan(genome))
        for stacked in range(1, 64):
            for _ in range(NOVELTY_DRAWS):
                step = self.mutate(current.genome, self.draw_mutation_name(rng), rng)
                if step is None:
                    continue
                if self.key(step.genome) not in seen:
                    name = step.name if not current.name else f"{current.name}+{step.name}"
                    plan = compose(current.plan, step.plan) if inheritance else NOTHING
                    return Mutation(name, step.genome, plan)
            while True:  # stack: continue from a random valid mutation of the current child
                step = self.mutate(current.genome, self.draw_mutation_name(rng), rng)
                if step is not None:
                    break
            current = Mutation(step.name if not current.name else f"{current.name}+{step.name}",
                               step.genome, compose(current.plan, step.plan))
        raise RuntimeError("no new architecture found; the search space looks exhausted")

    # -- per space ---------------------------------------------------------------------
    @abc.abstractmethod
    def initial(self, rng: np.random.Generator):
        """The first architecture (seed 001: one random block)."""

    @abc.abstractmethod
    def mutate(self, genome, name: str, rng: np.random.Generator) -> Mutation | None:
        """One mutation called `name`, or None where it is invalid for this genome."""

    @abc.abstractmethod
    def identity_plan(self, genome) -> dict:
        """The plan that keeps every weight of `genome`."""

    @abc.abstractmethod
    def depth(self, genome) -> int:
        """Blocks in the genome (for the log)."""

    @abc.abstractmethod
    def spec(self, genome):
        """The architecture spec that models.build_model builds."""

    @abc.abstractmethod
    def describe(self, genome) -> str:
        """A short human-readable form of the genome."""

    # -- models (image spaces; the recurrent space overrides) ----------------------------
    def build(self, genome, input_shape, num_classes, preprocess=None, per_step: bool = False):
        # Glorot-uniform kernels and Keras' BN initial values (seed 001 L1196, reference A7.5).
        return build_model(self.spec(genome), input_shape, num_classes, preprocess,
                           kernel_initializer="glorot_uniform")

    def cost(self, genome, model, input_shape, num_classes, per_step: bool = False):
        return count(self.spec(genome), input_shape, num_classes)

    def lr_rule(self, genome) -> bool:
        """Whether the genome's net trains with the DMU learning-rate rule (seed 000 eq. 5)."""
        return False


class ConvStackSpace(Space):
    """Seed 001 Ch. 7: a linear stack of Conv-BN-ReLU blocks, then GAP and the classifier.

    Genome: [[channels, kernel, stride], ...]. The conv has no bias: the BN after it makes one
    redundant, so a block's "h" part (reference §2.4, eq. 7.2) is the BN's four vectors.
    """

    name = "conv"

    def __init__(self, max_channels: int = CHANNELS[-1]):
        self.channels = tuple(c for c in CHANNELS if c <= max_channels)
        if not self.channels:
            raise ValueError(f"max_channels {max_channels} is below the smallest width {CHANNELS[0]}")

    def initial(self, rng):
        return [[int(rng.choice(self.channels)), int(rng.choice(KERNELS)), 1]]  # seed 001 L1149: stride 1

    def depth(self, genome) -> int:
        return len(genome)

    def identity_plan(self, genome) -> dict:
        return {"blocks": [[i, True, True] for i in range(len(genome))], "head": True}

    def spec(self, genome) -> ConvNetSpec:
        return ConvNetSpec(layers=[Conv(c, k, s, batch_norm=True) for c, k, s in genome], head="gap",
                           name="evolved")

    def describe(self, genome) -> str:
        return " ".join(f"{c}x{k}{'/2' if s == 2 else ''}" for c, k, s in genome)

    def from_hyperparameters(self, hp) -> list:
        """A genome drawn through Keras Tuner hyperparameters (its built-in tuners); stride-2
        blocks past MAX_STRIDE2 keep stride 1, as the mutations allow no more."""
        most = 8
        blocks = hp.Int("blocks", 1, most)
        genome = []
        for i in range(most):
            with hp.conditional_scope("blocks", list(range(i + 1, most + 1))):
                block = [hp.Choice(f"channels_{i}", list(self.channels)), hp.Choice(f"kernel_{i}", list(KERNELS)),
                         hp.Choice(f"stride_{i}", list(STRIDES))]
            if i < blocks:
                genome.append(block)
                if block[2] == 2 and sum(b[2] == 2 for b in genome) > MAX_STRIDE2:
                    block[2] = 1
        return genome

    def mutate(self, genome, name, rng):
        n = len(genome)
        i = int(rng.integers(n)) if name != "add_block" else None  # the block it hits, uniform
        child = [list(b) for b in genome]
        plan = self.identity_plan(genome)
        blocks = plan["blocks"]
        if name == "change_stride":
            child[i][2] = int(rng.choice(STRIDES))
            if sum(b[2] == 2 for b in child) > MAX_STRIDE2:
                return None
        elif name == "change_kernel":
            child[i][1] = int(rng.choice(KERNELS))
            blocks[i] = [i, False, True]  # eq. 7.3: only k_i re-initialised
        elif name in ("add_channels", "remove_channels"):
            at = self.channels.index(child[i][0]) + (1 if name == "add_channels" else -1)
            if not 0 <= at < len(self.channels):
                return None
            child[i][0] = self.channels[at]
            blocks[i] = [None, False, False]  # eq. 7.4: theta_i re-initialised ...
            if i + 1 < n:
                blocks[i + 1] = [i + 1, False, True]  # ... and the next kernel
        elif name == "add_block":
            at = int(rng.integers(n + 1))  # any position, front and back included
            child.insert(at, [int(rng.choice(self.channels)), int(rng.choice(KERNELS)), 1])
            blocks.insert(at, [None, False, False])  # eq. 7.5
            if at + 1 < len(child):
                blocks[at + 1] = [at, False, True]
        elif name == "remove_block":
            if n == 1:
                return None
            del child[i]
            del blocks[i]  # eq. 7.6: the block after i gets a fresh kernel
            if i < len(child):
                blocks[i] = [i + 1, False, True]
        else:
            raise ValueError(f"unknown mutation {name!r}")
        # The dense head is copied unless the last width changed (seed 001 §7.3.3).
        plan["head"] = child[-1][0] == genome[-1][0] and plan["head"]
        return Mutation(name, child, plan)


class ResidualSpace(Space):
    """ResBuilder's residual spec space (seed 002), searched by the same evolution.

    Genome: a ResNetSpec dict, starting from RB-0Net with a random stem width and kernel.
    Mutations: insert a block at a random stage and position (ResBuilder's insertion), remove a
    block, widen/narrow a block to the neighbouring value of CHANNELS, redraw a block's kernel.
    Inheritance is by layer name and shape: blocks keep their ids, so whatever keeps its shape
    keeps its weights, and an inserted block starts near the identity (ResBuilder's rule).
    """

    name = "residual"
    mutation_weights = {k: v for k, v in MUTATION_WEIGHTS.items() if k != "change_stride"}

    def __init__(self, pooling_stages: int = RB0_POOLING_STAGES, max_channels: int = CHANNELS[-1]):
        self.pooling_stages = pooling_stages
        self.channels = tuple(c for c in CHANNELS if c <= max_channels)

    def initial(self, rng):
        spec = rb_0net(filters=int(rng.choice(self.channels)), pooling_stages=self.pooling_stages)
        spec.stem_kernel = int(rng.choice(KERNELS))
        return spec.to_dict()

    def depth(self, genome) -> int:
        return 1 + len(ResNetSpec.from_dict(genome).blocks())

    def identity_plan(self, genome) -> dict:
        return {"by_name": True}

    def spec(self, genome) -> ResNetSpec:
        return ResNetSpec.from_dict(genome)

    def describe(self, genome) -> str:
        spec = self.spec(genome)
        stages = ["-".join(f"{b.filters}x{b.kernel}" for b in st.blocks) or "." for st in spec.stages]
        return f"stem {spec.stem_filters}x{spec.stem_kernel} | " + " | ".join(stages)

    def mutate(self, genome, name, rng):
        from automl.resbuilder.growth import width_before

        spec = self.spec(genome)
        blocks = [(s, p) for s, st in enumerate(spec.stages) for p in range(len(st.blocks))]
        if name == "add_block":
            s = int(rng.integers(len(spec.stages)))
            p = int(rng.integers(len(spec.stages[s].blocks) + 1))
            spec.stages[s].blocks.insert(p, Block(spec.next_block_id(), width_before(spec, s, p), inserted=True))
        elif not blocks:
            return None
        else:
            s, p = blocks[int(rng.integers(len(blocks)))]
            block = spec.stages[s].blocks[p]
            if name == "remove_block":
                del spec.stages[s].blocks[p]
            elif name == "change_kernel":
                block.kernel = int(rng.choice(KERNELS))
            elif name in ("add_channels", "remove_channels"):
                at = self.channels.index(block.filters) + (1 if name == "add_channels" else -1) \
                    if block.filters in self.channels else -1
                if not 0 <= at < len(self.channels):
                    return None
                block.filters, block.mid_filters = self.channels[at], None
            else:
                raise ValueError(f"unknown mutation {name!r}")
        return Mutation(name, spec.to_dict(), {"by_name": True})
