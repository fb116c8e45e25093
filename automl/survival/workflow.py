"""One survival run into its run directory: the cohort's slides read, a Cox net trained (the epoch
with the best validation C-index kept), per-patient and per-slide risks, metrics, Kaplan-Meier
curves and a report. Resumable: a killed run continues from its last epoch.

`analysis` below is the automl.SurvivalAnalysis that runs it: its settings, seed and `say`.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import keras
import numpy as np

from automl.budget import Deadline, format_duration
from automl.callbacks import Checkpointer, Progress, StopAtDeadline, StopOnNonFinite, load_state, tensorboard
from automl.errors import UsageError
from automl.io import atomic_save_model, atomic_write_json, atomic_write_text, load_model
from automl.live import LiveBar
from automl.rundir import RunDir
from automl.survival import clinical as clin
from automl.survival.evaluate import metrics
from automl.survival.net import ValidationCIndex, build, compile_survival, patient_risks
from automl.survival.report import km_plot, risk_histogram, write_report
from automl.survival.search import search_architecture
from automl.survival.slides import SlideCache, SlideError, read_slide
from models.survival import SurvivalNetSpec


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "automl" / "slides"


def read_all(analysis, cohort: clin.Cohort) -> tuple[dict, list[dict]]:
    """Pixels per slide path; unreadable slides are skipped and returned with their reason."""
    s, say = analysis.slides, analysis.say
    cache = SlideCache(s.cache_dir or default_cache_dir())
    settings, pixels, skipped, cached = s.reading(), {}, [], 0
    started = time.perf_counter()
    rows = cohort.slides
    bar = LiveBar(len(rows), "reading slides", unit="slide", show=bool(analysis.verbose))
    for i, row in enumerate(rows.itertuples()):
        try:
            result = read_slide(Path(row.path), s.mode, settings, cache, analysis.seed)
        except SlideError as e:
            bar.update()
            skipped.append({"slide": row.slide, "patient": row.patient, "reason": str(e)})
            say(f"  skipping {e}")
            continue
        bar.update()
        if s.mode == "tiles" and len(result["pixels"]) == 0:
            skipped.append({"slide": row.slide, "patient": row.patient,
                            "reason": f"no tile with {s.min_tissue:.0%} tissue"})
            say(f"  skipping {row.slide}: no tile with {s.min_tissue:.0%} tissue")
            continue
        pixels[row.path] = result["pixels"]
        cached += result["cached"]
        if (i + 1) % 20 == 0 or i + 1 == len(rows):
            say(f"  read {i + 1}/{len(rows)} slides ({cached} from the cache), {time.perf_counter() - started:.0f}s")
    bar.close()
    return pixels, skipped


def drop_skipped(cohort: clin.Cohort, pixels: dict) -> clin.Cohort:
    """Keep the readable slides; every split must still hold an event."""
    slides = cohort.slides[cohort.slides["path"].isin(list(pixels))].reset_index(drop=True)
    patients = cohort.patients[cohort.patients["patient"].isin(set(slides["patient"]))].reset_index(drop=True)
    for split in clin.SPLITS:
        part = patients[patients["split"] == split]
        if len(part) == 0 or part["event"].sum() == 0:
            raise UsageError(f"after skipping unreadable slides the {split} split has "
                             f"{'no patients' if len(part) == 0 else 'no events'}; see the skipped slides above")
    return clin.Cohort(slides, patients, cohort.unmatched_slides, cohort.missing_files, cohort.patients_without_slides)


def arrays(analysis, cohort: clin.Cohort, pixels: dict, split: str):
    """Inputs and (time, event) targets of one split: one thumbnail per slide, or one bag of
    tiles per patient (its slides' tiles, at most slides.max_tiles, seeded)."""
    if analysis.slides.mode == "thumbnail":
        rows = cohort.slides[cohort.slides["split"] == split]
        x = np.stack([pixels[p] for p in rows["path"]])
    else:
        rows = cohort.patients[cohort.patients["split"] == split]
        rng = np.random.default_rng(analysis.seed)
        s, k = analysis.slides.tile_size, analysis.slides.max_tiles
        x = np.zeros((len(rows), k, s, s, 3), np.uint8)
        for i, patient in enumerate(rows["patient"]):
            tiles = np.concatenate([pixels[p] for p in cohort.slides.loc[cohort.slides["patient"] == patient, "path"]])
            keep = np.sort(rng.choice(len(tiles), min(k, len(tiles)), replace=False))
            x[i, :len(keep)] = tiles[keep]
    y = rows[["time", "event"]].to_numpy(np.float32)
    return x, y, rows.reset_index(drop=True)


def slide_bags(slides, rows, pixels: dict) -> np.ndarray:
    """Each slide's tiles (at most slides.max_tiles, zero-padded) as one bag."""
    s, k = slides.tile_size, slides.max_tiles
    x = np.zeros((len(rows), k, s, s, 3), np.uint8)
    for i, path in enumerate(rows["path"]):
        tiles = pixels[path][:k]
        x[i, :len(tiles)] = tiles
    return x


def run_survival(analysis, run: RunDir, cohort: clin.Cohort, notes: list[str], deadline: Deadline,
                 slides_dir: str) -> dict:
    """Trains and evaluates on `cohort` (automl.survival.clinical.prepare_cohort's) in `run`;
    `slides_dir` names where the slides lie, for the report. Returns the summary."""
    say, training = analysis.say, analysis.training
    say(f"cohort: {len(cohort.slides)} slides of {len(cohort.patients)} patients "
        f"({int(cohort.patients['event'].sum())} events); split by patient "
        + ", ".join(f"{s} {int((cohort.patients['split'] == s).sum())}" for s in clin.SPLITS))
    for note in notes:
        say(f"  note: {note}")
    say(f"reading slides ({analysis.slides.mode} mode)")
    pixels, skipped = read_all(analysis, cohort)
    cohort = drop_skipped(cohort, pixels)
    data = {split: arrays(analysis, cohort, pixels, split) for split in clin.SPLITS}
    keras.utils.set_random_seed(analysis.seed)
    run.update_meta(task="survival", mode=analysis.slides.mode, input_shape=list(data["train"][0].shape[1:]),
                    slides_dir=slides_dir, skipped=skipped, notes=notes)

    spec = SurvivalNetSpec.preset(analysis.net.arch)
    if analysis.search is not None:
        spec = search_architecture(analysis, run, data, deadline)
    state = load_state(run.checkpoints)
    last = run.checkpoints / "last.keras"
    if state is not None and last.exists():
        model = load_model(last)
        say(f"resuming after epoch {state['epoch']}/{training.epochs}")
    else:
        model, spec = build(analysis, data["train"][0].shape[1:], spec)
        compile_survival(model, training)
    say(f"model {spec.name}: {model.count_params():,} weights ({spec.describe()}); Cox loss, "
        f"penalty λ = {training.penalty:g}, Adam {training.learning_rate:g}, batch {training.batch_size}")

    (xt, yt, _), (xv, yv, val_rows) = data["train"], data["val"]
    stopper = StopAtDeadline(deadline, final_passes=3.0)
    checkpointer = Checkpointer(run.checkpoints, run.best_path, [], monitor="val_cindex", tie_break="val_loss",
                                stopper=stopper, mode="max")
    callbacks = [stopper, StopOnNonFinite(), ValidationCIndex(analysis.slides.mode, xv, val_rows), checkpointer,
                 tensorboard(run.path)]  # after the C-index callback, so that val_cindex is among the scalars
    if analysis.verbose:
        callbacks.append(Progress(training.epochs, deadline=deadline))
    started = time.perf_counter()
    if not checkpointer.state["finished"] and not deadline.expired():
        model.fit(xt, yt, batch_size=training.batch_size, epochs=training.epochs, validation_data=(xv, yv),
                  initial_epoch=checkpointer.state["epoch"], callbacks=callbacks, verbose=0, shuffle=True)
    if not run.best_path.exists():
        atomic_save_model(model, run.best_path)
    best = load_model(run.best_path)
    return evaluate_run(analysis, run, best, spec, cohort, data, pixels, skipped, notes, checkpointer.state,
                        slides_dir, time.perf_counter() - started, deadline)


def evaluate_run(analysis, run, model, spec, cohort, data, pixels, skipped, notes, state, slides_dir, seconds,
                 deadline) -> dict:
    """Risks per patient and per slide of every split, their metrics (risk groups cut at the
    training patients' median risk), the plots, report.md and the summary."""
    mode, say = analysis.slides.mode, analysis.say
    slide_frames, patient_frames = [], []
    for split, (x, _, rows) in data.items():
        risks = model.predict(x, batch_size=16, verbose=0).reshape(-1)
        if mode == "thumbnail":
            slide_frames.append(rows.assign(risk=risks))
        else:  # a slide's own tiles as a bag of their own: the same net scores one slide
            slide_rows = cohort.slides[cohort.slides["split"] == split].reset_index(drop=True)
            slide_frames.append(slide_rows.assign(risk=model.predict(slide_bags(analysis.slides, slide_rows, pixels),
                                                                     batch_size=16, verbose=0).reshape(-1)))
        patient_frames.append(patient_risks(mode, rows, risks))
    import pandas as pd

    patients = pd.concat(patient_frames, ignore_index=True)
    slides = pd.concat(slide_frames, ignore_index=True)
    cut = float(patients.loc[patients["split"] == "train", "risk"].median())
    slide_cut = float(slides.loc[slides["split"] == "train", "risk"].median())
    result = {"patients": {s: metrics(patients[patients["split"] == s], cut) for s in clin.SPLITS},
              "slides": {s: metrics(slides[slides["split"] == s], slide_cut) for s in clin.SPLITS}}
    patients = patients.assign(group=np.where(patients["risk"] > cut, "high", "low"))
    atomic_write_text(run.path / "risks.csv", patients.to_csv(index=False))
    atomic_write_text(run.path / "slide_risks.csv",
                      slides[["slide", "patient", "split", "source", "time", "event", "risk"]].to_csv(index=False))
    atomic_write_json(run.path / "metrics.json", result)
    km_plot(patients, cut, run.path / "km.png")
    risk_histogram(patients, run.path / "risk_histogram.png")
    test, val = result["patients"]["test"], result["patients"]["val"]
    summary = {
        "command": "survival", "best_model": RunDir.BEST, "mode": mode, "arch": spec.name,
        "spec": spec.to_dict(), "params": int(model.count_params()), "slides_dir": str(slides_dir),
        "slides": int(len(cohort.slides)), "patients": int(len(cohort.patients)), "skipped_slides": len(skipped),
        "epochs_trained": state["epoch"], "best_epoch": state["best_epoch"],
        "val_c_index": val["c_index"], "test_c_index": test["c_index"], "test_c_index_std": test["c_index_std"],
        "test_auroc": test["auroc"], "test_logrank_p": test["groups"]["logrank_p"],
        "test_hazard_ratio": test["groups"]["hazard_ratio"], "wall_seconds": seconds, "budget": deadline.report(),
    }
    write_report(run.path, summary, result, skipped, notes)
    run.write_summary(summary)
    say(f"best epoch {state['best_epoch']}: validation C-index {_text(val['c_index'])}; test C-index "
        f"{_text(test['c_index'])} (per-source std. {_text(test['c_index_std'])}), AUROC {_text(test['auroc'])}, "
        f"log-rank p {_text(test['groups']['logrank_p'], 4)} ({format_duration(seconds)})")
    say(f"report in {run.path / 'report.md'}; export with `automl export {run.path} --out DIR`")
    return summary


def _text(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"
