"""YAML configs loaded into typed dataclasses.

The defaults live in `configs/<name>.yaml`, with a comment on each naming its source;
the dataclasses here only give the types. A user file (`--config FILE`) and `--set key=value`
overrides are layered on top. An unknown key or a value of the wrong type fails with a
message naming the key and the file (or `--set`) it came from.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml

from automl.budget import parse_duration
from pipelines.errors import UsageError


class ConfigError(UsageError):
    pass


@dataclass
class DataConfig:
    data_dir: str | None
    download: bool
    validation_split: float
    test_split: float
    split_seed: int
    batch_size: int
    augment: Literal["auto", "none", "shift", "shift_flip"]
    image_size: list[int] | None
    sequence_length: int
    sequence_sizes: list[int]


@dataclass
class ModelConfig:
    arch: str
    cell: Literal["dmu", "lstm", "gru", "rnn", "rhn"] | None
    units: int
    layers: int
    depth: int
    hidden: int
    gate_bias: float
    lr_rule: bool


@dataclass
class PhsConfig:
    learning_rate: float
    mass: float
    friction: float
    discretization: Literal["semi_implicit", "explicit"]
    brake_goal: float
    brake_mode: Literal["absolute", "relative"]
    brake_factor: float
    monitor: Literal["running", "epoch"]


@dataclass
class TrainConfig:
    epochs: int
    optimizer: Literal["adam", "sgd", "phs", "phs-go", "leea", "ndes", "ndes-g", "ndes-b", "de", "cosyne", "es"]
    learning_rate: float
    momentum: float
    phs: PhsConfig
    reduce_lr_on_plateau: bool
    plateau_factor: float
    plateau_patience: int
    min_lr: float
    early_stopping_patience: int
    distribute: Literal["auto", "off", "mirrored"]


@dataclass
class LeeaConfig:
    population_size: int | None
    batch_size: int
    truncation: float
    elite_fraction: float
    crossover_fraction: float
    crossover: Literal["uniform", "arithmetic"]
    exploit_rate: float
    sigma: float
    sigma_mode: Literal["constant", "decay", "self-adaptive"]
    decay_steps: float
    tau: float | None
    fitness_inheritance: float


@dataclass
class NdesConfig:
    population_size: int | None
    mu: int | None
    batch_size: int
    history: int
    ccum: float
    cp: float | None
    bounds: float
    tol: float
    init: Literal["xavier", "uniform"]
    uniform_init: float
    gradient_lr: float
    ewma: bool
    bootstrap_fraction: float
    bootstrap_patience: int
    bootstrap_lr: float
    max_population: int


@dataclass
class DeConfig:
    population_size: int
    batch_size: int
    crossover_rate: float
    mutation: Literal["rand1", "rand2", "best1", "best2", "curtobest1", "randtobest2", "current1"]
    scale: float
    genome: Literal["direct", "dct"]
    genes: float


@dataclass
class CosyneConfig:
    population_size: int
    batch_size: int
    children: int
    mutation_rate: float
    gamma: float
    genome: Literal["direct", "dct"]
    genes: float


@dataclass
class EsConfig:
    population_size: int
    batch_size: int
    parent_fraction: float
    rho: int
    selection: Literal["truncated", "rank", "fitness"]
    crossover: Literal["single", "uniform", "arithmetic", "none"]
    mutation_rate: float
    sigma: float
    elitism: bool
    genome: Literal["direct", "dct"]
    genes: float


@dataclass
class PopulationConfig:
    memory_mb: float
    validation_candidates: int
    checkpoint_seconds: float
    jit: bool
    leea: LeeaConfig
    ndes: NdesConfig
    de: DeConfig
    cosyne: CosyneConfig
    es: EsConfig


@dataclass
class TrainRunConfig:
    dataset: str
    seed: int
    budget: str | None
    data: DataConfig
    model: ModelConfig
    train: TrainConfig
    population: PopulationConfig


@dataclass
class ResBuilderConfig:
    start: Literal["rb-0net", "rb-r18", "rb-r18-cifar"]
    start_pooling_stages: int
    insertions: int
    morph_steps: int
    epochs: int
    layerlasso_momentum: bool
    momentum_gain: float
    lambda_morph: float
    morph_threshold: float
    intensity: float
    zeta: float
    zeta_large: float
    lambda_lasso: float
    lasso_threshold: float
    lambda_l2: float
    init_mean_abs: float


@dataclass
class EvolutionConfig:
    space: Literal["auto", "conv", "residual", "recurrent"]
    max_channels: int
    max_units: int
    mode: Literal["one_plus_one", "population"]
    objective: Literal["accuracy", "pareto"]
    inheritance: bool
    budget_epochs: int
    epochs_per_trial: int
    batch_size: int
    learning_rate: float
    augment: Literal["auto", "none", "shift", "shift_flip"]
    niching_probability: float
    niching_steps: int
    population_size: int
    tournament_size: int
    final_epochs: int
    final_boundaries: list[int]
    final_learning_rates: list[float]
    checkpoints: list[int]
    worker_timeout: float
    heartbeat: float


@dataclass
class TunerConfig:
    space: Literal["auto", "conv", "recurrent"]
    max_trials: int
    epochs: int
    hyperband_max_epochs: int
    hyperband_factor: int
    batch_size: int
    learning_rate: float


@dataclass
class SearchRunConfig:
    dataset: str
    seed: int
    budget: str | None
    data: DataConfig
    model: ModelConfig
    train: TrainConfig
    resbuilder: ResBuilderConfig
    evolution: EvolutionConfig
    tuner: TunerConfig


@dataclass
class SlidesConfig:
    mode: Literal["thumbnail", "tiles"]
    downsample: float
    target_mpp: float | None
    canvas: list[int]
    tile_size: int
    tile_downsample: float
    tile_mpp: float | None
    min_tissue: float
    max_tiles: int
    cache_dir: str | None


@dataclass
class ClinicalConfig:
    slide: str
    patient: str
    time: str
    event: str
    source: str
    split: str


@dataclass
class SurvivalDataConfig:
    val_fraction: float
    test_fraction: float
    split_seed: int


@dataclass
class SurvivalModelConfig:
    arch: Literal["vgg16-thesis", "vgg-small", "vgg-tiny"]
    pooling: Literal["mean", "attention"]


@dataclass
class SurvivalTrainConfig:
    epochs: int
    batch_size: int
    learning_rate: float
    penalty: float


@dataclass
class SurvivalSearchConfig:
    max_trials: int
    epochs: int


@dataclass
class DemoConfig:
    patients: int
    size: list[int]
    mpp: float
    shift: float
    downsample: float
    canvas: list[int]
    tile_downsample: float


@dataclass
class SurvivalRunConfig:
    seed: int
    budget: str | None
    slides: SlidesConfig
    clinical: ClinicalConfig
    data: SurvivalDataConfig
    model: SurvivalModelConfig
    train: SurvivalTrainConfig
    search: SurvivalSearchConfig
    demo: DemoConfig


SCHEMAS = {"train": TrainRunConfig, "search": SearchRunConfig, "survival": SurvivalRunConfig}


def default_file(name: str) -> Path:
    return Path(str(resources.files("configs").joinpath(f"{name}.yaml")))


PRESETS = {"search": {"thesis": None, "quick": "search_quick"}}


def load_config(name: str, user_file: str | None = None, overrides: list[str] = (),
                preset: str | None = None) -> typing.Any:
    """The `configs/<name>.yaml` defaults, then the preset's overlay, then `user_file`, then
    each `key=value` override."""
    schema = SCHEMAS[name]
    base_path = default_file(name)
    merged = _read_yaml(base_path)
    _check(merged, schema, "", str(base_path), partial=False)
    if preset is not None:
        choices = PRESETS.get(name, {})
        if preset not in choices:
            raise ConfigError(f"unknown preset {preset!r} (choose {', '.join(choices) or 'none'})")
        if choices[preset]:
            layer_path = default_file(choices[preset])
            layer = _read_yaml(layer_path)
            _check(layer, schema, "", str(layer_path), partial=True)
            _merge(merged, layer)
    if user_file:
        layer = _read_yaml(Path(user_file))
        _check(layer, schema, "", user_file, partial=True)
        _merge(merged, layer)
    for item in overrides:
        layer = parse_override(item)
        _check(layer, schema, "", f"--set {item}", partial=True)
        _merge(merged, layer)
    return _build(schema, merged)


def from_dict(name: str, data: dict, source: str) -> typing.Any:
    """A complete config from a plain dict, e.g. the resolved config saved in a run dir."""
    schema = SCHEMAS[name]
    _check(data, schema, "", source, partial=False)
    return _build(schema, data)


def to_dict(config) -> dict:
    return dataclasses.asdict(config)


# Shorthands of `--set` (issue #4 names them so): the evolution's two most-changed keys.
ALIASES = {"inheritance": "evolution.inheritance", "budget_epochs": "evolution.budget_epochs",
           "epochs": "train.epochs"}  # issue #5: every optimizer takes the same --set epochs=N


def parse_override(item: str) -> dict:
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {item}: expected key=value, e.g. --set train.epochs=5")
    key = ALIASES.get(key.strip(), key)
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    layer: dict = {}
    node = layer
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return layer


def _read_yaml(path: Path) -> dict:
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(e, 'problem', e)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must be a mapping of keys to values")
    return data


def _merge(into: dict, layer: dict) -> None:
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _check(data: dict, schema, prefix: str, source: str, partial: bool) -> None:
    hints = typing.get_type_hints(schema)
    for key, value in data.items():
        full = f"{prefix}{key}"
        if key not in hints:
            known = ", ".join(f"{prefix}{k}" for k in hints)
            raise ConfigError(f"{source}: unknown key '{full}' (known keys: {known})")
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: '{full}' must be a mapping, got {value!r}")
            _check(value, hint, f"{full}.", source, partial)
        else:
            data[key] = _coerce(value, hint, full, source)
    if not partial:
        missing = [f"{prefix}{k}" for k in hints if k not in data]
        if missing:
            raise ConfigError(f"{source}: missing key(s) {', '.join(missing)}")


def _coerce(value, hint, key: str, source: str):
    def fail(expected: str):
        raise ConfigError(f"{source}: '{key}' must be {expected}, got {value!r}")

    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is Literal:
        if value not in args:
            fail("one of " + ", ".join(repr(a) for a in args))
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(value, inner, key, source)
    if origin is list:
        if not isinstance(value, list):
            fail("a list")
        return [_coerce(v, args[0], f"{key}[{i}]", source) for i, v in enumerate(value)]
    if hint is bool:
        if not isinstance(value, bool):
            fail("true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            fail("an integer")
        return value
    if hint is float:
        if isinstance(value, str):  # YAML 1.1 reads "1e-3" as a string
            try:
                return float(value)
            except ValueError:
                fail("a number")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail("a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            fail("a string")
        return value
    raise TypeError(f"unsupported config type {hint} for {key}")


def check_ranges(config: TrainRunConfig | SearchRunConfig, source: str = "config") -> None:
    """Values of the right type that still make no sense, named by key."""
    if config.budget is not None:
        try:
            parse_duration(config.budget)
        except ValueError as e:
            raise ConfigError(f"{source}: 'budget': {e}") from None
    if isinstance(config, SurvivalRunConfig):
        return _raise_first(_survival_rules(config), source)
    rules = [
        ("data.validation_split", config.data.validation_split, 0 < config.data.validation_split < 1, "in (0, 1)"),
        ("data.test_split", config.data.test_split, 0 < config.data.test_split < 1, "in (0, 1)"),
        ("data.batch_size", config.data.batch_size, config.data.batch_size >= 1, ">= 1"),
        ("train.epochs", config.train.epochs, config.train.epochs >= 1, ">= 1"),
        ("train.learning_rate", config.train.learning_rate, config.train.learning_rate > 0, "> 0"),
        ("train.plateau_factor", config.train.plateau_factor, 0 < config.train.plateau_factor < 1, "in (0, 1)"),
        ("train.plateau_patience", config.train.plateau_patience, config.train.plateau_patience >= 0, ">= 0"),
        ("train.early_stopping_patience", config.train.early_stopping_patience,
         config.train.early_stopping_patience >= 0, ">= 0 (0 turns it off)"),
    ]
    phs = config.train.phs
    rules += [
        ("train.phs.learning_rate", phs.learning_rate, phs.learning_rate > 0, "> 0"),
        ("train.phs.mass", phs.mass, phs.mass > 0, "> 0"),
        ("train.phs.friction", phs.friction, phs.friction >= 0, ">= 0"),
        ("train.phs.brake_factor", phs.brake_factor, phs.brake_factor >= 1, ">= 1"),
        ("train.phs.brake_goal", phs.brake_goal,
         0 < phs.brake_goal < 1 if phs.brake_mode == "relative" else phs.brake_goal > 0,
         "in (0, 1) for brake_mode relative" if phs.brake_mode == "relative" else "> 0"),
    ]
    m = config.model
    rules += [
        ("data.sequence_length", config.data.sequence_length, config.data.sequence_length >= 2, ">= 2"),
        ("data.sequence_sizes", config.data.sequence_sizes,
         len(config.data.sequence_sizes) == 3 and min(config.data.sequence_sizes) >= 1,
         "[train, validation, test], each >= 1"),
        ("model.units", m.units, m.units >= 1, ">= 1"),
        ("model.layers", m.layers, m.layers >= 1, ">= 1"),
        ("model.depth", m.depth, m.depth >= 1, ">= 1"),
        ("model.hidden", m.hidden, m.hidden >= 0, ">= 0 (0: as wide as model.units)"),
    ]
    if config.data.image_size is not None:
        ok = len(config.data.image_size) == 2 and min(config.data.image_size) >= 1
        rules.append(("data.image_size", config.data.image_size, ok, "[height, width]"))
    rb = getattr(config, "resbuilder", None)
    if rb is not None:
        for key in ("lambda_morph", "lambda_lasso", "lambda_l2", "morph_threshold", "lasso_threshold",
                    "momentum_gain", "init_mean_abs"):
            value = getattr(rb, key)
            rules.append((f"resbuilder.{key}", value, value >= 0, ">= 0"))
        rules += [
            ("resbuilder.intensity", rb.intensity, 0 < rb.intensity <= 1, "in (0, 1]"),
            ("resbuilder.zeta", rb.zeta, rb.zeta > 0, "> 0"),
            ("resbuilder.zeta_large", rb.zeta_large, rb.zeta_large > 0, "> 0"),
            ("resbuilder.insertions", rb.insertions, rb.insertions >= 0, ">= 0"),
            ("resbuilder.morph_steps", rb.morph_steps, rb.morph_steps >= 1, ">= 1"),
            ("resbuilder.epochs", rb.epochs, rb.epochs >= 1, ">= 1"),
            ("resbuilder.start_pooling_stages", rb.start_pooling_stages, rb.start_pooling_stages >= 0, ">= 0"),
        ]
    evo = getattr(config, "evolution", None)
    if evo is not None:
        rules += [
            ("evolution.budget_epochs", evo.budget_epochs, evo.budget_epochs >= evo.epochs_per_trial,
             f">= evolution.epochs_per_trial ({evo.epochs_per_trial})"),
            ("evolution.max_channels", evo.max_channels, evo.max_channels >= 16, ">= 16 (the smallest width)"),
            ("evolution.epochs_per_trial", evo.epochs_per_trial, evo.epochs_per_trial >= 1, ">= 1"),
            ("evolution.batch_size", evo.batch_size, evo.batch_size >= 1, ">= 1"),
            ("evolution.learning_rate", evo.learning_rate, evo.learning_rate > 0, "> 0"),
            ("evolution.niching_probability", evo.niching_probability, 0 <= evo.niching_probability <= 1,
             "in [0, 1]"),
            ("evolution.niching_steps", evo.niching_steps, evo.niching_steps >= 0, ">= 0"),
            ("evolution.population_size", evo.population_size, evo.population_size >= 2, ">= 2"),
            ("evolution.tournament_size", evo.tournament_size, 1 <= evo.tournament_size <= evo.population_size,
             f"in [1, evolution.population_size ({evo.population_size})]"),
            ("evolution.final_epochs", evo.final_epochs, evo.final_epochs >= 0, ">= 0"),
            ("evolution.final_learning_rates", evo.final_learning_rates,
             len(evo.final_learning_rates) == len(evo.final_boundaries) + 1
             and all(r > 0 for r in evo.final_learning_rates),
             "positive, one more than evolution.final_boundaries"),
            ("evolution.checkpoints", evo.checkpoints,
             all(0 < c <= evo.budget_epochs for c in evo.checkpoints), "in (0, evolution.budget_epochs]"),
            ("evolution.worker_timeout", evo.worker_timeout, evo.worker_timeout > evo.heartbeat,
             f"> evolution.heartbeat ({evo.heartbeat})"),
            ("evolution.heartbeat", evo.heartbeat, evo.heartbeat > 0, "> 0"),
            ("evolution.max_units", evo.max_units, evo.max_units >= 4, ">= 4 (the smallest width)"),
        ]
    tuner = getattr(config, "tuner", None)
    if tuner is not None:
        rules += [
            ("tuner.max_trials", tuner.max_trials, tuner.max_trials >= 1, ">= 1"),
            ("tuner.epochs", tuner.epochs, tuner.epochs >= 1, ">= 1"),
            ("tuner.hyperband_max_epochs", tuner.hyperband_max_epochs, tuner.hyperband_max_epochs >= 2, ">= 2"),
            ("tuner.hyperband_factor", tuner.hyperband_factor, tuner.hyperband_factor >= 2, ">= 2"),
            ("tuner.batch_size", tuner.batch_size, tuner.batch_size >= 1, ">= 1"),
            ("tuner.learning_rate", tuner.learning_rate, tuner.learning_rate > 0, "> 0"),
        ]
        if evo.objective == "pareto" and evo.mode != "population":
            rules.append(("evolution.objective", evo.objective, False,
                          "accuracy unless evolution.mode is population (a (1+1)-EA has no population to rank)"))
    _raise_first(rules, source)


def _raise_first(rules, source: str) -> None:
    for key, value, ok, expected in rules:
        if not ok:
            raise ConfigError(f"{source}: '{key}' must be {expected}, got {value!r}")


def _survival_rules(config) -> list:
    sv, st, d = config.slides, config.train, config.data
    return [
        ("slides.downsample", sv.downsample, sv.downsample >= 1, ">= 1"),
        ("slides.canvas", sv.canvas, len(sv.canvas) == 2 and min(sv.canvas) >= 16, "[height, width], each >= 16"),
        ("slides.tile_size", sv.tile_size, sv.tile_size >= 16, ">= 16"),
        ("slides.tile_downsample", sv.tile_downsample, sv.tile_downsample >= 1, ">= 1"),
        ("slides.min_tissue", sv.min_tissue, 0 <= sv.min_tissue <= 1, "in [0, 1]"),
        ("slides.max_tiles", sv.max_tiles, sv.max_tiles >= 1, ">= 1"),
        ("train.epochs", st.epochs, st.epochs >= 1, ">= 1"),
        ("train.batch_size", st.batch_size, st.batch_size >= 2, ">= 2 (the Cox loss compares samples in a batch)"),
        ("train.learning_rate", st.learning_rate, st.learning_rate > 0, "> 0"),
        ("train.penalty", st.penalty, st.penalty >= 0, ">= 0"),
        ("data.val_fraction", d.val_fraction, 0 < d.val_fraction < 1, "in (0, 1)"),
        ("data.test_fraction", d.test_fraction, 0 < d.test_fraction < 1 and d.val_fraction + d.test_fraction < 1,
         "in (0, 1), with data.val_fraction below 1"),
        ("search.max_trials", config.search.max_trials, config.search.max_trials >= 1, ">= 1"),
        ("demo.patients", config.demo.patients, config.demo.patients >= 12, ">= 12 (three splits with events)"),
    ]


def _build(schema, data: dict):
    hints = typing.get_type_hints(schema)
    kwargs = {
        k: _build(hints[k], v) if dataclasses.is_dataclass(hints[k]) else v
        for k, v in data.items()
    }
    return schema(**kwargs)
