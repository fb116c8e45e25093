"""The GPU check (benchmarks/gpu_check.sh, issue #18 item 4): its images-per-second meter, its
tables, its bad-input handling, and its dry mode end to end on the CPU (one step in the default
run, every step under `slow`)."""
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import load_script

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"


GC = load_script("gpu_check_driver", ROOT / "benchmarks" / "gpu_check.py")


class Clock:
    """Hands out the scripted times, one per reading."""

    def __init__(self, times):
        self.times = list(times)

    def __call__(self):
        return self.times.pop(0)


def _epoch(counter, begin, batch_ends):
    counter.meter.clock.times += [begin, *batch_ends]
    counter.epoch_begin()
    for _ in batch_ends:
        counter.batch_end()
    counter.epoch_end()  # after validation: reads no time


def test_epoch_examples_are_full_batches_but_the_last():
    assert GC.epoch_examples(3, 32, 100) == 96
    assert GC.epoch_examples(4, 32, 100) == 100
    assert GC.epoch_examples(1, 128, 100) == 100


def test_the_meter_times_training_batches_without_compilation_or_validation():
    # 100 examples in batches of 32: 32, 32, 32 and a short 4. First epoch: the first batch
    # (tracing, 10 s) and the short last one (a new shape, 8 s) are left out: 64 examples from
    # the end of the first batch (10) to the end of the last full one (12), 2 s. Validation runs
    # between an epoch's last batch and the next epoch (20 -> 30): never counted.
    meter = GC.Meter(clock=Clock([]))
    counter = meter.counter(100, 32)
    _epoch(counter, 0.0, [10.0, 11.0, 12.0, 20.0])
    assert (meter.examples, meter.seconds) == (64, 2.0)
    # Second epoch: every batch, short one included, from the epoch's start to its last batch.
    _epoch(counter, 30.0, [31.0, 32.0, 33.0, 33.5])
    assert (meter.examples, meter.seconds) == (164, 5.5)
    assert meter.result()["images_per_s"] == pytest.approx(164 / 5.5)
    assert (meter.fits, meter.epochs) == (1, 2)


def test_a_fit_cut_mid_epoch_counts_the_batches_it_ran_and_a_new_fit_warms_up_again():
    meter = GC.Meter(clock=Clock([]))
    first = meter.counter(100, 32)
    _epoch(first, 0.0, [5.0, 6.0, 7.0, 8.0])     # 4 steps: full epoch, first and short batches out
    _epoch(first, 10.0, [11.0, 12.0])               # cut by the budget after 2 batches: 64 examples
    assert (meter.examples, meter.seconds) == (64 + 64, 2.0 + 2.0)
    second = meter.counter(40, 32)                  # a new model: its first batch traces again
    _epoch(second, 20.0, [25.0, 25.5])              # 32 + 8: both left out, nothing measured
    assert (meter.examples, meter.seconds, meter.fits, meter.epochs) == (128, 4.0, 2, 3)


def test_engine_images_per_second_and_the_speedup():
    rows = [{"net": "MLP 784-32-10", "P": 256, "vectorised_s": 0.01},
            {"net": GC.ENGINE_NET, "P": 64, "vectorised_s": 0.02},
            {"net": GC.ENGINE_NET, "P": 256, "vectorised_s": 0.5}]
    value, which = GC.engine_rate(rows, 256)
    assert value == pytest.approx(256 * 64 / 0.5) and "P = 256" in which
    assert GC.engine_rate(rows, 1024)[0] is None
    assert GC.speedup(300.0, 100.0) == pytest.approx(3.0)
    assert GC.speedup(300.0, None) is None and GC.speedup(None, 100.0) is None


