"""The clinical table: slides to patients, survival time and event, source and split.

The table is a pandas DataFrame with one row per slide, its columns named by
`automl.survival.ClinicalColumns`. Every problem with it is found before training, each with one
line naming it (and the rows, by the frame's index): missing columns, non-numeric or negative
times, events other than 0/1, a patient whose rows disagree. Slides without a row and rows
without a slide are reported, not fatal.

A row's slide is matched to a file by its file name, else by its name without suffix: "P1_0" and
"P1_0.svs" both name `.../P1_0.svs`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from automl.errors import UsageError, shown
from automl.survival.settings import ClinicalColumns
from automl.survival.slides import SLIDE_SUFFIXES

SPLITS = ("train", "val", "test")


@dataclass
class Cohort:
    slides: "object"                    # DataFrame: slide, path, patient, time, event, source, split
    patients: "object"                  # DataFrame: patient, time, event, source, split
    unmatched_slides: list[str] = field(default_factory=list)  # slide files without a row
    missing_files: list[str] = field(default_factory=list)     # rows whose file is not among the slides
    patients_without_slides: list[str] = field(default_factory=list)


def clinical_table(frame, columns, name: str = "clinical table"):
    """`frame`'s columns as slide, patient, time, event, source, split, checked (`columns`: an
    automl.survival.ClinicalColumns); `name` names the table in messages."""
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise UsageError(f"{name}: expected a pandas DataFrame, got {type(frame).__name__}")
    needed = {key: getattr(columns, key) for key in ClinicalColumns.REQUIRED}
    missing = [f"{column!r} ({key})" for key, column in needed.items() if column not in frame.columns]
    if missing:
        raise UsageError(f"{name} lacks column {', '.join(missing)}; it has {', '.join(map(repr, frame.columns))} "
                         "(name yours in the clinical settings: --set clinical.KEY=NAME, or clinical={'KEY': NAME})")
    out = pd.DataFrame({key: frame[column] for key, column in needed.items()})
    for key in ClinicalColumns.OPTIONAL:
        column = getattr(columns, key)
        out[key] = frame[column].astype(str) if column in frame.columns else ("all" if key == "source" else None)
    out["slide"], out["patient"] = out["slide"].astype(str), out["patient"].astype(str)
    _check_numbers(out, name, columns)
    return out


def _rows(labels) -> str:
    return f"{', '.join(map(str, labels[:5]))}{' ...' if len(labels) > 5 else ''}"


def _check_numbers(table, name: str, columns) -> None:
    import pandas as pd

    for key in ("time", "event"):
        values = pd.to_numeric(table[key], errors="coerce")
        bad = table.index[values.isna()].tolist()
        if bad:
            raise UsageError(f"{name}: column {getattr(columns, key)!r} ({key}) is not numeric in row(s) {_rows(bad)} "
                             f"(value {shown(table.loc[values.isna(), key].iloc[0])})")
        table[key] = values
    infinite = table.index[~np.isfinite(table["time"])].tolist()
    if infinite:
        raise UsageError(f"{name}: survival time is not a finite number in row(s) {_rows(infinite)}")
    negative = table.index[table["time"] < 0].tolist()
    if negative:
        raise UsageError(f"{name}: negative survival time in row(s) {_rows(negative)}")
    odd = ~table["event"].isin([0, 1])
    if odd.any():
        raise UsageError(f"{name}: column {columns.event!r} (event) must be 0 (censored) or 1 (event); row "
                         f"{table.index[odd][0]} has {shown(table.loc[odd, 'event'].iloc[0])}")
    table["event"] = table["event"].astype(int)
    if table["split"].notna().any():
        wrong = sorted(set(table["split"].dropna()) - set(SPLITS))
        if wrong:
            raise UsageError(f"{name}: column {columns.split!r} (split) must hold train, val or test; found "
                             f"{', '.join(map(repr, wrong))}")


def slide_files(slides) -> dict[str, Path]:
    """{file name: path} of `slides`: a folder (every slide file under it, see SLIDE_SUFFIXES) or a
    list of slide paths."""
    if isinstance(slides, (str, Path)):
        folder = Path(slides)
        if not folder.is_dir():
            raise UsageError(f"slide folder {folder} does not exist")
        files = {p.name: p for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix.lower() in SLIDE_SUFFIXES}
        if not files:
            raise UsageError(f"slide folder {folder} holds no slide files ({', '.join(SLIDE_SUFFIXES)})")
        return files
    paths = [Path(p) for p in slides]
    absent = [str(p) for p in paths if not p.is_file()]
    if absent:
        more = f" (nor {len(absent) - 1} more)" if absent[1:] else ""
        raise UsageError(f"slide file {absent[0]} does not exist{more}")
    if not paths:
        raise UsageError("the list of slides is empty")
    return {p.name: p for p in paths}


def match_slides(table, slides) -> Cohort:
    """Pair rows with slide files (`slides`: a folder or a list of paths), by file name or by
    name without suffix."""
    files = slide_files(slides)
    by_stem = {p.stem: p for p in files.values()}
    paths = [files.get(s) or by_stem.get(s) or by_stem.get(Path(s).stem) for s in table["slide"]]
    table = table.assign(path=[str(p) if p else None for p in paths])
    missing = table.loc[table["path"].isna(), "slide"].tolist()
    used = {Path(p).name for p in table["path"].dropna()}
    unmatched = [name for name in files if name not in used]
    slides = table[table["path"].notna()].reset_index(drop=True)
    without = sorted(set(table["patient"]) - set(slides["patient"]))
    patients = _patients(slides)
    return Cohort(slides, patients, unmatched, missing, without)


def _patients(slides):
    """One row per patient; its slides must agree on time, event and source."""
    groups = slides.groupby("patient", sort=True)
    for key in ("time", "event", "source"):
        disagree = [p for p, n in groups[key].nunique(dropna=False).items() if n > 1]
        if disagree:
            raise UsageError(f"clinical table: the rows of patient {disagree[0]!r} disagree on {key}; one patient "
                             "has one survival time, event and source")
    return groups.agg(time=("time", "first"), event=("event", "first"), source=("source", "first"),
                      split=("split", "first")).reset_index()


def assign_splits(cohort: Cohort, val_fraction: float, test_fraction: float, seed: int) -> Cohort:
    """Splits by patient, stratified by event and seeded (unless the table has a split column);
    every slide follows its patient. Refuses a split without events."""
    from sklearn.model_selection import train_test_split

    patients = cohort.patients.copy()
    if patients["split"].isna().any():
        if patients["split"].notna().any():
            raise UsageError("clinical table: the split column is filled for some patients only")
        ids, events = patients["patient"].to_numpy(), patients["event"].to_numpy()
        stratify = events if min(np.bincount(events, minlength=2)) >= 3 else None
        try:
            rest, test = train_test_split(ids, test_size=test_fraction, random_state=seed, stratify=stratify)
            rest_events = patients.set_index("patient").loc[rest, "event"].to_numpy()
            stratify = rest_events if stratify is not None and min(np.bincount(rest_events, minlength=2)) >= 2 else None
            train, val = train_test_split(rest, test_size=val_fraction / (1 - test_fraction), random_state=seed,
                                          stratify=stratify)
        except ValueError as e:
            raise UsageError(f"cannot split {len(ids)} patients into train/val/test ({e}); add patients or "
                             "give a split column") from None
        split = {**dict.fromkeys(train, "train"), **dict.fromkeys(val, "val"), **dict.fromkeys(test, "test")}
        patients["split"] = patients["patient"].map(split)
    for name in SPLITS:
        part = patients[patients["split"] == name]
        if len(part) == 0:
            raise UsageError(f"the {name} split has no patients; add patients or change data.val_fraction/"
                             "data.test_fraction")
        if part["event"].sum() == 0:
            raise UsageError(f"the {name} split has no events ({len(part)} patients, all censored): the Cox loss and "
                             "the C-index need events; add patients with events, change data.split_seed, or "
                             "give a split column")
    slides = cohort.slides.drop(columns="split").merge(patients[["patient", "split"]], on="patient")
    return Cohort(slides, patients, cohort.unmatched_slides, cohort.missing_files, cohort.patients_without_slides)


def prepare_cohort(frame, slides, columns, data, name: str = "clinical table") -> tuple[Cohort, list[str]]:
    """The checked table (`frame`, named by `columns`), its rows matched to `slides` (a folder or a
    list of paths) and its patients split (`data`: an automl.survival.SurvivalDataSettings); with
    the notes on what did not match. Light: pandas and scikit-learn, no TensorFlow."""
    table = clinical_table(frame, columns, name)
    cohort = match_slides(table, slides)
    notes = [f"slide file without a clinical row: {file}" for file in cohort.unmatched_slides]
    notes += [f"clinical row without its slide file: {file}" for file in cohort.missing_files]
    notes += [f"patient without any slide: {p}" for p in cohort.patients_without_slides]
    notes += [f"clinical row names {slide!r} with a folder: matched to {Path(path).name} by its file name "
              "(folders in the slide column are ignored)"
              for slide, path in zip(cohort.slides["slide"], cohort.slides["path"]) if Path(slide).name != slide]
    if cohort.slides.empty:
        where = slides if isinstance(slides, (str, Path)) else f"the {len(slide_files(slides))} slide paths given"
        raise UsageError(f"no row of {name} names a slide in {where}; check the {columns.slide!r} column")
    return assign_splits(cohort, data.val_fraction, data.test_fraction, data.split_seed), notes
