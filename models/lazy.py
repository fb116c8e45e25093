"""Names that load on first use (PEP 562): a package exports them without importing TensorFlow
until one is touched, so the command line checks its input in well under a second."""
from __future__ import annotations

import importlib


def lazy_exports(package: str, exports: dict[str, str], namespace: dict):
    """The module-level `__getattr__` and `__dir__` of `package`, whose `exports` map each public
    name to the module that defines it; `namespace` is the package's `globals()`."""

    def __getattr__(name):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name]), name)

    def __dir__():
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
