"""`automl search`: ResBuilder end to end, its ablation, resume after kill -9, bad values."""
import json
import signal
import subprocess
import sys
import time

import keras
import pytest

from automl.resbuilder.growth import remove_blocks
from automl.rundir import RunDir
from conftest import html_report_images, read_jsonl, run_automl, tensorboard_tags
from models import ResNetSpec, count
from pipelines.cli import main
from pipelines.config import run_config
from pipelines.datasets import load_dataset
from automl.tfdata import pipeline

TINY = ["--set", "resbuilder.insertions=1", "--set", "resbuilder.morph_steps=1", "--set", "resbuilder.epochs=1",
        "--set", "resbuilder.zeta=3e5", "--set", "resbuilder.start_pooling_stages=1", "--quiet"]


NO_REG = ("no_reg_wi", "no_reg_ri")
DIGITS = ((8, 8, 1), 10)   # digits: 8x8 grey images, 10 classes


def _check_record_against_its_spec(r):
    """Everything a record derives from its spec is what the spec gives."""
    spec = ResNetSpec.from_dict(r["spec"])
    cost = count(spec, *DIGITS)
    assert (r["params"], r["flops"]) == (cost.params, cost.flops)
    assert r["blocks"] == len(spec.blocks()) and r["depth"] == 1 + 2 * r["blocks"]
    assert r["widths"] == [spec.stem_filters] + [w for b in spec.blocks() for w in (b.inner, b.filters)]
    # the record's accuracy is its better No-Reg variant's, by validation
    chosen = max(NO_REG, key=lambda v: r[v]["val_accuracy"])
    assert r["chosen_variant"] == chosen
    assert (r["val_accuracy"], r["test_accuracy"]) == (r[chosen]["val_accuracy"], r[chosen]["test_accuracy"])
    assert all(r[v]["best_epoch"] == 1 for v in ("with_reg", *NO_REG))   # 1 epoch per training
    return spec


