"""Whole-slide survival (issue #8): the Cox loss against lifelines, the C-index sign, tiling on a
synthetic slide, the demo pipeline end to end in both modes, and every bad-input case."""
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from automl.export import export_run
from automl.survival import CoxLoss
from conftest import html_report_images, run_automl, tensorboard_tags
from pipelines.cli import main
from automl.survival.cohort import write_cohort, write_pyramid
from automl.survival.evaluate import c_index, standardise_by_source
from automl.survival.slides import SlideCache, open_slide, read_slide, tile_grid, tissue_mask

SMALL = ["--set", "train.epochs=2", "--set", "slides.canvas=[64,80]", "--set", "slides.downsample=8",
         "--set", "slides.cache_dir=CACHE"]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """16 patients, small slides: written once for the module."""
    root = tmp_path_factory.mktemp("cohort")
    table = write_cohort(root, patients=16, size_hw=(384, 512), seed=3)
    return root, table


def copy_cohort(cohort, tmp_path):
    root, _ = cohort
    shutil.copytree(root, tmp_path / "c")
    return tmp_path / "c" / "slides", tmp_path / "c" / "clinical.csv"


def survival(tmp_path, *args):
    return ["survival", *args, *(a.replace("CACHE", str(tmp_path / "cache")) for a in SMALL)]


def test_cox_loss_recovers_lifelines_coefficients():
    import tensorflow as tf
    from lifelines import CoxPHFitter
    from lifelines.datasets import load_regression_dataset
    from scipy.optimize import minimize

    df = load_regression_dataset()  # continuous times: no ties, so Breslow = Efron = exact
    assert df["T"].duplicated().sum() == 0
    covariates = ["var1", "var2", "var3"]
    expected = CoxPHFitter().fit(df, "T", "E").params_[covariates].to_numpy()
    x = tf.constant(df[covariates].to_numpy(np.float32))
    y = tf.constant(df[["T", "E"]].to_numpy(np.float32))
    loss = CoxLoss()

    def value_and_grad(beta):
        b = tf.Variable(beta.astype(np.float32)[:, None])
        with tf.GradientTape() as tape:
            value = loss(y, x @ b) * len(df)  # the summed partial likelihood
        return float(value), tape.gradient(value, b).numpy().ravel().astype(np.float64)

    found = minimize(value_and_grad, np.zeros(3), jac=True, method="BFGS", options={"gtol": 1e-7}).x
    np.testing.assert_allclose(found, expected, atol=1e-3)


def test_event_free_batch_contributes_zero_and_the_penalty_pins_the_mean():
    y = np.array([[3.0, 0], [1.0, 0], [2.0, 0]], np.float32)
    risks = np.array([[50.0], [-20.0], [1.0]], np.float32)
    assert float(CoxLoss()(y, risks)) == 0.0
    assert float(CoxLoss(0.5)(y, risks)) == pytest.approx(0.5 * 31.0 ** 2 / 3, rel=1e-5)
    tied = np.array([[1.0, 1], [1.0, 1]], np.float32)  # Breslow: each tied event sees both at risk
    assert float(CoxLoss()(tied, np.zeros((2, 1), np.float32))) == pytest.approx(np.log(2.0), rel=1e-5)


def test_c_index_sign_higher_risk_dies_sooner():
    times, events = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1, 1, 1, 1])
    assert c_index(times, events, np.array([4.0, 3.0, 2.0, 1.0])) == 1.0
    assert c_index(times, events, np.array([1.0, 2.0, 3.0, 4.0])) == 0.0
    assert c_index(times, np.zeros(4), np.arange(4.0)) is None
    std = standardise_by_source(np.array([1.0, 3.0, 100.0, 104.0]), np.array(["a", "a", "b", "b"]))
    np.testing.assert_allclose(std, [-1, 1, -1, 1])


