"""`automl search`: ResBuilder end to end, its ablation, resume after kill -9, bad values."""
import json
import signal
import subprocess
import sys
import time

import pytest

from conftest import read_jsonl, run_automl
from pipelines.cli import main
from pipelines.rundir import RunDir

TINY = ["--set", "resbuilder.insertions=1", "--set", "resbuilder.morph_steps=1", "--set", "resbuilder.epochs=1",
        "--set", "resbuilder.zeta=3e5", "--set", "resbuilder.start_pooling_stages=1", "--quiet"]


def test_tiny_resbuilder_run_records_chooses_on_validation_and_exports(tmp_path):
    run = tmp_path / "run"
    assert main(["search", "--out", str(run), *TINY]) == 0
    records = read_jsonl(run / "log.jsonl")
    assert [r["architecture"] for r in records] == [1, 2, 3]
    first, grown, morphed = records
    assert first["blocks"] == 0 and first["inserted_block"] is None
    assert grown["blocks"] == 1 and grown["inserted_block"] is not None and grown["insertion"] == 1
    assert morphed["morph_step"] == 1 and morphed["flops"] <= 3e5
    for r in records:
        assert {"with_reg", "no_reg_wi", "no_reg_ri"} <= set(r) and r["params"] > 0
    summary = RunDir(run).summary()
    best = max(records, key=lambda r: (r["val_accuracy"], -r["flops"]))
    assert summary["val_accuracy"] == best["val_accuracy"]          # chosen on validation...
    assert summary["test_accuracy"] == best["test_accuracy"]        # ...and only reported on test
    assert summary["architectures"] == 3 and "MorphNet" in summary["stop_reason"]
    for name in ("best.keras", "accuracy_vs_flops.png", "history.md"):
        assert (run / name).is_file()
    assert "(best)" in (run / "history.md").read_text()
    assert main(["export", str(run), "--out", str(tmp_path / "export")]) == 0


def test_morphnet_only_never_inserts(tmp_path):
    run = tmp_path / "run"
    assert main(["search", "--strategy", "morphnet", "--out", str(run), *TINY]) == 0
    records = read_jsonl(run / "log.jsonl")
    assert len(records) == 2 and all(r["blocks"] == 0 and r["inserted_block"] is None for r in records)
    assert RunDir(run).meta()["strategy"] == "morphnet"


def test_resume_after_kill_redoes_no_completed_training(tmp_path):
    run = tmp_path / "run"
    args = ["search", "--out", str(run), *[a for a in TINY if a != "--quiet"], "--set", "resbuilder.epochs=3"]
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state_file = run / "resbuilder" / "state.json"
    deadline = time.time() + 240
    while time.time() < deadline:
        if state_file.exists():
            state = json.loads(state_file.read_text())
            if state["architectures"] >= 1 and state["current"] and state["current"]["results"]:
                break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    state = json.loads(state_file.read_text())
    assert not state["done"] and state["architectures"] >= 1, "must be killed mid-search"
    first_weights = run / "resbuilder" / "with_reg_0.weights.h5"
    stamp = first_weights.stat().st_mtime_ns
    done_variants = dict(state["current"]["results"]) if state["current"] else {}

    resumed = run_automl("search", "--resume", "--out", str(run))
    assert resumed.returncode == 0, resumed.stderr
    assert first_weights.stat().st_mtime_ns == stamp                  # architecture 1 was not retrained
    assert [r["architecture"] for r in read_jsonl(run / "log.jsonl")] == [1, 2, 3]   # each once
    final = json.loads(state_file.read_text())
    step_record = read_jsonl(run / "log.jsonl")[state["architectures"]]
    for variant, result in done_variants.items():                     # the interrupted step kept its results
        assert step_record[variant] == result
    assert final["done"]


@pytest.mark.parametrize("flag, message", [
    ("resbuilder.lambda_morph=-1", "'resbuilder.lambda_morph' must be >= 0"),
    ("resbuilder.start=vgg", "'resbuilder.start' must be one of"),
    ("resbuilder.zeta=1000", "'resbuilder.zeta': the FLOP budget zeta=1000 is below the start net's stem"),
])
def test_bad_values_are_rejected_before_training(tmp_path, capsys, flag, message):
    run = tmp_path / "run"
    assert main(["search", "--out", str(run), "--set", flag]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not run.exists()


@pytest.mark.slow
def test_quick_preset_on_digits(tmp_path):
    run = tmp_path / "run"
    assert main(["search", "--out", str(run), "--quiet"]) == 0
    assert RunDir(run).summary()["test_accuracy"] >= 0.97
