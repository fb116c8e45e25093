"""`automl train --optimizer leea|ndes|ndes-g|ndes-b|de|cosyne|es`: the population optimizers
of automl.population driven from the config, with progress lines and a resumable run dir."""
from __future__ import annotations

import sys
import time

from automl.budget import Deadline  # light: no TensorFlow, so the CLI can import this module
from automl.population_settings import PopulationRunSettings, section_of
from automl.task import task_for
from automl.training_settings import POPULATION_OPTIMIZERS


def is_population(optimizer: str) -> bool:
    return optimizer in POPULATION_OPTIMIZERS


def default_arch(optimizer: str) -> str:
    """model.arch "auto": a small MLP for population optimizers, whose cost grows with the weight
    count; the residual default net for gradient ones."""
    return "mlp" if is_population(optimizer) else "resnet-mini"


def arch_name(cfg) -> str:
    """The configured architecture, with model.arch "auto" resolved: for `automl search --strategy
    fixed` the thesis' ResNet-18 baseline (seed 002 §6.1), for `automl train` by the optimizer."""
    if cfg.model.arch != "auto":
        return cfg.model.arch
    return "rb-r18" if hasattr(cfg, "resbuilder") else default_arch(cfg.train.optimizer)


def make_optimizer(cfg):
    """The configured population optimizer: the algorithm's section of `population:` (nDES-G and
    nDES-B read `ndes`), the run settings every optimizer shares, and the run's seed. The config
    was validated by the same settings classes as it loaded, so nothing here can be refused."""
    from automl.population import POPULATION_OPTIMIZERS as REGISTRY

    name, pop = cfg.train.optimizer, cfg.population
    section = getattr(pop, section_of(name))
    return REGISTRY[name](**section.to_dict(), **PopulationRunSettings.of(pop).to_dict(), seed=cfg.seed)


def train_population(cfg, model, data, run, deadline: Deadline, regression: bool, quiet: bool,
                     label: str = "") -> tuple[dict, dict]:
    """Fit `model` with the configured population optimizer; (state for the run summary, extras
    for the record). The model ends with the best validated member's weights."""
    from automl.budget import format_duration
    from automl.callbacks import ScalarLog, recent_mean
    from automl.live import LiveBar

    optimizer = make_optimizer(cfg)
    epochs = cfg.train.epochs
    times: list[float] = []
    last = [time.perf_counter()]
    period = optimizer.steps_per_epoch(len(data.x_train)) * optimizer.validation_every
    bar: list[LiveBar | None] = [None]  # one live bar per validation period, on a terminal

    def on_generation(generation: int, total: int) -> None:
        if bar[0] is None:
            epoch = (generation - 1) * epochs // total + 1
            left = min(period - (generation - 1) % period, total - generation + 1)  # to the next validation
            bar[0] = LiveBar(left, f"{label + ' ' if label else ''}epoch {epoch}/{epochs}", unit="gen")
        bar[0].update()

    def close_bar() -> None:
        if bar[0] is not None:
            bar[0].close()
            bar[0] = None

    scalars = ScalarLog(run.path, "population")

    def progress(record: dict) -> None:
        # TensorBoard: the best member's and the population's mean loss per generation
        scalars.write(record["generation"], {k: record[k] for k in ("loss", "mean_loss", "val_loss", "val_accuracy")
                                             if k in record})
        close_bar()
        if quiet:
            return
        now = time.perf_counter()
        times.append(now - last[0])
        last[0] = now
        eta = recent_mean(times) * (epochs - record["epoch"])
        parts = [f"{label + ' ' if label else ''}epoch {record['epoch']}/{epochs}", f"gen {record['generation']}",
                 f"best {record['loss']:.4f}", f"mean {record['mean_loss']:.4f}", f"val_loss {record['val_loss']:.4f}"]
        if "val_accuracy" in record:
            parts.append(f"val_acc {record['val_accuracy']:.4f}")
        parts += [f"{record['evaluations_per_second']:,.0f} evals/s", f"{times[-1]:.1f}s", f"ETA {format_duration(eta)}"]
        if deadline.active:
            parts.append(f"budget left {format_duration(max(deadline.left(), 0))}")
        print("  ".join(parts), file=sys.stderr, flush=True)

    if (run.checkpoints / "population.npz").exists() and not quiet:
        print(f"resuming the {optimizer.name} population from {run.checkpoints / 'population.npz'}", file=sys.stderr, flush=True)
    state = optimizer.fit(model, (data.x_train, data.y_train), (data.x_val, data.y_val), epochs=epochs,
                          task=task_for(regression).name, checkpoint_dir=run.checkpoints,
                          best_path=run.best_path, deadline=deadline, callback=progress,
                          on_generation=None if quiet else on_generation)
    close_bar()  # a budget stop ends between two validations
    if not quiet:
        for note in optimizer.notes:
            print(note, file=sys.stderr, flush=True)
    extras = {"generations": state["generation"], "evaluations": state["evaluations"],
              "population_notes": optimizer.notes, "bootstrap_epochs": state.get("bootstrap_epochs")}
    return state, extras
