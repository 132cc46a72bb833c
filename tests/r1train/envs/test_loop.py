"""The multi-turn loop with real engines (hf, and vLLM's CPU build) and a tiny model: the trainer trains on
exactly the tokens the sampler sampled, observations carry no loss, and every round is one batched call.

The environment is a user's small class (the contract, README "Environments"): a turn ending in ``e``
or ``7`` (frequent characters for a random tiny model) is answered with ``[k]``, ``k`` its call count.
A recorder around the engine keeps every ``generate`` call, so the test rebuilds each episode from what
the sampler returned, independently of the loop's own bookkeeping.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import torch

from r1train import envs
from r1train.config import EnvConfig
from r1train.envs import Step
from r1train.rollout.base import Rollout, Sampling
from r1train.telemetry.tools import tool_metrics
from r1train.train.batch import Batch, micro_batches

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")


class Shout:
    """Answers a turn that ends in 'e' or '7' with '[k]'; any other end of turn ends the episode."""

    stop = ("e", "7")

    def __init__(self, row: dict[str, Any], **args: Any) -> None:
        self.calls = 0

    def step(self, text: str) -> Step:
        if not text.endswith(self.stop):
            return Step(done=True)
        self.calls += 1
        return Step(observation=f"[{self.calls}]", calls=1, reward=0.5)


class Recorder:
    """The real engine, with every generate call's inputs and outputs kept."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.calls: list[tuple[list[list[int]], Sampling, list[Rollout]]] = []

    def generate(self, prompt_ids: list[list[int]], sampling: Sampling) -> list[Rollout]:
        out = self.engine.generate(prompt_ids, sampling)
        self.calls.append(([list(p) for p in prompt_ids], sampling, out))
        return out


@pytest.fixture(scope="module")
def tiny() -> tuple[Any, Any, Any]:
    from r1train.config import ModelConfig
    from r1train.models.load import load_model, load_tokenizer, resolve_source

    cfg = ModelConfig(name_or_path="tiny:1m", dtype="float32")
    source = resolve_source(cfg)
    return source, load_tokenizer(source), load_model(cfg, source)


@pytest.fixture(scope="module", params=["hf", "vllm"])
def engine(request: pytest.FixtureRequest, tiny: tuple[Any, Any, Any]) -> Any:
    source, tokenizer, model = tiny
    if request.param == "hf":
        from r1train.rollout.hf import HFEngine

        yield HFEngine(model, tokenizer)
        return
    from r1train.config import RolloutConfig
    from r1train.rollout.vllm_engine import VLLMEngine

    engine = VLLMEngine(source, RolloutConfig(kv_cache_gb=1), max_model_len=256, seed=0, tokenizer=tokenizer)
    yield engine
    engine.close()


def rows_and_ids(tokenizer: Any, n: int = 4) -> tuple[list[dict[str, Any]], list[list[int]]]:
    rows = [{"question": f"{i}+{i}", "answer": str(2 * i), "prompt": f"Q: {i}+{i}\nA:"} for i in range(n)]
    return rows, [tokenizer(r["prompt"])["input_ids"] for r in rows]


