"""Scoring attacks (issue 18): a program must never score better by hanging, crashing the scorer,
flooding the result pipe or stretching its clock than by being wrong; None is for our failures only.

Each test states the attack and checks that its goal is not met. Expected verdicts are worked out by
hand in the comments; the limits are short so the file takes seconds.
"""

from __future__ import annotations

import threading
import time
import tracemalloc

import pytest

from rewards import code
from rewards.sandbox import bwrap as sandbox
from rewards.sandbox import run_tests
from rewards.sandbox.bwrap import execute
from rewards.sandbox.judge import worst_case_s
from rewards.sandbox.limits import Limits
from rewards.sandbox.verdict import CallWatch, line_cap, shown

FENCE = "```"


def block(body: str) -> str:
    return f"{FENCE}python\n{body}\n{FENCE}"


def test_huge_integer_answers_are_wrong_not_a_crash() -> None:
    # repr(10**5000) raises ValueError (the 4300-digit limit); the verdict's detail must not.
    for value in ("10**5000", "[1, 10**5000]", "{'k': [10**5000]}", "(10**5000,)"):
        report = run_tests(f"def f():\n    return {value}\n", [{"call": "f", "args": [], "expected": 1}], timeout_s=5)
        assert [r.status for r in report.results] == ["wrong_answer"], (value, report)
    # An expected huge value still compares (hex transport has no digit limit) and prints safely.
    ok = run_tests("def f():\n    return 10**5000\n", [{"call": "f", "args": [], "expected": 10**5000}], timeout_s=5)
    assert ok.all_passed
    assert shown(10**5000) == "<int of 16610 bits>"  # 5000 * log2(10) = 16609.6 -> 16610 bits


def test_huge_integer_answers_score_zero_through_the_reward() -> None:
    tests = [[{"call": "f", "args": [], "expected": 1}]]
    assert code.pass_rate([block("def f():\n    return [10**5000]")], tests=tests, timeout_s=5) == [0.0]


def test_hanging_never_beats_being_wrong_at_any_budget() -> None:
    # 30 call tests at 0.2 s: the worst case is 0.2 * 31 + 1.0 + 0.25 = 7.45 s; one test at its limit
    # needs 0.2 * 2 + 1.0 + 0.25 = 1.65 s. Budget 20: the row runs under its own limits. Budget 3: it
    # runs with a 3 s allowance. Budget 1: not even one test fits, so the row is not run (None). At each
    # budget a hanging program and a wrong one score the same.
    tests = [[{"call": "f", "args": [i], "expected": i + 1} for i in range(30)]]
    hang, wrong = block("def f(x):\n    while True:\n        pass"), block("def f(x):\n    return 0")
    assert worst_case_s(code._parse_tests(tests[0]), 0.2) == 7.45  # type: ignore[arg-type]
    for budget, expected in ((1.0, None), (3.0, 0.0), (20.0, 0.0)):
        scores = [code.pass_rate([c], tests=tests, timeout_s=0.2, budget_s=budget, workers=1)[0] for c in (hang, wrong)]
        assert scores == [expected, expected], (budget, scores)


def test_budget_allowances_depend_on_tests_only() -> None:
    # Worst cases 10, 10, 2 s on 2 workers: the bound is 22 / 2 + 10 / 2 = 16 s.
    assert code.admit([10.0, 10.0, 2.0], 2, 16.0, 1.0) == ([10.0, 10.0, 2.0], 16.0)
    # Budget 8: a cap A with (2A + 2) / 2 + A / 2 = 8 -> 1.5 A = 7 -> A = 4.667 s for the two long rows.
    allowed, needed = code.admit([10.0, 10.0, 2.0, None], 2, 8.0, 1.0)
    assert [round(a, 3) if a else a for a in allowed] == [4.667, 4.667, 2.0, None] and needed == 16.0
    # Budget 2 with a floor of 1.5 s per row: A would be 1.0 < 1.5, so rows are taken in order at 1.5 s while
    # (sum) / 2 + max / 2 fits: 1.5 -> 1.5; 3.0 -> 2.25 > 2, so row 1 is left out; row 2 (1.5) -> also 2.25.
    assert code.admit([10.0, 10.0, 2.0], 2, 2.0, 1.5)[0] == [1.5, None, None]


def test_a_hang_cannot_turn_another_rows_score_into_none() -> None:
    # Row 0 has 8 stdin tests at 0.3 s (worst case 8 x 0.55 = 4.4 s), row 1 one test (0.55 s); one worker.
    # Budget 3: both rows run, row 0 with an allowance of 2.45 s (2.45 + 0.55 = 3). Budget 1: one test
    # at its limit (0.3 * 2 + 1.0 + 0.25 = 1.85 s) does not fit row 0, so only row 1 runs. Whether row 0 hangs or
    # is simply wrong never changes row 1's score (nor row 0's: 0.0 either way when it runs).
    stdio = [{"stdin": "", "stdout": "1"}] * 8
    tests = [stdio, [{"stdin": "", "stdout": "1"}]]
    wrong = block("print(2)")
    for budget, expected, unscored in ((3.0, [0.0, 0.0], 0), (1.0, [None, 0.0], 1)):
        for first in (block("import time\ntime.sleep(100)"), wrong):
            scores = code.pass_rate([first, wrong], tests=tests, timeout_s=0.3, budget_s=budget, workers=1)
            assert scores == expected, (budget, scores)
            assert code.last_batch is not None and code.last_batch.unscored_budget == unscored


