"""`automl.SurvivalAnalysis`: whole-slide survival analysis called from Python.

    import automl
    analysis = automl.SurvivalAnalysis(training={"epochs": 20}, directory="runs", project_name="melanoma")
    summary = analysis.fit(clinical_frame, slide_paths)
    print(summary["test_c_index"], analysis.metrics["patients"]["test"]["groups"])
    analysis.export("export/melanoma")

The run's folder (`directory/project_name`) is a run directory like `automl survival`'s: report.md,
metrics.json, risks.csv, slide_risks.csv, the plots, best.keras and the summary; `automl report`
and `automl export` accept it. A second fit() with the same folder continues the run, or loads it
if it is complete.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from automl.budget import Deadline
from automl.formats import DEFAULT_FORMATS
from automl.search_run import SearchRun
from automl.settings import merged_args_doc, merged_signature
from automl.survival.settings import (ClinicalColumns, SlidesSettings, SurvivalDataSettings, SurvivalModelSettings,
                                      SurvivalSearchSettings, SurvivalTrainingSettings)


class SurvivalAnalysis(SearchRun):
    """Trains a VGG-style Cox net on whole-slide images and reports how well its risk ranks
    patients (Burghoff's thesis, seed 002 Ch. 7).

    Patients are split into train, validation and test (by patient, stratified by event, seeded;
    or as the table's split column says). The net learns the log-risk from thumbnails of whole
    slides (the thesis) or bags of tissue tiles, with the Cox loss; the epoch with the best
    validation C-index is kept. Reported per patient and per slide: Harrell's C-index and AUROC
    on the event indicator, raw and per-source standardised, and Kaplan-Meier risk groups split at
    the training patients' median risk, with the log-rank p and the hazard ratio. The test split
    is used once, for the report.

    Every argument is a keyword; each settings argument takes its class or a dict of its
    arguments (e.g. `training={"epochs": 20}`).

    Args:
        slides: how slides are read: an automl.survival.SlidesSettings (default: its defaults, the thesis' thumbnails).
        clinical: the column names of the clinical table: an automl.survival.ClinicalColumns (default: its defaults).
        data: the patient split: an automl.survival.SurvivalDataSettings (default: its defaults).
        net: the net (the `model:` section of `automl survival`): an automl.survival.SurvivalModelSettings (default: its defaults).
        training: the training: an automl.survival.SurvivalTrainingSettings (default: its defaults, the thesis' schedule).
        search: None (default): train `model.arch` as it is; an automl.survival.SurvivalSearchSettings (or a dict, {} for its defaults): first Keras Tuner's random search over the net's depth and widths, on the validation C-index.
    """

    def __init__(self, *, slides: SlidesSettings | dict | None = None, clinical: ClinicalColumns | dict | None = None,
                 data: SurvivalDataSettings | dict | None = None, net: SurvivalModelSettings | dict | None = None,
                 training: SurvivalTrainingSettings | dict | None = None,
                 search: SurvivalSearchSettings | dict | None = None, **kwargs):
        SearchRun.__init__(self, **kwargs)
        self.slides = self._settings("slides", slides, SlidesSettings)
        self.clinical = self._settings("clinical", clinical, ClinicalColumns)
        self.data = self._settings("data", data, SurvivalDataSettings)
        self.net = self._settings("net", net, SurvivalModelSettings)
        self.training = self._settings("training", training, SurvivalTrainingSettings)
        self.search = None if search is None else self._settings("search", search, SurvivalSearchSettings)
        self.summary: dict | None = None

    def _settings(self, argument: str, value, cls):
        """`value` as a `cls`: itself, built from a dict of its arguments, or `cls()` for None."""
        if isinstance(value, cls):
            return value
        self.check(argument, value, value is None or isinstance(value, dict),
                   f"an automl.survival.{cls.__name__}, a dict of its arguments or None")
        return cls(**(value or {}))

    # -- fit -------------------------------------------------------------------------------
    def fit(self, clinical, slides, *, deadline: Deadline | None = None) -> dict:
        """Runs (or continues) the analysis; the results are then `summary`, `metrics`, `risks`,
        `model` (the trained net), and the run directory `directory_path`.

        Args:
            clinical: the clinical table, a pandas DataFrame with one row per slide: the columns the `clinical` settings name (slide file, patient, time, event; optional source and split). Several slides per patient are allowed.
            slides: the slide files: a list of paths, or a folder (every slide file under it: svs, ndpi, mrxs, scn, tiff, ..., png, jpeg). A row's slide is matched by file name, else by the name without suffix ("P1_0" names ".../P1_0.svs"); files without a row and rows without a file are reported, not fatal.
            deadline: an automl.budget.Deadline to work to instead of `budget` from now (the command line passes its own, counted from the command's start).

        Returns:
            The run's summary (also `self.summary`): test and validation C-index, test AUROC, the risk groups' log-rank p and hazard ratio, the net, epochs and wall time.
        """
        from automl.survival.clinical import prepare_cohort

        run = self._existing_run()
        self.summary = None if run is None else run.completed()
        if self.summary is not None:
            self.say(f"{run.path}: already complete; the results are loaded")
            return self.summary
        cohort, notes = prepare_cohort(clinical, slides, self.clinical, self.data)  # bad data makes no run
        run = run or self._new_run()
        from automl.survival.workflow import run_survival

        where = str(slides) if isinstance(slides, (str, Path)) else os.path.commonpath(
            [str(Path(p).resolve().parent) for p in cohort.slides["path"]])
        self.summary = run_survival(self, run, cohort, notes, deadline or self.new_deadline(), where)
        return self.summary

    def _existing_run(self):
        """The run directory already at `directory_path` (none after overwrite=True clears it)."""
        from automl.rundir import RunDir

        self.clear(self.directory_path)
        return RunDir.open(self.directory_path) if (self.directory_path / RunDir.CONFIG).exists() else None

    def _new_run(self):
        from automl.rundir import RunDir

        config = {"seed": self.seed, "budget": self.budget, **self.config_sections(), "api": "automl.SurvivalAnalysis"}
        return RunDir.create(self.directory_path, "survival", config,
                             header="# Settings of an automl.SurvivalAnalysis (Python API).\n")

    def config_sections(self) -> dict:
        """The settings as the sections of `automl survival`'s config (`net` is `model:`, `training` is `train:`)."""
        sections = {"slides": self.slides, "clinical": self.clinical, "data": self.data, "model": self.net,
                    "train": self.training, "search": self.search}
        return {key: None if value is None else value.to_dict() for key, value in sections.items()}

    # -- results ---------------------------------------------------------------------------
    @property
    def directory_path(self) -> Path:
        """The run directory: `directory/project_name` (project_name None: "survival")."""
        return self.run_path("survival")

    def _run_dir(self):
        from automl.rundir import RunDir

        run = RunDir.open(self.directory_path)
        if run.summary() is None:
            raise ValueError(f"{run.path} holds no finished analysis yet; call fit() first")
        return run

    @property
    def model(self):
        """The trained net (the epoch with the best validation C-index): raw RGB thumbnails, or bags
        of tiles, to log-risks (higher: shorter expected survival)."""
        import keras

        import automl.survival.loss  # noqa: F401  registers CoxLoss, which the saved net is compiled with

        return keras.models.load_model(self._run_dir().best_path)

    @property
    def metrics(self) -> dict:
        """Every number of the report (metrics.json): per unit (patients, slides) and split (train,
        val, test): n, events, c_index, auroc, their per-source standardised versions, and the risk
        groups (cut, high, low, logrank_p, hazard_ratio, hazard_ratio_ci)."""
        return json.loads((self._run_dir().path / "metrics.json").read_text())

    @property
    def risks(self):
        """One row per patient (risks.csv, a pandas DataFrame): split, source, time, event, risk, group."""
        import pandas as pd

        return pd.read_csv(self._run_dir().path / "risks.csv")

    def export(self, path, formats=DEFAULT_FORMATS):
        """Writes the trained net as `automl export` does (see automl.export.export_run): a
        SavedModel for serving, model.keras and export.json; `formats` may add tflite or onnx.
        Returns the folder."""
        from automl.export import export_run

        return export_run(self._run_dir().path, path, formats=tuple(formats))


# One definition of every argument: the run's arguments and their documentation are SearchRun's.
SurvivalAnalysis.__init__.__signature__ = merged_signature(SurvivalAnalysis.__init__, SearchRun)
SurvivalAnalysis.__doc__ = (SurvivalAnalysis.__doc__.rstrip() + "\n" + "\n".join(
    "    " + line.replace("`search()`", "`fit()`") for line in merged_args_doc(SearchRun).splitlines()[1:]) + "\n")
