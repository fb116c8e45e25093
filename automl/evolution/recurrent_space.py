"""The recurrent search space (issue #7): cell type, width, depth, stacking, the DMU's gate bias
and its learning-rate rule, searched by the evolution and by Keras Tuner's built-in tuners.

Genome: {"cell", "units", "layers", "depth", "gate_bias", "lr_rule"} (plain JSON). `depth` is
models.sequence's: the DMU's FNN depth n or the RHN's recurrence depth L, and for LSTM, GRU and
SimpleRNN (no inner depth) the number of stacked layers, so that these cells keep `layers` at 1
and the genome has one spelling per network. Gate bias and the rule only exist for the DMU;
other cells carry the DMU defaults, so that switching the cell back restores them.

The value grids are ours; where the seed studied a range it is included: depths 1/2/5/10
(seed 000's depth study, reference 000 §3), gate bias +3 (seed 000 L1212-L1220).
"""
from __future__ import annotations

import numpy as np

from automl.evolution.settings import UNITS
from automl.evolution.space import NOTHING, Mutation, Space
from automl.model_settings import ModelSettings
from models.sequence import CELLS, DEEP_CELLS, SequenceSpec

DEPTHS = (1, 2, 3, 5, 10)
STACKED = (1, 2, 3)   # LSTM/GRU/RNN layers, and DMU/RHN blocks
GATE_BIASES = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0)
DEFAULT_START = ModelSettings().sequence_genome()  # the start without one: `automl train`'s default sequence net
MUTATION_WEIGHTS = {"change_cell": 2, "add_units": 2, "remove_units": 2, "deeper": 2, "shallower": 2,
                    "add_layer": 1, "remove_layer": 1, "change_gate_bias": 1, "toggle_lr_rule": 1}


def _neighbour(values: tuple, value, step: int):
    """The next value up (+1) or down (-1) in a grid, or None past its end; an off-grid value
    moves to the nearest grid value in that direction."""
    if value in values:
        at = values.index(value) + step
    else:
        at = int(np.searchsorted(values, value)) - (step < 0)
    return values[at] if 0 <= at < len(values) else None


