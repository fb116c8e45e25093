"""Standalone MorphNet study (issue #20, seed 002 Ch. 5): the λ sweep on the small two-conv net.

The thesis trains a Conv 32 → Conv 64 net on MNIST with MorphNet's FLOP-weighted group lasso on
the BatchNorm gammas for one iteration and reports the widths MorphNet then suggests (the
channels whose |γ| stays above τ_M): λ = 9e-6 shrinks 32/64 to 1/41, λ = 1e-9 does not shrink it
at all (reference 002 §3.5, L1026). Here: the same regulariser (automl/resbuilder/morph.py, the
one ResBuilder uses) on Conv(32, 3×3)-BN-ReLU-MaxPool-Conv(64, 3×3)-BN-ReLU-MaxPool-Dense(10),
Adam 1e-3 at batch 32, `--epochs` epochs on mnist5k per λ, several seeds; per λ the alive widths, the FLOPs of
the suggested net and the validation accuracy of the regularised one. The thesis gives no
kernel size, epoch count or seed count for this study: ours are stated above.

Writes benchmarks/results/morphnet.{md,json}. Run from a separate install:
    python benchmarks/morphnet.py [--lambdas 1e-9 1e-8 ...] [--epochs 5] [--seeds 0 1 2]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
RESULTS = Path(__file__).resolve().parent / "results"
LAMBDAS = [1e-9, 1e-8, 1e-7, 1e-6, 9e-6]
THESIS = {1e-9: "32/64 (\"did not shrink the suggested net at all\")", 9e-6: "1/41",
          2e-8: "the thesis' worked example (Fig. 5.4, no numbers)"}
WIDTHS = (32, 64)


def two_conv_net(side: int, seed: int):
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((side, side, 1))
    x = inputs
    for i, width in enumerate(WIDTHS):
        x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"bn{i}")(x)
        x = keras.layers.ReLU()(x)
        x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax", name="head")(x))


def groups(side: int):
    """MorphNet's groups of the two convs: per channel pair, 2 x 3 x 3 x H_out x W_out FLOPs."""
    from automl.resbuilder.morph import ConvGroup

    return [ConvGroup("conv0", "bn0", None, 2 * 9 * side * side),
            ConvGroup("conv1", "bn1", "bn0", 2 * 9 * (side // 2) ** 2)]


def flops(side: int, widths: tuple[int, int]) -> int:
    """The FLOPs (2 x multiply-adds) of the net at `widths`: both convs and the head."""
    a, b = widths
    return 2 * 9 * side * side * 1 * a + 2 * 9 * (side // 2) ** 2 * a * b + 2 * (side // 4) ** 2 * b * 10


def run(lam: float, seed: int, epochs: int, data, tau: float) -> dict:
    import keras

    from automl.resbuilder.morph import alive_channels, morphnet_penalty
    from automl.resbuilder.search import Penalized

    side = data.input_shape[0]
    inner = two_conv_net(side, seed)
    net_groups = groups(side)
    model = Penalized(inner, lambda: morphnet_penalty(inner, net_groups, tau), lam)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    x, xv = data.x_train.astype("float32") / 255.0, data.x_val.astype("float32") / 255.0
    started = time.perf_counter()
    history = model.fit(x, data.y_train, batch_size=32, epochs=epochs, validation_data=(xv, data.y_val), verbose=0)
    alive = alive_channels(inner, net_groups, tau)
    widths = (alive["conv0"], alive["conv1"])
    return {"lambda": lam, "seed": seed, "widths": list(widths), "flops": flops(side, widths),
            "flops_start": flops(side, WIDTHS), "val_accuracy": float(history.history["val_accuracy"][-1]),
            "seconds": time.perf_counter() - started}


def markdown(result: dict) -> str:
    lines = ["# Standalone MorphNet: the λ sweep (seed 002 Ch. 5)", "",
             f"`python benchmarks/morphnet.py`, {result['date']}, {os.cpu_count()} CPU cores: Conv(32)-BN-ReLU-MaxPool-"
             f"Conv(64)-BN-ReLU-MaxPool-Dense(10) on mnist5k, one MorphNet iteration = {result['epochs']} epochs of "
             f"Adam 1e-3 at batch 32 with the FLOP-weighted γ group lasso at λ, then the channels with |γ| > τ_M = {result['tau']} "
             f"are the suggested widths. Seeds {result['seeds']}. Start: 32/64, {result['rows'][0]['flops_start']:,} FLOPs.",
             "", "| λ | suggested widths (per seed) | FLOPs of the suggestion (mean) | val acc, regularised (mean) "
             "| thesis (MNIST, L1026-1062) |", "|---|---|---:|---:|---|"]
    for lam in result["lambdas"]:
        rows = [r for r in result["rows"] if r["lambda"] == lam]
        widths = ", ".join("/".join(map(str, r["widths"])) for r in rows)
        lines.append(f"| {lam:g} | {widths} | {statistics.mean(r['flops'] for r in rows):,.0f} | "
                     f"{statistics.mean(r['val_accuracy'] for r in rows):.4f} | {THESIS.get(lam, '')} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lambdas", nargs="+", type=float, default=LAMBDAS)
    parser.add_argument("--epochs", type=int, default=10, help="epochs of the one iteration (1,000 Adam steps at 10)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--tau", type=float, default=1e-2, help="τ_M ([code] morphThreshold 1e-2)")
    args = parser.parse_args(argv)
    from pipelines import config as configs
    from pipelines.datasets import load_dataset

    data = load_dataset("mnist5k", configs.load_config("train").data)
    result = {"date": time.strftime("%Y-%m-%d"), "epochs": args.epochs, "seeds": args.seeds, "tau": args.tau,
              "lambdas": args.lambdas, "rows": []}
    for lam in args.lambdas:
        for seed in args.seeds:
            result["rows"].append(run(lam, seed, args.epochs, data, args.tau))
            print(json.dumps(result["rows"][-1]), file=sys.stderr, flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "morphnet.json").write_text(json.dumps(result, indent=1))
    (RESULTS / "morphnet.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
