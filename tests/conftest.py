import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest  # noqa: E402

from automl.budget import Deadline  # noqa: E402
from models import Block, Pool, ResNetSpec, Stage  # noqa: E402


def tiny_spec() -> ResNetSpec:
    """Two blocks: one widening through zero-padding; one strided, with a projection and a
    narrower first conv."""
    return ResNetSpec(
        stem_filters=4,
        stages=[
            Stage(blocks=[Block(0, 6)]),
            Stage(pool=Pool("max"), blocks=[Block(1, 8, stride=2, mid_filters=5)]),
        ],
        name="tiny",
    )


@pytest.fixture
def tiny_arch(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(tiny_spec().to_json())
    return str(path)


def run_automl(*args, env=None, timeout=300, cwd=None):
    """The real `automl` command in a fresh process."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args], capture_output=True, text=True,
        env=full_env, timeout=timeout, cwd=cwd,
    )


def randomised(model, seed):
    """Every weight, BatchNorm's gamma, beta and moving statistics included, set to seeded values unlike
    any initialiser's, so that a weight left uncopied cannot match its source by chance."""
    import keras
    import numpy as np

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        # BN: gamma, beta, moving mean and variance in [0.5, 1.5]; kernels small, so the softmax is not saturated
        bn = isinstance(layer, keras.layers.BatchNormalization)
        layer.set_weights([(rng.uniform(0.5, 1.5, w.shape) if bn else rng.normal(0, 0.2, w.shape)).astype(w.dtype)
                           for w in layer.get_weights()])
    return model


def read_jsonl(path):
    return [json.loads(line) for line in open(path) if line.strip()]


def load_script(name: str, path):
    """A repository script (tools/, benchmarks/) imported by path as module `name`."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


class AfterCalls(Deadline):
    """A deadline that passes after a fixed number of checks: a deterministic clock."""

    def __init__(self, checks: int):
        super().__init__(seconds=1e9)
        self.checks = checks

    def work_left(self) -> float:
        self.checks -= 1
        return 1.0 if self.checks >= 0 else -1.0


def evolution_oracle(space, project_dir=None, *, seed: int = 0, deadline=None, minimize_loss: bool = False,
                     chief: bool | None = None, **settings):
    """An EvolutionOracle driven by hand: `settings` are EvolutionSettings' arguments, built in
    `project_dir` when one is given. Worker timeouts are off (as on a worker, chief=False) unless
    `worker_timeout` is given; the (1+1)-EA's initial net is scored untrained (the thesis' rule,
    which the hand-worked scenarios assume) unless `train_initial` is given."""
    from automl.evolution.oracle import EvolutionOracle
    from automl.evolution.settings import EvolutionSettings

    oracle = EvolutionOracle(space, EvolutionSettings(**{"heartbeat": 0.1, "train_initial": False, **settings}), seed=seed,
                             minimize_loss=minimize_loss,
                             chief="worker_timeout" in settings if chief is None else chief)
    if deadline is not None:
        oracle.use_deadline(deadline)
    if project_dir is not None:
        oracle._set_project_dir(str(project_dir), "evo")
    return oracle


def tensorboard_tags(run) -> dict[str, set[str]]:
    """{folder under RUN/tb (relative): the scalar tags its event files hold}."""
    import tensorflow as tf

    found: dict[str, set[str]] = {}
    for events in (Path(run) / "tb").rglob("events.out.tfevents*"):
        tags = found.setdefault(str(events.parent.relative_to(Path(run) / "tb")), set())
        for event in tf.compat.v1.train.summary_iterator(str(events)):
            tags.update(value.tag for value in event.summary.value)
    return found


def html_report_images(run) -> list[str]:
    """The image names RUN/report.html shows, after checking that the page stands alone: every
    image inlined as a PNG (no file or network reference), one per PNG of the run and byte for
    byte that PNG, and every summary key in its summary table."""
    import base64
    from html.parser import HTMLParser

    class Page(HTMLParser):
        def __init__(self):
            super().__init__()
            self.images, self.references, self.cells = [], [], []

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "img":
                assert attrs["src"].startswith("data:image/png;base64,"), attrs["src"][:40]
                inlined = base64.b64decode(attrs["src"].split(",", 1)[1])
                assert inlined == (Path(run) / f"{attrs['alt']}.png").read_bytes(), attrs["alt"]  # the whole plot
                self.images.append(attrs["alt"])
            self.references += [v for k, v in attrs.items() if k in ("href", "src") and not v.startswith("data:")]

        def handle_data(self, data):
            self.cells.append(data)

    page = Page()
    page.feed((Path(run) / "report.html").read_text())
    assert not page.references, page.references
    assert sorted(page.images) == sorted(p.stem for p in Path(run).glob("*.png"))
    summary = json.loads((Path(run) / "summary.json").read_text())
    assert set(summary) <= set(page.cells)
    return page.images