class RecurrentSpace(Space):
    name = "recurrent"
    mutation_weights = MUTATION_WEIGHTS

    def __init__(self, start: dict | None = None, max_units: int = UNITS[-1]):
        self.units = tuple(u for u in UNITS if u <= max_units)
        if not self.units:
            raise ValueError(f"max_units {max_units} is below the smallest width {UNITS[0]}")
        self.start = self.canonical(start or DEFAULT_START)
        SequenceSpec(**self._spec_fields(self.start)).validate()  # a bad start fails here, not in a trial

    @staticmethod
    def canonical(genome: dict) -> dict:
        unknown = sorted(set(genome) - set(DEFAULT_START))
        if unknown:
            raise ValueError(f"unknown genome keys {', '.join(unknown)} (a genome has {', '.join(DEFAULT_START)})")
        genome = {**DEFAULT_START, **genome}  # a partial genome: the rest as `model.*` defaults
        g = {"cell": str(genome["cell"]), "units": int(genome["units"]), "layers": int(genome["layers"]),
             "depth": int(genome["depth"]), "gate_bias": float(genome["gate_bias"]), "lr_rule": bool(genome["lr_rule"])}
        if g["cell"] not in DEEP_CELLS:  # one spelling: a stack of LSTMs is depth, not layers
            g["depth"], g["layers"] = g["depth"] * g["layers"], 1
        return g

    @staticmethod
    def _spec_fields(genome: dict) -> dict:
        return {k: genome[k] for k in ("cell", "units", "layers", "depth", "gate_bias")}

    # -- Space --------------------------------------------------------------------------
    def initial(self, rng):
        return dict(self.start)

    def depth(self, genome) -> int:
        return genome["layers"] * genome["depth"]

    def identity_plan(self, genome) -> dict:
        return {"by_name": True}  # layers are named cell + index: same cell and shape, same weights

    def spec(self, genome) -> SequenceSpec:
        return SequenceSpec(**self._spec_fields(genome), name="evolved")

    def lr_rule(self, genome) -> bool:
        return genome["cell"] == "dmu" and genome["lr_rule"]

    def describe(self, genome) -> str:
        g = genome
        text = f"{g['cell']} {g['units']}u"
        if g["cell"] in DEEP_CELLS:
            text += f" x{g['layers']} depth {g['depth']}"
        elif g["depth"] > 1:
            text += f" x{g['depth']}"
        if g["cell"] == "dmu":
            text += f" bias {g['gate_bias']:g}{'' if g['lr_rule'] else ' no-rule'}"
        return text

    def mutate(self, genome, name, rng):
        child = dict(genome)
        deep = child["cell"] in DEEP_CELLS
        if name == "change_cell":
            others = [c for c in CELLS if c != child["cell"]]
            child["cell"] = str(rng.choice(others))
            if child["cell"] not in DEEP_CELLS:  # one stack of at most STACKED[-1] layers
                child["depth"], child["layers"] = min(child["depth"] * child["layers"], STACKED[-1]), 1
            # (a stack of LSTMs becoming a DMU keeps its depth as the DMU's: layers is 1 already)
        elif name in ("add_units", "remove_units"):
            value = _neighbour(self.units, child["units"], 1 if name == "add_units" else -1)
            if value is None:
                return None
            child["units"] = value
        elif name in ("deeper", "shallower"):
            grid = DEPTHS if deep else STACKED
            value = _neighbour(grid, child["depth"], 1 if name == "deeper" else -1)
            if value is None:
                return None
            child["depth"] = value
        elif name in ("add_layer", "remove_layer"):
            if not deep:
                return None  # LSTM/GRU/RNN stack through depth
            value = _neighbour(STACKED, child["layers"], 1 if name == "add_layer" else -1)
            if value is None:
                return None
            child["layers"] = value
        elif name == "change_gate_bias":
            if child["cell"] != "dmu":
                return None
            child["gate_bias"] = float(rng.choice([b for b in GATE_BIASES if b != child["gate_bias"]]))
            # The gate bias is an initial value: inherited weights would overwrite it, so the child
            # starts afresh (the thesis' baseline plan) rather than repeat its parent.
            return Mutation(name, self.canonical(child), NOTHING)
        elif name == "toggle_lr_rule":
            if child["cell"] != "dmu":
                return None
            child["lr_rule"] = not child["lr_rule"]
        else:
            raise ValueError(f"unknown mutation {name!r}")
        return Mutation(name, self.canonical(child), {"by_name": True})

    # -- Keras Tuner's built-in tuners ---------------------------------------------------
    def from_hyperparameters(self, hp) -> dict:
        """A genome drawn through Keras Tuner hyperparameters (random search, Bayesian
        optimisation, Hyperband). Conditional scopes tell the tuners which hyperparameters
        exist for which cell, so none is sampled for a cell that ignores it."""
        cell = hp.Choice("cell", list(CELLS), default=self.start["cell"])
        genome = {"cell": cell, "units": hp.Choice("units", list(self.units))}
        with hp.conditional_scope("cell", list(DEEP_CELLS)):
            depth, layers = hp.Choice("depth", list(DEPTHS)), hp.Choice("blocks", list(STACKED))
        with hp.conditional_scope("cell", [c for c in CELLS if c not in DEEP_CELLS]):
            stacked = hp.Choice("stacked_layers", list(STACKED))
        with hp.conditional_scope("cell", ["dmu"]):
            gate_bias = hp.Choice("gate_bias", list(GATE_BIASES), default=self.start["gate_bias"])
            rule = hp.Boolean("lr_rule", default=self.start["lr_rule"])
        if cell in DEEP_CELLS:
            genome.update(depth=depth, layers=layers)
        else:
            genome.update(depth=stacked, layers=1)
        if cell == "dmu":
            genome.update(gate_bias=gate_bias, lr_rule=rule)
        return self.canonical(genome)

    # -- models -------------------------------------------------------------------------
    def build(self, genome, input_shape, num_classes, preprocess=None, per_step: bool = False):
        from models.sequence import build_sequence_model

        return build_sequence_model(self.spec(genome), input_shape, num_classes, per_step,
                                    lr_rule=self.lr_rule(genome))

    def cost(self, genome, model, input_shape, num_classes, per_step: bool = False):
        from models.sequence import sequence_cost

        return sequence_cost(model, input_shape[0], per_step)