def test_a_hanging_row_stays_within_its_allowance() -> None:
    # 8 stdin tests that each sleep past the 0.3 s limit, allowance 1.5 s: the row ends after ~1.5 s
    # (every unfinished case "timeout"), not after 8 x 0.3 s = 2.4 s plus startups.
    start = time.monotonic()
    report = run_tests("import time\ntime.sleep(100)", [{"stdin": "", "stdout": "1"}] * 8, timeout_s=0.3, allowance_s=1.5)
    assert time.monotonic() - start < 1.5 + 0.6
    assert {r.status for r in report.results} == {"timeout"} and not report.budget_exhausted


def test_heartbeats_do_not_stretch_the_per_test_clock() -> None:
    # Each call takes 0.8 s against a 0.5 s limit while a thread writes harness-looking lines (ready,
    # a repeat of the last result, blank lines) every 20 ms. Host-only clocks: every case times out.
    src = (
        "import os, threading, time\n"
        "def beat():\n"
        "    while True:\n"
        "        for fd in range(1, 10):\n"
        "            try:\n"
        "                os.write(fd, b'{\"ready\": true}\\n\\n')\n"
        "            except OSError:\n"
        "                pass\n"
        "        time.sleep(0.02)\n"
        "threading.Thread(target=beat, daemon=True).start()\n"
        "def f(x):\n    time.sleep(0.8)\n    return x\n"
    )
    tests = [{"call": "f", "args": [i], "expected": i} for i in range(6)]
    report = run_tests(src, tests, timeout_s=0.5)
    assert report.passed == 0, report


def test_slow_calls_without_heartbeats_time_out() -> None:
    src = "import time\ndef f(x):\n    time.sleep(0.8)\n    return x\n"
    report = run_tests(src, [{"call": "f", "args": [1], "expected": 1}] * 2, timeout_s=0.5)
    assert [r.status for r in report.results] == ["timeout", "timeout"]


def test_result_pipe_flood_costs_the_host_little_cpu_and_memory() -> None:
    # 4 MiB of empty lines and heartbeats, then a 3 MiB JSON line: the first line that breaks the
    # protocol ends the run, an over-long line is skipped unparsed.
    src = (
        "import os\n"
        "def f(x):\n"
        "    for fd in range(1, 10):\n"
        "        try:\n"
        "            os.write(fd, b'\\n' * (2 << 20) + b'{\"ready\": true}\\n' * 100000)\n"
        "            os.write(fd, b'{\"i\": 0, \"value\": [' + b'1,' * (3 << 19) + b'1]}\\n')\n"
        "        except OSError:\n"
        "            pass\n"
        "    return 0\n"
    )
    tests = [{"call": "f", "args": [1], "expected": 1}] * 3
    cpu0 = time.thread_time()
    report = run_tests(src, tests, timeout_s=5, max_output_bytes=8 << 20)
    cpu = time.thread_time() - cpu0
    assert report.passed == 0
    assert cpu < 0.5, f"the host's thread spent {cpu:.2f} s of CPU"  # before: 13 s


