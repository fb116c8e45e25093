"""`automl report RUN`: the run's trained models as a table, and its summary."""
from __future__ import annotations

from automl.budget import format_duration
from automl.rundir import RunDir

COLUMNS = (
    ("#", lambda i, r: str(i)),
    ("arch", lambda i, r: r.get("arch", "?")),
    ("params", lambda i, r: f"{r['params']:,}"),
    ("FLOPs", lambda i, r: f"{r['flops']:,}"),
    ("epochs", lambda i, r: str(r.get("epochs", ""))),
    ("val", lambda i, r: _score(r, "val")),
    ("test", lambda i, r: _score(r, "test")),
    ("wall", lambda i, r: format_duration(r["wall_seconds"])),
)


def _score(record: dict, split: str) -> str:
    """Accuracy; the MSE of a regression run; 'cut' for a trial the budget cut; '-' if never tested."""
    if record.get(f"{split}_accuracy") is not None:
        return f"{record[f'{split}_accuracy']:.4f}"
    if record.get("cut"):
        return "cut"
    if record.get(f"{split}_loss") is not None:
        return f"MSE {record[f'{split}_loss']:.4g}"
    return "-"


def result_text(summary: dict, split: str = "test") -> str:
    """'test accuracy 0.9861', 'test MSE 0.0012' for a regression task, 'test C-index 0.71' for
    a survival run, or 'test accuracy n/a' where the run had no such split."""
    name = {"test": "test", "val": "validation"}[split]
    for metric, label, digits in (("c_index", "C-index", ".4f"), ("accuracy", "accuracy", ".4f"), ("mse", "MSE", ".4g")):
        if f"{split}_{metric}" in summary:
            value = summary[f"{split}_{metric}"]  # None: no such split (a Python run given no test data)
            return f"{name} {label} {'n/a' if value is None else format(value, digits)}"
    return f"{name}: n/a"


def format_records(records: list[dict], numbers: list[int] | None = None) -> str:
    """A table of trained models, one row each (numbered 1.. in order, or by `numbers`)."""
    numbers = numbers or list(range(1, len(records) + 1))
    rows = [[fn(i, r) for _, fn in COLUMNS] for i, r in zip(numbers, records)]
    header = [name for name, _ in COLUMNS]
    widths = [max(len(x) for x in col) for col in zip(header, *rows)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.rjust(w) if k > 1 else c.ljust(w) for k, (c, w) in enumerate(zip(row, widths)))
              for row in rows]
    return "\n".join(lines)


def format_report(run: RunDir) -> str:
    records = run.records()
    lines = [f"run {run.path}"]
    summary = run.summary()
    if summary and summary.get("command") == "survival":
        text = (run.path / "report.md").read_text()
        table = text[text.index("## Results per patient"):text.index("## Results per slide")].strip()
        return "\n".join(lines + [f"survival: {summary['arch']} on {summary['mode']} inputs, {summary['patients']} "
                                   f"patients, {summary['slides']} slides, {summary['skipped_slides']} skipped", "",
                                   table, "", f"full report: {run.path / 'report.md'}"])
    if not records:
        state = "in progress or interrupted: resume it with --resume" if not run.summary() else "empty"
        lines.append(f"no trained model recorded yet ({state})")
        return "\n".join(lines)
    lines.append(format_records(records))
    summary = run.summary()
    if summary:
        lines.append("")
        lines.append(f"best: {summary['arch']} with {result_text(summary, 'val')}, {result_text(summary)} "
                     f"({summary['best_model']})")
    return "\n".join(lines)
