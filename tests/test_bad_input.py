"""Bad input across every command (issue #19): exit code 2, one line naming the problem, no
traceback, and nothing left behind that a later run would trip over.

In process (the command's `main`), so that the table is quick; a traceback there fails the test
as the exception itself. `test_bad_input_in_a_fresh_process` checks a few in a real process.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from automl.rundir import RunDir
from conftest import run_automl
from pipelines import config as configs
from pipelines.cli import main


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Bad files of every kind, and run directories in bad states."""
    root = tmp_path_factory.mktemp("bad")
    (root / "binary.dat").write_bytes(bytes(range(256)) * 4)
    (root / "a_file").write_text("not a folder\n")
    (root / "broken.yaml").write_text("train: [unclosed\n")
    (root / "wide.json").write_text(json.dumps({"stages": [{"blocks": [{"id": 0, "filters": 10**9}]}]}))
    (root / "deep.json").write_text(json.dumps({"stages": [{"blocks": [{"id": i, "filters": 8} for i in range(20_000)]}]}))
    (root / "not_json.json").write_text("{stages: oops")
    (root / "no_slides").mkdir()
    for name, command in (("garbage_run", "train"), ("killed_run", "train"), ("resume_garbage", "train")):
        run = RunDir.create(root / name, command, configs.to_dict(configs.load_config(command)))
        (run.path / RunDir.BEST).write_bytes(b"PK\x03\x04 not really a zip")
    checkpoints = root / "resume_garbage" / "checkpoints"
    checkpoints.mkdir()
    (checkpoints / "state.json").write_text(json.dumps({"epoch": 1}))
    (checkpoints / "last.keras").write_text("overwritten by something else")
    (root / "nonempty_export").mkdir()
    (root / "nonempty_export" / "keep.txt").write_text("mine")
    return root


# (argv with {root} for the fixture's folder, a fragment the one line must contain)
CASES = [
    # -- config and flags
    (["train", "--config", "{root}/binary.dat"], "not a text (UTF-8) file"),
    (["train", "--config", "{root}/missing.yaml"], "cannot read config file"),
    (["train", "--config", "{root}/broken.yaml"], "not valid YAML"),
    (["train", "--set", "nosuch.key=1"], "nosuch"),
    (["train", "--set", "train.learning_rate=inf"], "learning_rate"),
    (["train", "--set", "train.epochs=0"], "train.epochs"),
    (["train", "--seed", "-1"], "'seed'"),
    (["train", "--seed", "99999999999"], "'seed'"),
    (["train", "--set", "data.split_seed=-1"], "split_seed"),
    (["search", "--seed", "-1"], "'seed'"),
    (["train", "--budget", "5 parsecs"], "--budget"),
    (["search", "--budget", "-3m"], "--budget"),
    (["train", "--dataset", "no-such-dataset"], "no-such-dataset"),
    (["train", "--optimizer", "no-such-optimizer"], "no-such-optimizer"),
    (["search", "--strategy", "no-such-strategy"], "no-such-strategy"),
    (["search", "--optimizer", "leea"], "invalid choice: 'leea'"),
    (["search", "--dataset", "adding", "--strategy", "resbuilder"], "sequence dataset"),
    # -- architectures
    (["train", "--arch", "{root}/binary.dat"], "not a text (UTF-8) JSON file"),
    (["train", "--arch", "{root}/not_json.json"], "not valid JSON"),
    (["train", "--arch", "{root}/missing.json"], "missing.json"),
    (["train", "--arch", "{root}/deep.json"], "at most 1000 blocks"),
    (["train", "--arch", "{root}/wide.json", "--out", "{root}/wide_run"], "parameters on input"),
    # -- run directories
    (["train", "--out", "{root}/a_file/run"], "cannot create run directory"),
    (["train", "--resume"], "--resume needs --out"),
    (["train", "--resume", "--out", "{root}/nowhere"], "no run directory"),
    (["train", "--resume", "--out", "{root}/no_slides"], "not a run directory"),
    (["train", "--resume", "--out", "{root}/resume_garbage"], "last.keras is not a Keras model file"),
    (["search", "--resume", "--out", "{root}/garbage_run"], "not `automl search`"),
    # -- export
    (["export", "{root}/nowhere", "--out", "{root}/x"], "no run directory"),
    (["export", "{root}/garbage_run", "--out", "{root}/x"], "best.keras is not a Keras model file"),
    (["export", "{root}/garbage_run", "--out", "{root}/nonempty_export"], "already exists and is not empty"),
    (["export", "{root}/garbage_run", "--out", "{root}/a_file/x"], "cannot create the export directory's parent"),
    (["export", "{root}/garbage_run", "--out", "{root}/y", "--format", "bogus"], "invalid choice: 'bogus'"),
    # -- report
    (["report", "{root}/nowhere"], "no run directory"),
    # -- survival
    (["survival", "--slides", "{root}/nowhere"], "does not exist"),
    (["survival", "--slides", "{root}/no_slides"], "clinical table"),
]


