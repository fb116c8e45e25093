"""`automl.ResBuilder`: ResBuilder as a Keras user calls it, in the shape of a Keras Tuner tuner.

    import automl
    tuner = automl.ResBuilder(budget="3m", directory="runs", project_name="digits")
    tuner.search(x, y, validation_split=0.2)
    tuner.results_summary()
    model = tuner.get_best_models(1)[0]
    tuner.export("export/digits")

The run's folder (`directory/project_name`) is a run directory like the command line's: its
log, history, plot, best model and summary; `automl report` and `automl export` accept it.
"""
from __future__ import annotations

import time
from pathlib import Path

from automl.budget import Deadline, format_duration
from automl.data_settings import DataSettings
from automl.formats import DEFAULT_FORMATS
from automl.resbuilder.settings import ResBuilderSettings
from automl.search_run import SearchRun
from automl.settings import ArgumentError, merged_args_doc, merged_signature, split_keywords
from automl.strategies import DEFAULT_STRATEGY, RESBUILDER_STRATEGIES
from automl.training_settings import GRADIENT_OPTIMIZERS, TrainingSettings



class ResBuilder(SearchRun, ResBuilderSettings):
    """Grows, prunes and resizes residual CNNs (ResBuilder, seed 002 Ch. 4 and §6.1).

    From a start net, ResBuilder inserts near-identity residual blocks, trains each architecture
    three times (With-Reg, which decides; No-Reg warm-started; No-Reg from random init), removes
    inserted blocks whose LayerLasso-regularised weights died, and after `insertions` steps shrinks
    and rescales every width to the FLOP budget with MorphNet. The best No-Reg net by validation
    accuracy over the whole run is kept; a test split, if given, is reported, never used to choose.

    Every argument is a keyword. `preset="thesis"` is the thesis' schedule; explicit arguments
    win over the preset's values.

    Args:
        preset: None (the defaults below, a short schedule for a CPU), "quick" (the same) or "thesis".
        strategy: resbuilder (the full cycle) or morphnet (MorphNet steps only, no insertion or removal, from ResNet-18 unless `start` is set: the thesis' ablation).
        training: how each architecture is trained: an automl.TrainingSettings, or a dict of its arguments (default: Adam 1e-3 with the thesis code's ReduceLROnPlateau).
    """

    def __init__(self, *, preset: str | None = None, strategy: str = DEFAULT_STRATEGY,
                 training: TrainingSettings | dict | None = None, **kwargs):
        run, own = split_keywords({**ResBuilderSettings.preset(preset), **kwargs}, SearchRun, ResBuilderSettings)
        SearchRun.__init__(self, **run)
        ResBuilderSettings.__init__(self, **own)
        self.check_choice("strategy", strategy, RESBUILDER_STRATEGIES)
        training = training if isinstance(training, TrainingSettings) else TrainingSettings(**(training or {}))
        self.check("training", training.optimizer, training.optimizer in GRADIENT_OPTIMIZERS,
                   f"a gradient optimizer ({', '.join(GRADIENT_OPTIMIZERS)})")
        self.preset, self.strategy, self.training = preset, strategy, training
        self.summary: dict | None = None

    # -- search --------------------------------------------------------------------------
    def search(self, x=None, y=None, validation_data=None, validation_split: float | None = None,
               epochs: int | None = None, batch_size: int | None = None, augment: str | None = None, test_data=None,
               deadline: Deadline | None = None):
        """Runs (or continues) the search; the best net is then `get_best_models(1)[0]`.

        Args:
            x: training images as a numpy array (N, H, W) or (N, H, W, C), a tf.data.Dataset of (image, label) pairs, or an automl.data.ImageDataset whose splits are made.
            y: the labels of `x` (any values; numbered in sorted order and kept as class names).
            validation_data: (images, labels) to choose on; else `validation_split` of `x` is held out.
            validation_split: the share of `x` held out for validation when no validation_data is given (default: automl.DataSettings' validation_split; stratified, seeded).
            epochs: epochs of each training (default: the `epochs` setting).
            batch_size: the batch size of every training (default: automl.DataSettings' batch_size).
            augment: auto (shifts and flips for colour images, shifts for grey ones; seed 002 §6.1.1.2), none, shift or shift_flip (default: automl.DataSettings' augment).
            test_data: (images, labels) measured per architecture for reporting only, never to choose.
            deadline: an automl.budget.Deadline to work to instead of `budget` from now (the command line passes its own, counted from the command's start).

        Returns:
            The run's summary (also `self.summary`).
        """
        from automl.data import ImageDataset, image_data

        self.epochs = ResBuilderSettings.of_given(self, epochs=epochs).epochs  # the settings' rule
        data_settings = DataSettings.given(batch_size=batch_size, augment=augment)
        batch_size, augment = data_settings.batch_size, data_settings.augment
        if x is None:
            raise ValueError("search() needs the training images x (and their labels y)")
        data = x if isinstance(x, ImageDataset) else image_data(x, y, validation_data, validation_split, test_data)
        run = self._open_run()
        self.summary = run.completed()
        if self.summary is not None:
            self.say(f"{run.path}: already complete; the results are loaded")
            return self.summary
        self.summary = _Search(self, data, run, batch_size, augment, deadline or self.new_deadline()).execute()
        return self.summary

    def _open_run(self):
        from automl.rundir import RunDir

        path = self.run_path(self.strategy)
        self.clear(path)
        if (path / RunDir.CONFIG).exists():
            return RunDir.open(path)
        return RunDir.create(path, "search", {"resbuilder": ResBuilderSettings.of(self).to_dict(),
                                              "train": self.training.to_dict(),
                                              "seed": self.seed, "budget": self.budget, "api": "automl.ResBuilder"},
                             header="# Settings of an automl.ResBuilder search (Python API).\n")

    # -- results -------------------------------------------------------------------------
    @property
    def directory_path(self) -> Path:
        """The run directory: `directory/project_name`."""
        return self.run_path(self.strategy)

    def _run_dir(self):
        from automl.rundir import RunDir

        run = RunDir.open(self.directory_path)
        if run.summary() is None:
            raise ValueError(f"{run.path} holds no finished search yet; call search() first")
        return run

    def results_summary(self, num_trials: int = 10) -> None:
        """Prints the `num_trials` best architectures by validation accuracy, as Keras Tuner does."""
        from automl.report import format_records

        run = self._run_dir()
        ranked = sorted(enumerate(run.records(), 1), key=lambda pair: -pair[1]["val_accuracy"])[:num_trials]
        print(f"Results summary: {run.path}, the {len(ranked)} best architectures by validation accuracy")
        print(format_records([r for _, r in ranked], [i for i, _ in ranked]))
        print(f"best: {run.summary()['arch']}")

    def get_best_models(self, num_models: int = 1) -> list:
        """The best net by validation accuracy, trained (a list, as Keras Tuner's). ResBuilder keeps
        only its best net's weights, so `num_models` must be 1."""
        import keras

        if num_models != 1:
            raise ArgumentError(type(self).__name__, "num_models", num_models, "1 (ResBuilder keeps its best net only)")
        return [keras.models.load_model(self._run_dir().best_path)]

    def get_best_spec(self) -> dict:
        """The best architecture as a spec (`models.ResNetSpec.from_dict` builds it)."""
        return self._run_dir().summary()["spec"]

    def export(self, path, formats=DEFAULT_FORMATS):
        """Writes the best net as `automl export` does: a SavedModel for serving, model.keras and
        export.json (see automl.export.export_run). Returns the folder."""
        from automl.export import export_run

        return export_run(self._run_dir().path, path, formats)


