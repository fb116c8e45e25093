"""benchmarks/kills.py's check: a completed record seen after a kill must be there, unchanged and
once, when the run ends; and the records it reads from a run directory."""
import json
from pathlib import Path

import numpy as np

from conftest import load_script

ROOT = Path(__file__).resolve().parent.parent
KILLS = load_script("kills_benchmark", ROOT / "benchmarks" / "kills.py")


def test_lost_redone_and_doubled_records_are_each_found():
    before = [("epoch 1", "a"), ("epoch 2", "b"), ("epoch 3", "c")]
    assert KILLS.compare(before, [*before, ("epoch 4", "d")]) == {"lost": [], "redone": [], "twice": []}
    after = [("epoch 1", "a"), ("epoch 3", "c2"), ("epoch 4", "d"), ("epoch 4", "d")]
    assert KILLS.compare(before, after) == {"lost": ["epoch 2"], "redone": ["epoch 3"], "twice": ["epoch 4"]}


def test_records_are_read_from_the_log_the_state_and_the_population_checkpoint(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "log.jsonl").write_text(json.dumps({"kind": "trial", "trial": "01", "val_accuracy": 0.5}) + "\n"
                                        + json.dumps({"kind": "trial", "trial": "02", "val_accuracy": 0.6}) + "\n")
    (tmp_path / "checkpoints" / "state.json").write_text(json.dumps({"history": [{"epoch": 1, "loss": 2.0}]}))
    np.savez(tmp_path / "checkpoints" / "population.npz",
             run=np.frombuffer(json.dumps({"history": [{"epoch": 1, "loss": 3.0}]}).encode(), dtype="uint8"))
    keys = [key for key, _ in KILLS.completed_records(tmp_path)]
    assert keys == ['log {"kind": "trial", "trial": "01"}', 'log {"kind": "trial", "trial": "02"}', "epoch 1",
                    "population epoch 1"]
