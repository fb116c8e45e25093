import re
from pathlib import Path

import pytest

from pipelines import config as configs
from pipelines.config import ConfigError

CONFIG_DIR = Path(configs.default_file("train")).parent


def test_defaults_load_into_typed_objects():
    cfg = configs.load_config("train")
    assert cfg.dataset == "digits"
    assert cfg.train.learning_rate == pytest.approx(1e-3)
    assert cfg.train.plateau_factor == pytest.approx(0.1 ** 0.5)
    assert isinstance(cfg.data.batch_size, int) and cfg.data.batch_size == 128


def test_every_default_is_commented_with_its_source():
    for path in CONFIG_DIR.glob("*.yaml"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.match(r"^\s*[\w.]+:\s*\S", line):  # a key with a value on the line
                assert "#" in line, f"{path.name}:{number} has no comment: {line!r}"


def test_user_file_and_overrides_layer_on_top(tmp_path):
    user = tmp_path / "mine.yaml"
    user.write_text("train:\n  epochs: 3\ndata:\n  batch_size: 32\n")
    cfg = configs.load_config("train", str(user), ["train.learning_rate=1e-4", "train.epochs=4"])
    assert cfg.train.epochs == 4 and cfg.data.batch_size == 32
    assert cfg.train.learning_rate == pytest.approx(1e-4)   # YAML reads "1e-4" as a string
    assert cfg.train.optimizer == "adam"


@pytest.mark.parametrize("text, message", [
    ("train:\n  epocs: 3\n", r"mine.yaml: unknown key 'train.epocs'"),
    ("train:\n  epochs: three\n", r"mine.yaml: 'train.epochs' must be an integer, got 'three'"),
    ("train: 5\n", r"mine.yaml: 'train' must be a mapping"),
    ("data:\n  augment: sideways\n", r"'data.augment' must be one of 'auto', 'none'"),
    ("train: [1, 2\n", r"mine.yaml: not valid YAML \(line"),
    ("- a\n- b\n", r"mine.yaml: a config file must be a mapping"),
])
def test_bad_user_files_name_the_key_and_the_file(tmp_path, text, message):
    user = tmp_path / "mine.yaml"
    user.write_text(text)
    with pytest.raises(ConfigError, match=message):
        configs.load_config("train", str(user))


def test_bad_overrides_name_the_flag():
    with pytest.raises(ConfigError, match=r"--set train\.epochs=x: 'train.epochs' must be an integer"):
        configs.load_config("train", None, ["train.epochs=x"])
    with pytest.raises(ConfigError, match="expected key=value"):
        configs.load_config("train", None, ["train.epochs"])
    with pytest.raises(ConfigError, match="cannot read config file"):
        configs.load_config("train", "/nonexistent/file.yaml")


def test_range_checks_name_the_key():
    cfg = configs.load_config("train", None, ["data.validation_split=1.5"])
    with pytest.raises(ConfigError, match="'data.validation_split' must be in"):
        configs.check_ranges(cfg)
    cfg = configs.load_config("train", None, ["train.epochs=0"])
    with pytest.raises(ConfigError, match="'train.epochs' must be >= 1"):
        configs.check_ranges(cfg)


def test_resolved_config_round_trips():
    cfg = configs.load_config("train", None, ["seed=3"])
    assert configs.from_dict("train", configs.to_dict(cfg), "saved") == cfg
    broken = configs.to_dict(cfg)
    del broken["train"]["epochs"]
    with pytest.raises(ConfigError, match="saved: missing key"):
        configs.from_dict("train", broken, "saved")