# One definition of every argument: the signature and the documentation are the settings classes'.
ResBuilder.__init__.__signature__ = merged_signature(ResBuilder.__init__, SearchRun, ResBuilderSettings)
ResBuilder.__doc__ = (ResBuilder.__doc__.rstrip() + "\n" + "\n".join(
    "    " + line for line in merged_args_doc(SearchRun, ResBuilderSettings).splitlines()[1:]) + "\n")


class _Search:
    """One run of the cycle into its run directory: records, best model, history, plot, summary."""

    def __init__(self, tuner: ResBuilder, data, run, batch_size: int, augment: str, deadline: Deadline):
        self.tuner, self.data, self.run, self.deadline = tuner, data, run, deadline
        self.batch_size, self.augment, self.say = batch_size, augment, tuner.say

    def execute(self) -> dict:
        import keras

        from automl.callbacks import Progress, tensorboard
        from automl.errors import UsageError
        from automl.io import atomic_save_model, atomic_write_text
        from automl.plots import accuracy_vs_flops, architecture_history
        from automl.resbuilder.search import ResBuilderCycle, SearchData
        from automl.rundir import RunDir
        from automl.tfdata import split_pipelines

        tuner, data, run, deadline, say = self.tuner, self.data, self.run, self.deadline, self.say
        settings = ResBuilderSettings.of(tuner, **({"insertions": 0} if tuner.strategy == "morphnet" else {}))
        keras.utils.set_random_seed(tuner.seed)
        augment = data.augment(self.augment)
        train, val, test = split_pipelines(data, self.batch_size, augment, tuner.seed)
        search_data = SearchData(train=train, val=val, test=test if len(data.y_test) else None,
                                 input_shape=data.input_shape, num_classes=data.num_classes,
                                 preprocess=data.preprocess())
        run.update_meta(dataset=data.describe(), class_names=data.class_names,
                        preprocess=search_data.preprocess.to_dict(), augment=augment, strategy=tuner.strategy)
        started = time.perf_counter()

        def record_architecture(record: dict) -> None:
            if record.get("kind") == "continued":  # the budget fill trained the best further
                if not any(r.get("continued") == record["continued"] for r in run.records()):
                    run.append_record(record)
                    say(f"  budget fill: {record['arch']}, validation {record['val_accuracy']:.4f}"
                        + (" (new best)" if record["improved"] else ""))
                return
            if any(r.get("architecture") == record["architecture"] for r in run.records()):
                return  # written just before a kill, and reported again on resume
            no_reg = max(("no_reg_wi", "no_reg_ri"), key=lambda v: record[v]["val_accuracy"])
            record.update(arch=f"arch {record['architecture']}", epochs=settings.epochs, chosen_variant=no_reg,
                          val_accuracy=record[no_reg]["val_accuracy"], test_accuracy=record[no_reg]["test_accuracy"])
            run.append_record(record)
            say(f"  arch {record['architecture']}: {record['blocks']} blocks, {record['flops']:,} FLOPs; validation "
                f"with-reg {record['with_reg']['val_accuracy']:.4f}, no-reg WI {record['no_reg_wi']['val_accuracy']:.4f}, "
                f"RI {record['no_reg_ri']['val_accuracy']:.4f}")

        def save_best(model, best: dict) -> None:
            atomic_save_model(model, run.best_path)
            say(f"  new best: arch {best['architecture']} ({best['variant']}), validation {best['val_accuracy']:.4f}")

        try:
            engine = ResBuilderCycle(
                settings, tuner.training, search_data, run.path / "resbuilder", seed=tuner.seed, log=say,
                on_architecture=record_architecture, on_best=save_best,
                epoch_callbacks=lambda label: [tensorboard(run.path, label), *(
                    [Progress(settings.epochs, label=f"  {label}", deadline=deadline)] if tuner.verbose else [])],
                deadline=deadline,
            )
        except ValueError as e:  # a budget the start net cannot meet: bad input, found before training
            key = ResBuilderSettings.zeta_argument(data.input_shape)
            raise UsageError(f"argument {key} (resbuilder.{key} in a config): {e}") from None
        described = data.describe()
        say(f"{tuner.strategy} on {data.name}: {described['train']} train / {described['validation']} validation "
            f"images; start {settings.start_name}, {settings.morph_steps} MorphNet step(s) of {settings.insertions} "
            f"insertion(s), {settings.epochs} epochs per training")
        state = engine.run()
        records = [r for r in run.records() if r.get("kind") == "architecture"]
        continued = [r for r in run.records() if r.get("kind") == "continued"]
        best = state["best"]
        if best is None:  # the budget ended before one No-Reg training completed: nothing to choose yet
            raise UsageError("the budget ended before the first architecture finished training; nothing is lost: "
                             "give it more time (search() again, or `automl search --resume --out "
                             f"{run.path} --budget DURATION`)")
        accuracy_vs_flops(records, best["architecture"], run.path / "accuracy_vs_flops.png",
                          title=f"{tuner.strategy} on {data.name}")
        architecture_history(records, run.path / "architecture_history.png", title=f"{tuner.strategy} on {data.name}")
        atomic_write_text(run.path / "history.md", history_table(records, best["architecture"], continued))
        summary = {
            "command": "search", "strategy": tuner.strategy, "dataset": data.name, "best_model": RunDir.BEST,
            "arch": f"arch {best['architecture']} ({best['variant']})", "spec": best["spec"], "params": best["params"],
            "flops": best["flops"], "val_accuracy": best["val_accuracy"], "test_accuracy": best["test_accuracy"],
            "architectures": len(records),
            "stop_reason": "budget" if deadline.hit and not state["done"] else state["stop_reason"],
            "cut_training": state.get("cut"), "budget_fill": state.get("fill"),
            "wall_seconds": sum(r["wall_seconds"] for r in records + continued) if records
            else time.perf_counter() - started,
            "budget": deadline.report(),
        }
        run.write_summary(summary)
        test = "" if best["test_accuracy"] is None else f", test {best['test_accuracy']:.4f}"
        say(f"best: arch {best['architecture']} ({best['variant']}), {best['flops']:,} FLOPs, validation "
            f"{best['val_accuracy']:.4f}{test} ({format_duration(summary['wall_seconds'])})")
        return summary


