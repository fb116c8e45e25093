"""Population-engine benchmarks (issue #5), each a section of this script:

  engine       the engine (folded pass where the model allows) and `vectorized_map` vs a per-member
               loop (assign weights, call the model) at P = 64, 256, 1024 on an MLP 784-32-10 and
               a small CNN, batch 64. Target >= 10x at P=256.
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
    from pipelines import config as configs
    from pipelines.datasets import load_dataset
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
        mapped = PopulationEngine(model, memory_mb=args.memory_mb, jit=args.jit, folded=False)
        start = engine.table.flatten()[None]
        sub = start + 0.05 * rng.standard_normal((args.loop_members, engine.size)).astype("float32")
        for p in sizes:
            pop = start + 0.05 * rng.standard_normal((p, engine.size)).astype("float32")
            runs = {"engine": lambda: np.asarray(keras.ops.convert_to_numpy(engine.evaluate(pop, x, y)[0])),
                    "vectorized_map": lambda: np.asarray(keras.ops.convert_to_numpy(mapped.evaluate(pop, x, y)[0])),
                    # the loop is linear in P: a slice of it, scaled to P
                    "loop": lambda: engine.loop_losses(sub, x, y)}
            times = _interleaved(runs, args.repeats)
            times["loop"] = [t * p / len(sub) for t in times["loop"]]
            ratios = [loop / vec for loop, vec in zip(times["loop"], times["engine"])]
            med = {k: statistics.median(v) for k, v in times.items()}
            rows.append({"net": label, "weights": engine.size, "P": p, "route": engine.route,
                         "vectorised_s": med["engine"], "vectorized_map_s": med["vectorized_map"], "loop_s": med["loop"],
                         "speedup": statistics.median(ratios), "speedup_min": min(ratios), "speedup_max": max(ratios),
                         "members_per_s": p / med["engine"], "times_s": times})
            print({k: v for k, v in rows[-1].items() if k != "times_s"}, flush=True)
    table = ("| net | weights | P | engine route | engine (ms) | vectorized_map (ms) | loop (ms) | speed-up (range) | members/s |\n"
             "|---|---|---|---|---|---|---|---|---|\n")
    table += "\n".join(f"| {r['net']} | {r['weights']:,} | {r['P']} | {r['route']} | {1e3 * r['vectorised_s']:.1f} "
                       f"| {1e3 * r['vectorized_map_s']:.1f} | {1e3 * r['loop_s']:.0f} | {r['speedup']:.1f}x "
                       f"({r['speedup_min']:.1f}-{r['speedup_max']:.1f}) | {r['members_per_s']:,.0f} |" for r in rows)
    write("engine", rows, table, "Losses of P members on one batch of 64: `PopulationEngine.evaluate` (one call, by the route in the "
          "table: the folded pass, members side by side in the channels, for the CNN; `vectorized_map` for the "
          "dense-only MLP) beside the same engine forced onto "
          "`stateless_call` under `ops.vectorized_map`, and the per-member loop (assign the weights, call the model; "
          f"timed on {args.loop_members} members and scaled to P). Memory budget {args.memory_mb:g} MB (the default); "
          "on a CPU the folded pass runs each chunk in in-graph slices of members whose widest layer output fits "
          "8 MB. "
          f"The three are timed in turn, {args.repeats} rounds after a warm-up, so a noisy host slows all of them "
          "alike; times are medians, the speed-up is the median (and range) of the rounds' loop / engine. "
          "Target: >= 10x at P = 256 on the CPU.", args.out)


def _interleaved(runs: dict, repeats: int) -> dict:
    """Seconds of each run, `repeats` rounds of every run in turn after one warm-up each."""
    for fn in runs.values():
        fn()
    times = {name: [] for name in runs}
    for _ in range(max(repeats, 1)):
        for name, fn in runs.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return times


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


# Seed 003's best configurations (reference 003 §1.6) for its feed-forward autoencoders.
AE_CONFIGS = {
    4: {"de": dict(population_size=7, crossover_rate=0.5, mutation="randtobest2", scale=0.1),
        "de-dct": dict(population_size=19, crossover_rate=0.5, mutation="curtobest1", scale=0.5, genome="dct", genes=23),
        "cosyne": dict(population_size=19, children=12, mutation_rate=0.05, gamma=0.374),
        "cosyne-dct": dict(population_size=5, children=2, mutation_rate=0.2, gamma=0.073, genome="dct", genes=24),
        "es": dict(population_size=17, parent_fraction=0.3, rho=2, selection="truncated", crossover="none",
                   mutation_rate=0.05, sigma=0.1, elitism=True),
        "es-dct": dict(population_size=9, parent_fraction=0.2, rho=4, selection="rank", crossover="none",
                       mutation_rate=0.2, sigma=0.5, elitism=True, genome="dct", genes=10),
        "adagrad_lr": 0.1318},
    8: {"de": dict(population_size=19, crossover_rate=0.02, mutation="best2", scale=0.8),
        "de-dct": dict(population_size=17, crossover_rate=0.05, mutation="rand2", scale=0.8, genome="dct", genes=42),
        "cosyne": dict(population_size=8, children=4, mutation_rate=0.05, gamma=0.245),
        "cosyne-dct": dict(population_size=16, children=10, mutation_rate=0.02, gamma=0.094, genome="dct", genes=74),
        "es": dict(population_size=10, parent_fraction=0.3, rho=4, selection="truncated", crossover="single",
                   mutation_rate=0.2, sigma=0.1, elitism=True),
        "es-dct": dict(population_size=6, parent_fraction=0.5, rho=2, selection="truncated", crossover="arithmetic",
                       mutation_rate=0.4, sigma=0.1, elitism=True, genome="dct", genes=35),
        "adagrad_lr": 0.0131},
}
# Seed 003 Fig. 1 read off the repo's plots (reference 003 §1.7): final average "min loss".
AE_PLOT = {4: {"backprop": 0.43, "cosyne": 0.235, "cosyne-dct": 0.245, "de": 0.50, "de-dct": 0.43, "es": 0.77, "es-dct": 0.80},
           8: {"backprop": 0.65, "cosyne": 0.67, "cosyne-dct": 0.61, "de": 1.02, "de-dct": 1.01, "es": 1.37, "es-dct": 1.29}}


def ae_data(d: int, n: int, extra: int):
    """The seed repo's generator (src/tasks.py realValuedData): RandomState(1337), a random
    symmetric covariance made positive definite, samples drawn one at a time; then `extra`
    more for validation and held-out testing."""
    rnd = np.random.RandomState(1337)
    cov = rnd.uniform(0, 1, (d, d))
    cov = (cov + cov.T) / 2 + (0.5 if d <= 4 else 1.0) * np.eye(d)
    mean = rnd.uniform(0, 1, d)
    x = np.stack([rnd.multivariate_normal(mean, cov) for _ in range(n + 2 * extra)]).astype("float32")
    bound = float(np.sort(np.linalg.eigvalsh(cov))[: d - d // 4].sum() / d)  # PCA bound of a k = d/4 linear AE
    return x[:n], x[n:n + extra], x[n + extra:], bound


def ae_model(d: int):
    import keras
    return keras.Sequential([keras.Input((d,)), keras.layers.Dense(d // 2), keras.layers.Dense(d // 4),
                             keras.layers.Dense(d // 2), keras.layers.Dense(d)])


def autoencoder_section(args) -> None:
    import keras

    from automl.population import DE, CoSyNE, MuLambdaES

    makers = {"de": DE, "cosyne": CoSyNE, "es": MuLambdaES}
    rows = []
    for d in args.dims:
        x, xv, xt, bound = ae_data(d, args.ae_samples, 10_000)
        for seed in args.seeds:
            for method in ("backprop", "de", "de-dct", "cosyne", "cosyne-dct", "es", "es-dct"):
                keras.utils.set_random_seed(seed)
                model = ae_model(d)
                t = time.perf_counter()
                if method == "backprop":  # Adagrad, one pass of 2000 batches of 40, the seed's best lr
                    model.compile(keras.optimizers.Adagrad(AE_CONFIGS[d]["adagrad_lr"], initial_accumulator_value=1e-10,
                                                           epsilon=1e-10), "mse")
                    losses = [float(model.train_on_batch(x[i:i + 40], x[i:i + 40])) for i in range(0, len(x), 40)]
                    min_loss = min(losses)
                else:
                    opt = makers[method.split("-")[0]](batch_size=40, seed=seed, checkpoint_seconds=1e9,
                                                       **AE_CONFIGS[d][method])
                    opt.fit(model, (x, x), (xv, xv), epochs=1, task="regression")
                    min_loss = float(opt.state["best_loss"])
                seconds = time.perf_counter() - t
                held_out = float(np.mean((np.asarray(model(xt)) - xt) ** 2))
                rows.append({"inputs": d, "weights": model.count_params(), "method": method, "seed": seed,
                             "min_loss": min_loss, "held_out_mse": held_out, "pca_bound": bound, "seconds": seconds})
                print(rows[-1], flush=True)
    lines = ["| net | method | seed 003 min loss (Fig. 1, read off) | ours: min loss | ours: held-out MSE | PCA bound | seconds |",
             "|---|---|---|---|---|---|---|"]
    for d in args.dims:
        for method in ("backprop", "de", "de-dct", "cosyne", "cosyne-dct", "es", "es-dct"):
            mine = [r for r in rows if r["inputs"] == d and r["method"] == method]
            lines.append(f"| FF n={d} ({mine[0]['weights']} weights) | {method} | {AE_PLOT[d][method]:.3f} | "
                         f"{_mean_std(r['min_loss'] for r in mine)} | {_mean_std(r['held_out_mse'] for r in mine)} | "
                         f"{mine[0]['pca_bound']:.4f} | {statistics.mean(r['seconds'] for r in mine):.1f} |")
    write("autoencoders", rows, "\n".join(lines),
          f"Seed 003's linear autoencoders n -> n/2 -> n/4 -> n/2 -> n on its Gaussian data (RandomState(1337)), "
          f"{args.ae_samples:,} samples = {args.ae_samples // 40:,} batches of 40, one fresh batch per generation; each method "
          "with the seed's best configuration for that net (reference 003 §1.6). 'min loss' is the seed's metric, the "
          "lowest batch loss ever seen (biased: it can fall below the PCA bound, which no linear autoencoder can beat "
          "in expectation); 'held-out MSE' is the chosen member on 10,000 fresh samples. Mean ± std over seeds "
          f"{args.seeds}.", args.out)


def defaults_section(args) -> None:
    """Issue #5's bar: every population optimizer with its defaults beats 30% test accuracy on
    digits within 5 minutes on 2 cores, inside the default memory budget (caps reported)."""
    import tempfile

    from automl.rundir import RunDir
    from pipelines import config as configs
    from pipelines.datasets import load_dataset
    from pipelines.train import run_training

    rows = []
    for name in args.optimizers:
        cfg = configs.load_config("train", None, [f"train.optimizer={name}", f"seed={args.seeds[0]}"])
        data = load_dataset(cfg.dataset, cfg.data)
        with tempfile.TemporaryDirectory() as work:
            run = RunDir.create(Path(work) / "run", "train", configs.to_dict(cfg))
            t = time.perf_counter()
            summary = run_training(cfg, run, quiet=True, data=data)
            seconds = time.perf_counter() - t
        rows.append({"optimizer": name, "arch": summary["arch"], "params": summary["params"],
                     "epochs": summary["epochs"], "val_accuracy": summary["val_accuracy"],
                     "test_accuracy": summary["test_accuracy"], "seconds": seconds,
                     "notes": summary.get("population_notes") or [], "generations": summary.get("generations")})
        print(rows[-1], flush=True)
    lines = ["| optimizer | net | epochs | generations | validation acc. | test acc. | seconds | memory cap |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['optimizer']} | {r['arch']} ({r['params']:,}) | {r['epochs']} | {r['generations'] or '-'} | "
                     f"{100 * r['val_accuracy']:.1f}% | {100 * r['test_accuracy']:.1f}% | {r['seconds']:.0f} | "
                     f"{'; '.join(r['notes']) or '-'} |")
    write("defaults", rows, "\n".join(lines),
          "`automl train --dataset digits --optimizer NAME` with every default (configs/train.yaml: 20 epochs, "
          "population.memory_mb 512; the population optimizers train the `mlp` net, Adam the default `resnet-mini`). "
          "Target: > 30% test accuracy (chance 10%) within 5 minutes on 2 cores.", args.out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("section", choices=["engine", "ndes-table", "leea-mnist", "autoencoders", "defaults", "prepare"])
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--data", type=Path, help="arrays written by `prepare` (for runs without pipelines' loaders)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--memory-mb", type=float, help="population memory budget (engine: 512, population.memory_mb's "
                   "default; the training sections: 4096, so LEEA's lambda = 2000 on the 92k-weight MLP fits)")
    p.add_argument("--jit", action="store_true")
    p.add_argument("--sizes", type=int, nargs="+")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--loop-members", type=int, default=32)
    p.add_argument("--tasks", nargs="+", default=["addition", "multiplication", "parity"])
    p.add_argument("--lengths", type=int, nargs="+", default=[10, 25, 50])
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--budget-evals", type=int, default=1_000_000)
    p.add_argument("--adam-epochs", type=int, default=100)
    p.add_argument("--leea-epochs", type=int, default=200)
    p.add_argument("--dims", type=int, nargs="+", default=[4, 8])
    p.add_argument("--optimizers", nargs="+", default=["leea", "ndes", "ndes-g", "ndes-b", "de", "cosyne", "es", "adam"])
    p.add_argument("--ae-samples", type=int, default=80_000)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--render", type=Path, nargs="+", help="ndes-table: rebuild the table from these JSON results")
    args = p.parse_args(argv)
    if args.memory_mb is None:
        args.memory_mb = 512 if args.section == "engine" else 4096
    if args.section == "prepare":
        prepare(args.out, args.quick)
        return 0
    if args.render and args.section == "ndes-table":
        saved = [json.loads(path.read_text()) for path in args.render]
        render_ndes([row for d in saved for row in d["rows"]], args, saved[0]["device"])
        return 0
    {"engine": engine_section, "ndes-table": ndes_section, "leea-mnist": leea_section,
     "autoencoders": autoencoder_section, "defaults": defaults_section}[args.section](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