@pytest.mark.parametrize("argv, fragment", CASES, ids=[" ".join(a).replace("{root}/", "") for a, _ in CASES])
def test_bad_input_exits_2_in_one_line_without_a_traceback(files, capsys, argv, fragment):
    argv = [a.replace("{root}", str(files)) for a in argv]
    before = sorted(p.name for p in files.iterdir())
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own refusals
        code = e.code
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert code == 2, err
    assert len(errors) == 1 and fragment in errors[0], err
    assert "Traceback" not in err
    assert sorted(p.name for p in files.iterdir()) == before          # no run directory left behind


def test_nothing_already_written_is_lost(files):
    assert (files / "nonempty_export" / "keep.txt").read_text() == "mine"
    assert (files / "resume_garbage" / "checkpoints" / "last.keras").read_text() == "overwritten by something else"


def test_bad_input_in_a_fresh_process_is_refused_before_tensorflow_loads(files):
    """The light paths: a refusal there takes a fraction of a second, not TensorFlow's import."""
    probe = ("import sys\nfrom pipelines.cli import main\ntry:\n    code = main(sys.argv[1:])\nfinally:\n"
             "    print('tensorflow' in sys.modules, 'keras' in sys.modules)\nsys.exit(code)")
    for argv, fragment in [(["export", str(files / "garbage_run"), "--out", str(files / "nonempty_export")],
                            "already exists"),
                           (["export", str(files / "garbage_run"), "--out", str(files / "z"), "--format", "bogus"],
                            "bogus"),
                           (["report", str(files / "nowhere")], "no run directory"),
                           (["train", "--set", "nosuch.key=1"], "nosuch"),
                           (["train", "--config", str(files / "binary.dat")], "UTF-8")]:
        done = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and fragment in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert done.stdout.split() == ["False", "False"], (argv, done.stdout)


def test_an_unfinished_run_exports_with_a_note(files, tmp_path):
    """A run killed mid-training has a best model but no summary: the export says so."""
    pytest.importorskip("keras")
    import keras

    run = RunDir.open(files / "killed_run")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.save(tmp_path / "best.keras")
    killed = tmp_path / "killed_run"
    shutil.copytree(run.path, killed)
    shutil.copy(tmp_path / "best.keras", killed / RunDir.BEST)
    done = run_automl("export", str(killed), "--out", str(tmp_path / "export"), "--format", "saved_model")
    assert done.returncode == 0, done.stderr
    assert "note: run" in done.stderr and "has not finished" in done.stderr
    exported = json.loads((tmp_path / "export" / "export.json").read_text())
    assert exported["finished"] is False and "has not finished" in exported["note"]
    assert os.path.isdir(tmp_path / "export" / "saved_model")
    assert yaml.safe_load((killed / RunDir.CONFIG).read_text())            # the run itself is untouched


def test_an_export_into_a_folder_it_cannot_write_is_refused_before_loading(files, tmp_path, monkeypatch):
    import automl.export_checks as checks
    from automl.errors import UsageError

    monkeypatch.setattr(checks.os, "access", lambda path, mode: False)   # as a user without write permission
    with pytest.raises(UsageError, match="permission denied"):
        checks.check_export(files / "garbage_run", tmp_path / "export", ("saved_model",))


def test_messages_show_plain_numbers():
    import numpy as np

    import automl
    from automl.errors import shown
    from automl.population.engine import MB, megabytes

    assert [shown(np.int64(2)), shown(np.float64("nan")), shown("a"), shown([1])] == ["2", "nan", "'a'", "[1]"]
    with pytest.raises(ValueError, match=r"Received: epochs=-2$"):
        automl.TrainingSettings(epochs=np.int64(-2))
    assert [megabytes(-3 * MB), megabytes(0.4 * MB), megabytes(12.4 * MB), megabytes(2048 * MB)] == \
        ["0.0 MB", "0.4 MB", "12 MB", "2,048 MB"]
