"""YAML configs loaded into typed objects.

Every section is a settings class (`data:` is automl.DataSettings, `resbuilder:`
automl.ResBuilderSettings, `population:` automl.PopulationSettings, ...): it takes its keys,
types, defaults and rules from that class's constructor, the one definition of each parameter,
and its `configs/<file>.yaml` is written from the class (`python tools/write_configs.py`, see
GENERATED) and a test keeps it so. `configs/<command>.yaml` holds only a command's top-level
keys (dataset, budget, seed), typed by the dataclasses here.

Layers, last wins: the defaults, a preset (`--preset thesis`: each settings class's PRESETS), a
user file (`--config FILE`), then each `--set key=value`. An unknown key, a value of the wrong
type or out of range fails with a message naming the key and the file (or flag) it came from.
"""
from __future__ import annotations

import dataclasses
import textwrap
import types
import typing
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml

from automl.errors import ConfigError
from automl.data_settings import DataSettings
from automl.evolution.settings import EvolutionSettings
from automl.model_settings import ModelSettings
from automl.population_settings import PopulationSettings
from automl.resbuilder.settings import ResBuilderSettings
from automl.search_run import SearchRun
from automl.settings import ArgumentError, Settings
from automl.settings import is_settings as _is_settings
from automl.survival.settings import (ClinicalColumns, DemoSettings, SlidesSettings, SurvivalDataSettings,
                                      SurvivalModelSettings, SurvivalSearchSettings, SurvivalTrainingSettings)
from automl.training_settings import TrainingSettings
from automl.tuner_settings import TunerSettings


@dataclass
class TrainRunConfig:
    dataset: str
    seed: int
    budget: str | None
    data: DataSettings
    model: ModelSettings
    train: TrainingSettings
    population: PopulationSettings


@dataclass
class SearchRunConfig:
    dataset: str
    seed: int
    budget: str | None
    data: DataSettings
    model: ModelSettings
    train: TrainingSettings
    resbuilder: ResBuilderSettings
    evolution: EvolutionSettings
    tuner: TunerSettings


@dataclass
class SurvivalRunConfig:
    seed: int
    budget: str | None
    slides: SlidesSettings
    clinical: ClinicalColumns
    data: SurvivalDataSettings
    model: SurvivalModelSettings
    train: SurvivalTrainingSettings
    search: SurvivalSearchSettings
    demo: DemoSettings


SCHEMAS = {"train": TrainRunConfig, "search": SearchRunConfig, "survival": SurvivalRunConfig}


def default_file(name: str) -> Path:
    return Path(str(resources.files("configs").joinpath(f"{name}.yaml")))


DEFAULTS = "the defaults of "  # the source named for a settings class's own defaults


def settings_sections(schema) -> dict[str, type[Settings]]:
    """The sections of `schema` that a settings class defines: {section: class}."""
    return {k: h for k, h in typing.get_type_hints(schema).items() if _is_settings(h)}


DEFAULT_PRESET = "quick"  # the settings classes' own defaults: `PRESETS["quick"]` changes nothing


def top_level(name: str) -> dict:
    """The top-level keys of a command's default file (dataset, budget, seed) with their defaults."""
    return {k: v for k, v in _read_yaml(default_file(name)).items() if not isinstance(v, dict)}


def presets(name: str) -> list[str]:
    """The presets a command's config knows (those of its settings classes)."""
    return sorted({p for cls in settings_sections(SCHEMAS[name]).values() for p in cls.PRESETS})


def load_config(name: str, user_file: str | None = None, overrides: list[str] = (),
                preset: str | None = None) -> typing.Any:
    """The defaults (`configs/<name>.yaml` and the settings classes' constructors), then the
    preset's values, then `user_file`, then each `key=value` override."""
    schema = SCHEMAS[name]
    base_path = default_file(name)
    sections = settings_sections(schema)
    layers = [(_read_yaml(base_path), str(base_path))]
    layers += [({section: _plain(cls.defaults())}, f"{DEFAULTS}{cls.__name__}") for section, cls in sections.items()]
    if preset is not None:
        if preset not in presets(name):
            raise ConfigError(f"unknown preset {preset!r} (choose {', '.join(presets(name)) or 'none'})")
        layers.append(({section: _plain(cls.preset(preset)) for section, cls in sections.items()
                        if preset in cls.PRESETS}, f"--preset {preset}"))
    if user_file:
        layers.append((_read_yaml(Path(user_file)), user_file))
    layers += [(parse_override(item), f"--set {item}") for item in overrides]
    merged, sources = {}, {}
    for layer, source in layers:
        _check(layer, schema, "", source, partial=True)
        _merge(merged, layer, sources, source)
    _check(merged, schema, "", str(base_path), partial=False)
    return _build(schema, merged, sources, str(base_path))


