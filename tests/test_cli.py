"""Bad input: one line naming the problem, exit code 2, no traceback, nothing lost."""
import subprocess
import sys

import pytest
import tensorflow_datasets as tfds
import yaml

from conftest import run_automl
from pipelines.cli import main
from pipelines.datasets import tfds_source


@pytest.mark.parametrize("argv, fragments", [
    (["train", "--dataset", "nope"], ["unknown dataset 'nope'", "digits", "mnist5k"]),
    (["train", "--dataset", "/nonexistent/folder"], ["image folder /nonexistent/folder does not exist"]),
    (["train", "--dataset", "no such name!"], ["unknown dataset"]),
    (["train", "--set", "train.optimizer=rmsprop"], ["'train.optimizer' must be one of", "'adam'"]),
    (["train", "--set", "data.augment=sideways"], ["'data.augment' must be one of"]),
    (["train", "--set", "train.epochs=0"], ["'train.epochs' must be an integer >= 1"]),
    (["train", "--arch", "resnet-9000"], ["unknown architecture"]),
    (["report", "/nonexistent/run"], ["no run directory at /nonexistent/run"]),
    (["export", "/nonexistent/run", "--out", "/tmp/x"], ["no run directory"]),
    (["train", "--resume"], ["--resume needs --out"]),
    (["datasets", "info"], ["needs a dataset name"]),
])
def test_bad_input_is_one_clear_line(capsys, argv, fragments):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err


def test_malformed_config_file_names_the_file_and_key(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  epochs: many\n")
    assert main(["train", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "'train.epochs'" in err


def test_unknown_flag_and_choice_are_one_line():
    for args in (["train", "--bogus"], ["search", "--strategy", "magic"]):
        result = run_automl(*args)
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1 and "--help" in result.stderr, result.stderr


def test_unreadable_image_folder(capsys, tmp_path):
    (tmp_path / "imgs" / "a").mkdir(parents=True)
    (tmp_path / "imgs" / "b").mkdir()
    (tmp_path / "imgs" / "a" / "x.png").write_bytes(b"garbage")
    (tmp_path / "imgs" / "b" / "y.png").write_bytes(b"garbage")
    assert main(["train", "--dataset", str(tmp_path / "imgs"), "--out", str(tmp_path / "run")]) == 2
    assert "cannot read image" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()       # a run that never started leaves nothing behind


def test_missing_tfds_data_fails_with_guidance_and_no_download(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare",
                        lambda *a, **k: pytest.fail("must not enter tfds' 200 s download retries"))
    monkeypatch.setattr(tfds_source, "_reachable", lambda host, port: False)
    assert main(["train", "--dataset", "cifar10", "--data-dir", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "automl datasets prepare cifar10" in err and "--manual-dir" in err


def test_an_existing_run_is_never_overwritten(capsys, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "precious.txt").write_text("keep me")
    assert main(["train", "--out", str(run)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (run / "precious.txt").read_text() == "keep me"


def test_help_explains_every_flag():
    result = run_automl("train", "--help")
    for flag in ("--dataset", "--config", "--set", "--out", "--seed", "--resume", "--quiet", "--arch", "--data-dir"):
        assert flag in result.stdout
    assert "export" in run_automl("--help").stdout


def test_version_and_search_help_offer_only_what_each_accepts(capsys):
    from automl import __version__
    from automl.training_settings import POPULATION_OPTIMIZERS

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"automl {__version__}"
    search_help = run_automl("search", "--help").stdout
    train_help = run_automl("train", "--help").stdout
    assert all(name in train_help for name in POPULATION_OPTIMIZERS)
    assert not any(f"{name}" in search_help.split("--optimizer", 1)[1].split("--strategy")[0]
                   for name in POPULATION_OPTIMIZERS)                    # search refuses them, so never offers them


@pytest.mark.parametrize("command", ["train", "search", "survival"])
def test_config_show_lists_every_key_with_its_default(capsys, command):
    from pipelines import config as configs

    assert main(["config", "show", command]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)                        # the output is itself a valid config
    defaults = configs.to_dict(configs.load_config(command))
    assert shown == defaults


def test_report_of_a_finished_run_loads_no_tensorflow_and_open_prints_the_page(tmp_path):
    from automl.rundir import RunDir

    run = RunDir.create(tmp_path / "run", "train", {"dataset": "digits"})
    run.append_record({"arch": "tiny", "params": 10, "flops": 20, "val_accuracy": 0.5, "test_accuracy": 0.25,
                       "wall_seconds": 1.0})
    run.write_summary({"command": "train", "dataset": "digits", "arch": "tiny", "test_accuracy": 0.25,
                       "best_model": "best.keras"})
    probe = ("import sys\nfrom pipelines.cli import main\ncode = main(sys.argv[1:])\n"
             "print('tensorflow' in sys.modules, 'keras' in sys.modules)\nsys.exit(code)")
    done = subprocess.run([sys.executable, "-c", probe, "report", str(run.path)], capture_output=True, text=True)
    assert done.returncode == 0 and "tiny" in done.stdout and done.stdout.split()[-2:] == ["False", "False"]
    (run.path / "report.html").unlink()
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "report", str(run.path), "--open"],
                          capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == str((run.path / "report.html").resolve())
    assert "0.2500" in (run.path / "report.html").read_text()          # written again when missing


def test_datasets_list(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "digits" in out and "mnist5k" in out and "cifar10" in out


def test_datasets_info_prints_the_split_sizes(capsys):
    # test ceil(0.2 * 1797) = 360, validation ceil(0.2 * 1437) = 288, train 1797 - 648 = 1149
    assert main(["datasets", "info", "digits"]) == 0
    lines = [line.split(None, 1) for line in capsys.readouterr().out.splitlines()]
    assert dict(lines) == {"name": "digits", "kind": "digits", "input_shape": "[8, 8, 1]", "classes": "10",
                           "train": "1149", "validation": "288", "test": "360"}


def test_missing_data_is_reported_before_tensorflow_loads(tmp_path):
    # TensorFlow's import prints its oneDNN banner to stderr; one line means the check ran
    # first, so the failure comes in about a second rather than after the import.
    result = run_automl("train", "--dataset", "cifar10", "--data-dir", str(tmp_path),
                        "--set", "data.download=false", "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()], result.stderr
    assert "downloading is off" in result.stderr and "automl datasets prepare cifar10" in result.stderr
    assert not (tmp_path / "run").exists()


def test_the_dmu_rule_refuses_an_optimizer_it_cannot_scale(tmp_path, capsys):
    """seed 000 eq. 5 scales the DMU's learning rate per variable: adam or sgd only, said in one line."""
    run = tmp_path / "run"
    assert main(["train", "--dataset", "adding", "--optimizer", "phs", "--out", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("the DMU learning-rate rule needs optimizer adam or sgd, not phs; turn it off with "
                        "--set model.lr_rule=false (lr_rule=False)") and len(err.splitlines()) == 1
    assert not run.exists()
