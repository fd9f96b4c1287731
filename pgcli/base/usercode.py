"""User code: the one place pgcli imports a module named by a spec, a flag or an API call.

A reference ``MODULE:NAME`` (MODULE may be dotted, ``package.module``) names your Python code: an f
(``f: myproblem:hamming``), an environment class (``env.id: myenvs:Corridor``). A spec file is data
that people download and run without reading, and importing a module is itself running code
(``this`` prints, ``venv.__main__`` builds a virtual environment, ``pickle:loads`` runs whatever its
argument's bytes say). So a reference is allowed only when it is your own source file:

- MODULE is ``MODULE.py``, or a package ``MODULE/__init__.py`` (each package level with an
  ``__init__.py``), under a **trusted directory**, after symlinks are resolved;
- for a reference written in a spec file, the trusted directories are the spec file's own
  directory and those you pass with ``--trust DIR``; a reference you type on the command line
  (``--f``, ``--set``, ``--set-grid``) or pass to the Python API may also be in the working directory;
- never a module of the standard library or built into Python, never pgcli, never a dunder module
  (``__main__``), never a module already imported from somewhere else, and never a dunder name.

Checking a reference (:func:`locate`) reads the file system only: nothing is imported. The runs that
use a module carry it as a :class:`Module` (its top-level name, trusted directory and a digest of
its source, so editing the module changes the runs' ids); :func:`allow` admits those modules in a
process, and :func:`load` imports only admitted ones. ``sys.path`` is never changed for good: a
module is imported with its directory in front of the path for the length of the import.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import re
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

REFERENCE = re.compile(r"([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*):(.+)")
MAX_MODULE_BYTES = 20_000_000  # a user package larger than this is not shipped or hashed
TRUST_HINT = "pass --trust DIR to allow your modules under DIR"


class UserCodeError(ValueError):
    """A reference to code pgcli will not import, or user code that failed to import; one line."""


class Module(NamedTuple):
    """A trusted user module: its top-level name, the directory it was found in, a sha256 of its
    source (the file, or every .py file of the package), and whether that directory is an
    installation's (site-packages: the same package must be installed wherever it runs)."""

    name: str
    root: str
    digest: str
    installed: bool = False


def split(text: str) -> tuple[str, str] | None:
    """'package.module:Name' -> ('package.module', 'Name'); None for text of another form."""
    match = REFERENCE.fullmatch(text.strip()) if isinstance(text, str) else None
    return (match.group(1), match.group(2)) if match else None


def refusal(module: str) -> str | None:
    """Why a module name can never be user code (standard library, built in, pgcli, dunder), or None."""
    parts = module.split(".")
    top = parts[0]
    if any(part.startswith("__") and part.endswith("__") for part in parts):
        return f"module {module!r} is a dunder module; pgcli never imports one"
    if top in sys.stdlib_module_names or top in sys.builtin_module_names:
        return f"module {module!r} is part of Python's standard library, not your code"
    if top == "pgcli":
        return "module 'pgcli' is pgcli itself, not your code"
    return None


