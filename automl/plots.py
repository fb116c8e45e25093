"""PNG plots for run directories, written atomically."""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from automl.evolution.pareto import fronts  # noqa: E402
from automl.io import atomic_write_bytes  # noqa: E402


def save_figure(fig, path: str | Path) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def training_curves(history: list[dict], path: str | Path, title: str = "") -> None:
    """Loss and accuracy per epoch, training and validation side by side."""
    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for prefix, style in (("", "-"), ("val_", "--")):
            key = prefix + metric
            if any(key in h for h in history):
                ax.plot(epochs, [h.get(key) for h in history], style, label="validation" if prefix else "train")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:  # a regression run has no accuracy panel to label
            ax.legend()
    if title:
        fig.suptitle(title)
    save_figure(fig, path)


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the (FLOPs, accuracy) points no other point beats on both, by FLOPs."""
    if not points:
        return []
    front = fronts([(acc, flops) for flops, acc in points])[0]
    return sorted(front, key=lambda i: points[i][0])


def accuracy_vs_flops(records: list[dict], best: int | None, path: str | Path, title: str = "",
                      metric: str = "val_accuracy") -> None:
    """Validation accuracy (or, with metric "val_loss", the validation MSE of a regression search,
    on a log scale) against FLOPs per architecture, the Pareto front and the chosen net."""
    lower = metric == "val_loss"
    points = [(r["flops"], r[metric]) for r in records]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.scatter([p[0] for p in points], [p[1] for p in points], color="tab:blue", zorder=2, label="architectures")
    for r, (f, a) in zip(records, points if len(points) <= 40 else []):  # labels only where readable
        ax.annotate(str(r.get("architecture", "")), (f, a), textcoords="offset points", xytext=(4, 3), fontsize=8)
    front = pareto_front([(f, -v) for f, v in points] if lower else points)
    ax.plot([points[i][0] for i in front], [points[i][1] for i in front], "--", color="tab:orange",
            zorder=1, label="Pareto front")
    for r, (f, a) in zip(records, points):
        if r.get("architecture") == best:
            ax.scatter([f], [a], s=160, facecolors="none", edgecolors="tab:red", linewidths=2, zorder=3,
                       label="chosen (validation)")
    ax.set_xscale("log")
    ax.set_xlabel("FLOPs (2 x multiply-adds)")
    ax.set_ylabel("validation MSE" if lower else "validation accuracy")
    if lower:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    save_figure(fig, path)


def architecture_figure(model, path: str | Path, title: str = "") -> None:
    """The net as a picture: one box per layer in Keras' order, input at the top, with its kind,
    its main setting (filters and kernel, units, pool size) and its output shape; a residual
    block's skip shows as its Add layer."""
    rows = [(layer.name, _layer_text(layer)) for layer in model.layers if type(layer).__name__ != "InputLayer"]
    height = max(2.0, 0.32 * len(rows) + 0.8)
    fig, ax = plt.subplots(figsize=(6.4, height))
    ax.set_xlim(0, 1)
    ax.set_ylim(len(rows), -1)
    ax.axis("off")
    ax.text(0.5, -0.6, f"input {tuple(model.input_shape[1:])}", ha="center", va="center", fontsize=8)
    colours = {"Conv": "#c6dbef", "Dense": "#fdd0a2", "Pool": "#d9d9d9", "Norm": "#e5f5e0", "Add": "#fcbba1"}
    for i, (name, text) in enumerate(rows):
        colour = next((c for key, c in colours.items() if key in text.split(" ")[0]), "#ffffff")
        ax.text(0.5, i, f"{name}: {text}", ha="center", va="center", fontsize=7.5, family="monospace",
                bbox=dict(boxstyle="round,pad=0.25", facecolor=colour, edgecolor="#636363", linewidth=0.6))
    if title:
        ax.set_title(title, fontsize=9)
    save_figure(fig, path)


def _layer_text(layer) -> str:
    kind = type(layer).__name__
    config = layer.get_config()
    detail = ""
    if "filters" in config:
        kernel = "x".join(map(str, config.get("kernel_size", ())))
        strides = config.get("strides", (1,))
        detail = f" {config['filters']} {kernel}" + (f" /{strides[0]}" if strides[0] != 1 else "")
    elif "units" in config:
        detail = f" {config['units']}"
    elif "pool_size" in config:
        detail = f" {'x'.join(map(str, config['pool_size']))}"
    shape = getattr(layer, "output", None)
    shape = tuple(shape.shape[1:]) if shape is not None and hasattr(shape, "shape") else ""
    return f"{kind}{detail} -> {shape}"
