"""benchmarks/budget.py's table: mean ± sd per system over the seeds, the budget target, and the
winner (the best mean test accuracy among the systems within the target)."""
from pathlib import Path

from conftest import load_script

ROOT = Path(__file__).resolve().parent.parent
BUDGET = load_script("budget_benchmark", ROOT / "benchmarks" / "budget.py")


def row(system, seed, accuracy, wall, flops=1000):
    return {"system": system, "seed": seed, "test_accuracy": accuracy, "val_accuracy": accuracy, "params": 10,
            "flops": flops, "ended_by": "budget", "wall_seconds": wall, "overshoot_seconds": wall - 180.0}


def test_the_table_averages_the_seeds_and_names_the_winner_within_the_target(tmp_path, monkeypatch):
    monkeypatch.setattr(BUDGET, "RESULTS", tmp_path)
    rows = [row("default", 0, 0.98, 181.0), row("default", 1, 0.99, 183.0),
            row("kt-random-cnn", 0, 0.99, 185.0), row("kt-random-cnn", 1, 0.995, 185.0),
            row("kt-hyperband-cnn", 0, 1.0, 200.0), row("kt-hyperband-cnn", 1, 1.0, 179.0),  # 200 s > 180 * 1.05 + 10
            {"system": "evolution", "seed": 0, "failed": "boom"}]
    BUDGET.render({"digits": {"budget": "3m", "rows": rows, "date": "2026-11-29"},
                   "mnist5k": [{"system": "an earlier single-seed table"}]})
    text = (tmp_path / "budget.md").read_text()
    assert "| automl search (no --strategy: the default, resbuilder) | 2 | 0.9850 ± 0.0071 |" in text
    assert "keras-tuner Hyperband, small-CNN space | 2 | 1.0000 ± 0.0000 |" in text and "| no |" in text
    assert "| 0 (1 failed) | - |" in text
    assert "Winner: keras-tuner RandomSearch, small-CNN space." in text   # Hyperband overshot the target
    assert "mnist5k" not in text
