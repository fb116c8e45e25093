"""Every sequence generator has its stated statistics."""
import numpy as np
import pytest

from pipelines.datasets import sequences as seq


def rng():
    return np.random.default_rng(0)


@pytest.mark.parametrize("product", [False, True])
def test_marked_tasks_target_the_two_marked_values(product):
    x, y = (seq.multiplication if product else seq.adding)(300, 50, rng())
    assert x.shape[2] == 2 and 50 <= x.shape[1] <= 55
    for row, target in zip(x, y):
        real = row[np.flatnonzero(row[:, 1] != 0)[0]:]            # drop the front padding
        # -1 marks both ends, 1 the two values (a mark at index 0 replaces the -1 there)
        assert real[0, 1] in (-1, 1) and real[-1, 1] == -1 and (real[:, 1] == 1).sum() == 2
        first, second = np.flatnonzero(real[:, 1] == 1)
        assert first < 10 or second < 10
        values = [1.0 if (k == 0 and product) else 0.0 if k == 0 else real[k, 0] for k in (first, second)]
        expected = values[0] * values[1] if product else 0.5 + (values[0] + values[1]) / 4
        assert target == pytest.approx(expected, abs=1e-6)
    if not product:
        assert np.all(x[:, :, 0] >= -1) and y.mean() == pytest.approx(0.5, abs=0.03)


def test_parity_target_is_the_parity_of_plus_ones():
    x, y = seq.parity(500, 20, rng())
    ones = (x[:, :, 0] > 0).sum(axis=1)
    assert np.array_equal(y, np.where(ones % 2 == 1, 1.0, -1.0))
    lengths = (x[:, :, 0] != 0).sum(axis=1)
    assert lengths.min() >= 10 and lengths.max() < 20


def test_temporal_order_class_is_the_xy_code():
    x, y = seq.temporal_order(400, 100, rng())
    assert x.shape[2] == 8 and set(np.unique(y)) == set(range(8))
    for row, label in zip(x, y):
        symbols = row.argmax(-1)[row.sum(-1) > 0]
        assert symbols[0] == 0 and symbols[-1] == 1
        xy = symbols[(symbols == 2) | (symbols == 3)] - 2
        assert len(xy) == 3 and label == 4 * xy[0] + 2 * xy[1] + xy[2]


@pytest.mark.parametrize("noisy", [True, False])
def test_first_symbol_tasks(noisy):
    x, y = (seq.noisy if noisy else seq.noise_free)(200, 30, rng(), symbols=20)
    assert x.shape == (200, 30, 20) and set(np.unique(y)) == {18, 19}
    assert np.array_equal(x[:, 0].argmax(-1), y)
    middle = x[:, 1:].argmax(-1)
    assert middle.max() < 18
    assert (len({tuple(r) for r in middle}) > 1) == noisy       # noise-free: one fixed middle


def test_copy_memory_repeats_the_first_symbols_after_the_delimiter():
    x, y = seq.copy_memory(50, 30, rng())
    symbols = x.argmax(-1)
    assert x.shape == (50, 50, 10) and np.all(symbols[:, 39] == 9)
    assert np.array_equal(y[:, -10:], symbols[:, :10]) and np.all(y[:, :-10] == 0)


def test_synthetic_splits_are_seeded_and_independent():
    a = seq.synthetic("adding", 20, (30, 10, 10), seed=1)
    b = seq.synthetic("adding", 20, (30, 10, 10), seed=1)
    assert np.array_equal(a.x_train, b.x_train) and not np.array_equal(a.x_train[:10], a.x_val)
    assert a.task == "regression" and a.describe()["kind"] == "sequence"


def test_images_read_as_rows_and_permuted_pixels():
    images = np.arange(2 * 4 * 3, dtype=np.float32).reshape(2, 4, 3, 1)
    assert seq.as_sequences(images, "rows").shape == (2, 4, 3)
    pixels = seq.as_sequences(images, "pixels")
    permuted = seq.as_sequences(images, "pixels-permuted", seed=3)
    assert pixels.shape == (2, 12, 1) and not np.array_equal(pixels, permuted)
    assert np.array_equal(np.sort(permuted, axis=1), pixels)
    assert np.array_equal(permuted, seq.as_sequences(images, "pixels-permuted", seed=3))   # fixed


# -- sequence training through the CLI ----------------------------------------------------
import json  # noqa: E402

import keras  # noqa: E402

from conftest import run_automl  # noqa: E402
from pipelines.cli import main  # noqa: E402

SMALL = ["--set", "data.sequence_length=10", "--set", "data.sequence_sizes=[256,64,64]", "--set", "train.epochs=2",
         "--quiet"]


