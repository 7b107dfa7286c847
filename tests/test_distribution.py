"""A run's distribution is one seam the runner receives: every point where processes would share
work goes through it, and one process is the seam doing nothing."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from genbench.engine.distributed import OneProcess, Rank, Torchrun, for_this_process
from genbench.engine.distribution import Distribution, Replicas
from genbench.engine.runner import Runner, RunRequest
from genbench.errors import GenbenchError

SMOKE = ["train.batch_size=64", "train.log_every=2", "eval.num_samples=64"]


def toy_request(stop: int = 0) -> RunRequest:
    return RunRequest("toy", "digits", budget="smoke", sets=SMOKE, device="cpu", stop_after_steps=stop)


class Recorded(Replicas):
    def __init__(self, calls: list[tuple[str, Any]]) -> None:
        self.calls = calls

    def shard(self, batch: Any) -> Any:
        self.calls.append(("shard", len(batch.x)))
        return super().shard(batch)

    def mean(self, sums: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        self.calls.append(("mean", sorted(sums)))
        return super().mean(sums)

    def any(self, flag: bool) -> bool:
        self.calls.append(("any", flag))
        return super().any(flag)


class Recording(Distribution):
    """One process that notes each call the runner, trainer and evaluation make to the seam."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def setup(self, device: torch.device, *, batch_size: int) -> torch.device:
        self.calls.append(("setup", batch_size))
        return super().setup(device, batch_size=batch_size)

    def share_run(self, run: Any) -> None:
        self.calls.append(("share_run", run.id))

    def share_checkpoint(self, resume: dict[str, Any] | None, batch_size: int) -> dict[str, Any] | None:
        self.calls.append(("share_checkpoint", None if resume is None else resume["step"]))
        return super().share_checkpoint(resume, batch_size)

    def replicas(self, model: Any, ctx: Any, device: torch.device) -> Replicas:
        self.calls.append(("replicas", type(model).__name__))
        return Recorded(self.calls)

    def share_sampling(self, ctx: Any, metrics: Any) -> None:
        self.calls.append(("share_sampling", sorted(m.spec.name for m in metrics)))

    def single_process(self, what: str) -> None:
        self.calls.append(("single_process", what))

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


def test_every_shared_point_of_a_run_goes_through_the_distribution_it_is_given(toy_plugins, results):
    plain = Runner(results / "plain").run(toy_request())
    dist = Recording()
    out = Runner(results / "seam", dist=dist).run(toy_request())
    assert out.run.status == plain.run.status == "finished"
    # the seam doing what one process does changes nothing: same losses, same scores
    assert [(s.name, s.value) for s in out.scores] == [(s.name, s.value) for s in plain.scores]
    names = dist.names()
    assert names[:3] == ["setup", "share_checkpoint", "replicas"]
    assert dist.calls[:2] == [("setup", 64), ("share_checkpoint", None)]
    steps = out.run.steps
    assert steps > 1 and names.count("shard") == steps and ("shard", 64) in dist.calls
    assert names.count("any") == steps - 1  # agreed on stopping after every step but the last
    assert names.count("mean") >= steps // 2  # every log point and checkpoint averages the loss sums
    assert dist.calls[-1] == ("share_sampling", sorted(s.name for s in out.scores))


def test_a_resumed_run_shares_the_run_and_its_checkpoint(toy_plugins, results):
    dist = Recording()
    runner = Runner(results, dist=dist)
    part = runner.run(toy_request(stop=6))
    assert part.run.status == "interrupted"
    dist.calls.clear()
    done = runner.resume(part.run.id, device_name="cpu")
    assert done.run.status == "finished"
    assert dist.calls[:3] == [("setup", 64), ("share_run", part.run.id), ("share_checkpoint", 6)]
    assert dist.names().count("shard") == done.run.steps - 6
    dist.calls.clear()
    runner.evaluate(done.run.id, [])
    assert dist.calls[0] == ("single_process", "genbench eval")


def test_the_process_picks_its_distribution_from_torchrun_s_environment(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    one = for_this_process()
    assert type(one) is OneProcess and one.writes
    one.single_process("genbench eval")  # one process may
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    second = for_this_process()
    assert isinstance(second, Torchrun) and second.rank == Rank(1, 2, 1) and not second.writes
    assert Torchrun(Rank(0, 2, 0)).writes
    with pytest.raises(GenbenchError, match="genbench eval runs in one process: start it without torchrun"):
        second.single_process("genbench eval")
