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


VARIANT_LABELS = {"with_reg": "With-Reg", "no_reg_wi": "No-Reg WI", "no_reg_ri": "No-Reg RI"}


def removal_positions(record: dict) -> list[float]:
    """Where a ResBuilder record's removed blocks sat: the block's position (1-based, in the
    net's block order) over the number of blocks, as seed 002 Fig. 6.18 plots them."""
    from models.spec import ResNetSpec

    order = [b.id for b in ResNetSpec.from_dict(record["spec"]).blocks()]
    return [(order.index(block) + 1) / len(order) for block in record.get("removed_blocks") or []]


def first_stage_width(record: dict) -> int:
    """The widest conv of a ResBuilder record's first stage (the stem and the blocks before the first pooling)."""
    from models.spec import ResNetSpec

    spec = ResNetSpec.from_dict(record["spec"])
    return max([spec.stem_filters, *(b.filters for b in spec.stages[0].blocks)])


def architecture_history(records: list[dict], path: str | Path, title: str = "") -> None:
    """ResBuilder's run step by step (seed 002 §6.1.3): the validation accuracy of the three
    trainings per architecture (left axis) and its depth (right axis); a marker where a block was
    inserted, a cross where blocks were removed (labelled with their relative position, Fig. 6.18),
    and a vertical line at each MorphNet step, labelled with the first stage's widest conv."""
    xs = [r["architecture"] for r in records]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(xs) + 3), 4.2))
    for variant, style in zip(VARIANT_LABELS, ("o-", "s--", "^:")):
        ax.plot(xs, [r[variant]["val_accuracy"] for r in records], style, label=VARIANT_LABELS[variant], ms=4)
    ax.set_xlabel("architecture")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_ylabel("validation accuracy")
    ax.grid(alpha=0.3)
    depth = ax.twinx()
    depth.step(xs, [r["depth"] for r in records], where="mid", color="tab:gray", alpha=0.7, label="depth")
    inserted = [r for r in records if r.get("inserted_block") is not None]
    depth.scatter([r["architecture"] for r in inserted], [r["depth"] for r in inserted], marker="P", color="black",
                  zorder=3, label="block inserted")
    removed = [r for r in records if r.get("removed_blocks")]
    depth.scatter([r["architecture"] for r in removed], [r["depth"] for r in removed], marker="x", s=60,
                  color="tab:red", zorder=3, label="blocks removed after it")
    for r in removed:
        depth.annotate(", ".join(f"{p:.2f}" for p in removal_positions(r)), (r["architecture"], r["depth"]),
                       textcoords="offset points", xytext=(4, -10), fontsize=7, color="tab:red")
    depth.set_ylabel("depth (conv layers)")
    for previous, r in zip(records, records[1:]):
        if r["morph_step"] != previous["morph_step"]:
            ax.axvline(r["architecture"] - 0.5, color="tab:purple", alpha=0.5)
            ax.annotate(f"MorphNet {r['morph_step']}: width {first_stage_width(r)}", (r["architecture"] - 0.5, 0.97),
                        xycoords=("data", "axes fraction"), rotation=90, fontsize=7, color="tab:purple",
                        ha="right", va="top")
    handles = [h for a in (ax, depth) for h in a.get_legend_handles_labels()[0]]
    ax.legend(handles, [h.get_label() for h in handles], fontsize=7, loc="lower right")
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