def _source_file(module: str, root: Path) -> Path | None:
    """root/a/b.py or root/a/b/__init__.py for module 'a.b' (each package level a regular package)."""
    *packages, last = module.split(".")
    directory = root
    for part in packages:
        directory = directory / part
        if not (directory / "__init__.py").is_file():
            return None
    for candidate in (directory / f"{last}.py", directory / last / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _installed_roots() -> list[Path]:
    import site
    import sysconfig

    paths = sysconfig.get_paths()
    roots = {paths["purelib"], paths["platlib"], *site.getsitepackages()}
    return [Path(root).resolve() for root in roots if root]


def locate(reference: str, roots: Iterable[str | Path], what: str = "") -> Module:
    """The trusted Module a reference's MODULE resolves to, searching `roots` in order; reads only
    the file system. UserCodeError (one line, naming `what` refers to it) when it is not allowed."""
    parts = split(reference)
    label = f"{what} {reference!r}" if what else repr(reference)
    if parts is None:
        raise UserCodeError(f"{label} is not a MODULE:NAME reference")
    module, name = parts
    if problem := refusal(module):
        raise UserCodeError(f"{label}: {problem}")
    if name.startswith("__") and name.endswith("__"):
        raise UserCodeError(f"{label}: {name!r} is a dunder name; name a function or class of your module")
    roots = [Path(root).resolve() for root in roots]
    for root in roots:
        found = _source_file(module, root)
        if found is None:
            continue
        if not found.resolve().is_relative_to(root):
            raise UserCodeError(
                f"{label}: {found} is a link to a file outside {root}; pgcli imports only your own files"
            )
        top = module.split(".")[0]
        if problem := _loaded_elsewhere(top, root):
            raise UserCodeError(f"{label}: {problem}")
        return Module(top, str(root), digest(root, top), any(root == r for r in _installed_roots()))
    where = ", ".join(str(root) for root in roots) or "no directory"
    raise UserCodeError(
        f"{label}: no file {module.replace('.', '/')}.py (or package) in a trusted directory ({where}); "
        f"pgcli imports only your own files, never standard-library or installed modules; {TRUST_HINT}"
    )


def digest(root: str | Path, top: str) -> str:
    """sha256 of a top-level module's source: the file root/top.py, or every .py file of the
    package root/top/ (relative paths and bytes, in sorted order)."""
    root = Path(root)
    single = root / f"{top}.py"
    files = [single] if single.is_file() else sorted((root / top).rglob("*.py"))
    sha, size = hashlib.sha256(), 0
    for path in files:
        data = path.read_bytes()
        size += len(data)
        if size > MAX_MODULE_BYTES:
            raise UserCodeError(f"module {top!r} ({root}) has over {MAX_MODULE_BYTES // 10**6} MB of source")
        sha.update(str(path.relative_to(root)).encode() + b"\0" + data + b"\0")
    return sha.hexdigest()[:16]


_ALLOWED: dict[str, str] = {}  # top-level module name -> trusted directory, in this process
_LOCK = threading.Lock()


def allow(modules: Iterable[Module]) -> None:
    """Admit these modules in this process (the shell after locating them; an executor before a run)."""
    for module in modules:
        _ALLOWED[module.name] = module.root


def allowed() -> dict[str, str]:
    """The admitted modules: top-level name -> directory."""
    return dict(_ALLOWED)


def load_module(reference: str, what: str = ""):
    """The module MODULE of MODULE:NAME, imported if it was admitted (:func:`allow`).

    UserCodeError (one line) when it was not admitted, when NAME is a dunder name, or when
    importing it fails in any way (an exception, a syntax error, sys.exit)."""
    parts = split(reference)
    label = f"{what} {reference!r}" if what else repr(reference)
    if parts is None:
        raise UserCodeError(f"{label} is not a MODULE:NAME reference")
    module_name, name = parts
    top = module_name.split(".")[0]
    if (problem := refusal(module_name)) or top not in _ALLOWED:
        raise UserCodeError(f"{label}: {problem or f'module {top!r} was not found in a trusted directory'}")
    if name.startswith("__") and name.endswith("__"):
        raise UserCodeError(f"{label}: {name!r} is a dunder name; name a function or class of your module")
    return _import(module_name, _ALLOWED[top], label)


def load(reference: str, what: str = ""):
    """The object NAME of MODULE:NAME (see :func:`load_module`); UserCodeError if it has none."""
    module = load_module(reference, what)
    module_name, name = split(reference)
    if not hasattr(module, name):
        label = f"{what} {reference!r}" if what else repr(reference)
        raise UserCodeError(f"{label}: module {module_name!r} has no {name!r}")
    return getattr(module, name)


def _import(module_name: str, root: str, label: str):
    """Import module_name with root first on sys.path for the length of the import only."""
    if problem := _loaded_elsewhere(module_name.split(".")[0], root):
        raise UserCodeError(f"{label}: {problem}")
    with _LOCK:
        sys.path.insert(0, root)
        try:
            return importlib.import_module(module_name)
        except KeyboardInterrupt:
            raise
        except BaseException as err:  # the module's own code failed, or called sys.exit
            where = _where(err, root)
            raise UserCodeError(
                f"{label}: importing module {module_name!r} raised {type(err).__name__}: {_one_line(err)}{where}"
            ) from None
        finally:
            with contextlib.suppress(ValueError):  # the module may have edited sys.path itself
                sys.path.remove(root)


def _loaded_elsewhere(top: str, root: str | Path) -> str | None:
    """Why module `top` cannot come from `root`: this process already has a module of that name
    from somewhere else (numpy.py beside a spec is not numpy); None otherwise."""
    loaded = sys.modules.get(top)
    if loaded is None:
        return None
    file = getattr(loaded, "__file__", None)
    if file and Path(file).resolve().is_relative_to(Path(root).resolve()):
        return None
    return f"a module named {top!r} is already loaded from {file or 'elsewhere'}; rename yours"


def _where(err: BaseException, *roots: str) -> str:
    """' (at FILE:LINE)' of the innermost frame in the user's directories, or of a SyntaxError."""
    if isinstance(err, SyntaxError) and err.filename:
        return f" (at {err.filename}:{err.lineno})"
    tb, found = err.__traceback__, ""
    resolved = [Path(root).resolve() for root in roots]
    while tb is not None:
        file = tb.tb_frame.f_code.co_filename
        if any(Path(file).resolve().is_relative_to(root) for root in resolved):
            found = f" (at {file}:{tb.tb_lineno})"
        tb = tb.tb_next
    return found


def where(err: BaseException) -> str:
    """' (at FILE:LINE)' of the innermost frame of an exception in an admitted module, or ''."""
    return _where(err, *_ALLOWED.values()) if _ALLOWED else ""


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())[:300]
