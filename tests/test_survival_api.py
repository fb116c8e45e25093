"""Whole-slide survival from Python (issue 17): automl.SurvivalAnalysis on a DataFrame and a list
of slide paths into a run directory the command line reads; its settings classes name a bad
argument, hold their rules at the boundary and are the config's sections; `import automl.survival`
loads no TensorFlow."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import automl
from automl.errors import ConfigError, UsageError
from automl.rundir import RunDir
from automl.survival import (ClinicalColumns, DemoSettings, SlidesSettings, SurvivalAnalysis, SurvivalDataSettings,
                             SurvivalModelSettings, SurvivalSearchSettings, SurvivalTrainingSettings, write_cohort)

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = {"slide": "file", "patient": "id", "time": "months", "event": "dead", "source": "site"}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """16 patients, small slides; the table with the user's own column names, half of its slides
    named without their suffix, and one slide file that no row names."""
    root = tmp_path_factory.mktemp("api-cohort")
    table = pd.read_csv(write_cohort(root, patients=16, size_hw=(384, 512), seed=3))
    table["slide"] = [s.removesuffix(".tiff") if i % 2 else s for i, s in enumerate(table["slide"])]
    shutil.copy(root / "slides" / "patient000_0.tiff", root / "stray.tiff")
    paths = sorted((root / "slides").glob("*.tiff")) + [root / "stray.tiff"]
    return table.rename(columns=COLUMNS), paths


@pytest.fixture(scope="module")
def fitted(cohort, tmp_path_factory):
    frame, paths = cohort
    root = tmp_path_factory.mktemp("api-run")
    analysis = SurvivalAnalysis(clinical=ClinicalColumns(**COLUMNS), net={"arch": "vgg-tiny"},
                                slides={"downsample": 8, "canvas": [64, 80], "cache_dir": str(root / "cache")},
                                training=SurvivalTrainingSettings(epochs=2), directory=str(root), project_name="sv",
                                verbose=0)
    return analysis, analysis.fit(frame, [str(p) for p in paths])


def test_fit_takes_a_dataframe_and_slide_paths_and_writes_a_run_directory(fitted, cohort):
    from lifelines.utils import concordance_index

    analysis, summary = fitted
    frame, _ = cohort
    run = RunDir.open(analysis.directory_path)
    assert run.path == Path(analysis.directory) / "sv" and run.summary() == summary == analysis.summary
    # every row matched, by file name or by name without suffix; the stray file is a note
    assert (summary["patients"], summary["slides"]) == (16, len(frame))
    assert run.meta()["notes"] == ["slide file without a clinical row: stray.tiff"]
    risks = analysis.risks
    assert sorted(risks["patient"]) == sorted(set(frame["id"].astype(str)))
    test = risks[risks["split"] == "test"]
    assert 0.0 <= summary["test_c_index"] <= 1.0
    assert summary["test_c_index"] == pytest.approx(concordance_index(test["time"], -test["risk"], test["event"]),
                                                    abs=1e-12)
    groups = analysis.metrics["patients"]["test"]["groups"]
    assert groups["logrank_p"] == summary["test_logrank_p"] and groups["high"] + groups["low"] == len(test)
    config = run.config()  # the settings as `automl survival`'s sections
    assert config["clinical"]["time"] == "months" and config["model"]["arch"] == "vgg-tiny"
    assert config["train"]["epochs"] == 2 and config["search"] is None


def test_the_trained_net_gives_the_written_risks_and_the_cli_reads_the_run(fitted, capsys):
    from automl.survival.slides import SlideCache, read_slide
    from pipelines.cli import main

    analysis, summary = fitted
    model = analysis.model
    slides = pd.read_csv(analysis.directory_path / "slide_risks.csv").head(3)
    paths = {p.name: p for p in Path(json.loads((analysis.directory_path / "meta.json").read_text())["slides_dir"])
             .glob("*.tiff")}
    cache = SlideCache(analysis.slides.cache_dir)
    x = np.stack([read_slide(paths[s if s.endswith(".tiff") else s + ".tiff"], "thumbnail", analysis.slides.reading(),
                             cache, analysis.seed)["pixels"] for s in slides["slide"]])
    np.testing.assert_allclose(model.predict(x, verbose=0).ravel(), slides["risk"], rtol=1e-5, atol=1e-5)
    assert main(["report", str(analysis.directory_path)]) == 0
    assert "Results per patient" in capsys.readouterr().out


def test_a_second_fit_on_the_same_run_loads_it(fitted, cohort):
    analysis, summary = fitted
    frame, paths = cohort
    log = (analysis.directory_path / "summary.json").read_text()
    again = SurvivalAnalysis(directory=analysis.directory, project_name="sv", verbose=0)
    assert again.fit(frame, paths) == summary and (analysis.directory_path / "summary.json").read_text() == log


def test_bad_tables_and_slide_lists_are_named_before_training(cohort, tmp_path):
    frame, paths = cohort
    analysis = SurvivalAnalysis(clinical=COLUMNS, directory=str(tmp_path), verbose=0)
    with pytest.raises(UsageError, match=r"lacks column 'months' \(time\)"):
        analysis.fit(frame.drop(columns="months"), paths)
    with pytest.raises(UsageError, match=r"column 'dead' \(event\) must be 0 \(censored\) or 1 \(event\); row 3 has 2"):
        analysis.fit(frame.assign(dead=[0, 0, 0, 2] + list(frame["dead"][4:])), paths)
    with pytest.raises(UsageError, match="slide file .*nowhere.tiff does not exist"):
        analysis.fit(frame, [*paths, tmp_path / "nowhere.tiff"])
    with pytest.raises(UsageError, match=r"lacks column 'slide' \(slide\), 'patient' \(patient\), 'event' \(event\); "
                                         r"it has 'file', 'id', 'months'"):  # the defaults where the user named none
        SurvivalAnalysis(clinical={"time": "months"}, directory=str(tmp_path), verbose=0).fit(frame, paths)
    assert not (tmp_path / "survival").exists()  # bad data makes no run directory


@pytest.mark.parametrize("make, argument", [
    (lambda: SlidesSettings(mode="tile"), "mode"),
    (lambda: SlidesSettings(downsample=0.5), "downsample"),
    (lambda: SlidesSettings(canvas=[15, 64]), "canvas"),
    (lambda: SlidesSettings(tile_size=8), "tile_size"),
    (lambda: SlidesSettings(min_tissue=1.5), "min_tissue"),
    (lambda: SlidesSettings(max_tiles=0), "max_tiles"),
    (lambda: SlidesSettings(target_mpp=0), "target_mpp"),
    (lambda: ClinicalColumns(time=""), "time"),
    (lambda: ClinicalColumns(source="event"), "source"),
    (lambda: SurvivalDataSettings(val_fraction=1.0), "val_fraction"),
    (lambda: SurvivalDataSettings(val_fraction=0.5, test_fraction=0.5), "test_fraction"),
    (lambda: SurvivalDataSettings(split_seed=-1), "split_seed"),
    (lambda: SurvivalModelSettings(arch="vgg19"), "arch"),
    (lambda: SurvivalModelSettings(pooling="max"), "pooling"),
    (lambda: SurvivalTrainingSettings(epochs=0), "epochs"),
    (lambda: SurvivalTrainingSettings(batch_size=1), "batch_size"),
    (lambda: SurvivalTrainingSettings(learning_rate=0.0), "learning_rate"),
    (lambda: SurvivalTrainingSettings(penalty=-0.1), "penalty"),
    (lambda: SurvivalSearchSettings(max_trials=0), "max_trials"),
    (lambda: SurvivalSearchSettings(epochs=0), "epochs"),
    (lambda: DemoSettings(patients=11), "patients"),
    (lambda: DemoSettings(size=[32, 2048]), "size"),
    (lambda: DemoSettings(mpp=0), "mpp"),
    (lambda: SurvivalAnalysis(training=5), "training"),
    (lambda: SurvivalAnalysis(net={"arch": "resnet"}), "arch"),
    (lambda: SurvivalAnalysis(seed=-1), "seed"),
])
def test_a_bad_argument_to_each_survival_settings_class_names_it(make, argument):
    with pytest.raises(ValueError, match=rf"argument `{argument}` must be .*Received: {argument}="):
        make()


def test_the_survival_rules_hold_at_their_boundary():
    assert SurvivalTrainingSettings(batch_size=2, penalty=0.0).batch_size == 2  # the Cox loss needs a pair
    assert SurvivalDataSettings(val_fraction=0.5, test_fraction=0.49).test_fraction == 0.49
    assert DemoSettings(patients=12).patients == 12
    slides = SlidesSettings(downsample=1, canvas=[16, 16], tile_size=16, min_tissue=1, max_tiles=1)
    assert (slides.downsample, slides.canvas, slides.min_tissue) == (1.0, [16, 16], 1.0)
    assert ClinicalColumns(source="scanner", split="fold").to_dict()["split"] == "fold"


def test_the_config_sections_are_the_settings_classes_and_name_key_and_flag():
    from pipelines.config import load_config

    cfg = load_config("survival", None, ["train.epochs=3", "clinical.time=MSS_months", "slides.downsample=8"])
    assert isinstance(cfg.train, SurvivalTrainingSettings) and isinstance(cfg.demo, DemoSettings)
    assert (cfg.train.epochs, cfg.clinical.time, cfg.slides.downsample, cfg.seed) == (3, "MSS_months", 8.0, 0)
    with pytest.raises(ConfigError, match=r"--set train.batch_size=1: 'train.batch_size' must be an integer >= 2"):
        load_config("survival", None, ["train.batch_size=1"])
    with pytest.raises(ConfigError, match=r"--set data.test_fraction=0.8: 'data.test_fraction' must be in \(0, 1\), "
                                          r"with val_fraction \+ test_fraction below 1, got 0.8"):
        load_config("survival", None, ["data.test_fraction=0.8"])


def test_automl_exports_the_analysis_and_its_package_loads_no_tensorflow():
    assert automl.SurvivalAnalysis is SurvivalAnalysis and "SurvivalAnalysis" in automl.__all__
    from automl.survival import CoxLoss, cox_terms  # noqa: F401  the loss as before the move

    assert automl.CoxLoss is CoxLoss
    code = ("import sys, automl.survival, automl.survival.settings, automl.survival.api; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip() == "[]"


def test_a_csv_row_is_named_by_its_line(tmp_path):
    from automl.survival.clinical import clinical_table
    from pipelines.survival.clinical import read_table

    path = tmp_path / "clinical.csv"
    path.write_text("slide,patient,time,event\na.tiff,P1,3.0,1\nb.tiff,P2,soon,0\n")  # line 3: the second row
    with pytest.raises(UsageError, match=r"clinical table: column 'time' \(time\) is not numeric in row\(s\) 3 "
                                         r"\(value 'soon'\)"):
        clinical_table(read_table(path), ClinicalColumns())


def test_the_clinical_columns_a_table_needs_and_may_have_are_its_arguments():
    from automl.survival.settings import ClinicalColumns

    assert ClinicalColumns.REQUIRED + ClinicalColumns.OPTIONAL == tuple(ClinicalColumns.parameters())