def _rows():
    return [{"key": "engine-tf", "step": "population engine, TensorFlow", "data": "random", "status": "ok",
             "device": "NVIDIA H200", "images_per_s": 1234567.8, "cpu_images_per_s": 61728.39, "speedup": 20.0,
             "cpu_source": "population_engine.json", "seconds": 12.34, "test_accuracy": None, "note": "P = 1024"},
            {"key": "train-adam", "step": "automl train, adam", "data": "synthetic", "status": "ok",
             "device": "NVIDIA H200", "images_per_s": 9000.0, "cpu_images_per_s": None, "speedup": None,
             "cpu_source": "", "seconds": 40.0, "test_accuracy": 0.9123, "note": "1 fit(s)"},
            {"key": "engine-jax", "step": "population engine, JAX", "data": "random", "status": "skipped",
             "images_per_s": None, "note": "not installed: jax"}]


def _main_table(markdown: str) -> tuple[str, list[list[str]]]:
    """(header, cells of each row) of the table of steps (the first table)."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| step |"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return lines[start], [[c.strip() for c in line.strip("|").split("|")] for line in lines[start + 2:end]]


def test_the_tables_have_a_row_per_step_with_its_figures_or_its_reason(tmp_path):
    meta = {"mode": "gpu", "device": "NVIDIA H200", "date": "2026-12-01", "python": "3.12.3",
            "versions": "tensorflow 2.21.0", "how": "how it is measured"}
    GC.write_tables(tmp_path, "check", meta, _rows())
    saved = json.loads((tmp_path / "check.json").read_text())
    assert [r["key"] for r in saved["rows"]] == ["engine-tf", "train-adam", "engine-jax"]
    header, cells = _main_table((tmp_path / "check.md").read_text())
    assert "| images/s | CPU images/s | GPU / CPU |" in header and len(cells) == 3
    assert cells[0][3:6] == ["1,234,568", "61,728", "20.0x"]
    assert cells[1][3:6] == ["9,000", "-", "-"] and cells[1][8] == "91.2%"
    assert cells[2][3] == "-" and cells[2][9] == "skipped" and cells[2][10] == "not installed: jax"


def _run(*args, timeout=60):
    env = {**os.environ, "PYTHON": sys.executable}
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("args", [["--bogus"], ["--out"], ["--dry", "--cpu"], ["--dry", "--only", "nope"],
                                  ["--dry", "--parallel", "0"], ["--dry", "--out", "benchmarks/results/gpu"]])
def test_bad_input_is_one_line_and_exit_status_2(args):
    result = _run(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()


def _check_table(out: Path, keys: list[str]) -> list[dict]:
    saved = json.loads((out / "check.json").read_text())
    assert saved["mode"] == "dry" and [r["key"] for r in saved["rows"]] == keys
    _, cells = _main_table((out / "check.md").read_text())
    assert len(cells) == len(keys)
    for row in saved["rows"]:
        if row["status"] != "skipped":
            assert row["status"] == "ok", row
            assert isinstance(row["images_per_s"], float) and row["images_per_s"] > 0, row
    return saved["rows"]


def test_the_dry_mode_runs_a_training_step_end_to_end_and_meters_its_batches(tmp_path):
    committed = _digest(GC.GPU_RESULTS)
    result = _run("--dry", "--only", "train-adam", "--out", str(tmp_path), timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (row,) = _check_table(tmp_path, ["train-adam"])
    # 160 images: 32 for test, 26 for validation, 102 to train in batches of 16 (6 full, one of 6);
    # the first batch and the first epoch's short one are not timed.
    assert row["timed_images"] == 102 - 16 - 6
    assert 0 <= row["test_accuracy"] <= 1 and row["device"].startswith("CPU")
    assert _digest(GC.GPU_RESULTS) == committed


@pytest.mark.slow
def test_the_dry_mode_runs_every_step_end_to_end(tmp_path):
    committed = _digest(GC.GPU_RESULTS)
    result = _run("--out", str(tmp_path), timeout=900)  # no GPU here: dry mode by itself
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = _check_table(tmp_path, [s.key for s in GC.steps()])
    ran = {r["key"] for r in rows if r["status"] == "ok"}
    assert ran >= {s.key for s in GC.steps() if s.backend == "tensorflow"}
    if importlib.util.find_spec("jax") is None:
        assert next(r for r in rows if r["key"] == "engine-jax")["note"] == "not installed: jax"
    assert _digest(GC.GPU_RESULTS) == committed
