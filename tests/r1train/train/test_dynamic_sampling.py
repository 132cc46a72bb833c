"""DAPO dynamic sampling: which groups are informative, refilling the batch, bounded tries, padding."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from r1train.rollout.base import Rollout
from r1train.train.batch import Batch
from r1train.train.dynamic_sampling import informative_groups, stage
from r1train.train.scoring import Scores

NAN = float("nan")


def test_informative_groups_by_hand() -> None:
    # G=2: [1,0] differ -> keep; [1,1] equal -> drop; [0,nan] one valid -> drop; [nan,nan] -> drop;
    # [0.5,0.25] differ -> keep
    totals = torch.tensor([1, 0, 1, 1, 0, NAN, NAN, NAN, 0.5, 0.25], dtype=torch.float64)
    assert informative_groups(totals, 2).tolist() == [True, False, False, False, True]


class FakeTrainer:
    """Stages that hand out prompts 0, 1, 2, ... ; prompt k's group is all-equal unless k is in ``good``."""

    def __init__(self, good: set[int], prompts: int = 2, g: int = 2, tries: int = 3) -> None:
        self.good, self.prompts, self.g, self.next_id, self.calls = good, prompts, g, 0, 0
        self.accelerator = SimpleNamespace(num_processes=1)
        self.cfg = SimpleNamespace(
            algorithm=SimpleNamespace(dynamic_sampling=True, max_sampling_tries=tries),
            rollout=SimpleNamespace(num_generations=g),
        )

    def next_prompts(self):
        rows = [{"prompt": f"p{self.next_id + i}", "id": self.next_id + i} for i in range(self.prompts)]
        self.next_id += self.prompts
        return rows

    def generate(self, rows):
        self.calls += 1
        return [
            Rollout([1], [2], None, "stop", f"{row['id']}/{j}", prompt_index=p)
            for p, row in enumerate(rows)
            for j in range(self.g)
        ]

    def score(self, rows, rollouts):
        total = []
        for r in rollouts:
            k, j = map(int, r.text.split("/"))
            total.append(float(j) if k in self.good else 1.0)
        return Scores({"acc": list(total)}, total)

    def sample_more(self) -> Batch:
        rows = self.next_prompts()
        rollouts = self.generate(rows)
        return Batch(rows, rollouts, self.score(rows, rollouts))


def first_batch(t: FakeTrainer) -> Batch:
    return t.sample_more()


def fill(t: FakeTrainer, batch: Batch):
    out, stats = stage(batch, t.sample_more, t.cfg.algorithm, t.g, t.accelerator)
    return out.rows, out.rollouts, out.scores, stats


def test_fill_keeps_sampling_until_the_batch_is_full() -> None:
    # prompts 0..1 (try 1), 2..3 (try 2), 4..5 (try 3); informative: 1 and 4 -> batch = [1, 4] after 3 tries
    t = FakeTrainer(good={1, 4})
    rows, rollouts, scores, stats = fill(t, first_batch(t))
    assert [r["id"] for r in rows] == [1, 4]
    assert [r.prompt_index for r in rollouts] == [0, 0, 1, 1]  # renumbered into the merged rows
    assert [r.text for r in rollouts] == ["1/0", "1/1", "4/0", "4/1"]
    assert scores.total == [0.0, 1.0, 0.0, 1.0] and scores.per_function["acc"] == scores.total
    assert stats["sampling/tries"] == 3 and stats["sampling/padded_groups"] == 0
    assert stats["sampling/informative_frac"] == 2 / 6


def test_fill_stops_early_and_trims_to_the_batch_size() -> None:
    t = FakeTrainer(good={0, 1, 2, 3})
    rows, _, _, stats = fill(t, first_batch(t))
    assert [r["id"] for r in rows] == [0, 1] and t.calls == 1 and stats["sampling/tries"] == 1


def test_fill_pads_with_filtered_groups_when_tries_run_out() -> None:
    # max 2 tries, only prompt 3 informative: batch = [3] + the most recent dropped group (2)
    t = FakeTrainer(good={3}, tries=2)
    rows, rollouts, _, stats = fill(t, first_batch(t))
    assert [r["id"] for r in rows] == [3, 2] and len(rollouts) == 4
    assert stats["sampling/padded_groups"] == 1 and t.calls == 2


def test_fill_is_a_no_op_when_off() -> None:
    t = FakeTrainer(good=set())
    t.cfg.algorithm.dynamic_sampling = False
    batch = first_batch(t)
    rows, rollouts, scores, stats = fill(t, batch)
    assert (rows, rollouts, scores) == (batch.rows, batch.rollouts, batch.scores) and stats == {}
