"""The net a fixed training builds: the one definition of the `model:` section of `automl train`
and of `automl search --strategy fixed` (see automl.settings).

Light on purpose (no TensorFlow): the command line validates `model.*` with this class.
"""
from __future__ import annotations

from typing import Literal

from automl.settings import Settings, is_number
from models.sequence import CELLS, DEFAULT_CELL, DEFAULT_GATE_BIAS


class ModelSettings(Settings):
    """The architecture of a fixed-net training: images (a named net or a spec file) or sequences
    (a recurrent cell; seed 000 Table VIII for the DMU's adding-task net).

    Args:
        arch: auto (`automl train`: resnet-mini for gradient optimizers, mlp for population ones; `automl search --strategy fixed`: rb-r18, the thesis' ResNet-18 baseline), a named net (rb-0net, rb-r18, rb-r18-cifar, resnet-mini, lenet5-like, mlp, mlp-leea, cnn-ndes) or a spec .json file.
        cell: the recurrent cell on sequence data: dmu, lstm, gru, rnn or rhn (None: dmu, also the recurrent space's start); unused on images.
        units: memory cells per recurrent layer (seed 000 Table VIII, adding: DMU ((5, 5)), 5 cells).
        layers: stacked recurrent blocks (seed 000 Table VIII: one block for DMU and RHN).
        depth: the depth of one step's state transformation: the DMU's FNN depth n (seed 000 Table VIII: n = 2, one hidden layer), the RHN's recurrence depth, stacked layers for lstm, gru and rnn.
        hidden: hidden units in the DMU's FNN, 0 for as wide as `units` (seed 000 Table VIII, adding: 5).
        gate_bias: added to the z-gate biases (seed 000 L1212-L1220: +3 in the synthetic tasks).
        lr_rule: the DMU learns at lr / (2n) with weight decay / (2n) (seed 000 eq. 5); False is the ablation.
        weight_decay: coupled weight decay of sequence models, as PyTorch's Adam(weight_decay=wd) that the seed's code uses (reference 000 §2.2.4): wd x w added to each kernel's gradient (a Keras L2 of wd / 2) on the recurrent and head kernels, biases left out; with lr_rule the DMU's is wd / (2n). 0 (the default, ours): none; unused on images.
    """

    def __init__(self, *, arch: str = "auto", cell: Literal[CELLS] | None = None, units: int = 5, layers: int = 1,
                 depth: int = 2, hidden: int = 5, gate_bias: float = DEFAULT_GATE_BIAS, lr_rule: bool = True,
                 weight_decay: float = 0.0):
        self.check("arch", arch, isinstance(arch, str) and bool(arch), "a net's name or a spec .json file")
        self.check("cell", cell, cell is None or cell in CELLS, "None or one of " + ", ".join(map(repr, CELLS)))
        for name, value in (("units", units), ("layers", layers), ("depth", depth)):
            self.check_count(name, value, 1)
        self.check_count("hidden", hidden, 0, " (0: as wide as units)")
        self.check("gate_bias", gate_bias, is_number(gate_bias), "a number")
        self.check_bool("lr_rule", lr_rule)
        self.check_positive("weight_decay", weight_decay, zero=True)
        self.arch, self.cell, self.units, self.layers, self.depth = arch, cell, units, layers, depth
        self.hidden, self.gate_bias, self.lr_rule = hidden, float(gate_bias), lr_rule
        self.weight_decay = float(weight_decay)

    @property
    def sequence_cell(self) -> str:
        """The cell a sequence model uses: `cell`, or the DMU when none is set."""
        return self.cell or DEFAULT_CELL

    def sequence_genome(self) -> dict:
        """These settings as a genome of the recurrent search space (its start)."""
        return {"cell": self.sequence_cell, "units": self.units, "layers": self.layers, "depth": self.depth,
                "gate_bias": self.gate_bias, "lr_rule": self.lr_rule}