def test_tiles_lie_on_the_tissue_with_their_fraction(tmp_path):
    image = np.full((512, 768, 3), 250, np.uint8)
    image[128:384, 256:640] = (120, 50, 140)  # tissue: rows 128-384, columns 256-640
    path = tmp_path / "slide.tiff"
    write_pyramid(path, image, mpp=0.5)
    slide = open_slide(path)
    assert slide.level_count == 2 and slide.properties["openslide.mpp-x"].startswith("0.5")
    mask = tissue_mask(slide, mask_downsample=8)
    tiles = tile_grid(slide, 32, 2.0, None, 0.9, 1000, seed=0, mask=mask)  # 64 level-0 px per tile
    assert {(t.x, t.y) for t in tiles} == {(x, y) for x in range(256, 640, 64) for y in range(128, 384, 64)}
    assert all(t.size0 == 64 and t.tissue == 1.0 for t in tiles)
    half = tile_grid(slide, 32, 2.0, None, 0.4, 1000, seed=0, mask=mask)
    assert len(half) == len(tiles)  # the rectangle sits on the tile grid: no partial tiles
    by_mpp = tile_grid(slide, 32, 99.0, 1.0, 0.9, 1000, seed=0, mask=mask)  # 1 µm/px on a 0.5 µm/px slide: 2x
    assert [(t.x, t.y) for t in by_mpp] == [(t.x, t.y) for t in tiles]
    few = tile_grid(slide, 32, 2.0, None, 0.9, 5, seed=7, mask=mask)
    assert len(few) == 5 and few == tile_grid(slide, 32, 2.0, None, 0.9, 5, seed=7, mask=mask)
    settings = {"tile_size": 32, "tile_downsample": 2.0, "tile_mpp": None, "min_tissue": 0.9, "max_tiles": 4}
    cache = SlideCache(tmp_path / "cache")
    first = read_slide(path, "tiles", settings, cache, seed=0)
    again = read_slide(path, "tiles", settings, cache, seed=0)
    assert first["pixels"].shape == (4, 32, 32, 3) and not first["cached"] and again["cached"]
    np.testing.assert_array_equal(first["pixels"], again["pixels"])
    assert np.abs(first["pixels"].astype(int) - (120, 50, 140)).max() < 3
    from PIL import Image  # a plain image reads through OpenSlide's fallback, as one level

    Image.fromarray(image).save(tmp_path / "plain.png")
    assert open_slide(tmp_path / "plain.png").level_count == 1
    plain = read_slide(tmp_path / "plain.png", "tiles", settings, None, seed=0)
    assert plain["pixels"].shape == (4, 32, 32, 3)


def check_metrics(metrics, risks, slide_risks):
    """metrics.json against the written risks: per unit and split the counts, Harrell's C-index
    (lifelines on the negated risk), AUROC of the event indicator (sklearn) and the cut at the
    training median; high = risk above it."""
    from lifelines.utils import concordance_index
    from sklearn.metrics import roc_auc_score

    for unit, table in (("patients", risks), ("slides", slide_risks)):
        cut = table.loc[table["split"] == "train", "risk"].median()
        for split in ("train", "val", "test"):
            part, m = table[table["split"] == split], metrics[unit][split]
            assert (m["n"], m["events"]) == (len(part), int(part["event"].sum())), (unit, split)
            assert m["c_index"] == pytest.approx(concordance_index(part["time"], -part["risk"], part["event"]),
                                                 abs=1e-12), (unit, split)
            expected_auroc = roc_auc_score(part["event"], part["risk"]) if part["event"].nunique() == 2 else None
            assert m["auroc"] == pytest.approx(expected_auroc, abs=1e-12), (unit, split)
            assert m["groups"]["cut"] == pytest.approx(cut, rel=1e-6)  # the CSV holds float32 risks
            high = part["risk"].to_numpy(np.float32) > np.float32(m["groups"]["cut"])
            assert m["groups"]["high"] == int(high.sum()), (unit, split)


class Killed(Exception):
    """Stands for kill -9 while the demo cohort is being written."""


def test_a_demo_killed_while_writing_its_cohort_resumes(tmp_path, monkeypatch):
    """benchmarks/kills.py found it: a run killed before it recorded its slides failed on --resume."""
    import automl.survival.cohort as cohort

    real = cohort.write_cohort

    def killed_halfway(directory, *args, **kwargs):
        (Path(directory) / "slides").mkdir(parents=True)
        raise Killed

    run = tmp_path / "run"
    monkeypatch.setattr(cohort, "write_cohort", killed_halfway)
    with pytest.raises(Killed):
        main(survival(tmp_path, "--demo", "--out", str(run), "--quiet", "--set", "demo.patients=12",
                      "--set", "demo.size=[256,320]"))
    assert "slides_dir" not in json.loads((run / "meta.json").read_text())
    monkeypatch.setattr(cohort, "write_cohort", real)
    assert main(["survival", "--resume", "--out", str(run), "--quiet"]) == 0
    meta = json.loads((run / "meta.json").read_text())
    assert Path(meta["clinical"]).exists() and len(list(Path(meta["slides_dir"]).iterdir())) >= 12
    assert (run / "summary.json").exists()


