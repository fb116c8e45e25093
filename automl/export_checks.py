"""`automl export`'s input checks, light (no TensorFlow): a bad run, folder or format is refused
in a fraction of a second, before the model loads."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from automl.errors import UsageError
from automl.formats import EXPORT_FORMATS, ONNX_INSTALL
from automl.io import make_folder
from automl.rundir import RunDir


@dataclass
class ExportPlan:
    """What an export writes, checked.

    Args:
        run: the run directory whose best model is exported.
        out: the export folder (absent or empty; its parent exists and is writable).
        formats: the formats, in EXPORT_FORMATS order.
        unfinished: why the run's model is not its final one (None for a finished run).
    """

    run: RunDir
    out: Path
    formats: tuple[str, ...]
    unfinished: str | None


def check_export(run_path: str | Path, out_dir: str | Path, formats) -> ExportPlan:
    """The checked plan of an export; a UsageError naming the first problem.

    Args:
        run_path: a run directory with a trained model.
        out_dir: the export folder; it must not exist or be empty.
        formats: the formats to write, from automl.formats.EXPORT_FORMATS.
    """
    formats = check_formats(formats)
    run = RunDir.open(run_path)
    if not run.best_path.exists():
        raise UsageError(f"run {run.path} has no trained model yet ({RunDir.BEST} is missing)")
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"export directory {out} already exists and is not empty; choose another --out")
    make_folder(out.parent, "the export directory's parent")
    if not os.access(out.parent, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write the export into {out.parent}: permission denied")
    unfinished = None if run.summary() is not None else (
        f"run {run.path} has not finished (no {RunDir.SUMMARY}: stopped or still running); "
        f"this exports its best model so far")
    return ExportPlan(run, out, formats, unfinished)


def check_formats(formats) -> tuple[str, ...]:
    """The requested formats in EXPORT_FORMATS order; a UsageError, before anything is loaded or written,
    for an unknown or empty choice, or for onnx without tf2onnx (an optional dependency)."""
    if isinstance(formats, str):
        formats = (formats,)
    formats = tuple(formats)
    unknown = [f for f in formats if f not in EXPORT_FORMATS]
    if unknown or not formats:
        raise UsageError(f"unknown export format {', '.join(map(repr, unknown)) or '(none given)'}; "
                         f"choose from {', '.join(EXPORT_FORMATS)}")
    if "onnx" in formats:
        import importlib.util

        if importlib.util.find_spec("tf2onnx") is None:  # found without importing it (it imports TensorFlow)
            raise UsageError(f"ONNX export needs tf2onnx, which is not installed: {ONNX_INSTALL}")
    return tuple(f for f in EXPORT_FORMATS if f in formats)
