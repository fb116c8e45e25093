"""Whole-slide survival analysis (seed 002 Ch. 7, Burghoff's melanoma risk stratification;
reference 002 §2c) as a library: a clinical table and slide files in, a Cox net, per-patient
risks, C-index, AUROC, Kaplan-Meier risk groups and a report out.

    import automl
    analysis = automl.SurvivalAnalysis(training={"epochs": 20}, directory="runs", project_name="melanoma")
    summary = analysis.fit(clinical_frame, slide_paths)   # a pandas DataFrame; a list of files or a folder
    summary["test_c_index"], analysis.model, analysis.export("export/melanoma")

One job per module: `settings` (the parameters, light), `clinical` (the table, slides matched to
rows, patient splits), `slides` (OpenSlide reading and its cache), `net` (the Cox net, built and
compiled), `loss` (the Cox loss), `search` (Keras Tuner over the net's depth and widths),
`evaluate` (lifelines metrics), `report` (plots and report.md), `workflow` (the run), `cohort`
(a synthetic cohort for demos and tests), `api` (`SurvivalAnalysis`).

Names load on first use: `import automl.survival` (and its settings) imports no TensorFlow.
"""
from models.lazy import lazy_exports

_EXPORTS = {
    "SurvivalAnalysis": "automl.survival.api",
    "CoxLoss": "automl.survival.loss",
    "cox_terms": "automl.survival.loss",
    "SlidesSettings": "automl.survival.settings",
    "ClinicalColumns": "automl.survival.settings",
    "SurvivalDataSettings": "automl.survival.settings",
    "SurvivalModelSettings": "automl.survival.settings",
    "SurvivalTrainingSettings": "automl.survival.settings",
    "SurvivalSearchSettings": "automl.survival.settings",
    "DemoSettings": "automl.survival.settings",
    "write_cohort": "automl.survival.cohort",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
