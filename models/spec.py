"""JSON-serialisable descriptions of residual CNNs: the search space of ResBuilder.

Seed 002, Ch. 4 (reference 002-burghoff.md §2a.1): a stem conv, then stages that each
begin with an optional pooling layer and hold 2-conv basic blocks with identity skips,
then global average pooling and a dense head.

Every block carries a numeric id that never changes once assigned, and layer names are
derived from it (``block7_conv1``). So after inserting or removing a block, every other
layer keeps its name and its weights transfer by name (see ``models.transfer``).
"""
from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

POOL_KINDS = ("max", "avg")
MAX_DEPTH = 1000  # blocks of a ResNetSpec, layers of a ConvNetSpec: ResNet-1202 has 600 blocks; 20,000 hang Keras


class SpecError(ValueError):
    """An architecture spec that cannot describe a network."""


@dataclass
class Pool:
    kind: str = "max"
    size: int = 2
    stride: int = 2


@dataclass
class Block:
    id: int
    filters: int  # width of the second conv: the block's output
    stride: int = 1
    kernel: int = 3
    # ResBuilder's LayerLasso only ever removes blocks that it inserted itself.
    inserted: bool = False
    # Width of the first conv; None means `filters`. MorphNet resizes each conv on its own.
    mid_filters: int | None = None

    @property
    def inner(self) -> int:
        return self.filters if self.mid_filters is None else self.mid_filters


@dataclass
class Stage:
    pool: Pool | None = None
    blocks: list[Block] = field(default_factory=list)


@dataclass
class ResNetSpec:
    stem_filters: int = 64
    stem_kernel: int = 3
    stem_stride: int = 1
    stem_pool: Pool | None = None
    stages: list[Stage] = field(default_factory=lambda: [Stage()])
    head_units: list[int] = field(default_factory=list)
    # 0.9, not Keras' 0.99: short trainings leave 0.99's moving statistics unconverged and
    # validation accuracy at chance (feasibility.md §11).
    bn_momentum: float = 0.9
    name: str = "resnet"

    # -- structure ---------------------------------------------------------------------
    def blocks(self) -> list[Block]:
        return [b for stage in self.stages for b in stage.blocks]

    def next_block_id(self) -> int:
        return max((b.id for b in self.blocks()), default=-1) + 1

    def signature(self) -> str:
        """Structure without block ids: two specs with equal signatures build the same net."""
        d = self.to_dict()
        d.pop("name")
        for stage in d["stages"]:
            for b in stage["blocks"]:
                b.pop("id")
                b.pop("inserted")
        return json.dumps(d, sort_keys=True)

    def copy(self) -> "ResNetSpec":
        return copy.deepcopy(self)

    # -- serialisation -----------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"type": "resnet", **asdict(self)}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, d: dict) -> "ResNetSpec":
        if not isinstance(d, dict):
            raise SpecError("an architecture spec must be a JSON object")
        d = dict(d)
        kind = d.pop("type", "resnet")
        if kind != "resnet":
            raise SpecError(f"unknown spec type {kind!r} (expected 'resnet')")
        try:
            stages = [
                Stage(
                    pool=_pool(s.get("pool")),
                    blocks=[Block(**b) for b in s.get("blocks", [])],
                )
                for s in d.pop("stages", [{}])
            ]
            spec = cls(stages=stages, stem_pool=_pool(d.pop("stem_pool", None)), **d)
        except TypeError as e:  # an unknown or missing field
            raise SpecError(f"bad architecture spec: {e}") from None
        spec.validate()
        return spec

    @classmethod
    def from_json(cls, text: str) -> "ResNetSpec":
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise SpecError(f"architecture spec is not valid JSON: {e}") from None

    @classmethod
    def load(cls, path: str | Path) -> "ResNetSpec":
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as e:
            raise SpecError(f"cannot read architecture spec {path}: {e.strerror}") from None
        except UnicodeDecodeError:
            raise SpecError(f"architecture spec {path} is not a text (UTF-8) JSON file") from None
        try:
            try:
                data = json.loads(text)
            except json.JSONDecodeError as e:
                raise SpecError(f"architecture spec is not valid JSON: {e}") from None
            return spec_from_dict(data) if cls is ResNetSpec else cls.from_dict(data)
        except SpecError as e:
            raise SpecError(f"{path}: {e}") from None

    def validate(self) -> None:
        def positive(value, what):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SpecError(f"{what} must be a positive integer, got {value!r}")

        positive(self.stem_filters, "stem_filters")
        positive(self.stem_kernel, "stem_kernel")
        positive(self.stem_stride, "stem_stride")
        for units in self.head_units:
            positive(units, "head_units entry")
        if not 0.0 <= self.bn_momentum < 1.0:
            raise SpecError(f"bn_momentum must be in [0, 1), got {self.bn_momentum!r}")
        if not self.stages:
            raise SpecError("a spec needs at least one stage")
        if len(self.blocks()) > MAX_DEPTH:
            raise SpecError(f"a spec has at most {MAX_DEPTH} blocks, got {len(self.blocks())}")
        pools = [self.stem_pool] + [s.pool for s in self.stages]
        for p in pools:
            if p is None:
                continue
            if p.kind not in POOL_KINDS:
                raise SpecError(f"pool kind must be one of {POOL_KINDS}, got {p.kind!r}")
            positive(p.size, "pool size")
            positive(p.stride, "pool stride")
        ids = [b.id for b in self.blocks()]
        if len(ids) != len(set(ids)):
            raise SpecError(f"block ids must be unique, got {ids}")
        for b in self.blocks():
            positive(b.filters, f"block {b.id} filters")
            positive(b.inner, f"block {b.id} mid_filters")
            positive(b.stride, f"block {b.id} stride")
            positive(b.kernel, f"block {b.id} kernel")