def _history_rows(text):
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| arch")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def test_tiny_resbuilder_run_records_chooses_on_validation_and_exports(tmp_path):
    run = tmp_path / "run"
    assert main(["search", "--out", str(run), *TINY]) == 0
    records = read_jsonl(run / "log.jsonl")
    assert [r["architecture"] for r in records] == [1, 2, 3]
    # what the search ETA prices nets by: each architecture's FLOPs and its three trainings' seconds
    costs = json.loads((run / "resbuilder" / "state.json").read_text())["costs"]
    assert [f for f, _ in costs] == [r["flops"] for r in records]
    assert [t for _, t in costs] == pytest.approx([sum(r[v]["seconds"] for v in ("with_reg", *NO_REG)) for r in records])
    tb = tensorboard_tags(run)                                   # a TensorBoard run per training: 3 x 3
    assert {"accuracy_vs_flops", "architecture", "architecture_history"} <= set(html_report_images(run))
    assert len({folder.split("/")[0] for folder in tb}) == 9
    assert all({"epoch_loss", "epoch_accuracy"} <= tags for tags in tb.values())   # train/ and validation/
    first, grown, morphed = records
    specs = [_check_record_against_its_spec(r) for r in records]
    assert first["blocks"] == 0 and first["inserted_block"] is None
    assert (first["removed_blocks"], first["momentum_skip"], first["with_reg_gain"]) == ([], False, None)

    # arch 2 = arch 1 plus one inserted block, as wide as the conv before it
    assert grown["blocks"] == 1 and grown["insertion"] == 1 and grown["morph_step"] == 0
    (block,) = specs[1].blocks()
    assert block.id == grown["inserted_block"] and block.inserted
    assert block.filters == block.inner == specs[0].stem_filters
    assert remove_blocks(specs[1], [block.id]).signature() == specs[0].signature()
    # the momentum compares With-Reg validation accuracies (tau_LL = 0.015); a skip removes nothing
    gain = grown["with_reg"]["val_accuracy"] - first["with_reg"]["val_accuracy"]
    assert grown["with_reg_gain"] == pytest.approx(gain, abs=1e-12)
    assert grown["momentum_skip"] == (gain > 0.015)
    assert grown["removed_blocks"] in ([], [block.id]) and not (grown["momentum_skip"] and grown["removed_blocks"])

    # arch 3: the MorphNet step's net, retrained from scratch within the budget
    assert (morphed["morph_step"], morphed["insertion"], morphed["with_reg_gain"]) == (1, 0, None)
    assert morphed["flops"] <= 3e5
    kept = {b.id for b in specs[1].blocks()} - set(grown["removed_blocks"])
    assert {b.id for b in specs[2].blocks()} <= kept

    # the best: highest No-Reg validation accuracy over the run (ties: fewer FLOPs); test only reported
    candidates = [(r[v]["val_accuracy"], -r["flops"], r["architecture"], v) for r in records for v in NO_REG]
    val, _, arch, variant = max(candidates)
    best = records[arch - 1]
    summary = RunDir(run).summary()
    assert summary["arch"] == f"arch {arch} ({variant})"
    assert summary["val_accuracy"] == val == max(r["val_accuracy"] for r in records)
    assert summary["test_accuracy"] == best[variant]["test_accuracy"]
    assert (summary["params"], summary["flops"]) == (best["params"], best["flops"])
    assert summary["architectures"] == 3 and summary["stop_reason"] == "1 MorphNet steps done"

    # best.keras is that net: same size, and its validation accuracy is the summary's
    model = keras.models.load_model(run / "best.keras")
    assert model.count_params() == best["params"]
    cfg = run_config(run, "search")
    data = load_dataset("digits", cfg.data)
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    measured = model.evaluate(pipeline(data.x_val, data.y_val, cfg.data.batch_size), return_dict=True, verbose=0)
    assert measured["accuracy"] == pytest.approx(summary["val_accuracy"], abs=1e-6)

    # history.md: one row per record, with the record's numbers, the best marked once
    rows = _history_rows((run / "history.md").read_text())
    assert len(rows) == 3
    for row, r in zip(rows, records):
        mark = " **(best)**" if r["architecture"] == arch else ""
        assert row == [f"{r['architecture']}{mark}", str(r["morph_step"]), str(r["insertion"]), str(r["blocks"]),
                       "-".join(map(str, r["widths"])), f"{r['params']:,}", f"{r['flops']:,}",
                       *(f"{r[v]['val_accuracy']:.4f}" for v in ("with_reg", *NO_REG)),
                       f"{r['test_accuracy']:.4f}", str(r["removed_blocks"] or "")]
    assert (run / "accuracy_vs_flops.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["export", str(run), "--out", str(tmp_path / "export")]) == 0


def test_morphnet_only_never_inserts(tmp_path):
    run = tmp_path / "run"
    # RB-0Net, not the strategy's ResNet-18 (tests/test_resbuilder_engine.py), keeps this run seconds long
    assert main(["search", "--strategy", "morphnet", "--out", str(run), *TINY, "--set", "resbuilder.start=rb-0net"]) == 0
    records = read_jsonl(run / "log.jsonl")
    assert [(r["morph_step"], r["insertion"]) for r in records] == [(0, 0), (1, 0)]
    for r in records:
        _check_record_against_its_spec(r)
        assert r["blocks"] == 0 and r["inserted_block"] is None and r["removed_blocks"] == []
    assert records[1]["flops"] <= 3e5
    summary = RunDir(run).summary()
    assert summary["architectures"] == 2 and summary["val_accuracy"] == max(r["val_accuracy"] for r in records)
    assert RunDir(run).meta()["strategy"] == "morphnet"


def test_resume_after_kill_redoes_no_completed_training(tmp_path):
    run = tmp_path / "run"
    args = ["search", "--out", str(run), *[a for a in TINY if a != "--quiet"], "--set", "resbuilder.epochs=2"]
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
    ("resbuilder.lambda_morph=-1", "'resbuilder.lambda_morph' must be a number >= 0"),
    ("resbuilder.start=vgg", "'resbuilder.start' must be one of"),
    ("resbuilder.zeta=1000", "argument zeta (resbuilder.zeta in a config): the FLOP budget zeta=1000 is below the start net's stem"),
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
