"""Live progress (issue #19): a bar within each epoch, generation period and slide-reading pass
on a terminal, and plain lines, greppable, where the output is not a terminal."""
import io
import types

import keras
import numpy as np
import pandas as pd
import pytest

import automl.live
from automl.live import LiveBar, is_terminal


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as stderr does in an interactive shell."""

    def isatty(self):
        return True


@pytest.fixture
def bars(monkeypatch):
    """Every LiveBar made while the test runs, with its total, label and the steps it was given."""
    made = []

    class Recorded(LiveBar):
        def __init__(self, total, label="", stream=None, unit="step", show=True):
            super().__init__(total, label, stream, unit, show)
            self.total, self.label, self.steps, self.drawn = total, label, 0, self.bar is not None
            made.append(self)

        def update(self, steps=1):
            self.steps += steps
            super().update(steps)

    monkeypatch.setattr(automl.live, "LiveBar", Recorded)
    for module in ("automl.callbacks", "automl.survival.workflow"):
        monkeypatch.setattr(f"{module}.LiveBar", Recorded)
    return made


def test_a_bar_is_drawn_on_a_terminal_and_nowhere_else():
    terminal, log = Terminal(), io.StringIO()
    assert is_terminal(terminal) and not is_terminal(log) and not is_terminal(object())
    closed = io.StringIO()
    closed.close()  # its isatty raises
    assert not is_terminal(closed)

    bar = LiveBar(3, "epoch 1/2", stream=terminal)
    assert "epoch 1/2" in terminal.getvalue() and "0/3" in terminal.getvalue()
    for _ in range(3):
        bar.update()
    assert bar.bar.n == 3
    bar.close()
    bar.close()  # closing twice is harmless (fit's end after a budget stop inside an epoch)

    quiet_terminal = Terminal()
    for quiet in (LiveBar(3, "x", stream=log), LiveBar(3, "x", stream=quiet_terminal, show=False)):
        quiet.update()
        quiet.close()
    assert log.getvalue() == "" and quiet_terminal.getvalue() == ""


def _fit(callbacks, epochs=2):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).standard_normal((48, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    model.fit(x, y, batch_size=16, epochs=epochs, validation_data=(x, y), callbacks=callbacks, verbose=0)


def test_every_epoch_gets_a_bar_over_its_batches(bars):
    from automl.callbacks import EpochBar

    terminal = Terminal()
    _fit([EpochBar("trial 7", stream=terminal)])
    assert [(b.total, b.label, b.steps) for b in bars] == [(3, "trial 7 epoch 1/2", 3), (3, "trial 7 epoch 2/2", 3)]
    assert all(b.drawn and b.bar is None for b in bars)  # drawn, and closed at the epoch's end
    assert "trial 7 epoch 2/2" in terminal.getvalue()


def test_progress_prints_its_lines_on_a_terminal_and_only_lines_elsewhere(bars):
    from automl.callbacks import Progress

    terminal, log = Terminal(), io.StringIO()
    _fit([Progress(2, label="train", stream=terminal)])
    assert [b.label for b in bars] == ["train epoch 1/2", "train epoch 2/2"] and all(b.drawn for b in bars)
    assert "train epoch 2/2  loss" in terminal.getvalue()

    _fit([Progress(2, label="train", stream=log)])
    lines = log.getvalue().splitlines()
    assert [line.split("  ")[0] for line in lines] == ["train epoch 1/2", "train epoch 2/2"]
    assert "\r" not in log.getvalue() and not any(b.drawn for b in bars[2:])  # a log stays one line per epoch


def test_the_population_loop_reports_every_generation():
    from automl.population import NDES

    x = np.random.default_rng(0).standard_normal((40, 4)).astype("float32")
    y = x.sum(axis=1)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    seen = []
    state = NDES(population_size=8, history=2, batch_size=16).fit(
        model, (x, y), (x, y), epochs=2, task="regression", on_generation=lambda g, total: seen.append((g, total)))
    assert seen == [(g, 6) for g in range(1, 7)] and state["generation"] == 6  # 2 epochs of ceil(40 / 16)


def test_population_training_draws_one_bar_per_validation(bars, tmp_path, monkeypatch):
    from pipelines.cli import main

    monkeypatch.setattr("sys.stderr", Terminal())
    assert main(["train", "--dataset", "digits", "--optimizer", "de", "--set", "epochs=2",
                 "--set", "population.de.batch_size=400", "--out", str(tmp_path / "run")]) == 0
    steps = -(-1149 // 400)  # digits' 1,149 training images (its 64/16/20 split)
    assert [(b.total, b.label, b.steps, b.drawn) for b in bars] == [(steps, "epoch 1/2", steps, True),
                                                                  (steps, "epoch 2/2", steps, True)]


def test_reading_slides_counts_every_slide_read_or_skipped(bars, tmp_path):
    from PIL import Image

    from automl.survival.settings import SlidesSettings
    from automl.survival.workflow import read_all

    paths = []
    for i in range(2):
        paths.append(tmp_path / f"s{i}.png")
        Image.fromarray(np.full((64, 64, 3), 200 - 50 * i, dtype="uint8")).save(paths[-1])
    paths.append(tmp_path / "broken.svs")
    paths[-1].write_bytes(b"not a slide")
    analysis = types.SimpleNamespace(slides=SlidesSettings(cache_dir=str(tmp_path / "cache")), say=lambda m: None,
                                     seed=0, verbose=1)
    cohort = types.SimpleNamespace(slides=pd.DataFrame({"path": [str(p) for p in paths], "slide": ["a", "b", "c"],
                                                        "patient": ["p", "q", "r"]}))
    pixels, skipped = read_all(analysis, cohort)
    assert len(pixels) == 2 and [s["slide"] for s in skipped] == ["c"]
    assert [(b.total, b.label, b.steps) for b in bars] == [(3, "reading slides", 3)]