def from_dict(name: str, data: dict, source: str) -> typing.Any:
    """A complete config from a plain dict, e.g. the resolved config saved in a run dir."""
    schema = SCHEMAS[name]
    _check(data, schema, "", source, partial=False)
    return _build(schema, data, {}, source)


def run_config(run, schema: str = "train") -> typing.Any:
    """The resolved config a run directory saved (`run`: an automl.rundir.RunDir or its path)."""
    from automl.rundir import RunDir

    run = run if isinstance(run, RunDir) else RunDir(run)
    return from_dict(schema, run.config(), str(run.path / RunDir.CONFIG))


def to_dict(config) -> dict:
    """Plain values (for YAML) of a config, dataclass sections and settings sections alike."""
    if isinstance(config, Settings):
        return config.to_dict()
    return {f.name: to_dict(value) if dataclasses.is_dataclass(value) or isinstance(value, Settings) else _plain(value)
            for f in dataclasses.fields(config) for value in [getattr(config, f.name)]}


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return list(value) if isinstance(value, tuple) else value


# The sections a settings class defines, each written out as configs/<file>: key -> (the
# command whose schema holds it, file name). The key is the section's name, or `command.section`
# where another command's section has that name (`survival.train`); sections that share a file
# are written into it together, in this order.
GENERATED = {"data": ("train", "data.yaml"), "model": ("train", "model.yaml"), "train": ("train", "training.yaml"), "resbuilder": ("search", "resbuilder.yaml"),
             "evolution": ("search", "evolution.yaml"), "population": ("train", "population.yaml"),
             "tuner": ("search", "tuner.yaml"),
             **{f"survival.{s}": ("survival", "survival_settings.yaml") for s in settings_sections(SurvivalRunConfig)}}


def section_of(key: str) -> str:
    """The section a GENERATED key names: `survival.train` -> `train`."""
    return key.rpartition(".")[2]


def settings_yaml(key: str) -> str:
    """`configs/<file>` of GENERATED[key]: its settings classes' defaults, each with its
    documentation and source as a comment, and their presets; written by tools/write_configs.py,
    never by hand."""
    command, file = GENERATED[key]
    classes = {section_of(k): settings_sections(SCHEMAS[c])[section_of(k)] for k, (c, f) in GENERATED.items()
               if f == file}
    if len(classes) == 1:
        section = section_of(key)
        cls = classes[section]
        lines = [f"# Defaults of `{section}:` in a config file or `--set {section}.KEY=VALUE`, written from",
                 f"# {cls.__module__}.{cls.__name__} by tools/write_configs.py (do not edit: the class is the",
                 "# definition). Each comment is the argument's documentation, with its source in the seeds."]
    else:
        lines = [f"# Defaults of the sections of `automl {command}` below, in a config file or `--set",
                 "# SECTION.KEY=VALUE`, each written from its settings class by tools/write_configs.py (do not edit:",
                 "# the classes are the definition). Each comment is the argument's documentation, with its source",
                 "# in the seeds."]
    for section, cls in classes.items():
        lines += ["", *([f"# {cls.__module__}.{cls.__name__}"] if len(classes) > 1 else []),
                  f"{section}:", *_settings_lines(cls, "  ")]
        for name, values in cls.PRESETS.items():
            if values:
                lines += ["", f"# --preset {name} sets: " + ", ".join(f"{k}={_plain(v)}" for k, v in values.items())]
    return "\n".join(lines) + "\n"


