"""The survival run's report: Kaplan-Meier curves, a risk histogram by source, risks.csv and a
markdown page a clinician can open."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from automl.io import atomic_write_text
from automl.plots import plt, save_figure
from automl.survival.clinical import SPLITS


def km_plot(patients, cut: float, path: Path, splits=("val", "test")) -> None:
    """Kaplan-Meier curves of the low and high risk groups (split at the training median) per split."""
    from lifelines import KaplanMeierFitter

    fig, axes = plt.subplots(1, len(splits), figsize=(5.5 * len(splits), 4), squeeze=False)
    for ax, split in zip(axes[0], splits):
        part = patients[patients["split"] == split]
        for name, group, colour in (("low risk", part[part["risk"] <= cut], "tab:blue"),
                                    ("high risk", part[part["risk"] > cut], "tab:red")):
            if len(group):
                KaplanMeierFitter(label=f"{name} (n={len(group)})").fit(group["time"], group["event"]).plot_survival_function(
                    ax=ax, color=colour, ci_show=len(group) > 2)
        ax.set_title(f"{split} patients")
        ax.set_xlabel("time")
        ax.set_ylabel("survival probability")
        ax.set_ylim(0, 1.05)
        ax.grid(alpha=0.3)
    save_figure(fig, path)


def risk_histogram(patients, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.linspace(patients["risk"].min(), patients["risk"].max() + 1e-9, 20)
    for source in sorted(set(patients["source"])):
        ax.hist(patients.loc[patients["source"] == source, "risk"], bins=bins, alpha=0.6, label=f"source {source}")
    ax.set_xlabel("predicted log-risk")
    ax.set_ylabel("patients")
    ax.legend()
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def _fmt(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def markdown(summary: dict, metrics: dict, skipped: list[dict], cohort_notes: list[str]) -> str:
    lines = [f"# Survival analysis: {summary['slides_dir']}", "",
             f"Model {summary['arch']} ({summary['params']:,} weights) on {summary['mode']} inputs, trained "
             f"{summary['epochs_trained']} epochs; chosen epoch {summary['best_epoch']} by the validation C-index. "
             "A higher risk means a shorter expected survival.", "",
             "## Results per patient", "",
             "| split | patients | events | C-index | C-index (per-source std.) | AUROC (event) | log-rank p | hazard ratio high vs low |",
             "|---|---|---|---|---|---|---|---|"]
    for split in SPLITS:
        m = metrics["patients"][split]
        g = m["groups"]
        hr = "-" if g["hazard_ratio"] is None else \
            f"{g['hazard_ratio']:.2f}" + (f" ({g['hazard_ratio_ci'][0]:.2f}-{g['hazard_ratio_ci'][1]:.2f})" if g["hazard_ratio_ci"] else "")
        lines.append(f"| {split} | {m['n']} | {m['events']} | {_fmt(m['c_index'])} | {_fmt(m['c_index_std'])} | "
                     f"{_fmt(m['auroc'])} | {_fmt(g['logrank_p'], 4)} | {hr} |")
    lines += ["", "## Results per slide", "", "| split | slides | C-index | AUROC (event) |", "|---|---|---|---|"]
    for split in SPLITS:
        m = metrics["slides"][split]
        lines.append(f"| {split} | {m['n']} | {_fmt(m['c_index'])} | {_fmt(m['auroc'])} |")
    lines += ["", "Risk groups split at the median risk of the training patients; the test split was used once, "
              "for this report (the epoch was chosen on validation).", "",
              "![Kaplan-Meier curves](km.png)", "", "![Risk by source](risk_histogram.png)", ""]
    if skipped or cohort_notes:
        lines += ["## Data problems", ""]
        lines += [f"- skipped slide {s['slide']}: {s['reason']}" for s in skipped]
        lines += [f"- {note}" for note in cohort_notes]
        lines.append("")
    lines += ["Per-patient risks are in `risks.csv`, per-slide risks in `slide_risks.csv`, every number in "
              "`metrics.json`.", ""]
    return "\n".join(lines)


def write_report(run_path: Path, summary: dict, metrics: dict, skipped, notes) -> None:
    atomic_write_text(run_path / "report.md", markdown(summary, metrics, skipped, notes))
