"""Our in-sandbox scripts run from bytecode the sandbox's interpreter made, and a plain program runs as
``python3 -I main.py`` would although ``site`` no longer starts (``rewards.sandbox.scripts``, ``boot``).

Parity is checked against the real thing: each program runs in the sandbox and, unsandboxed, as
``python3 -I main.py`` with the same interpreter; exit code, stdout and stderr must match (paths aside).
"""

from __future__ import annotations

import ast
import marshal
import subprocess
from pathlib import Path

import pytest

from rewards.sandbox import isolation, run_program, run_tests, scripts

PARITY = {
    "syntax error": "x = (\n",
    "traceback": "def f():\n    return 1 / 0\n\nf()\n",
    "exit builtin": "print('a')\nexit(3)\n",
    "quit builtin": "quit()\n",
    "sys.exit message": "import sys\nsys.exit('bye')\n",
    "main guard and file": "import sys\nif __name__ == '__main__':\n    print(__file__.endswith('main.py'), sys.argv[0] == __file__, len(sys.argv))\n",
    "pickle a main class": "import pickle\nclass A:\n    x = 1\nprint(type(pickle.loads(pickle.dumps(A()))).__name__)\n",
    "site-packages on sys.path": "import sys\nprint([p for p in sys.path if 'packages' in p])\n",
    "builtins site adds": "print(callable(help), exit, quit, repr(credits), repr(copyright)[:40])\n",
    "exception in exit code": "raise KeyError('k')\n",
}


@pytest.fixture(scope="module")
def python() -> str:
    return isolation().python


@pytest.mark.parametrize("name", sorted(PARITY))
def test_a_program_behaves_as_under_python_with_site(python: str, tmp_path: Path, name: str) -> None:
    source = PARITY[name]
    boxed = run_program(source, timeout_s=10)
    (tmp_path / "main.py").write_text(source)
    plain = subprocess.run([python, "-I", str(tmp_path / "main.py")], capture_output=True, text=True, env={},
                           cwd=tmp_path, timeout=30)
    local = str(tmp_path / "main.py")
    assert (boxed.exit_code, boxed.stdout, boxed.stderr) == (
        plain.returncode, plain.stdout.replace(local, "/box/main.py"), plain.stderr.replace(local, "/box/main.py"))


def test_the_sandbox_runs_our_scripts_from_their_bytecode() -> None:
    # /proc/self/cmdline is the interpreter's own argv: the boot ran from its .pyc, under -S (a prepared
    # sandbox's boot also has its go pipe's number: rewards.sandbox.prepared)
    shown = run_program("print(open('/proc/self/cmdline').read().split('\\0')[1:-1])", timeout_s=10)
    argv = ast.literal_eval(shown.stdout)
    assert argv[:4] == ["-I", "-B", "-S", "/box/boot.pyc"] and argv[4:5] == ["--prepared"] and argv[5].isdigit()
    # a candidate's harness is __main__ of its sandbox: it too came from the .pyc
    src = "import sys\ndef who():\n    return sys.modules['__main__'].__file__\n"
    report = run_tests(src, [{"call": "who", "args": [], "expected": "/box/harness.pyc"}], timeout_s=10)
    assert report.all_passed, report


def test_the_pyc_is_the_interpreters_own(python: str) -> None:
    magic = subprocess.run([python, "-I", "-S", "-c", "import importlib.util, sys; "
                            "sys.stdout.buffer.write(importlib.util.MAGIC_NUMBER)"], capture_output=True, check=True)
    for name in ("harness.py", "tester.py", "boot.py"):
        pyc = scripts.compiled(python, name)
        assert pyc is not None and pyc[:4] == magic.stdout and pyc[4:16] == bytes(12)
        if magic.stdout == __import__("importlib.util").util.MAGIC_NUMBER:  # same Python: read it back
            assert marshal.loads(pyc[16:]).co_filename == f"/box/{name}"


def test_boot_site_dirs_are_the_interpreters_site_packages(python: str) -> None:
    code = marshal.loads(scripts.compiled(python, "boot.py")[16:])  # type: ignore[index]
    baked = next(c for c in code.co_consts if isinstance(c, tuple) and all(isinstance(d, str) for d in c))
    # this machine's .pth files hold only `import` lines (setuptools' distutils hack and the like), run by
    # site, skipped by the boot: the directories are exactly site's existing site-packages
    want = subprocess.run([python, "-I", "-c", "import os, site; print([d for d in site.getsitepackages() "
                           "if os.path.isdir(d)])"], capture_output=True, text=True, check=True).stdout.strip()
    assert repr(list(baked)) == want


def test_only_our_own_bytes_are_ever_compiled(python: str) -> None:
    args, files = scripts.prepare(python, ["-S", "/box/harness.py", "--serve"], {"harness.py": b"import os\n"})
    assert args == ["-S", "/box/harness.py", "--serve"] and set(files) == {"harness.py"}
    args, files = scripts.prepare(python, ["/box/main.py"], {"main.py": b"print(1)\n"})
    assert args == ["/box/main.py"] and set(files) == {"main.py"}
    ours = scripts.SCRIPTS["harness.py"]
    args, files = scripts.prepare(python, ["-S", "/box/harness.py", "--serve"], {"harness.py": ours})
    assert args == ["-S", "/box/harness.pyc", "--serve"] and files["harness.py"] == ours
    assert files["harness.pyc"] == scripts.compiled(python, "harness.py")


def test_an_interpreter_that_cannot_compile_leaves_the_source() -> None:
    files = {"boot.py": scripts.SCRIPTS["boot.py"], "main.py": b"pass\n"}
    assert scripts.prepare("/nonexistent/python3", ["-S", "/box/boot.py"], files) == (["-S", "/box/boot.py"], files)


def test_boot_from_source_finds_site_packages_itself(python: str, tmp_path: Path) -> None:
    # the unsandboxed path runs boot.py from source with the system interpreter (never a venv's: a venv's
    # prefix is set by site): SITE_DIRS is None and site answers
    (tmp_path / "boot.py").write_bytes(scripts.SCRIPTS["boot.py"])
    (tmp_path / "main.py").write_text("import sys\nprint([p for p in sys.path if 'packages' in p])\n")
    booted = subprocess.run([python, "-I", "-S", str(tmp_path / "boot.py")], capture_output=True, text=True)
    plain = subprocess.run([python, "-I", str(tmp_path / "main.py")], capture_output=True, text=True)
    assert booted.returncode == 0 and booted.stdout == plain.stdout and "packages" in plain.stdout