def describe(name: str) -> str:
    """Every config key of `automl <name>` with its default and its source: the command's own file,
    then the file of each of its settings sections (as tools/write_configs.py writes them)."""
    keys = [f"{name}.{section}" if f"{name}.{section}" in GENERATED else section
            for section in settings_sections(SCHEMAS[name])]
    files: dict[str, str] = {}  # file -> its first section's key (sections that share a file print it once)
    for key in keys:
        files.setdefault(GENERATED[key][1], key)
    parts = [default_file(name).read_text()]
    for file, key in files.items():
        parts.append(f"# ---- configs/{file} ----\n" + settings_yaml(key))
    return "\n".join(parts)


def _settings_lines(cls, indent: str) -> list[str]:
    lines, docs, types = [], cls.docs(), cls.types()
    for name, value in cls.defaults().items():
        nested = _is_settings(types[name])
        text = f"{name}:" if nested else yaml.safe_dump({name: value}, default_flow_style=True, width=10**6).strip()[1:-1]
        first, *rest = textwrap.wrap(docs[name], 96)
        lines.append(f"{indent}{text}  # {first}")
        lines += [f"{indent}{' ' * len(text)}  # {line}" for line in rest]
        if nested:
            lines += _settings_lines(types[name], indent + "  ")
    return lines


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
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not a text (UTF-8) file") from None
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


def _merge(into: dict, layer: dict, sources: dict, source: str, prefix: str = "") -> None:
    """`layer` over `into`; `sources` remembers where each key's value came from."""
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value, sources, source, f"{prefix}{key}.")
        else:
            into[key] = value
            for leaf in _leaves(value, f"{prefix}{key}"):
                sources[leaf] = source


def _leaves(value, key: str):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, f"{key}.{k}")
    else:
        yield key


def _check(data: dict, schema, prefix: str, source: str, partial: bool) -> None:
    """Keys known and values of the right type (ranges are the settings classes')."""
    hints = schema.types() if _is_settings(schema) else typing.get_type_hints(schema)
    for key, value in data.items():
        full = f"{prefix}{key}"
        if key not in hints:
            known = ", ".join(f"{prefix}{k}" for k in hints)
            raise ConfigError(f"{source}: unknown key '{full}' (known keys: {known})")
        hint = hints[key]
        if dataclasses.is_dataclass(hint) or _is_settings(hint):
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
        inner = [a for a in args if a is not type(None)]
        for option in inner[:-1]:  # bool | Literal["auto"]: the first type the value fits
            try:
                return _coerce(value, option, key, source)
            except ConfigError:
                pass
        return _coerce(value, inner[-1], key, source)
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


def check_ranges(config, source: str = "config") -> None:
    """The top-level keys by automl.SearchRun's rules: the command's wall-clock budget and seed."""
    try:
        SearchRun(budget=config.budget, seed=config.seed)
    except ArgumentError as e:
        raise ConfigError(f"{source}: '{e.argument}' must be {e.expected}, got {e.value!r}") from None


def _build(schema, data: dict, sources: dict, default_source: str, prefix: str = ""):
    """The typed config; a settings section is constructed, which applies its rules, and a value
    it refuses is named with its key and the file or flag it came from."""
    if _is_settings(schema):
        types = schema.types()
        data = {k: _build(types[k], v, sources, default_source, f"{prefix}{k}.") if _is_settings(types[k]) else v
                for k, v in data.items()}
        try:
            return schema(**data)
        except ArgumentError as e:
            key = f"{prefix}{e.argument}"
            where, note = sources.get(key, default_source), ""
            if where.startswith(DEFAULTS):  # a default another setting made wrong: name that setting's layer
                given = [s for k, s in sources.items() if k.startswith(prefix) and not s.startswith(DEFAULTS)]
                if given:
                    where, note = given[-1], " (its default)"
            raise ConfigError(f"{where}: '{key}'{note} must be {e.expected}, got {e.value!r}") from None
    hints = typing.get_type_hints(schema)
    kwargs = {k: _build(hints[k], v, sources, default_source, f"{prefix}{k}.")
              if dataclasses.is_dataclass(hints[k]) or _is_settings(hints[k]) else v for k, v in data.items()}
    return schema(**kwargs)
