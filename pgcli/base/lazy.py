"""Heavy libraries imported when first used, so that importing a module — for a command's --help, or
a kind's record — costs only what its top level needs.

    special = lazy.module("scipy.special")    # executed on the first `special.expit(...)`

The standard library's mechanism (importlib.util.LazyLoader): the module object is created and
placed in sys.modules at once, and executed on its first attribute access.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def module(name: str) -> ModuleType:
    """The module `name`, executed on its first attribute access (at once if it is already loaded)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    found = importlib.util.module_from_spec(spec)
    sys.modules[name] = found
    loader.exec_module(found)
    return found
