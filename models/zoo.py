"""Named architectures: the thesis' two ResBuilder start nets and a small default net."""
from __future__ import annotations

from pathlib import Path

from models.spec import Block, Conv, ConvNetSpec, Pool, ResNetSpec, SpecError, Stage


RB0_POOLING_STAGES = 2  # RB-0Net's default pooling stages (resbuilder.start_pooling_stages)


def rb_0net(filters: int = 64, pooling_stages: int = RB0_POOLING_STAGES) -> ResNetSpec:
    """RB-0Net, seed 002 Fig. 6.1: one 64-channel conv, then GAP and the dense classifier.

    The figure is missing; the text speaks of "first/second/last pooling stage", so the net
    holds `pooling_stages` empty pooling stages for blocks to be inserted into (reference
    ambiguity 10: the count is a config option; 2 pools give 3 stages).
    """
    stages = [Stage()] + [Stage(pool=Pool("max")) for _ in range(pooling_stages)]
    return ResNetSpec(stem_filters=filters, stem_kernel=3, stages=stages, name="rb-0net")


def rb_r18(width: int = 64, imagenet_stem: bool = True) -> ResNetSpec:
    """RB-R18, seed 002 Fig. 6.2: ResNet-18 with basic blocks, widths w, 2w, 4w, 8w.

    The thesis keeps the ImageNet stem (7x7/2 conv, 3x3/2 max pool) even on 32 px inputs
    (reference §2a.9 [code]); `imagenet_stem=False` gives the usual CIFAR stem (3x3/1, no pool).
    The head is GAP and the classifier, as in He et al. [50]; the authors' code adds a
    Dense(1000, relu) that the thesis does not mention.
    """
    ids = iter(range(8))
    stages = []
    for i, mult in enumerate((1, 2, 4, 8)):
        first_stride = 1 if i == 0 else 2
        stages.append(Stage(blocks=[
            Block(next(ids), width * mult, stride=first_stride),
            Block(next(ids), width * mult),
        ]))
    if imagenet_stem:
        return ResNetSpec(stem_filters=width, stem_kernel=7, stem_stride=2,
                          stem_pool=Pool("max", 3, 2), stages=stages, name="rb-r18")
    return ResNetSpec(stem_filters=width, stem_kernel=3, stages=stages, name="rb-r18-cifar")


def resnet_mini() -> ResNetSpec:
    """A 3-block residual net (32/64/128): the default of `automl train` on small images."""
    stages = [
        Stage(blocks=[Block(0, 32)]),
        Stage(pool=Pool("max"), blocks=[Block(1, 64)]),
        Stage(pool=Pool("max"), blocks=[Block(2, 128)]),
    ]
    return ResNetSpec(stem_filters=32, stem_kernel=3, stages=stages, name="resnet-mini")


def lenet5_like() -> ConvNetSpec:
    """The port-Hamiltonian study's net, seed 002 §3.4 (L700): "two convolutional, one pooling and two
    fully connected layers" with 5x5 filters and "44,426 weights". The exact widths cannot be
    recovered (reference ambiguity 18); 6 and 16 filters (LeNet-5's) with 'valid' padding and a
    26-unit hidden layer give 44,468 weights on 28x28x1 inputs, the closest LeNet-like count.
    """
    return ConvNetSpec(
        layers=[Conv(6, 5, padding="valid"), Conv(16, 5, padding="valid"), Pool("max")],
        head="flatten", dense_units=[26], name="lenet5-like",
    )


def mlp(hidden: int = 32) -> ConvNetSpec:
    """A one-hidden-layer perceptron (input-32-classes): the population optimizers' default net,
    and the "MLP 784-32-10" of issue #5's engine benchmark. Gradient-free methods scale with the
    weight count, so their default is small."""
    return ConvNetSpec(layers=[], head="flatten", dense_units=[hidden], name="mlp")


def mlp_leea() -> ConvNetSpec:
    """Seed 001 Ch. 5 (L872-L882): 2x2 max-pool, then dense 256-128-64 with ReLU and the classifier;
    92,234 weights on 28x28 MNIST ("92,000 weights")."""
    return ConvNetSpec(layers=[Pool("max", 2, 2)], head="flatten", dense_units=[256, 128, 64], name="mlp-leea")


def cnn_ndes() -> ConvNetSpec:
    """Seed 000 B.2 Table 1 ([code] layout): conv 20 5x5 softsign, max-pool, conv 32 5x5 softsign,
    max-pool, dense 64 softsign, softmax; 50,034 weights on 28x28 FashionMNIST."""
    return ConvNetSpec(layers=[Conv(20, 5, padding="valid"), Pool("max"), Conv(32, 5, padding="valid"), Pool("max")],
                       head="flatten", dense_units=[64], activation="softsign", name="cnn-ndes")


ARCHITECTURES = {
    "rb-0net": rb_0net,
    "rb-r18": rb_r18,
    "rb-r18-cifar": lambda: rb_r18(imagenet_stem=False),
    "resnet-mini": resnet_mini,
    "lenet5-like": lenet5_like,
    "mlp": mlp,
    "mlp-leea": mlp_leea,
    "cnn-ndes": cnn_ndes,
}


# The ResNets ResBuilder can start from (resbuilder.start).
START_NETS = ("rb-0net", "rb-r18", "rb-r18-cifar")


def start_net(name: str, pooling_stages: int) -> ResNetSpec:
    """ResBuilder's start net `name`: RB-0Net with `pooling_stages` pooling stages; the R18s
    have their own stages."""
    return rb_0net(pooling_stages=pooling_stages) if name == "rb-0net" else ARCHITECTURES[name]()


def get_spec(name_or_path: str) -> ResNetSpec | ConvNetSpec:
    """A named architecture, or a spec JSON file."""
    if name_or_path in ARCHITECTURES:
        return ARCHITECTURES[name_or_path]()
    if name_or_path.endswith(".json") or Path(name_or_path).exists():
        return ResNetSpec.load(name_or_path)
    raise SpecError(
        f"unknown architecture {name_or_path!r}: choose one of {', '.join(ARCHITECTURES)} "
        "or give the path of a spec .json file"
    )
