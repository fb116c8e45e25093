"""The clinical table: slides to patients, survival time and event, source and split.

Every problem with the table is found before training, each with one line naming it: missing
columns, non-numeric or negative times, events other than 0/1, a patient whose rows disagree.
Slides without a row and rows without a slide are reported, not fatal.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from automl.errors import UsageError
from pipelines.survival.slides import SLIDE_SUFFIXES

SPLITS = ("train", "val", "test")


@dataclass
class Cohort:
    slides: "object"                    # DataFrame: slide, path, patient, time, event, source, split
    patients: "object"                  # DataFrame: patient, time, event, source, split
    unmatched_slides: list[str] = field(default_factory=list)  # files in the folder without a row
    missing_files: list[str] = field(default_factory=list)     # rows whose file is not there
    patients_without_slides: list[str] = field(default_factory=list)


def read_table(path: str | Path, columns: dict) -> "object":
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"clinical table {path} does not exist")
    try:
        table = pd.read_csv(path)
    except Exception as e:  # empty, binary, or malformed CSV
        raise UsageError(f"clinical table {path} cannot be read as CSV ({type(e).__name__}: {e})") from None
    needed = {key: columns[key] for key in ("slide", "patient", "time", "event")}
    missing = [f"{name!r} ({key})" for key, name in needed.items() if name not in table.columns]
    if missing:
        raise UsageError(f"clinical table {path.name} lacks column {', '.join(missing)}; it has "
                         f"{', '.join(map(repr, table.columns))} (rename with --set clinical.KEY=NAME)")
    out = pd.DataFrame({key: table[name] for key, name in needed.items()})
    for key in ("source", "split"):
        name = columns.get(key)
        out[key] = table[name].astype(str) if name and name in table.columns else (
            "all" if key == "source" else None)
    out["slide"], out["patient"] = out["slide"].astype(str), out["patient"].astype(str)
    _check_numbers(out, path.name, columns)
    return out


def _check_numbers(table, name: str, columns: dict) -> None:
    import pandas as pd

    for key in ("time", "event"):
        values = pd.to_numeric(table[key], errors="coerce")
        bad = table.index[values.isna()].tolist()
        if bad:
            raise UsageError(f"clinical table {name}: column {columns[key]!r} ({key}) is not numeric in row(s) "
                             f"{', '.join(str(i + 2) for i in bad[:5])}{' ...' if len(bad) > 5 else ''} "
                             f"(value {table[key][bad[0]]!r})")
        table[key] = values
    negative = table.index[table["time"] < 0].tolist()
    if negative:
        raise UsageError(f"clinical table {name}: negative survival time in row(s) "
                         f"{', '.join(str(i + 2) for i in negative[:5])}")
    odd = table.index[~table["event"].isin([0, 1])].tolist()
    if odd:
        raise UsageError(f"clinical table {name}: column {columns['event']!r} (event) must be 0 (censored) or "
                         f"1 (event); row {odd[0] + 2} has {table['event'][odd[0]]!r}")
    table["event"] = table["event"].astype(int)
    if table["split"].notna().any():
        wrong = sorted(set(table["split"].dropna()) - set(SPLITS))
        if wrong:
            raise UsageError(f"clinical table {name}: column {columns['split']!r} (split) must hold train, val or "
                             f"test; found {', '.join(map(repr, wrong))}")


def match_slides(table, slides_dir: str | Path) -> Cohort:
    """Pair rows with files in `slides_dir` (by file name, or by name without suffix)."""
    slides_dir = Path(slides_dir)
    if not slides_dir.is_dir():
        raise UsageError(f"slide folder {slides_dir} does not exist")
    files = {p.name: p for p in sorted(slides_dir.rglob("*")) if p.is_file() and p.suffix.lower() in SLIDE_SUFFIXES}
    by_stem = {p.stem: p for p in files.values()}
    if not files:
        raise UsageError(f"slide folder {slides_dir} holds no slide files ({', '.join(SLIDE_SUFFIXES)})")
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


def load_cohort(cfg, slides_dir: Path, table_path: Path) -> tuple[Cohort, list[str]]:
    table = read_table(table_path, vars(cfg.clinical))
    cohort = match_slides(table, slides_dir)
    notes = [f"slide file without a clinical row: {name}" for name in cohort.unmatched_slides]
    notes += [f"clinical row without its slide file: {name}" for name in cohort.missing_files]
    notes += [f"patient without any slide: {p}" for p in cohort.patients_without_slides]
    if cohort.slides.empty:
        raise UsageError(f"no row of {table_path.name} names a slide in {slides_dir}; check the "
                         f"{cfg.clinical.slide!r} column")
    return assign_splits(cohort, cfg.data.val_fraction, cfg.data.test_fraction, cfg.data.split_seed), notes
