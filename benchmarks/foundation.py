"""Foundation benchmark: `automl train` with its defaults, end to end, against a plain Keras CNN.

Measures, on this machine:
- `automl train --dataset digits` (3 seeds) and `--dataset mnist5k` (1 seed): test accuracy and
  the whole command's wall time, TensorFlow start-up included;
- the peer: the hand-written Keras CNN of feasibility.md §3 (32->64 conv, BN, GAP; Adam,
  batch 64, 30 epochs on digits / 15 on mnist5k), trained on the very same splits in the same run;
- how long `automl train --dataset cifar10` takes to fail when the data is not prepared.

Writes benchmarks/results/foundation.{md,json}. Run: python benchmarks/foundation.py
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def automl(*args) -> tuple[subprocess.CompletedProcess, float]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", *args], capture_output=True, text=True)
    return proc, time.perf_counter() - start


def ours(dataset: str, seed: int, work: Path) -> dict:
    out = work / f"{dataset}-{seed}"
    proc, wall = automl("train", "--dataset", dataset, "--seed", str(seed), "--out", str(out), "--quiet")
    if proc.returncode != 0:
        raise SystemExit(f"automl train failed: {proc.stderr.strip()}")
    summary = json.loads((out / "summary.json").read_text())
    return {"system": "automl train (defaults)", "dataset": dataset, "seed": seed,
            "arch": summary["arch"], "params": summary["params"], "flops": summary["flops"],
            "epochs": summary["epochs"], "test_accuracy": summary["test_accuracy"],
            "wall_seconds": wall}


def peer(dataset: str, seed: int, epochs: int) -> dict:
    """feasibility.md §3's Keras CNN, same splits and preprocessing as ours, no augmentation."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    from pipelines import config as configs
    from pipelines.datasets import load_dataset

    data = load_dataset(dataset, configs.load_config("train").data)
    keras.utils.set_random_seed(seed)
    widths = (32, 64) if dataset == "digits" else (32, 64, 128)
    layers = [keras.Input(data.input_shape), data.preprocess().layer()]
    for w in widths:
        layers += [keras.layers.Conv2D(w, 3, padding="same", use_bias=False),
                   keras.layers.BatchNormalization(momentum=0.9), keras.layers.ReLU(),
                   keras.layers.MaxPooling2D(padding="same")]
    layers += [keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(data.num_classes, activation="softmax")]
    model = keras.Sequential(layers)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(data.x_train.astype("float32"), data.y_train, validation_data=(data.x_val.astype("float32"), data.y_val),
              epochs=epochs, batch_size=64, verbose=0)
    wall = time.perf_counter() - start
    acc = model.evaluate(data.x_test.astype("float32"), data.y_test, verbose=0)[1]
    return {"system": "plain Keras CNN (feasibility.md §3)", "dataset": dataset, "seed": seed,
            "arch": f"cnn-{'-'.join(map(str, widths))}", "params": model.count_params(), "flops": None,
            "epochs": epochs, "test_accuracy": float(acc), "wall_seconds": wall}


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for seed in (0, 1, 2):
            rows.append(ours("digits", seed, work))
            rows.append(peer("digits", seed, 30))
        rows.append(ours("mnist5k", 0, work))
        rows.append(peer("mnist5k", 0, 15))
        with tempfile.TemporaryDirectory() as empty:
            proc, fail_wall = automl("train", "--dataset", "cifar10", "--data-dir", empty, "--out", str(work / "c"))
    failure = {"command": "automl train --dataset cifar10 (no data, offline)", "exit_code": proc.returncode,
               "wall_seconds": fail_wall, "message": proc.stderr.strip().splitlines()[-1]}

    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "foundation.json").write_text(json.dumps({"rows": rows, "missing_data": failure,
                                                         "cpu_count": os.cpu_count()}, indent=2) + "\n")
    lines = [
        "# Foundation: `automl train` defaults vs a plain Keras CNN",
        "",
        f"Machine: {os.cpu_count()} CPU cores, no GPU. Wall time of `automl train` is the whole command "
        "(process start, TensorFlow import, data, training, test, plots); the peer's is `fit` alone.",
        "",
        "| system | dataset | seed | arch | params | FLOPs | epochs | test acc | wall (s) |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        flops = f"{r['flops']:,}" if r["flops"] else "–"
        lines.append(f"| {r['system']} | {r['dataset']} | {r['seed']} | {r['arch']} | {r['params']:,} | {flops} "
                     f"| {r['epochs']} | {r['test_accuracy']:.4f} | {r['wall_seconds']:.1f} |")
    lines += [
        "",
        "Issue #2's bar: `automl train --dataset digits` reaches >= 97% test accuracy in < 60 s on 2 cores.",
        "",
        f"Missing data: `{failure['command']}` exited {failure['exit_code']} after "
        f"{failure['wall_seconds']:.1f} s (bar: < 10 s) with:",
        "",
        f"> {failure['message']}",
        "",
    ]
    (RESULTS / "foundation.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
