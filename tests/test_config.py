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


def test_set_merges_into_nested_sections_and_keeps_the_siblings(tmp_path):
    user = tmp_path / "mine.yaml"
    user.write_text("train:\n  phs:\n    friction: 0.3\n")
    cfg = configs.load_config("train", str(user), ["train.phs.mass=5", "epochs=7", "data.image_size=[8, 12]"])
    phs = cfg.train.phs
    assert phs.mass == 5.0 and isinstance(phs.mass, float)          # an integer where a number is due
    assert phs.friction == 0.3                                      # the file's value under the --set
    assert (phs.learning_rate, phs.brake_factor, phs.discretization) == (0.1, 50.0, "semi_implicit")  # defaults
    assert cfg.train.epochs == 7                                    # the `epochs` shorthand is train.epochs
    assert cfg.train.learning_rate == 1e-3 and cfg.data.batch_size == 128
    assert cfg.data.image_size == [8, 12]


@pytest.mark.parametrize("override, message", [
    ("train.epochs=true", r"--set train.epochs=true: 'train.epochs' must be an integer, got True"),
    ("train.epochs=2.5", r"'train.epochs' must be an integer, got 2.5"),
    ("train.learning_rate=false", r"'train.learning_rate' must be a number, got False"),
    ("data.download=1", r"'data.download' must be true or false, got 1"),
    ("data.image_size=8", r"'data.image_size' must be a list, got 8"),
    ("train.phs.monitor=batch", r"'train.phs.monitor' must be one of 'running', 'epoch', got 'batch'"),
])
def test_set_values_of_the_wrong_type_are_refused_naming_flag_and_key(override, message):
    with pytest.raises(ConfigError, match=message):
        configs.load_config("train", None, [override])


def test_preset_layers_between_the_defaults_and_the_user_file(tmp_path):
    default = configs.load_config("search")
    quick = configs.load_config("search", preset="quick")
    thesis = configs.load_config("search", preset="thesis")
    # ResBuilderSettings' defaults (the quick schedule): n_Λ 3, n_M 1, 12 epochs, ζ 1e7; the thesis: 4, 7, 20, 1e8
    for cfg in (default, quick):
        assert (cfg.resbuilder.insertions, cfg.resbuilder.morph_steps, cfg.resbuilder.epochs,
                cfg.resbuilder.zeta) == (3, 1, 12, 1e7)
    assert (thesis.resbuilder.insertions, thesis.resbuilder.morph_steps, thesis.resbuilder.epochs,
            thesis.resbuilder.zeta) == (4, 7, 20, 1e8)
    assert (thesis.evolution.budget_epochs, thesis.evolution.batch_size, thesis.evolution.final_epochs,
            thesis.evolution.final_boundaries) == (512, 512, 30, [10, 20])
    assert thesis.resbuilder.lambda_lasso == default.resbuilder.lambda_lasso == 1e-8   # unlisted keys: the defaults
    user = tmp_path / "mine.yaml"
    user.write_text("resbuilder:\n  epochs: 2\n")
    mine = configs.load_config("search", str(user), ["resbuilder.insertions=5"], preset="thesis")
    assert (mine.resbuilder.insertions, mine.resbuilder.morph_steps, mine.resbuilder.epochs) == (5, 7, 2)
    with pytest.raises(ConfigError, match="unknown preset 'fast'"):
        configs.load_config("search", preset="fast")
    with pytest.raises(ConfigError, match="unknown preset 'thesis' \\(choose none\\)"):
        configs.load_config("survival", preset="thesis")


def test_generated_config_files_are_what_the_settings_classes_write():
    """configs/training.yaml, resbuilder.yaml and evolution.yaml are written from the classes
    (python tools/write_configs.py): a default changed in code shows here until they are rewritten."""
    import yaml

    for key, (command, name) in configs.GENERATED.items():
        path = configs.default_file(name.removesuffix(".yaml"))
        assert path.read_text() == configs.settings_yaml(key), f"run python tools/write_configs.py ({name})"
        section = configs.section_of(key)  # `survival.train` is the `train:` of configs/survival_settings.yaml
        written = yaml.safe_load(path.read_text())[section]
        assert written == configs.to_dict(getattr(configs.load_config(command), section))