def test_watch_parses_at_most_what_the_expected_value_allows() -> None:
    # Fed directly: a 3 MiB result line for an expected 1 is judged wrong without being parsed.
    cases = [{"call": "f", "args": [], "kwargs": {}, "expected": 1}]
    assert line_cap(1) == 4 * len('{"int": "0x1"}') + 4096  # 4 * 14 + 4096 = 4152 bytes
    watch = CallWatch(cases, 5.0, False)
    line = b'{"i": 0, "value": [' + b'{"int": "0x1"},' * ((3 << 20) // 15) + b'1]}\n'
    tracemalloc.start()
    watch(b'{"ready": true}\n')
    for k in range(0, len(line), 1 << 16):
        watch(line[k : k + (1 << 16)])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert watch.results[0].status == "wrong_answer"
    assert peak < 1 << 20, peak  # before: 65 MiB for a 3 MiB line


def test_watch_protocol_violations_end_the_run() -> None:
    cases = [{"call": "f", "args": [], "kwargs": {}, "expected": 1}] * 2
    for junk in (b"\n", b'{"ready": true}\n', b'{"i": 1, "value": {"int": "0x1"}}\n', b"[1]\n"):
        watch = CallWatch(cases, 5.0, False)
        assert watch(b'{"ready": true}\n') == "progress"
        assert watch(junk) == "stop" and watch.violation and watch.results == {}
    watch = CallWatch(cases, 5.0, False)
    stream = b'{"ready": true}\n{"i": 0, "value": {"int": "0x1"}}\n{"i": 1, "value": {"int": "0x2"}}\n{"done": true}\n'
    watch(stream)
    assert [watch.results[i].status for i in range(2)] == ["passed", "wrong_answer"] and watch.done


def test_cpu_burning_processes_are_capped_per_run() -> None:
    # 8 forked burners (threads alone share one GIL) spin from import while each of 4 calls takes 0.5 s;
    # each burner records its own CPU time in shared memory and the last call returns the sum (as a
    # wrong answer, so the detail carries it). Before: every core was burnt for the whole run (2 cores:
    # ~2 CPU-s per wall second). Now the run's processes share at most one CPU (cgroup quota).
    src = (
        "import mmap, os, struct, time\n"
        "shared = mmap.mmap(-1, 8 * 8)\n"
        "for k in range(8):\n"
        "    if os.fork() == 0:\n"
        "        while True:\n"
        "            for _ in range(20000):\n                pass\n"
        "            shared[8 * k : 8 * k + 8] = struct.pack('d', time.process_time())\n"
        "def f(x):\n"
        "    time.sleep(0.5)\n"
        "    return x if x < 3 else round(sum(struct.unpack('8d', shared[:64])), 3)\n"
    )
    start = time.monotonic()
    report = run_tests(src, [{"call": "f", "args": [i], "expected": i if i < 3 else -1.0} for i in range(4)], timeout_s=1)
    wall = time.monotonic() - start
    assert [r.status for r in report.results] == ["passed"] * 3 + ["wrong_answer"], report
    burnt = float(report.results[3].detail.split()[1])
    # one CPU for all of the run's processes, give or take the kernel's enforcement: CFS bandwidth control
    # hands each CPU runtime in 5 ms slices and throttles at scheduler ticks, so a group may overrun its
    # quota by a few percent per 100 ms period (seen here: 2.101 CPU-s in 2.092 s); uncapped, the burners
    # took ~2 CPU-s per wall second on these 2 cores
    assert burnt <= 1.1 * wall, (burnt, wall)


def test_reward_call_never_raises_on_program_output() -> None:
    # Whatever the program returns or prints, pass_rate returns a score list (no exception escapes).
    weird = [
        "def f():\n    return 10**100000\n",
        "def f():\n    class X:\n        pass\n    return X()\n",
        "import os\ndef f():\n    os.write(1, b'\\xff\\xfe garbage\\n')\n    return 1\n",
    ]
    tests = [[{"call": "f", "args": [], "expected": 1}]] * len(weird)
    scores = code.pass_rate([block(w) for w in weird], tests=tests, timeout_s=5)
    assert scores[0] == 0.0 and scores[1] == 0.0 and scores[2] in (0.0, 1.0)


def test_threads_in_the_trainer_are_not_left_behind() -> None:
    before = threading.active_count()
    code.pass_rate([block("def f():\n    return 1")], tests=[[{"call": "f", "args": [], "expected": 1}]], timeout_s=5)
    assert threading.active_count() <= before


def test_run_cpu_share_and_cpu_time_cap_cover_all_processes() -> None:
    # 8 forked burners for 2 s of wall. With cpus=0.5 they share half a CPU: about 1 CPU-s in all
    # (before: no quota, each burner had its own RLIMIT_CPU). With cpu_s=1 a run that would sleep 8 s
    # while its burners spin ends at 1 CPU-s (about 1 s on an idle machine, later when loaded).
    if not sandbox.isolation().cgroups:
        pytest.skip("no writable cgroups here: CPU is bounded per process only")
    src = "import os, time\nfor _ in range(8):\n    if os.fork() == 0:\n        while True:\n            pass\ntime.sleep(2)\n"
    half = execute(["/box/main.py"], {"main.py": src.encode()}, b"", Limits(timeout_s=10, cpus=0.5))
    assert half.status == "ok" and half.cpu_s is not None
    assert half.cpu_s <= 0.5 * half.wall_s + 0.2, half  # quota: 0.5 CPU x ~2.1 s = ~1.05 CPU-s
    longer = src.replace("sleep(2)", "sleep(8)")
    capped = execute(["/box/main.py"], {"main.py": longer.encode()}, b"", Limits(timeout_s=10, cpu_s=1.0))
    assert capped.status == "timeout" and capped.wall_s < 8.0, capped  # killed at ~1 CPU-s, not after 8 s


def test_line_reader_cuts_lines_across_chunks_and_skips_over_long_ones() -> None:
    from rewards.sandbox.verdict import LineReader

    reader, cap = LineReader(), 4
    # "ab" waits for its end; "abcd" (4 bytes) fits the cap, "toolong" does not: reported once as None
    assert list(reader.feed(b"ab", lambda: cap)) == []
    assert list(reader.feed(b"cd\ntoo", lambda: cap)) == [b"abcd"]
    assert list(reader.feed(b"long", lambda: cap)) == [None]  # 3 + 4 bytes > 4: cut, the rest skipped
    assert reader.buffer == b"" and reader.skipping  # nothing of it is held
    assert list(reader.feed(b"more\nok\n", lambda: cap)) == [b"ok"]  # the skipped line ends at its newline
    # the cap is asked per line: the first line may be 1 byte, the next 3
    caps = iter([1, 3])
    assert list(LineReader().feed(b"x\nabc\n", lambda: next(caps))) == [b"x", b"abc"]