def test_demo_pipeline_end_to_end_and_export(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(survival(tmp_path, "--demo", "--out", str(run), "--set", "demo.patients=16",
                         "--set", "demo.size=[384,512]")) == 0
    err = capsys.readouterr().err
    assert "epoch 2/2" in err and "val_cindex" in err
    assert "epoch_cindex" in tensorboard_tags(run)["validation"]      # the validation C-index per epoch
    assert {"km", "architecture"} <= set(html_report_images(run))     # Kaplan-Meier curves on the run's page
    for name in ("metrics.json", "km.png", "risk_histogram.png", "risks.csv", "slide_risks.csv", "report.md",
                 "best.keras", "summary.json"):
        assert (run / name).stat().st_size > 0, name
    risks = pd.read_csv(run / "risks.csv")
    clinical = pd.read_csv(run / "cohort" / "clinical.csv")
    assert sorted(risks["patient"]) == sorted(set(clinical["patient"]))  # one row per patient
    assert set(risks["group"]) <= {"low", "high"} and set(risks["split"]) == {"train", "val", "test"}
    assert (run / "km.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads((run / "metrics.json").read_text())
    slide_risks = pd.read_csv(run / "slide_risks.csv")
    # thumbnails: a patient's risk is the mean of its slides' risks
    np.testing.assert_allclose(risks.set_index("patient")["risk"].sort_index(),
                               slide_risks.groupby("patient")["risk"].mean().sort_index(), rtol=1e-6)
    # every number in metrics.json, recomputed here from the written risks with lifelines and sklearn
    check_metrics(metrics, risks, slide_risks)
    cut = metrics["patients"]["test"]["groups"]["cut"]
    assert (risks["group"] == np.where(risks["risk"].to_numpy(np.float32) > np.float32(cut), "high", "low")).all()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test_c_index"] == metrics["patients"]["test"]["c_index"]
    assert summary["val_c_index"] == metrics["patients"]["val"]["c_index"]
    assert summary["test_logrank_p"] == metrics["patients"]["test"]["groups"]["logrank_p"]
    report_md = (run / "report.md").read_text()
    test_row = next(line for line in report_md.splitlines() if line.startswith("| test | "))
    assert f"| {metrics['patients']['test']['c_index']:.3f} |" in test_row
    out = export_run(run, tmp_path / "export")
    assert (out / "saved_model" / "saved_model.pb").exists()
    assert json.loads((out / "export.json").read_text())["output"].startswith("log-risk")
    again = run_automl("survival", "--resume", "--out", str(run))
    assert again.returncode == 0 and "already complete" in again.stderr
    report = run_automl("report", str(run))
    assert report.returncode == 0 and "Results per patient" in report.stdout


@pytest.mark.slow  # heavy: about 20-40 s on 2 cores; keeps the default run under 15 minutes
def test_tiles_mode_with_attention_pooling(tmp_path, cohort):
    slides, table = copy_cohort(cohort, tmp_path)
    run = tmp_path / "run"
    assert main(survival(tmp_path, "--slides", str(slides), "--clinical", str(table), "--mode", "tiles",
                         "--out", str(run), "--quiet", "--set", "model.pooling=attention", "--set", "slides.tile_size=32",
                         "--set", "slides.tile_downsample=2", "--set", "slides.max_tiles=4")) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["mode"] == "tiles" and summary["patients"] == 16
    slide_risks = pd.read_csv(run / "slide_risks.csv")
    assert len(slide_risks) == summary["slides"] and slide_risks["risk"].notna().all()
    risks = pd.read_csv(run / "risks.csv")
    assert len(risks) == 16 and risks["patient"].is_unique  # one bag, one risk per patient
    check_metrics(json.loads((run / "metrics.json").read_text()), risks, slide_risks)
    import keras

    best = keras.models.load_model(run / "best.keras")  # the configured pooling is the one trained
    assert {"attention", "attention_out"} <= {layer.name for layer in best.layers}
    assert best.input_shape == (None, 4, 32, 32, 3)  # bags of slides.max_tiles tiles of slides.tile_size


def test_search_chooses_a_net_on_the_validation_c_index(tmp_path, cohort):
    slides, table = copy_cohort(cohort, tmp_path)
    run = tmp_path / "run"
    assert main(survival(tmp_path, "--slides", str(slides), "--clinical", str(table), "--search", "--quiet",
                         "--out", str(run), "--set", "search.max_trials=2", "--set", "search.epochs=1")) == 0
    summary = json.loads((run / "summary.json").read_text())
    chosen = json.loads((run / "search" / "chosen.json").read_text())
    assert summary["arch"] == "survival-searched" and summary["spec"]["stages"] == chosen["stages"]
    trials = [json.loads(t.read_text()) for t in (run / "search" / "tuner").glob("trial_*/trial.json")]
    assert len(trials) == 2
    import keras_tuner as kt

    from automl.survival.search import spec_from_hyperparameters

    # the chosen net is the trial with the highest validation C-index
    best = max(t["score"] for t in trials)
    winners = [spec_from_hyperparameters(kt.HyperParameters.from_config(t["hyperparameters"])).stages
               for t in trials if t["score"] == best]
    assert chosen["stages"] in winners


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")  # PIL on the corrupt slide, which is the point
def test_a_corrupt_slide_is_skipped_and_reported_and_orphans_listed(tmp_path, cohort, capsys):
    slides, table = copy_cohort(cohort, tmp_path)
    clinical = pd.read_csv(table)
    (slides / clinical["slide"][0]).write_bytes(b"II*\x00 not a tiff at all")
    shutil.copy(slides / clinical["slide"][1], slides / "stray.tiff")  # a slide without a clinical row
    extra = pd.DataFrame([{"slide": "gone.tiff", "patient": "P999", "time": 3.0, "event": 1, "source": "A"}])
    pd.concat([clinical, extra]).to_csv(table, index=False)
    run = tmp_path / "run"
    assert main(survival(tmp_path, "--slides", str(slides), "--clinical", str(table), "--out", str(run))) == 0
    assert f"skipping {clinical['slide'][0]}" in capsys.readouterr().err  # in process: a traceback would fail the test
    report = (run / "report.md").read_text()
    assert f"skipped slide {clinical['slide'][0]}" in report
    assert "stray.tiff" in report and "gone.tiff" in report and "P999" in report


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.drop(columns="time"), "lacks column 'time'"),
    (lambda t: t.assign(time=["soon"] + list(t["time"][1:])), "not numeric"),
    (lambda t: t.assign(time=[-1.0] + list(t["time"][1:])), "negative survival time"),
    (lambda t: t.assign(time=[float("inf")] + list(t["time"][1:])), "not a finite number"),
    (lambda t: t.assign(event=[2] + list(t["event"][1:])), "must be 0 (censored) or 1"),
    (lambda t: t.assign(event=0), "has no events"),
])
def test_bad_clinical_tables_fail_before_training_in_one_line(tmp_path, cohort, edit, message):
    slides, table = copy_cohort(cohort, tmp_path)
    edit(pd.read_csv(table)).to_csv(table, index=False)
    result = run_automl(*survival(tmp_path, "--slides", str(slides), "--clinical", str(table),
                                  "--out", str(tmp_path / "run")))
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 3
    assert not (tmp_path / "run" / "best.keras").exists()


def test_missing_inputs_are_named(tmp_path):
    nothing = run_automl("survival")
    assert nothing.returncode == 2 and "--slides" in nothing.stderr
    absent = run_automl("survival", "--slides", str(tmp_path / "nowhere"))
    assert absent.returncode == 2 and "does not exist" in absent.stderr
    (tmp_path / "s").mkdir()
    no_table = run_automl("survival", "--slides", str(tmp_path / "s"))
    assert no_table.returncode == 2 and "clinical table" in no_table.stderr
