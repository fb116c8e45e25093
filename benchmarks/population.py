"""Population-engine benchmarks (issue #5), each a section of this script:

  engine       vectorised evaluation vs a per-member loop (assign weights, call the model) at
               P = 64, 256, 1024 on an MLP 784-32-10 and a small CNN, batch 64. Target >= 10x at P=256.
  ndes-table   seed 000 appendix B.2 Table 3: nDES vs Adam on a 4-unit tanh RNN + linear output,
               parity / addition / multiplication at lengths 10, 25, 50, MSE on the 5,000 training
               sequences (the seed code's metric) and on 5,000 fresh ones (ours, unbiased).
  leea-mnist   seed 001 Ch. 5: LEEA (Table 5.1, test column) vs Adam on mnist5k with the seed's
               92,234-weight MLP (seed: 97.6% vs 98.0% on full MNIST).
  autoencoders seed 003: backprop (Adagrad) vs DE vs CoSyNE vs EA, direct and DCT genomes, on its
               linear feed-forward autoencoders (n = 4, 29 weights; n = 8, 98 weights); the seed's
               "min loss" beside an unbiased held-out MSE and the PCA bound.

Results: benchmarks/results/population_<section>.{json,md}; each run records the Keras backend
and the device. Everything but data preparation is Keras-backend-neutral, so the GPU check runs
it under JAX where TensorFlow is not installed:  --data DIR reads arrays that `prepare` wrote.

Run: python benchmarks/population.py SECTION [--quick] [--seeds 0 1 2] [--out DIR]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"

# Seed 000 appendix B.2, Table 3 (L1053-L1067): (task, length) -> (Adam mean, nDES mean, Adam std, nDES std)
NDES_TABLE_3 = {
    ("addition", 10): (0.0033, 0.0018, 0.0010, 0.0002), ("addition", 25): (0.0379, 0.0070, 0.0024, 0.0112),
    ("addition", 50): (0.0393, 0.0179, 0.0008, 0.0148), ("multiplication", 10): (0.0152, 0.0093, 0.0044, 0.0007),
    ("multiplication", 25): (0.0625, 0.0111, 0.0048, 0.0152), ("multiplication", 50): (0.0607, 0.0320, 0.0013, 0.0237),
    ("parity", 10): (0.7583, 0.1894, 0.3469, 0.3019), ("parity", 25): (0.9994, 0.7485, 0.0021, 0.4003),
    ("parity", 50): (1.0004, 0.9494, 0.0022, 0.1881),
}
TRIVIAL = {("addition", 10): 0.0354, ("addition", 25): 0.0381, ("addition", 50): 0.0386,
           ("multiplication", 10): 0.0727, ("multiplication", 25): 0.0629, ("multiplication", 50): 0.0602,
           ("parity", 10): 1.0, ("parity", 25): 1.0, ("parity", 50): 1.0}  # reference 000 §3.2.2, predict the mean


def device_name() -> str:
    import keras
    backend = keras.backend.backend()
    if backend == "jax":
        import jax
        return f"jax {jax.devices()[0].device_kind}"
    import tensorflow as tf
    gpus = tf.config.list_logical_devices("GPU")
    return f"tensorflow {'GPU ' + gpus[0].name if gpus else 'CPU'} ({os.cpu_count()} cores)"


def write(section: str, rows: list[dict], table: str, note: str, out: Path, device: str | None = None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    meta = {"section": section, "device": device or device_name(), "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d"), "rows": rows}
    (out / f"population_{section}.json").write_text(json.dumps(meta, indent=2) + "\n")
    (out / f"population_{section}.md").write_text(
        f"# Population engine: {section}\n\nDevice: {meta['device']}, {meta['date']}.\n\n{note}\n\n{table}\n")
    print(table)


# -- data ------------------------------------------------------------------------------------
def toy_data(task: str, length: int, n: int, seed: int):
    """nDES's RNN toy tasks (seed 000 [code] generators, in pipelines.datasets.sequences)."""
    from pipelines.datasets import sequences
    maker = {"addition": sequences.adding, "multiplication": sequences.multiplication, "parity": sequences.parity}[task]
    return maker(n, length, np.random.default_rng(seed))


