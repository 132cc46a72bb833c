"""The tools on their own: exact calculator, the sandboxed interpreter's per-episode state, the formats,
and adversarial programs sent as tool calls (real sandbox: bubblewrap, seccomp, limits)."""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path

import pytest

from r1train.envs import tools
from r1train.envs.tool_env import ToolEnv
from r1train.envs.tools import PythonInterpreter, ToolError, calculate

sandbox = pytest.importorskip("rewards.sandbox")
try:
    sandbox.isolation()
    HAS_SANDBOX = True
except Exception:  # SandboxUnavailable: no bubblewrap here
    HAS_SANDBOX = False
needs_sandbox = pytest.mark.skipif(not HAS_SANDBOX, reason="the code sandbox (bubblewrap) is not available here")


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        ("7*8", "56"),  # 56
        ("347*285", "98895"),  # 347*285 = 300*285 + 47*285 = 85500 + 13395 = 98895
        ("1/4", "0.25"),  # exact fraction 1/4
        ("(3+4)*-2", "-14"),
        ("2**10", "1024"),
        ("7//2 + 7%2", "4"),  # 3 + 1
        ("0.1+0.2", "0.3"),  # exact decimals: 1/10 + 2/10 = 3/10, not 0.30000000000000004
        ("10/4*2", "5"),  # 5/2*2 = 5, an integer again
    ],
)
def test_calculator_is_exact(expr: str, value: str) -> None:
    assert calculate(expr) == value


@pytest.mark.parametrize(
    "expr", ["__import__('os').system('true')", "9**9**9", "1/0", "x+1", "[1]*3", "2**0.5", "7*", "abs(-1)"]
)
def test_calculator_refuses_everything_but_bounded_arithmetic(expr: str) -> None:
    with pytest.raises(ToolError):
        calculate(expr)


def test_compact_format_answers_a_calculator_call_and_ends_on_a_plain_turn() -> None:
    env = ToolEnv({"question": "7*8"}, tools=["calculator"], format="compact")
    assert env.stop == ("</calc>",)
    step = env.step("<think><calc>7*8</calc>")
    assert (step.observation, step.calls, step.errors, step.done) == ("<out>56</out>", 1, 0, False)
    bad = env.step("<calc>7*</calc>")
    assert bad.observation.startswith("<out>error: ") and (bad.calls, bad.errors) == (1, 1)
    assert env.step("</think><answer>56</answer>").done


def test_hermes_format_parses_json_calls_and_answers_in_a_tool_response_turn() -> None:
    env = ToolEnv({}, tools=["calculator"], format="hermes")
    step = env.step('Let me compute.\n<tool_call>\n{"name": "calculator", "arguments": {"expression": "6*7"}}\n</tool_call>')
    assert step.observation == (
        "<|im_end|>\n<|im_start|>user\n<tool_response>\n42\n</tool_response><|im_end|>\n<|im_start|>assistant\n"
    )
    assert env.step('<tool_call>{"name": "python", "arguments": {}}</tool_call>').errors == 1  # not enabled here
    assert env.step("<tool_call>{not json</tool_call>").errors == 1
    assert env.step("The answer is 42.").done


def test_bad_tool_or_format_names_are_one_sentence() -> None:
    from r1train.errors import UserError

    with pytest.raises(UserError, match="unknown tools"):
        tools.make_format("compact", ["abacus"])
    with pytest.raises(UserError, match="not a tool-call format"):
        tools.make_format("xml", ["calculator"])


@needs_sandbox
def test_interpreter_state_persists_within_an_episode() -> None:
    py = PythonInterpreter(timeout_s=10)
    assert py({"code": "x = 1\nprint('set')"}) == "set"
    assert py({"code": "print(x)"}) == "1"  # x from the first cell; 'set' is not printed again
    with pytest.raises(ToolError, match="ZeroDivisionError"):
        py({"code": "x = 99\n1/0"})  # a failing cell is not kept: x stays 1
    assert py({"code": "x + 1"}) == "2"  # a final expression is echoed, as in a notebook
    assert py.cells == ["x = 1\nprint('set')", "print(x)", "x + 1"]


@needs_sandbox
def test_interpreter_state_never_leaks_between_episodes() -> None:
    a = ToolEnv({}, tools=["python"], format="compact", timeout_s=10)
    b = ToolEnv({}, tools=["python"], format="compact", timeout_s=10)
    assert a.step("<py>secret = 42\nopen('/tmp/note', 'w').write('hi')</py>").observation == "<out>2</out>"
    assert a.step("<py>print(secret, open('/tmp/note').read())</py>").observation == "<out>42 hi</out>"
    leak = b.step("<py>print(secret)</py>")
    assert leak.errors == 1 and "NameError" in leak.observation
    gone = b.step("<py>import os; print(os.path.exists('/tmp/note'))</py>")  # each run has its own /tmp
    assert gone.observation == "<out>False</out>"


@needs_sandbox
def test_adversarial_tool_calls_stay_in_the_sandbox(tmp_path: Path) -> None:
    marker = Path("/tmp") / f"r1train-escape-{uuid.uuid4().hex}"
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret")
    env = ToolEnv({}, tools=["python"], format="compact", timeout_s=3, memory_mb=128)
    # the box has a private /tmp: the write succeeds there, and the host's /tmp never sees it
    assert env.step(f"<py>open({str(marker)!r}, 'w').write('x')</py>").observation == "<out>1</out>"
    assert not marker.exists()
    attacks = {
        "read a host file": f"print(open({str(secret)!r}).read())",
        "network": "import socket; socket.create_connection(('1.1.1.1', 80), timeout=1)",
        "endless loop": "while True: pass",
        "memory": "x = bytearray(1 << 30)",
        "fork bomb": "import os\nwhile True: os.fork()",
    }
    for name, code in attacks.items():
        step = env.step(f"<py>{code}</py>")
        assert step.errors == 1, (name, step.observation)
        assert "host secret" not in step.observation, name
    assert not marker.exists()
    assert env.step("<py>print(6*7)</py>").observation == "<out>42</out>"  # the episode goes on afterwards


@needs_sandbox
def test_a_program_cannot_touch_another_episode_running_beside_it() -> None:
    victim = ToolEnv({}, tools=["python"], format="compact", timeout_s=10)
    attacker = ToolEnv({}, tools=["python"], format="compact", timeout_s=10)
    assert victim.step("<py>total = 5</py>").errors == 0
    results = {}

    def run_victim() -> None:
        results["victim"] = victim.step("<py>import time; time.sleep(1.5); print(total * 2)</py>")

    thread = threading.Thread(target=run_victim)
    thread.start()
    # kill every process it can see, signal its parent, and look for other processes' memory
    kill = attacker.step("<py>import os, signal\nprint(len(os.listdir('/proc')) < 20)\nos.kill(-1, signal.SIGKILL)</py>")
    thread.join()
    assert results["victim"].observation == "<out>10</out>", results["victim"]
    assert kill.calls == 1
    assert os.getpid() > 0  # this process (the trainer) is alive
