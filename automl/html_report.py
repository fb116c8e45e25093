"""RUN/report.html: one self-contained page a person opens (images inlined, no other file needed):
the summary, the table of trained models, every plot the run wrote, the best net as a picture,
and the run's own markdown notes (history, survival report)."""
from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from automl.io import atomic_write_text
from automl.rundir import RunDir

REPORT = "report.html"
ARCHITECTURE = "architecture.png"
# The record columns shown first, in this order; any other scalar column follows.
COLUMNS = ("kind", "trial", "architecture", "arch", "epochs", "params", "flops", "val_accuracy", "val_loss",
           "val_cindex", "test_accuracy", "test_loss", "wall_seconds")


def write_html_report(run: RunDir) -> Path:
    """Writes RUN/report.html (and RUN/architecture.png from the best model, once); returns its path.

    Args:
        run: a run directory with a summary (a finished or budget-ended run).
    """
    if run.best_path.exists() and not (run.path / ARCHITECTURE).exists():
        _draw_architecture(run)
    summary = run.summary() or {}
    meta = run.meta()
    title = f"automl {meta.get('command', '')}" + (f" on {summary['dataset']}" if summary.get("dataset") else "")
    parts = [f"<h1>{_e(title)}</h1>", f"<p class='path'>{_e(str(run.path))}</p>",
             "<h2>Summary</h2>", _table([(k, _value(v)) for k, v in summary.items()], ("key", "value"))]
    records = run.records()
    if records:
        parts += [f"<h2>Trained models ({len(records)})</h2>", _records_table(records)]
    for image in sorted(run.path.glob("*.png")):
        data = base64.b64encode(image.read_bytes()).decode()
        parts += [f"<h2>{_e(image.stem.replace('_', ' '))}</h2>",
                  f"<img alt='{_e(image.stem)}' src='data:image/png;base64,{data}'>"]
    for notes in sorted(run.path.glob("*.md")):
        parts += [f"<h2>{_e(notes.name)}</h2>", f"<pre>{_e(notes.read_text())}</pre>"]
    page = ("<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
            f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")
    path = run.path / REPORT
    atomic_write_text(path, page)
    return path


def _draw_architecture(run: RunDir) -> None:
    from automl.io import load_model
    from automl.plots import architecture_figure

    model = load_model(run.best_path)
    architecture_figure(model, run.path / ARCHITECTURE, title=f"best net: {model.count_params():,} parameters")


def _records_table(records: list[dict]) -> str:
    scalar = [k for k in dict.fromkeys(k for r in records for k in r) if all(_is_scalar(r.get(k)) for r in records)]
    columns = [c for c in COLUMNS if c in scalar] + [c for c in scalar if c not in COLUMNS]
    return _table([[_value(r.get(c)) for c in columns] for r in records], columns)


def _table(rows, header) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _is_scalar(value) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _value(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 1e6 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _e(text) -> str:
    return html.escape(str(text), quote=True)


_STYLE = ("body{font-family:sans-serif;margin:2em;max-width:1200px} table{border-collapse:collapse;font-size:13px;"
          "margin-bottom:1em} td,th{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top} "
          "th{background:#f0f0f0} img{max-width:100%;border:1px solid #eee} pre{background:#f8f8f8;padding:1em;"
          "overflow:auto} .path{color:#666;font-family:monospace}")
