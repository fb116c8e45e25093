"""Keyword-only constructors as the one definition of every parameter.

A settings class (`ResBuilderSettings`, `EvolutionSettings`, ...) is the schema of its strategy:
its `__init__` holds each parameter's default and type, its docstring's `Args:` section documents
it (with its source in the seeds), and its body validates it, raising `ArgumentError` (a
`ValueError`) that names the argument and the value received, as Keras does. The public classes
(`automl.ResBuilder`, `automl.Evolution`) take the same keywords; the config layer of the command
line reads the signature for its keys, types and defaults, constructs the class to validate a
config section, and writes `configs/<section>.yaml` from the signature and the docstring. Nothing
about a parameter is written anywhere else.

Pure Python on purpose: the command line checks its input before TensorFlow is imported.
"""
from __future__ import annotations

import inspect
import math
import numbers
import re
import typing

from automl.errors import shown


# Data augmentation of image training: "auto" is shifts and flips for natural images, shifts only
# for digit-like ones (seed 002 §6.1.1.2); the others name themselves.
AUGMENTS = ("auto", "none", "shift", "shift_flip")


def one_of(choices) -> str:
    """What a choice argument expects: "one of 'a', 'b'"."""
    return "one of " + ", ".join(map(repr, choices))


class ArgumentError(ValueError):
    """An argument out of its range or choices: `argument`, `value` and what was `expected`."""

    def __init__(self, owner: str, argument: str, value, expected: str):
        self.owner, self.argument, self.value, self.expected = owner, argument, value, expected
        super().__init__(f"{owner}: argument `{argument}` must be {expected}. Received: {argument}={shown(value)}")


class Settings:
    """Base of the settings classes: introspection, comparison, copies with changes, presets.

    Subclasses define `__init__(self, *, name=default, ...)` with keyword-only arguments only,
    validate with `self.check` and `self.check_choice`, and store each argument under its own
    name. `PRESETS` maps a preset name to the values it changes.
    """

    PRESETS: dict[str, dict] = {}

    # -- introspection -------------------------------------------------------------------
    @classmethod
    def parameters(cls) -> dict[str, inspect.Parameter]:
        """The keyword-only arguments of this class's own constructor, in order."""
        signature = inspect.signature(cls.__init__)
        return {p.name: p for p in signature.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY}

    @classmethod
    def defaults(cls) -> dict:
        """Each argument's default; a nested settings argument's as its own dict of defaults."""
        types = cls.types()
        return {name: types[name].defaults() if is_settings(types[name]) else _plain(p.default)
                for name, p in cls.parameters().items()}

    @classmethod
    def types(cls) -> dict:
        """Each argument's annotation, evaluated (`Literal[...]`, `int`, `list[int]`, `float | None`...);
        a nested settings argument (`phs: PhsSettings | None = None`) as its settings class."""
        hints = {}
        for base in reversed(cls.__mro__):  # a public class's signature merges its settings classes'
            if "__init__" in vars(base) and issubclass(base, Settings):
                hints.update(typing.get_type_hints(vars(base)["__init__"]))
        return {name: _settings_in(hints[name]) or hints[name] for name in cls.parameters()}

    @classmethod
    def docs(cls) -> dict[str, str]:
        """Each argument's text from the `Args:` section of the class docstring."""
        return parse_args_section(cls.__doc__ or "")

    @classmethod
    def preset(cls, name: str | None) -> dict:
        """The values preset `name` sets (None: none)."""
        if name is None:
            return {}
        if name not in cls.PRESETS:
            raise ArgumentError(cls.__name__, "preset", name, one_of(cls.PRESETS))
        return dict(cls.PRESETS[name])

    # -- values ----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {name: _plain(getattr(self, name)) for name in type(self).parameters()}

    @classmethod
    def of(cls, obj, **changes):
        """This class's settings read off `obj` (e.g. a public class that also holds others), with changes."""
        return cls(**{**{name: getattr(obj, name) for name in cls.parameters()}, **changes})

    @classmethod
    def of_given(cls, obj, **values):
        """`of(obj)` changed by the values a caller gave, None standing for "obj's own" (for a
        method such as `search(epochs=None)` whose arguments override the object's settings)."""
        return cls.of(obj, **{name: value for name, value in values.items() if value is not None})

    @classmethod
    def given(cls, **values):
        """The settings with the values a caller gave, None standing for "the default" (for
        methods whose arguments default to these settings' own, such as `search(batch_size=None)`)."""
        return cls(**{name: value for name, value in values.items() if value is not None})

    def replace(self, **changes):
        """A copy with `changes`, validated like any construction."""
        return type(self)(**{**self.to_dict(), **changes})

    def __eq__(self, other):
        return type(other) is type(self) and other.to_dict() == self.to_dict()

    def __repr__(self):
        changed = {k: v for k, v in self.to_dict().items() if v != _plain(type(self).defaults()[k])}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    # -- validation ------------------------------------------------------------------------
    def check(self, argument: str, value, ok: bool, expected: str) -> None:
        if not ok:
            raise ArgumentError(type(self).__name__, argument, value, expected)

    def check_choice(self, argument: str, value, choices) -> None:
        self.check(argument, value, value in choices, one_of(choices))

    # The rules several settings classes apply, each written once; `note` is appended to what is
    # expected (e.g. " (0 turns it off)").
    def check_count(self, argument: str, value, low: int, note: str = "") -> None:
        """An integer (not a bool) >= `low`."""
        self.check(argument, value, is_int(value) and value >= low, f"an integer >= {low}{note}")

    def check_positive(self, argument: str, value, zero: bool = False, note: str = "") -> None:
        """A finite number > 0 (`zero`: >= 0); inf and nan are refused."""
        ok = is_finite_number(value) and (value >= 0 if zero else value > 0)
        self.check(argument, value, ok, ("a number >= 0" if zero else "a number > 0") + note)

    def check_unit(self, argument: str, value, low_open: bool = False, high_open: bool = False,
                   note: str = "") -> None:
        """A finite number in the unit interval: [0, 1], without 0 if `low_open`, without 1 if `high_open`."""
        ok = is_finite_number(value) and (0 < value if low_open else 0 <= value) and (
            value < 1 if high_open else value <= 1)
        self.check(argument, value, ok, f"in {'(' if low_open else '['}0, 1{')' if high_open else ']'}{note}")

    def check_bool(self, argument: str, value) -> None:
        """True or False (not 0 or 1)."""
        self.check(argument, value, isinstance(value, bool), "True or False")


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


