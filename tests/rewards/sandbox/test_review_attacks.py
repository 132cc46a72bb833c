"""Attacks a reviewer aimed at the assertion-test relay (issue 18/20): each must earn nothing.

A test argument that cannot cross must fail the case rather than raise a ``TypeError`` the test expects;
a program that stops reading its calls or floods the relay must end as a failure in seconds, not stall the
row until its 600 s lifetime; ``pytest.approx(x, abs=...)`` must not add pytest's default relative
tolerance; a ``StopIteration`` out of a call must not end the test's own loop early (PEP 479).
"""

from __future__ import annotations

import time

from rewards.sandbox import run_tests


def test_an_argument_that_cannot_cross_fails_instead_of_raising_the_expected_type_error() -> None:
    tests = {"test": "import pytest\nfrom solution import f\n\n"
                     "def test_type_error():\n    with pytest.raises(TypeError):\n        f(object())\n\n"
                     "def test_value_error_deep():\n    x = []\n    for _ in range(500):\n        x = [x]\n"
                     "    with pytest.raises((TypeError, ValueError, RecursionError)):\n        f(x)\n"}
    # f never runs for either case: before the fix both cases passed for any program
    report = run_tests("def f(*a):\n    return 1\n", tests, timeout_s=2.0)
    assert report.total == 2 and report.passed == 0, report


def test_a_program_that_stops_reading_its_calls_fails_in_seconds() -> None:
    # at import it replaces the harness's serve loop with a sleep: requests pile up in its stdin pipe
    source = ("import sys, time\nmain = sys.modules['__main__']\n"
              "def stalled(*a, **k):\n    time.sleep(3600)\n"
              "for name in ('serve', 'main'):\n    if hasattr(main, name):\n        setattr(main, name, stalled)\n"
              "def f(x):\n    return len(x)\n")
    big = "x" * 200_000  # one request larger than a pipe's 64 KiB buffer
    tests = {"test": f"from solution import f\n\ndef test_big():\n    assert f({big!r}) == 0\n\n"
                     "def test_small():\n    assert f('ab') == 0\n"}
    start = time.monotonic()
    report = run_tests(source, tests, timeout_s=1.0)
    assert time.monotonic() - start < 60  # not the candidate's 600 s lifetime
    assert report.total == 2 and report.passed == 0 and all(r.status != "passed" for r in report.results), report


def test_a_program_that_floods_the_relay_earns_nothing() -> None:
    source = ("import os, threading\n"
              "def flood():\n    while True:\n        try:\n            os.write(1, b'{\"value\": true}\\n' * 4096)\n"
              "        except OSError:\n            return\n"
              "threading.Thread(target=flood, daemon=True).start()\n"
              "def f(x):\n    return x\n")
    tests = {"test": "from solution import f\n\ndef test_a():\n    assert f(1) == 2\n\ndef test_b():\n    assert f(3) == 4\n"}
    report = run_tests(source, tests, timeout_s=1.0)
    assert report.total == 2 and report.passed == 0, report


def test_approx_with_abs_alone_has_no_relative_tolerance() -> None:
    tests = {"test": "import pytest\nfrom solution import f\n\n"
                     "def test_abs():\n    assert f() == pytest.approx(1000.0, abs=1e-9)\n\n"
                     "def test_default():\n    assert f() == pytest.approx(1000.0)\n"}
    # 1000.0009 is 9e-4 from 1000: beyond abs=1e-9 (fails); rel 1e-6 of 1000 is 1e-3 (passes)
    report = run_tests("def f():\n    return 1000.0009\n", tests, timeout_s=2.0)
    assert [r.status for r in report.results] == ["wrong_answer", "passed"], report


def test_a_stop_iteration_from_a_call_does_not_end_the_test_loop() -> None:
    tests = {"test": "from solution import f\n\n"
                     "def test_all():\n    assert all(map(lambda c: f(c[0]) == c[1], [(1, 2), (2, 3)]))\n\n"
                     "def test_generator():\n    from solution import g\n    assert list(g(3)) == [0, 1, 2]\n"}
    # f raises StopIteration: all(map(...)) would see an empty map and pass; it is a RuntimeError instead.
    # g is a real generator: its own StopIteration still ends the iteration (the second case passes).
    source = "def f(x):\n    raise StopIteration\n\ndef g(n):\n    yield from range(n)\n"
    report = run_tests(source, tests, timeout_s=2.0)
    assert [r.status for r in report.results][0] != "passed" and report.results[1].status == "passed", report


def test_a_session_holds_a_bounded_number_of_unread_lines() -> None:
    from rewards.sandbox.session import Lines

    lines = Lines(max_queued=2)
    # three lines nobody read: the third is over the bound, so the reader asks to stop the run
    assert lines(b"a\nb\n") is None and lines(b"c\n") == "stop"
    assert Lines()(b"x\n" * 100) is None  # unbounded (the tester, our own process) unless asked
