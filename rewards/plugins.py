"""User code a recipe names by reference: ``package.module:name`` or ``path/to/file.py:name``.

Reward functions (:func:`rewards.registry.resolve`) and environments (:func:`r1train.envs.base.resolve`)
are both named this way when they are not registered; :func:`resolve` (a registered name, else a
reference, else the closest registered name in the error) and :func:`load_reference` are the one lookup
and the one loader behind both, so the two accept the same references and fail with the same sentences. It lives in ``rewards``
because that package imports nothing of ours and ``r1train`` may import it (DESIGN.md: dependencies
flow one way); each registry stays beside the functions or classes it holds.

A file is loaded once per process (by its resolved path), under a private module name, whichever caller
asks first; a file that fails to import is forgotten, so the fixed file loads on the next try.

Use::

    from rewards.plugins import load_reference

    fn = load_reference("my_rewards.py:short", what="reward", kind="function", fits=callable)
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


class LoadError(ValueError):
    """A reference that cannot be loaded; the message is one sentence for the user."""


def resolve(ref: str, registry: dict[str, Any], *, what: str, kind: str, fits: Callable[[Any], bool],
            error: type[Exception], unknown: str, listed: str, forms: str) -> Any:
    """What a recipe's ``ref`` names: a registered name, else ``module:name`` / ``file.py:name``
    (:func:`load_reference`), else ``error`` with ``unknown``, the closest registered name and ``listed``
    followed by every registered name and the reference ``forms``."""
    if ref in registry:
        return registry[ref]
    if ":" in ref:
        return load_reference(ref, what=what, kind=kind, fits=fits, error=error)
    close = difflib.get_close_matches(ref, registry, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise error(f"{unknown}; {hint}{listed}: {', '.join(sorted(registry))} (or give {forms})")


def load_reference(
    ref: str, what: str, kind: str, fits: Callable[[Any], bool], error: type[Exception] = LoadError
) -> Any:
    """The object ``ref`` (``module:name`` or ``file.py:name``) names, if ``fits(obj)``.

    ``what`` starts every message (``reward``, ``env.name``), ``kind`` names what was looked for
    (``function``, ``environment class``); ``error`` is the exception raised, with a message that says
    what to change: the module cannot be imported, the file does not exist or fails to import, or it has
    no fitting ``name``.
    """
    if ":" not in ref:
        raise error(f"{what} {ref!r} is not a reference; give module:name or path/to/file.py:name")
    target, _, attr = ref.rpartition(":")
    module = _load_file(target, ref, what, error) if target.endswith(".py") else _import(target, ref, what, error)
    obj = getattr(module, attr, None)
    if not fits(obj):
        raise error(f"{what} {ref!r}: {target} has no {kind} {attr!r}; check the name after ':'")
    return obj


def _import(name: str, ref: str, what: str, error: type[Exception]) -> Any:
    try:
        return importlib.import_module(name)
    except Exception as exc:
        raise error(
            f"{what} {ref!r}: importing {name!r} failed ({type(exc).__name__}: {exc}); "
            "fix the module or the name before ':'"
        ) from None


def _load_file(path_str: str, ref: str, what: str, error: type[Exception]) -> Any:
    path = Path(path_str).expanduser()
    if not path.is_file():
        raise error(f"{what} {ref!r}: the file {path_str!r} does not exist; give a path to a .py file")
    name = "_r1train_plugin_" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:16]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:  # SystemExit at import too: never leave a half-run module to be found again
        del sys.modules[name]
        if not isinstance(exc, Exception):
            raise
        raise error(
            f"{what} {ref!r}: {path_str} failed to import ({type(exc).__name__}: {exc}); fix the error in that file"
        ) from None
    return module