def history_table(records: list[dict], best: int, continued: list[dict] = ()) -> str:
    lines = ["# Architecture history", "",
             "| arch | morph step | insertion | blocks | widths | params | FLOPs | with-reg val | no-reg WI val "
             "| no-reg RI val | test (chosen variant) | removed blocks |",
             "|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in records:
        mark = (" **(best)**" if r["architecture"] == best else "") + (" (budget fill)" if r.get("budget_fill") else "")
        test = "-" if r["test_accuracy"] is None else f"{r['test_accuracy']:.4f}"
        lines.append(
            f"| {r['architecture']}{mark} | {r['morph_step']} | {r['insertion']} | {r['blocks']} "
            f"| {'-'.join(map(str, r['widths']))} | {r['params']:,} | {r['flops']:,} "
            f"| {r['with_reg']['val_accuracy']:.4f} | {r['no_reg_wi']['val_accuracy']:.4f} "
            f"| {r['no_reg_ri']['val_accuracy']:.4f} | {test} | {r['removed_blocks'] or ''} |")
    if continued:
        lines += ["", "## Budget fill: the best net trained further", "",
                  "| training | epochs | best epoch | val | test | new best |", "|---|---:|---:|---:|---:|---|"]
        lines += [f"| {r['arch']} | {r['epochs']} | {r['best_epoch']} | {r['val_accuracy']:.4f} | "
                  f"{'-' if r['test_accuracy'] is None else format(r['test_accuracy'], '.4f')} | "
                  f"{'yes' if r['improved'] else ''} |" for r in continued]
    lines += ["", "Selection uses validation accuracy only; test accuracy is shown for reporting.", ""]
    return "\n".join(lines)