# Parameters of one layer of d units on m inputs (Keras' cells; the DMU and RHN of models.recurrent).
LAYER_PARAMS = {
    "lstm": lambda m, d: 4 * (d * (m + d) + d),
    "gru": lambda m, d: 3 * d * (m + d) + 2 * 3 * d,          # reset_after: two bias vectors
    "rnn": lambda m, d: d * (m + d) + d,
}


def adding_params(cell: str, m: int = 2, d: int = 5, depth: int = 2, hidden: int = 5) -> int:
    """The defaults of configs/train.yaml (units 5, depth 2, hidden 5) on the adding problem's
    2 features, plus the linear head (d + 1)."""
    if cell == "dmu":          # FNN [x, h] -> hidden -> 2d
        body = (m + d) * hidden + hidden + hidden * 2 * d + 2 * d
    elif cell == "rhn":        # W: m x 2d; per layer R: d x 2d and a bias of 2d
        body = m * 2 * d + depth * (d * 2 * d + 2 * d)
    else:                      # depth stacked layers
        body = LAYER_PARAMS[cell](m, d) + (depth - 1) * LAYER_PARAMS[cell](d, d)
    return body + d + 1


@pytest.mark.parametrize("cell", ["dmu", "lstm", "gru", "rnn", "rhn"])
def test_every_cell_trains_on_the_adding_problem(tmp_path, cell):
    run = tmp_path / "run"
    assert main(["train", "--dataset", "adding", "--model", cell, "--out", str(run), *SMALL]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert "test_accuracy" not in summary and summary["params"] == adding_params(cell)
    assert summary["arch"] == f"{cell}-5x2"
    # A regression run keeps the epoch of the lowest validation MSE, and reports that model's.
    history = json.loads((run / "checkpoints" / "state.json").read_text())["history"]
    losses = [h["val_loss"] for h in history]
    assert summary["best_epoch"] == 1 + int(np.argmin(losses)) and summary["epochs"] == len(losses) == 2
    assert summary["val_mse"] == pytest.approx(min(losses), rel=1e-5)
    if cell == "dmu":          # the test MSE is that model's mean squared error on the test split
        from pipelines.config import run_config
        from pipelines.datasets import load_dataset

        data = load_dataset("adding", run_config(run).data)
        best = keras.models.load_model(run / "best.keras")
        mse = float(np.mean((best.predict(data.x_test, verbose=0)[:, 0] - data.y_test) ** 2))
        assert summary["test_mse"] == pytest.approx(mse, rel=1e-5)
        # FLOPs: 2 x (the FNN's (2+5)x5 + 5x10 multiply-adds) per step for 10 steps, the head once.
        assert summary["flops"] == 2 * ((2 + 5) * 5 + 5 * 10) * 10 + 2 * 5


def test_digit_rows_classify_report_and_export(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--dataset", "digits-rows", "--model", "dmu", "--out", str(run), *SMALL,
                 "--set", "model.units=16"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    history = json.loads((run / "checkpoints" / "state.json").read_text())["history"]
    chosen = max(history, key=lambda h: (h["val_accuracy"], -h["val_loss"]))
    assert summary["best_epoch"] == chosen["epoch"] and summary["val_accuracy"] == pytest.approx(chosen["val_accuracy"])
    from pipelines.config import run_config
    from pipelines.datasets import load_dataset

    data = load_dataset("digits-rows", run_config(run).data)        # 8 rows of 8 pixels
    best = keras.models.load_model(run / "best.keras")
    accuracy = float(np.mean(best.predict(data.x_test, verbose=0).argmax(-1) == data.y_test))
    assert summary["test_accuracy"] == pytest.approx(accuracy, abs=1e-6)
    report = run_automl("report", str(run))
    assert report.returncode == 0 and "test accuracy" in report.stdout
    exported = run_automl("export", str(run), "--out", str(tmp_path / "export"))        # a fresh process
    assert exported.returncode == 0, exported.stderr
    assert json.loads((tmp_path / "export" / "export.json").read_text())["input"]["shape"] == [None, 8, 8]


@pytest.mark.parametrize("args, message", [
    (["train", "--dataset", "adding", "--arch", "resnet-mini"], "'adding' is a sequence dataset, but --arch resnet-mini"),
    (["train", "--dataset", "digits", "--model", "lstm"], "'digits' holds images, but model 'lstm'"),
    (["train", "--dataset", "adding", "--optimizer", "phs"], "needs optimizer adam or sgd, not phs"),
])
def test_model_and_data_mismatches_name_both(tmp_path, capsys, args, message):
    assert main([*args, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "run").exists()