SEED_LIMIT = 2**31  # every seed feeds numpy and TensorFlow generators, which take [0, 2**31)


def is_seed(value) -> bool:
    """A seed this project accepts anywhere: an integer in [0, 2**31) (numpy integers too: a seed
    often comes from a numpy loop or array)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and 0 <= value < SEED_LIMIT


SEED_RULE = "an integer in [0, 2**31)"


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_finite_number(value) -> bool:
    """A number that is neither inf nor nan (the one finiteness test of the settings' rules)."""
    return is_number(value) and math.isfinite(value)


def is_settings(hint) -> bool:
    return isinstance(hint, type) and issubclass(hint, Settings)


def _settings_in(hint):
    """The settings class in `hint` (itself, or X in `X | None`), else None."""
    if is_settings(hint):
        return hint
    found = [a for a in typing.get_args(hint) if is_settings(a)]
    return found[0] if found else None


def _plain(value):
    if isinstance(value, Settings):
        return value.to_dict()
    return list(value) if isinstance(value, tuple) else value


def parse_args_section(doc: str) -> dict[str, str]:
    """{argument: its text} from a Google-style `Args:` section (continuation lines joined)."""
    lines = inspect.cleandoc(doc).splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Args:")
    except StopIteration:
        return {}
    out: dict[str, str] = {}
    current = None
    indent = None
    for line in lines[start + 1:]:
        if not line.strip():
            continue
        depth = len(line) - len(line.lstrip())
        if indent is None:
            indent = depth
        if depth < indent:  # the section ended
            break
        match = re.match(r"\s*(\w+)(?: \([^)]*\))?: (.*)", line)
        if depth == indent and match:
            current = match.group(1)
            out[current] = match.group(2).strip()
        elif current is not None:
            out[current] += " " + line.strip()
    return out


def split_keywords(kwargs: dict, *classes) -> list[dict]:
    """`kwargs` divided among the constructors of `classes` (each keyword goes to the first class
    that takes it); a keyword none of them takes is a TypeError, as for any constructor."""
    parts = [{} for _ in classes]
    for key, value in kwargs.items():
        for part, cls in zip(parts, classes):
            if key in cls.parameters():
                part[key] = value
                break
        else:
            raise TypeError(f"unexpected keyword argument {key!r}")
    return parts


def merged_signature(init, *classes) -> inspect.Signature:
    """The signature of a constructor `init(self, *, own..., **kwargs)` that passes `**kwargs` on
    to several settings classes: its own keywords, then theirs (for help() and IDEs)."""
    own = [p for p in inspect.signature(init).parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    params = list(own)
    for cls in classes:
        params += [p for p in cls.parameters().values() if p.name not in {q.name for q in params}]
    return inspect.Signature(params)


def merged_args_doc(*classes) -> str:
    """The `Args:` entries of several settings classes, in signature order."""
    lines = ["Args:"]
    seen = set()
    for cls in classes:
        for name, text in cls.docs().items():
            if name not in seen:
                seen.add(name)
                lines.append(f"    {name}: {text}")
    return "\n".join(lines)
