"""Every public class and function documents each argument in an `Args:` section, and every
settings class names each of its choices there (the choices themselves are written once, in the
`Literal` of the constructor; this keeps the documentation from drifting away from them)."""
import inspect
import typing

import pytest

import automl
import automl.survival
import models
from automl.settings import Settings, parse_args_section

PUBLIC = sorted({(module.__name__, name) for module in (automl, automl.survival)
                 for name in module.__all__
                 if inspect.isclass(getattr(module, name)) or inspect.isfunction(getattr(module, name))})


def _public(module_name, name):
    return getattr({"automl": automl, "automl.survival": automl.survival}[module_name], name)


@pytest.mark.parametrize("module_name, name", PUBLIC)
def test_every_public_argument_is_documented(module_name, name):
    obj = _public(module_name, name)
    documented = parse_args_section(obj.__doc__ or "")
    assert documented, f"{module_name}.{name} has no Args: section"
    arguments = [p.name for p in inspect.signature(obj).parameters.values()
                 if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    assert [a for a in arguments if a not in documented] == []


def _choices(hint) -> list:
    found = list(typing.get_args(hint)) if typing.get_origin(hint) is typing.Literal else []
    for inner in typing.get_args(hint):
        if typing.get_origin(inner) is typing.Literal:
            found += typing.get_args(inner)
    return found


@pytest.mark.parametrize("module_name, name", [(m, n) for m, n in PUBLIC
                                               if inspect.isclass(_public(m, n)) and issubclass(_public(m, n), Settings)])
def test_every_choice_of_a_settings_argument_is_named_in_its_documentation(module_name, name):
    cls = _public(module_name, name)
    docs = cls.docs()
    missing = [(argument, choice) for argument, hint in cls.types().items() for choice in _choices(hint)
               if str(choice) not in docs.get(argument, "")]
    assert missing == []


def test_the_checks_read_what_they_check():
    """The helpers see a missing argument and an unnamed choice."""
    def undocumented(*, alpha: int = 1):
        """Args:
            beta: another.
        """
    assert "alpha" not in parse_args_section(undocumented.__doc__)
    assert _choices(typing.Literal["a", "b"] | None) == ["a", "b"]
    assert models.ARCHITECTURES  # the models package exports lazily too
