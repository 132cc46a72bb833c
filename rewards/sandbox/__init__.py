"""The code sandbox: run untrusted, model-written Python isolated by the kernel, and judge it.

* :mod:`rewards.sandbox.bwrap` — :func:`run_program` / :func:`execute`: bubblewrap namespaces, a fresh
  unprivileged uid, seccomp, limits; :func:`isolation` and :func:`describe_isolation` say what this
  machine provides (the module docstring lists exactly what is and is not protected).
* :mod:`rewards.sandbox.host` — what this machine offers (tools, interpreter, mounts, cgroups, filter), found once.
* :mod:`rewards.sandbox.unsafe` — running without the sandbox, only when explicitly asked.
* :mod:`rewards.sandbox.run` — one sandboxed run: non-blocking capture, deadlines, the kill of every process.
* :mod:`rewards.sandbox.limits` — rlimits and per-run cgroup memory and pids groups.
* :mod:`rewards.sandbox.seccomp` — the syscall filter compiled to BPF.
* :mod:`rewards.sandbox.harness` — the in-sandbox runner of call-based tests (a file placed in the box).
* :mod:`rewards.sandbox.judge` — :func:`run_tests` and :class:`TestReport`: test cases judged on the host.
* :mod:`rewards.sandbox.verdict` — the harness's result stream: strict protocol, host-only clocks, bounded reading.
* :mod:`rewards.sandbox.syscalls` — the allowlist's syscall numbers per machine.
* :mod:`rewards.sandbox.assertions` — assertion tests in the datasets' own fields (HumanEval, MBPP, pytest).
* :mod:`rewards.sandbox.pool` — assertion tests across two sandboxes (warm testers, calls by value).
* :mod:`rewards.sandbox.tester` — the in-sandbox runner of test code (a file placed in the box).

Use::

    from rewards.sandbox import run_program, run_tests
    run_tests("def f(x):\\n    return x + 1", [{"call": "f", "args": [1], "expected": 2}]).pass_rate
"""

from rewards.sandbox.bwrap import (
    SandboxUnavailable,
    describe_isolation,
    execute,
    isolation,
    unsafe_requested,
)
from rewards.sandbox.judge import TestReport, TestResult, run_tests
from rewards.sandbox.limits import Limits
from rewards.sandbox.pool import close_pool
from rewards.sandbox.prepared import run_program
from rewards.sandbox.run import ExecResult, SandboxError, Status

__all__ = [
    "ExecResult",
    "Limits",
    "SandboxError",
    "SandboxUnavailable",
    "Status",
    "TestReport",
    "TestResult",
    "close_pool",
    "describe_isolation",
    "execute",
    "isolation",
    "run_program",
    "run_tests",
    "unsafe_requested",
]