def mnist5k():
    from pipelines.datasets import load_dataset
    from pipelines import config as configs
    data = load_dataset("mnist5k", configs.load_config("train").data)
    return {k: getattr(data, k) for k in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")}


def prepare(out: Path, quick: bool) -> None:
    """Arrays for a run where pipelines' loaders are unavailable (e.g. JAX-only on a GPU box)."""
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / "mnist5k.npz", **mnist5k())
    for task in ("parity", "addition", "multiplication"):
        for length in (10, 25, 50):
            x, y = toy_data(task, length, 5000, 0)
            xf, yf = toy_data(task, length, 5000, 1)
            np.savez_compressed(out / f"{task}{length}.npz", x=x, y=y, x_fresh=xf, y_fresh=yf)
    print(f"wrote arrays to {out}")


def load(data_dir: Path | None, name: str, maker):
    if data_dir is not None and (data_dir / f"{name}.npz").exists():
        with np.load(data_dir / f"{name}.npz") as f:
            return {k: f[k] for k in f.files}
    return maker()


# -- engine ----------------------------------------------------------------------------------
def engine_section(args) -> None:
    import keras
    from automl.population import PopulationEngine
    from models import Conv, ConvNetSpec, Pool, build_model, get_spec

    nets = {"MLP 784-32-10": get_spec("mlp"),
            "CNN conv8-pool-conv16-pool": ConvNetSpec(layers=[Conv(8, 3), Pool("max"), Conv(16, 3), Pool("max")],
                                                      head="flatten", name="small-cnn")}
    sizes = args.sizes or [64, 256, 1024]
    rng = np.random.default_rng(0)
    x = rng.random((64, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, 64)
    rows = []
    for label, spec in nets.items():
        keras.utils.set_random_seed(0)
        model = build_model(spec, (28, 28, 1), 10, kernel_initializer="glorot_uniform")
        engine = PopulationEngine(model, memory_mb=args.memory_mb, jit=args.jit)
        for p in sizes:
            pop = engine.table.flatten()[None] + 0.05 * rng.standard_normal((p, engine.size)).astype("float32")
            vec = _timed(lambda: np.asarray(keras.ops.convert_to_numpy(engine.evaluate(pop, x, y)[0])), args.repeats)
            loop_members = min(p, args.loop_members)  # the loop is linear in P: time a slice, scale up
            sub = pop[:loop_members]
            loop = _timed(lambda: engine.loop_losses(sub, x, y), 1) * p / loop_members
            rows.append({"net": label, "weights": engine.size, "P": p, "vectorised_s": vec, "loop_s": loop,
                         "speedup": loop / vec, "members_per_s": p / vec})
            print(rows[-1], flush=True)
    table = "| net | weights | P | vectorised (ms) | loop (ms) | speed-up | members/s |\n|---|---|---|---|---|---|---|\n"
    table += "\n".join(f"| {r['net']} | {r['weights']:,} | {r['P']} | {1e3 * r['vectorised_s']:.1f} | {1e3 * r['loop_s']:.0f} "
                       f"| {r['speedup']:.1f}x | {r['members_per_s']:,.0f} |" for r in rows)
    write("engine", rows, table, "Losses of P members on one batch of 64: `PopulationEngine.evaluate` (one vectorised "
          "call, `stateless_call` under `ops.vectorized_map`) vs the per-member loop (assign the weights, call the "
          "model). Median of the repeats after a warm-up; the loop is timed on up to "
          f"{args.loop_members} members and scaled to P. Target: >= 10x at P = 256 on the CPU.", args.out)


def _timed(fn, repeats: int) -> float:
    fn()  # warm-up: tracing and compilation
    times = []
    for _ in range(max(repeats, 1)):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


# -- nDES table ------------------------------------------------------------------------------
def rnn_model(features: int):
    import keras
    return keras.Sequential([keras.Input((None, features)), keras.layers.SimpleRNN(4, activation="tanh"),
                             keras.layers.Dense(1)])


def ndes_section(args) -> None:
    import keras
    from automl.population import NDES

    cells = [(t, L) for t in args.tasks for L in args.lengths]
    rows = []
    for task, length in cells:
        arrays = load(args.data, f"{task}{length}", lambda: dict(zip(("x", "y"), toy_data(task, length, args.n, 0)),
                                                                 **dict(zip(("x_fresh", "y_fresh"), toy_data(task, length, args.n, 1)))))
        x, y = arrays["x"][: args.n], arrays["y"][: args.n].astype("float32")
        xf, yf = arrays["x_fresh"][: args.n], arrays["y_fresh"][: args.n].astype("float32")
        for seed in args.seeds:
            for method in ("adam", "ndes"):
                keras.utils.set_random_seed(seed)
                model = rnn_model(x.shape[-1])
                t = time.perf_counter()
                if method == "adam":  # [code] lr 0.01, batch 64, <= 100 epochs, early stop on train loss (20, 1e-3)
                    model.compile(keras.optimizers.Adam(0.01), "mse")
                    stop = keras.callbacks.EarlyStopping("loss", min_delta=1e-3, patience=20)
                    hist = model.fit(x, y, batch_size=64, epochs=args.adam_epochs, callbacks=[stop], verbose=0)
                    extra = {"epochs": len(hist.history["loss"])}
                else:  # [code] lambda = 4N, full batch, history 16, bounds 2, U(-0.4, 0.4) start, random noise
                    opt = NDES(batch_size=len(x), ewma=False, init="uniform", memory_mb=args.memory_mb, seed=seed,
                               checkpoint_seconds=1e9, validation_every=50)  # [code] validates every 50 iterations
                    n_weights = model.count_params()
                    generations = max(1, args.budget_evals // (4 * n_weights))
                    state = opt.fit(model, (x, y), (x, y), epochs=generations, task="regression")
                    extra = {"generations": state["generation"], "evaluations": state["evaluations"],
                             "lambda": opt.size}
                seconds = time.perf_counter() - t
                model.compile(loss="mse")
                row = {"task": task, "length": length, "seed": seed, "method": method, "seconds": seconds,
                       "train_mse": float(model.evaluate(x, y, verbose=0, batch_size=1000)),
                       "fresh_mse": float(model.evaluate(xf, yf, verbose=0, batch_size=1000)), **extra}
                rows.append(row)
                print(row, flush=True)
    render_ndes(rows, args)


def render_ndes(rows: list[dict], args, device: str | None = None) -> None:
    cells = sorted({(r["task"], r["length"]) for r in rows}, key=lambda c: (["addition", "multiplication", "parity"].index(c[0]), c[1]))
    lines = ["| task | L | Adam (seed) | nDES (seed) | trivial | Adam (ours) | nDES (ours) | nDES fresh | seeds | nDES beats Adam |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for task, length in cells:
        seed_adam, seed_ndes, sa, sn = NDES_TABLE_3[(task, length)]
        ours = {m: [r for r in rows if r["task"] == task and r["length"] == length and r["method"] == m] for m in ("adam", "ndes")}
        ms = {m: _mean_std([r["train_mse"] for r in ours[m]]) for m in ours}
        fresh = _mean_std([r["fresh_mse"] for r in ours["ndes"]])
        beats = statistics.mean(r["train_mse"] for r in ours["ndes"]) < statistics.mean(r["train_mse"] for r in ours["adam"])
        lines.append(f"| {task} | {length} | {seed_adam:.4f} ± {sa:.4f} | {seed_ndes:.4f} ± {sn:.4f} | {TRIVIAL[(task, length)]:.4f} "
                     f"| {ms['adam']} | {ms['ndes']} | {fresh} | {len(ours['ndes'])} | {'yes' if beats else 'no'} |")
    budget = max(r.get("evaluations", 0) for r in rows)
    n = args.n
    write("ndes_table", rows, "\n".join(lines),
          f"Seed 000 Table 3 setting: `SimpleRNN(4, tanh) + Dense(1)`, MSE, {n:,} sequences per task. Adam as the seed "
          f"code (lr 0.01, batch 64, <= {args.adam_epochs} epochs, early stopping on the training loss). nDES with "
          f"lambda = 4N, full-batch fitness, history 16, bounds ±2, U(-0.4, 0.4) start and about {budget:,} fitness "
          "evaluations (the code: 1,000,000). 'ours' is the MSE on the training sequences, the seed code's metric; "
          "'nDES fresh' is on 5,000 new sequences; 'trivial' predicts the mean. Mean ± std over the seeds.", args.out,
          device)


def _mean_std(values) -> str:
    values = list(values)
    if not values:
        return "-"
    return f"{statistics.mean(values):.4f} ± {statistics.pstdev(values):.4f}" if len(values) > 1 else f"{values[0]:.4f}"


# -- LEEA on mnist5k -------------------------------------------------------------------------
def leea_section(args) -> None:
    import keras
    from automl.population import LEEA
    from models import build_model, get_spec
    from models.preprocess import Preprocess

    d = load(args.data, "mnist5k", mnist5k)
    rows = []
    for seed in args.seeds:
        for method in ("adam", "leea"):
            keras.utils.set_random_seed(seed)
            model = build_model(get_spec("mlp-leea"), d["x_train"].shape[1:], 10, Preprocess.scaling(255.0),
                                kernel_initializer="glorot_uniform")
            t = time.perf_counter()
            if method == "adam":
                model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
                best = keras.callbacks.ModelCheckpoint(str(args.out / ".adam.weights.h5"), monitor="val_accuracy",
                                                       save_best_only=True, save_weights_only=True)
                model.fit(d["x_train"], d["y_train"], batch_size=128, epochs=args.adam_epochs,
                          validation_data=(d["x_val"], d["y_val"]), callbacks=[best], verbose=0)
                model.load_weights(str(args.out / ".adam.weights.h5"))
                extra = {"epochs": args.adam_epochs}
            else:
                opt = LEEA(memory_mb=args.memory_mb, seed=seed, checkpoint_seconds=1e9)
                state = opt.fit(model, (d["x_train"], d["y_train"]), (d["x_val"], d["y_val"]), epochs=args.leea_epochs,
                                callback=lambda r: print(f"  epoch {r['epoch']} val {r['val_accuracy']:.4f}", flush=True)
                                if r["epoch"] % 50 == 0 else None)
                extra = {"epochs": args.leea_epochs, "generations": state["generation"], "population": opt.size,
                         "notes": opt.notes}
            seconds = time.perf_counter() - t
            model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
            test = model.evaluate(d["x_test"], d["y_test"], verbose=0, return_dict=True)
            val = model.evaluate(d["x_val"], d["y_val"], verbose=0, return_dict=True)
            rows.append({"method": method, "seed": seed, "seconds": seconds, "val_accuracy": val["accuracy"],
                         "test_accuracy": test["accuracy"], **extra})
            print(rows[-1], flush=True)
    lines = ["| method | seed 001 (full MNIST, median of 15) | ours: test accuracy (mnist5k) | epochs | seconds |",
             "|---|---|---|---|---|"]
    for method, claim in (("adam", "98.0%"), ("leea", "97.6%")):
        mine = [r for r in rows if r["method"] == method]
        acc = _mean_std([100 * r["test_accuracy"] for r in mine]) + "%"
        lines.append(f"| {method} | {claim} | {acc} | {mine[0]['epochs']} | {statistics.mean(r['seconds'] for r in mine):.0f} |")
    write("leea_mnist", rows, "\n".join(lines),
          "Seed 001 Ch. 5 net (2x2 max-pool, dense 256-128-64, 92,234 weights), LEEA with Table 5.1's test column "
          f"(lambda 2000, batch 1024, p_E 0.05, p_C 0.75, p_M 0.2, sigma 0.001, rho 0.5, alpha 1) for {args.leea_epochs} "
          f"epochs; Adam lr 1e-3, batch 128, {args.adam_epochs} epochs, best epoch on validation. mnist5k: 4,000 train / "
          "1,000 test, 20% of train held out for validation.", args.out)


def autoencoder_section(args) -> None:
    raise SystemExit("autoencoders: not written yet")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("section", choices=["engine", "ndes-table", "leea-mnist", "autoencoders", "prepare"])
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--data", type=Path, help="arrays written by `prepare` (for runs without pipelines' loaders)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--memory-mb", type=float, default=4096)
    p.add_argument("--jit", action="store_true")
    p.add_argument("--sizes", type=int, nargs="+")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--loop-members", type=int, default=256)
    p.add_argument("--tasks", nargs="+", default=["addition", "multiplication", "parity"])
    p.add_argument("--lengths", type=int, nargs="+", default=[10, 25, 50])
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--budget-evals", type=int, default=1_000_000)
    p.add_argument("--adam-epochs", type=int, default=100)
    p.add_argument("--leea-epochs", type=int, default=200)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--render", type=Path, nargs="+", help="ndes-table: rebuild the table from these JSON results")
    args = p.parse_args(argv)
    if args.section == "prepare":
        prepare(args.out, args.quick)
        return 0
    if args.render and args.section == "ndes-table":
        saved = [json.loads(path.read_text()) for path in args.render]
        render_ndes([row for d in saved for row in d["rows"]], args, saved[0]["device"])
        return 0
    {"engine": engine_section, "ndes-table": ndes_section, "leea-mnist": leea_section,
     "autoencoders": autoencoder_section}[args.section](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