def test_the_commands_top_level_seed_and_budget_are_the_python_apis():
    """configs/train.yaml, search.yaml and survival.yaml spell the run's seed and budget for a
    reader; automl.SearchRun defines them, and the files must say the same."""
    from automl.search_run import SearchRun

    defaults = SearchRun.defaults()
    for command in configs.SCHEMAS:
        top = configs.top_level(command)
        assert (top["seed"], top["budget"]) == (defaults["seed"], defaults["budget"]), command
    assert configs.top_level("train")["dataset"] == configs.top_level("search")["dataset"]  # one embedded default


def test_a_bad_value_names_the_layer_it_came_from(tmp_path):
    user = tmp_path / "mine.yaml"
    user.write_text("evolution:\n  population_size: 3\n")
    with pytest.raises(ConfigError, match=r"mine.yaml: 'evolution.tournament_size' \(its default\) must be an integer in "
                                          r"\[1, population_size \(3\)\], got 4"):
        configs.load_config("search", str(user))           # the default tournament of 4 no longer fits
    with pytest.raises(ConfigError, match=r"--set train.phs.mass=0: 'train.phs.mass' must be a number > 0, got 0"):
        configs.load_config("train", None, ["train.phs.mass=0"])


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
    # every section is a settings class, checked as it loads, naming the flag the value came from
    with pytest.raises(ConfigError, match=r"--set data.validation_split=1.5: 'data.validation_split' must be in "
                                          r"\(0, 1\), got 1.5"):
        configs.load_config("train", None, ["data.validation_split=1.5"])
    with pytest.raises(ConfigError, match=r"--set model.hidden=-1: 'model.hidden' must be an integer >= 0"):
        configs.load_config("search", None, ["model.hidden=-1"])
    with pytest.raises(ConfigError, match=r"--set model.cell=lstn: 'model.cell' must be"):
        configs.load_config("train", None, ["model.cell=lstn"])
    with pytest.raises(ConfigError, match=r"--set budget=soon: 'budget'"):
        configs.check_ranges(configs.load_config("train", None, ["budget=soon"]), "--set budget=soon")
    with pytest.raises(ConfigError, match=r"--set seed=-1: 'seed' must be an integer in \[0, 2\*\*31\), got -1"):
        configs.check_ranges(configs.load_config("search", None, ["seed=-1"]), "--set seed=-1")  # SearchRun's rule
    with pytest.raises(ConfigError, match=r"--set train.epochs=0: 'train.epochs' must be an integer >= 1, got 0"):
        configs.load_config("train", None, ["train.epochs=0"])


def test_resolved_config_round_trips():
    cfg = configs.load_config("train", None, ["seed=3"])
    assert configs.from_dict("train", configs.to_dict(cfg), "saved") == cfg
    broken = configs.to_dict(cfg)
    del broken["train"]["epochs"]
    with pytest.raises(ConfigError, match="saved: missing key"):
        configs.from_dict("train", broken, "saved")


def test_model_arch_auto_resolves_per_command_and_optimizer():
    """model.arch "auto": search's fixed net is the thesis' ResNet-18; train's follows the optimizer."""
    from pipelines.population import arch_name

    assert arch_name(configs.load_config("search")) == "rb-r18"
    assert arch_name(configs.load_config("train")) == "resnet-mini"
    assert arch_name(configs.load_config("train", None, ["train.optimizer=leea"])) == "mlp"
    assert arch_name(configs.load_config("search", None, ["model.arch=lenet5-like"])) == "lenet5-like"


def test_a_key_of_two_types_takes_either_from_the_command_line():
    """train.reduce_lr_on_plateau is true, false or auto: each parses to itself, anything else is refused."""
    for text, value in (("false", False), ("true", True), ("auto", "auto")):
        got = configs.load_config("train", None, [f"train.reduce_lr_on_plateau={text}"]).train.reduce_lr_on_plateau
        assert got == value and type(got) is type(value)
    with pytest.raises(ConfigError, match="reduce_lr_on_plateau"):
        configs.load_config("train", None, ["train.reduce_lr_on_plateau=sometimes"])