def test_trainer_tokens_are_the_sampler_tokens_and_observations_carry_no_loss(engine: Any, tiny: Any) -> None:
    _, tokenizer, _ = tiny
    rows, ids = rows_and_ids(tokenizer)
    spec = envs.EnvSpec(Shout, {}, max_turns=4)
    rec = Recorder(engine)
    sampling = Sampling(n=3, max_new_tokens=40, temperature=1.0, seed=7)
    rollouts = envs.generate(rec, tokenizer, rows, ids, sampling, spec)
    assert len(rollouts) == 12 and [r.prompt_index for r in rollouts] == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    # round 1 is one call with n=3; each later round one call over the live episodes with n=1
    assert rec.calls[0][1].n == 3 and rec.calls[0][0] == ids and rec.calls[0][1].stop == ("e", "7")
    assert all(s.n == 1 for _, s, _ in rec.calls[1:]) and len(rec.calls) <= 4
    multi = 0
    for k, r in enumerate(rollouts):
        # rebuild the episode from the recorded calls alone
        expect_ids: list[int] = []
        expect_mask: list[int] = []
        expect_logp: list[float] = []
        out = rec.calls[0][2][k]
        calls = 0
        for t in range(len(rec.calls)):
            room = 40 - len(expect_ids)
            expect_ids += out.completion_ids[:room]
            expect_mask += [1] * len(out.completion_ids[:room])
            expect_logp += out.logprobs[:room]
            if t + 1 == len(rec.calls) or len(expect_ids) >= 40 or not out.text.endswith(("e", "7")):
                break
            calls += 1
            obs = tokenizer(f"[{calls}]", add_special_tokens=False)["input_ids"]
            mine = r.prompt_ids + expect_ids + obs
            nxt = [j for j, p in enumerate(rec.calls[t + 1][0]) if p == mine]
            if not nxt:  # the episode stopped here (max_turns or budget)
                break
            expect_ids += obs
            expect_mask += [0] * len(obs)
            expect_logp += [0.0] * len(obs)
            out = rec.calls[t + 1][2][nxt[0]]
        n = len(r.completion_ids)
        assert r.completion_ids == expect_ids[:n] and r.loss_mask == expect_mask[:n]
        assert r.logprobs == pytest.approx(expect_logp[:n])
        assert n <= 40 and r.extra["tools"]["turns"] <= 4
        assert r.policy_tokens == sum(expect_mask[:n])
        multi += calls > 0
    assert multi >= 3, "the random tiny model should end a turn in 'e' or '7' in some of 12 episodes"
    # the trainer's side: the padded rows are prompt + completion, the loss sees policy tokens only
    advantages = torch.arange(12, dtype=torch.float32)
    seen = 0
    for mb in micro_batches(rollouts, advantages, size=5, pad_id=tokenizer.pad_token_id):
        for row, i in enumerate(mb.index):
            r = rollouts[i]
            p, c = len(r.prompt_ids), len(r.completion_ids)
            assert mb.input_ids[row, : p + c].tolist() == r.prompt_ids + r.completion_ids
            assert mb.completion_mask[row, :p].sum() == 0 and mb.completion_mask[row, p + c :].sum() == 0
            assert mb.completion_mask[row, p : p + c].tolist() == [float(m) for m in r.loss_mask]
            # predicted position p-1+t predicts completion token t: its sampler logprob sits there
            assert mb.sampler_logp[row, p - 1 : p - 1 + c].tolist() == pytest.approx(r.logprobs)
            assert mb.loss_mask[row, p - 1 : p - 1 + c].tolist() == [float(m) for m in r.loss_mask]
            seen += 1
    assert seen == 12
    batch = Batch(rows, rollouts)
    assert batch.lengths == [sum(r.loss_mask) for r in rollouts]  # length metrics: policy tokens only


def test_the_single_turn_environment_is_the_engine_call_itself(engine: Any, tiny: Any) -> None:
    _, tokenizer, _ = tiny
    rows, ids = rows_and_ids(tokenizer, 2)
    rec = Recorder(engine)
    sampling = Sampling(n=2, max_new_tokens=16, seed=3)
    out = envs.generate(rec, tokenizer, rows, ids, sampling, envs.load(EnvConfig()))
    assert len(rec.calls) == 1 and rec.calls[0][1] == sampling and out is rec.calls[0][2]
    assert all(r.loss_mask is None and "tools" not in r.extra for r in out)


def test_tool_metrics_by_hand() -> None:
    def r(turns: int, calls: int, errors: int, s: float, cut: bool) -> Rollout:
        stats = {"turns": turns, "calls": calls, "errors": errors, "time": s, "truncated": cut}
        return Rollout([1], [2], None, "stop", "", extra={"tools": stats})

    m = tool_metrics([r(1, 0, 0, 0.0, False), r(3, 2, 1, 0.5, False), r(4, 4, 0, 1.0, True), r(2, 1, 1, 0.25, False)])
    # turns (1+3+4+2)/4 = 2.5; calls (0+2+4+1)/4 = 1.75; 3 of 4 called; errors 2/4; time 1.75 s; 1 of 4 cut
    assert m == {"tools/turns": 2.5, "tools/calls": 1.75, "tools/call_rate": 0.75, "tools/errors": 0.5,
                 "tools/time": 1.75, "tools/truncated": 0.25}
    assert tool_metrics([Rollout([1], [2], None, "stop", "")]) == {}


def test_environments_load_by_name_module_or_file(tmp_path: Any) -> None:
    from r1train.errors import UserError

    assert envs.load(EnvConfig(name="tests.r1train.envs.test_loop:Shout")).cls is Shout
    f = tmp_path / "my_env.py"
    f.write_text("from r1train.envs import Step\nclass Mine:\n    stop = ('!',)\n"
                 "    def __init__(self, row, **args): pass\n    def step(self, text): return Step(done=True)\n")
    assert envs.load(EnvConfig(name=f"{f}:Mine")).cls.__name__ == "Mine"
    with pytest.raises(UserError, match="did you mean 'tools'"):
        envs.load(EnvConfig(name="tool"))
    with pytest.raises(UserError, match="do not fit"):
        envs.load(EnvConfig(name="tools", args={"tool": ["python"]}))
    with pytest.raises(UserError, match="max_turns"):
        envs.load(EnvConfig(name="tools", max_turns=0))


def test_the_readme_environment_runs_as_written() -> None:
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    code = re.search(r"# my_env.py\n(.*?)```", readme, re.S).group(1)
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    env = envs.load(EnvConfig(name="shout")).start({"question": "q"})
    assert env.step("hi <shout>hey</shout>") == Step(observation="<echo>HEY</echo>", calls=1)
    assert env.step("bye").done
