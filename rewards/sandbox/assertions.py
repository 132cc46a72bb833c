"""Assertion tests in the datasets' own field names, turned into jobs for :mod:`rewards.sandbox.pool`.

A row's tests may be a test program instead of input/output cases, so rows load without conversion:

* **HumanEval** ``{"test": "<code defining check(candidate)>", "entry_point": "add"}``: one case,
  ``check(candidate)``, with ``candidate`` the program's function ``add``.
* **MBPP** ``{"test_list": ["assert f(1) == 2", ...], "test_setup_code": "...", "test_imports": [...]}``:
  one case per assert, after the imports and the setup code (``challenge_test_list`` is ignored).
* **pytest style** ``{"test": "<code defining test_* functions>"}`` (no ``entry_point``), as KodCode
  writes them: one case per top-level ``test_*`` function taking no arguments (or parametrized with
  ``@pytest.mark.parametrize``: one case runs every parameter set) and per ``test_*`` method of a
  top-level ``Test*`` class (a fresh ``TestX()``, its ``setup_method``/``setUp``, then ``test_y()``;
  ``unittest.TestCase`` classes too), in source order (found by parsing here; nothing is
  executed on the host). The module may ``from solution import f`` / ``import solution`` and ``import
  pytest`` (``raises``, ``approx``, ``parametrize``: :mod:`rewards.sandbox.pytest_shim`); a test may
  take ``capsys`` (what the candidate and the test printed during the case); functions taking other
  fixtures (``tmp_path``, ``monkeypatch``: they would act in the tester, not where the program runs) are
  not cases.
* Explicit: ``{"assert": "assert f(2) == 4", "setup": "import math"}`` as one case in a list of cases.

The test code may call any function the program defines by its name (MBPP's ``f(1)``, HumanEval's
``poly`` helper from the prompt): each such name is the program's function, called by value across
sandboxes. :func:`to_cases` returns normalized cases ``{"assert": code, "setup": code, "entry_point":
name or None}``; cases that share setup and entry point run in one tester job.
"""

from __future__ import annotations

import ast
from typing import Any

ASSERT_KEYS = ("test", "test_list")


def is_test_program(tests: Any) -> bool:
    """True for a dict in one of the assertion formats above."""
    return isinstance(tests, dict) and any(k in tests for k in ASSERT_KEYS)


def _text(value: Any, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, got {type(value).__name__}")  # noqa: TRY004  (unusable tests)
    return value


def to_cases(tests: dict[str, Any]) -> list[dict[str, Any]]:
    """Normalized assertion cases of one test program (see the module docstring)."""
    if "test_list" in tests:
        asserts = tests["test_list"]
        if not isinstance(asserts, list) or not all(isinstance(a, str) for a in asserts) or not asserts:
            raise ValueError("'test_list' must be a non-empty list of assert statements")
        imports = tests.get("test_imports") or []
        if not isinstance(imports, list) or not all(isinstance(i, str) for i in imports):
            raise ValueError("'test_imports' must be a list of import statements")
        setup = "\n".join([*imports, _text(tests.get("test_setup_code"), "'test_setup_code'")])
        return [{"assert": a, "setup": setup, "entry_point": None} for a in asserts]
    code = _text(tests.get("test"), "'test'")
    entry = tests.get("entry_point")
    if entry:
        if not isinstance(entry, str) or not entry.isidentifier():
            raise ValueError(f"'entry_point' must be a function name, got {entry!r}")
        return [{"assert": "check(candidate)", "setup": code, "entry_point": entry}]
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        raise ValueError(f"the test program does not parse: {exc}") from None
    calls = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
            wanted = _wants(node, [a.arg for a in node.args.args])
            if wanted is not None:
                calls.append(f"{node.name}({wanted})")
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for m in node.body:
                wanted = _wants(m, [a.arg for a in m.args.args][1:]) if isinstance(m, ast.FunctionDef) else None
                if m.name.startswith("test") and wanted is not None:
                    calls.append(_method_case(node.name, m.name, wanted))
    if not calls:
        raise ValueError("a 'test' program without 'entry_point' must define test_* functions (pytest style)")
    return [{"assert": call, "setup": code, "entry_point": None} for call in calls]


# The pytest fixtures a case may take, and the tester's object for each.
FIXTURES = {"capsys": "_r1_capsys"}


def _wants(fn: ast.FunctionDef, params: list[str]) -> str | None:
    """The call's arguments (``capsys=_r1_capsys``…) if ``fn`` is a case: it takes no arguments but the
    :data:`FIXTURES` (parametrized: its own besides); None if it wants a fixture the tester lacks."""
    others = [p for p in params if p not in FIXTURES]
    if others and not _parametrized(fn):
        return None
    return ", ".join(f"{p}={FIXTURES[p]}" for p in params if p in FIXTURES)


def _method_case(cls: str, method: str, wanted: str = "") -> str:
    """A fresh instance, its ``setup_method`` (pytest) or ``setUp`` (unittest) if it has one, the test."""
    return (f"_t = {cls}()\nif hasattr(_t, 'setup_method'):\n    _t.setup_method(_t.{method})\n"
            f"if hasattr(_t, 'setUp'):\n    _t.setUp()\n_t.{method}({wanted})")


def _parametrized(fn: ast.FunctionDef) -> bool:
    """Decorated with ``…parametrize(...)`` (``pytest.mark.parametrize``, ``mark.parametrize``)."""
    return any(isinstance(d, ast.Call) and isinstance(d.func, (ast.Attribute, ast.Name))
               and getattr(d.func, "attr", getattr(d.func, "id", "")) == "parametrize" for d in fn.decorator_list)


def explicit_case(case: dict[str, Any], n: int) -> dict[str, Any]:
    """Validate one ``{"assert": ..., "setup": ..., "entry_point": ...}`` case."""
    code = case["assert"]
    if not isinstance(code, str) or not code.strip():
        raise ValueError(f"test {n}: 'assert' must be test code")
    entry = case.get("entry_point")
    if entry is not None and (not isinstance(entry, str) or not entry.isidentifier()):
        raise ValueError(f"test {n}: 'entry_point' must be a function name")
    return {"assert": code, "setup": _text(case.get("setup"), f"test {n}: 'setup'"), "entry_point": entry}


def jobs(cases: list[dict[str, Any]]) -> list[tuple[list[int], dict[str, Any]]]:
    """Group assertion cases by (setup, entry point): (indices into ``cases``, tester job) per group."""
    groups: dict[tuple[str, str | None], list[int]] = {}
    for i, case in enumerate(cases):
        if "assert" in case:
            groups.setdefault((case["setup"], case["entry_point"]), []).append(i)
    return [([*idx], {"setup": setup, "cases": [cases[i]["assert"] for i in idx], "entry_point": entry})
            for (setup, entry), idx in groups.items()]