@dataclass
class Conv:
    filters: int
    kernel: int = 3
    stride: int = 1
    padding: str = "same"
    batch_norm: bool = False


ACTIVATIONS = ("relu", "softsign", "tanh")


@dataclass
class ConvNetSpec:
    """A plain stack: convs (each optionally with BN, then the activation) and pools, then a head
    of flatten or global average pooling, hidden dense layers and the classifier. With no convs
    it is a multilayer perceptron."""

    layers: list = field(default_factory=list)  # Conv and Pool, in order
    head: str = "flatten"
    dense_units: list[int] = field(default_factory=list)
    bn_momentum: float = 0.9
    name: str = "convnet"
    activation: str = "relu"  # of convs and hidden dense layers: relu, softsign (seed 000's CNN), tanh

    def to_dict(self) -> dict:
        layers = [{"conv": asdict(l)} if isinstance(l, Conv) else {"pool": asdict(l)} for l in self.layers]
        d = {"type": "convnet", "layers": layers, "head": self.head, "dense_units": list(self.dense_units),
             "bn_momentum": self.bn_momentum, "name": self.name}
        if self.activation != "relu":  # absent for ReLU, so older specs and signatures stay as they were
            d["activation"] = self.activation
        return d

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def signature(self) -> str:
        d = self.to_dict()
        d.pop("name")
        return json.dumps(d, sort_keys=True)

    def copy(self) -> "ConvNetSpec":
        return copy.deepcopy(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ConvNetSpec":
        d = dict(d)
        d.pop("type", None)
        try:
            layers = []
            for item in d.pop("layers", []):
                (kind, args), = item.items()
                layers.append(Conv(**args) if kind == "conv" else _pool(args) if kind == "pool" else None)
                if layers[-1] is None:
                    raise SpecError(f"a convnet layer is 'conv' or 'pool', got {kind!r}")
            spec = cls(layers=layers, **d)
        except (TypeError, ValueError, AttributeError) as e:
            raise SpecError(f"bad architecture spec: {e}") from None
        spec.validate()
        return spec

    def validate(self) -> None:
        if len(self.layers) > MAX_DEPTH:
            raise SpecError(f"a spec has at most {MAX_DEPTH} layers, got {len(self.layers)}")
        for i, layer in enumerate(self.layers):
            if isinstance(layer, Conv):
                for what in ("filters", "kernel", "stride"):
                    value = getattr(layer, what)
                    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                        raise SpecError(f"layer {i} {what} must be a positive integer, got {value!r}")
                if layer.padding not in ("same", "valid"):
                    raise SpecError(f"layer {i} padding must be 'same' or 'valid', got {layer.padding!r}")
            elif isinstance(layer, Pool):
                if layer.kind not in POOL_KINDS:
                    raise SpecError(f"pool kind must be one of {POOL_KINDS}, got {layer.kind!r}")
            else:
                raise SpecError(f"layer {i} is neither a Conv nor a Pool")
        if self.head not in ("flatten", "gap"):
            raise SpecError(f"head must be 'flatten' or 'gap', got {self.head!r}")
        if self.activation not in ACTIVATIONS:
            raise SpecError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}")
        if not self.layers and not self.dense_units and self.head == "gap":
            raise SpecError("an MLP (no conv layers) needs head 'flatten'")


def spec_from_dict(d: dict):
    """A ResNetSpec or ConvNetSpec, by the dict's "type"."""
    if isinstance(d, dict) and d.get("type") == "convnet":
        return ConvNetSpec.from_dict(d)
    return ResNetSpec.from_dict(d)


def conv_out(size: int, kernel: int, stride: int, padding: str) -> int:
    return same_out(size, stride) if padding == "same" else (size - kernel) // stride + 1


def _pool(d) -> Pool | None:
    if d is None or isinstance(d, Pool):
        return d
    if not isinstance(d, dict):
        raise SpecError(f"a pool must be an object or null, got {d!r}")
    return Pool(**d)


# -- names and shapes shared by the builder and the FLOP counter ---------------------------
STEM = "stem"
HEAD = "head"


def block_layer(block_id: int, part: str) -> str:
    """Name of one layer of a block: part is conv1, bn1, conv2, bn2, proj or pad."""
    return f"block{block_id}_{part}"


def shortcut_kind(in_channels: int, block: Block) -> str:
    """How the skip path meets the block output (reference §2a.1 [code]).

    Same shape: identity. Only more channels: zero-pad them. Otherwise (fewer channels or a
    stride): a 1x1 conv with the block's stride.
    """
    if block.stride == 1 and in_channels == block.filters:
        return "identity"
    if block.stride == 1 and in_channels < block.filters:
        return "pad"
    return "conv"


def same_out(size: int, stride: int) -> int:
    """Spatial size after a 'same'-padded conv or pool."""
    return -(-size // stride)
