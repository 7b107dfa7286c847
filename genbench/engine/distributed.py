"""Several processes, one run: PyTorch's DistributedDataParallel under ``torchrun``.

:class:`Torchrun` is the :class:`~genbench.engine.distribution.Distribution` of such a launch:
the runner receives it (from the CLI) and calls it where the processes must agree, and it wraps
the runner: rank 0 runs the runner's own path, the other ranks train beside it (:meth:`Torchrun.run`).
Nothing else in the engine imports this module.

``torchrun --nproc_per_node=N -m genbench run ...`` (or ``genbench run --nproc N ...``, which
launches exactly that) starts N copies of the same command. Each joins the process group from
torchrun's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``PORT``): NCCL on
CUDA, gloo on the CPU. What the ranks share:

- **data**: every rank draws the same deterministic global batch of a step
  (:class:`genbench.engine.batches.Batches`) and trains on its own contiguous shard of it, so the
  global batch, and the run, do not depend on N beyond floating-point reduction order;
- **gradients**: averaged by DDP (below); the initial parameters are rank 0's (DDP broadcasts them);
- **losses**: the logged value is the mean over ranks, so it is the global batch's mean loss;
- **noise**: rank 0 keeps the run's random stream (the one its checkpoint holds); each other rank
  draws its own, seeded from (seed, rank, step), so a step's noise differs between ranks;
- **the store**: rank 0 alone writes the database, checkpoints and artifacts, and computes the
  metrics; the other ranks train beside it and write nothing. A resumed run's checkpoint (and run
  row) reaches them from rank 0 through ``broadcast_object_list``, so no shared filesystem is needed;
- **evaluation**: every rank draws a share of the samples, gathered to rank 0 (:meth:`Torchrun.share_sampling`).

Why DDP is armed by hand. genbench models optimise manually: ``training_step`` calls
``ctx.optimize(loss, name)`` once per optimizer (a GAN two or more times per step), so each
backward runs *inside* the step. DDP's usual pattern (and Lightning's training_step-as-forward
wrapper) arms DDP's gradient reducer when the wrapped ``forward`` returns, i.e. after those
backward passes: gradients would silently go unsynchronised. We keep DDP, for what it does well
(broadcasting rank 0's parameters and buffers, bucketing gradients and all-reducing each bucket
while the backward is still running), and arm its reducer ourselves just before each backward
with the loss whose graph it is to expect: what DDP's own ``forward`` does after the module
returns (``reducer.prepare_for_backward``), and what Lightning does for manual optimisation
(lightning/pytorch/overrides/distributed.py, ``prepare_for_backward``). With
``find_unused_parameters=True`` the reducer walks that loss's graph, so a discriminator step,
which reaches no generator parameter, averages exactly the gradients it produced; several
optimizers and several backward passes per step therefore need nothing more.

Not FSDP: every genbench model fits one device (the largest, DDPM on CIFAR-10, has 35.7M
parameters), and FSDP's sharded parameters would have to be gathered for each GAN sub-step and
for the EMA copies that read whole parameters; DDP's replicas keep all of that unchanged.

BatchNorm becomes SyncBatchNorm on CUDA (statistics over the global batch, as one process
computes them). On the CPU PyTorch has no SyncBatchNorm, so each rank normalises over its own
shard: a model with BatchNorm then depends on N through its batch statistics (running stats are
rank 0's); models without BatchNorm do not.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
from torch import nn

from genbench.api.metric import EvalContext, Metric, fingerprint_hash
from genbench.api.model import Batch, GenerativeModel, StepContext
from genbench.engine.build import build_model
from genbench.engine.device import resolve_device, rng_state, seed_everything, set_rng_state, set_threads
from genbench.engine.distribution import PEER_LOST, Distribution, Replicas
from genbench.engine.evaluate import metrics_for
from genbench.engine.protocols import give_degradation, give_labelled, representation_context
from genbench.engine.runner import Outcome, Runner, RunRequest
from genbench.engine.trainer import Reporter, train
from genbench.errors import GenbenchError, PluginFault, ProcessLost, blame
from genbench.metrics.extractors.features import remember_features

if TYPE_CHECKING:
    from genbench.store.schema import Run

# A rank that waits this long on the others (one crashed before torchrun noticed, a deadlock)
# raises instead of hanging; torchrun then tears the other ranks down.
TIMEOUT = timedelta(minutes=10)
# ...except at the end, where the other ranks wait for rank 0 to compute the metrics, which can
# take hours (an importance-weighted NLL bound on the CPU): that wait has its own group.
EXIT_TIMEOUT = timedelta(days=2)
_exit_group: Any = None
RUN_FIELDS = ("id", "model", "dataset", "benchmark", "benchmark_version", "budget", "budget_images", "seed",
              "config", "run_dir")  # fmt: skip


@dataclass(frozen=True)
class Rank:
    """This process's place in a torchrun launch."""

    rank: int
    world_size: int
    local_rank: int

    @property
    def main(self) -> bool:
        return self.rank == 0


def current() -> Rank | None:
    """This process's rank under torchrun (from its environment), or None in a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    return Rank(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))


def active() -> Rank | None:
    """This process's rank once it has joined torchrun's process group (:func:`setup`), else None."""
    return current() if dist.is_available() and dist.is_initialized() else None


def is_main() -> bool:
    """True in a single process and on rank 0: the process that writes the store and prints."""
    r = current()
    return r is None or r.main


MAX_BATCH_SIZE = 65536  # train.batch_size's range (genbench.config)


def check_batch_size(batch_size: int, world_size: int) -> None:
    if world_size > 1 and batch_size % world_size:
        lower = batch_size - batch_size % world_size
        # Only sizes train.batch_size accepts (1 to 65536) are suggested: never 0.
        sizes = [b for b in (lower, lower + world_size) if 1 <= b <= MAX_BATCH_SIZE]
        suggest = " (or ".join(f"{b}" for b in sizes) + (")" if len(sizes) == 2 else "")
        fix = f"pass --set train.batch_size={suggest}, or another process count" if sizes else "use fewer processes"
        raise GenbenchError(
            f"the global batch of {batch_size} images cannot be split evenly over {world_size} processes: {fix}"
        )


def setup(device: torch.device, *, batch_size: int) -> torch.device:
    """Under torchrun: check the batch splits evenly, join the process group (once) and return
    this rank's device (``cuda:LOCAL_RANK`` on GPUs). In a single process: ``device`` unchanged."""
    r = current()
    if r is None:
        return device
    check_batch_size(batch_size, r.world_size)
    return join(device)


def join(device: torch.device) -> torch.device:
    """Join torchrun's process group (once) and return this rank's device."""
    r = current()
    assert r is not None
    if device.type == "cuda":
        device = torch.device("cuda", r.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        global _exit_group
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=TIMEOUT)
        _exit_group = dist.new_group(backend="gloo", timeout=EXIT_TIMEOUT)
    return device


def leave() -> None:
    """After a command succeeded on this rank: wait for the other ranks, then leave the process group.

    Exiting with the group still open lets gloo's threads be torn down while a peer still talks to
    them (a rank then aborts at exit, "terminate called without an active exception"). Only the
    success path calls this: a rank that raised exits at once, and torchrun stops the others, which
    a barrier here would otherwise keep waiting for it. The wait is on a group with a long timeout
    (:data:`EXIT_TIMEOUT`): ranks > 0 get here while rank 0 is still computing the metrics.
    """
    if active() is not None:
        dist.barrier(group=_exit_group)
        dist.destroy_process_group()


def peer_lost(exc: BaseException | None) -> bool:
    """Whether ``exc`` is this process's collective failing because another process of the launch
    went away (gloo: "Connection closed by peer") or stopped answering (a timeout)."""
    if exc is None or active() is None:
        return False
    text = str(exc)
    return isinstance(exc, dist.DistError) or "closed by peer" in text or "reset by peer" in text


def single_process(what: str) -> None:
    """Refuse a command that must not run once per rank (it would write the store N times)."""
    if current() is not None:
        raise GenbenchError(f"{what} runs in one process: start it without torchrun")


def broadcast(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (pickled; tensors travel too)."""
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


# -- training --------------------------------------------------------------------------------


class DataParallel(Replicas):
    """One rank's side of data-parallel training of ``model``: shards batches, averages gradients
    through DDP, averages logged losses and agrees on stopping. See the module docstring."""

    def __init__(self, model: GenerativeModel, ctx: StepContext, rank: Rank, device: torch.device) -> None:
        self.rank = rank
        self.device = device
        trainable = any(p.requires_grad for p in model.parameters()) and bool(ctx.optimizers)
        # A model that learns without gradients (PCA's moment sums) is not wrapped and not sharded:
        # every rank computes the whole global batch, the same on each, as one process would.
        self.shards = trainable
        self.ddp: nn.parallel.DistributedDataParallel | None = None
        if trainable:
            if device.type == "cuda":
                nn.SyncBatchNorm.convert_sync_batchnorm(model)
            self.ddp = nn.parallel.DistributedDataParallel(
                model,
                device_ids=[device.index] if device.type == "cuda" else None,
                find_unused_parameters=True,  # each backward reaches only its own part (a GAN's D step)
                broadcast_buffers=False,  # the forward DDP would broadcast them in is never called
            )
            ctx.grad_sync = self.before_backward
        ctx.world_size = rank.world_size

    def before_backward(self, loss: torch.Tensor) -> None:
        """Arm DDP's reducer for the backward of ``loss``: what DDP's forward does on return."""
        assert self.ddp is not None
        self.ddp.require_forward_param_sync = True
        self.ddp.reducer.prepare_for_backward([loss])

    def shard(self, batch: Batch) -> Batch:
        """This rank's contiguous slice of the global batch."""
        if not self.shards:
            return batch
        n = len(batch.x) // self.rank.world_size
        part = slice(self.rank.rank * n, (self.rank.rank + 1) * n)
        return Batch(
            batch.x[part],
            batch.y[part],
            None if batch.x_b is None else batch.x_b[part],
            None if batch.y_b is None else batch.y_b[part],
        )

    def mean(self, sums: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per-rank loss sums averaged over the ranks (one all-reduce for all of them)."""
        if not sums or not self.shards:
            return sums
        names = sorted(sums)
        flat = torch.stack([sums[k].to(self.device, torch.float64) for k in names])
        dist.all_reduce(flat)
        flat /= self.rank.world_size
        return {k: flat[i] for i, k in enumerate(names)}

    def any(self, flag: bool) -> bool:
        """True on every rank when it is on any one (a Ctrl-C seen by one rank stops them all together)."""
        t = torch.tensor([int(flag)], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def check_replicas(self, model: nn.Module) -> None:
        """Raise when the ranks' parameters differ: averaged gradients keep them bit-identical, so a
        difference means some update escaped DDP (e.g. gradients made outside ``ctx.optimize``)."""
        with torch.no_grad():
            total = sum((p.double().sum() for p in model.parameters()), torch.zeros((), dtype=torch.float64))
        t = torch.stack([total, -total]).to(self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        if float(t[0]) != -float(t[1]):
            raise RuntimeError(
                f"the {self.rank.world_size} training processes hold different parameters "
                f"(sums {float(t[0])!r} vs {-float(t[1])!r}): an update was not averaged across them"
            )

    def reseed(self, seed: int, step: int) -> None:
        """Give ranks other than 0 their own noise stream (a VAE's eps, a GAN's z), a function of
        (seed, rank, step): rank 0 keeps the run's stream, which its checkpoint holds."""
        if not self.rank.main:
            torch.manual_seed(((seed * 1_000_003 + self.rank.rank) * 1_000_003 + step) % (1 << 63))


# -- evaluation ------------------------------------------------------------------------------


def use_rank0_buffers(model: nn.Module) -> None:
    """Give every rank rank 0's buffers (BatchNorm's running statistics): without SyncBatchNorm
    (the CPU's gloo) each rank kept those of its own shards, so its samples would differ from those
    of rank 0's model, which the checkpoint holds. The parameters are the same on every rank."""
    with torch.no_grad():
        for buffer in model.buffers():
            dense = buffer.contiguous()
            dist.broadcast(dense, src=0)
            if dense.data_ptr() != buffer.data_ptr():
                buffer.copy_(dense)


def share_sampling(ctx: EvalContext, metrics: Sequence[Metric]) -> None:
    """Under torchrun, every rank draws its share of the samples the metrics will read, extracts
    their features, and rank 0 gathers both; a no-op in one process.

    Batch ``k`` of the samples is drawn on rank ``k mod N`` from its own generator
    (:meth:`EvalContext.chunk_generator`), so rank 0 ends with exactly the samples one process
    draws. Each rank also runs the metrics' feature extractors (:meth:`Metric.sample_extractors`,
    e.g. Inception for FID) on its own batches; rank 0 reassembles the features in batch order and
    hands them to the metrics' feature cache, then computes the metrics (cheap beside sampling and
    extraction). A metric that reads samples not foreseen here still gets the same ones: rank 0
    draws them alone.
    """
    r = active()
    if r is None:
        return
    kinds = [(kind, labels, offset) for kind, labels, offset in
             (("sample", None, 0), ("conditional", ctx.conditional_labels(), 1))
             if kind in ctx.model.capabilities]  # fmt: skip
    # A class-conditional model's sample metrics read its conditional samples (EvalContext.samples).
    shared = ctx.samples_are_conditional()
    if shared:
        kinds = [k for k in kinds if k[0] != "sample"]
    saved = rng_state()
    seed_everything(ctx.seed)  # as evaluate() does before each metric, where one process samples
    ctx.model.eval()
    use_rank0_buffers(ctx.model)
    try:
        for kind, labels, offset in kinds:
            wanted = {kind, "sample"} if shared else {kind}
            readers = [m for m in metrics if wanted & set((m.spec.requires or "").split("|"))]
            if not readers:
                continue
            extractors = {fingerprint_hash(e.identity()): e for m in readers for e in m.sample_extractors(ctx)}
            chunks = ctx.sample_chunks(labels, offset, r.rank, r.world_size)
            mine = ctx.finish_samples(chunks) if chunks else torch.zeros(0)
            what = f"{'samples' if labels is None else 'conditional samples'}, process {r.rank + 1} of {r.world_size}"
            feats = {key: e.extract(mine, ctx.device, what) for key, e in extractors.items()} if chunks else {}
            parts: list[Any] | None = [None] * r.world_size if r.main else None
            dist.gather_object(([len(c) for c in chunks], mine, feats), parts, dst=0)
            if parts is None:
                continue
            x, features = _in_batch_order(parts)
            if labels is None:
                ctx._samples = x
            else:
                ctx._cond = (x, labels)
            for key, e in extractors.items():
                remember_features(e, x, features[key])
    finally:
        set_rng_state(saved)


def _in_batch_order(parts: list[Any]) -> tuple[torch.Tensor, dict[str, dict[str, torch.Tensor]]]:
    """The ranks' (batch sizes, samples, features) put back in batch order: batch k is rank k mod N's
    (k // N)-th. Returns the samples and, by extractor, the features of them."""
    n = len(parts)
    pieces: list[list[torch.Tensor]] = [list(x.split(sizes)) if sizes else [] for sizes, x, _ in parts]
    feature_pieces = [
        {key: {name: list(v.split(sizes)) for name, v in f.items()} for key, f in feats.items()}
        for sizes, _, feats in parts
    ]
    order = [(k % n, k // n) for k in range(sum(len(p) for p in pieces))]
    x = torch.cat([pieces[rank][i] for rank, i in order])
    features = {
        key: {name: torch.cat([feature_pieces[rank][key][name][i] for rank, i in order]) for name in named}
        for key, named in feature_pieces[0].items()
    }
    return x, features


# -- the other ranks of a run ----------------------------------------------------------------


def share_run(run: Run) -> None:
    """Rank 0 of a resumed run: send the run row's fields the other ranks rebuild the run from."""
    if current() is not None:
        broadcast({f: getattr(run, f) for f in RUN_FIELDS})


def follow_resume(runner: Runner, device_name: str, torchrun: Torchrun) -> Outcome:
    """Rank > 0 of ``genbench resume``: rebuild the run rank 0 shares (no store is opened) and train
    beside it; the checkpoint arrives from rank 0 inside the trainer."""
    from genbench.store.schema import Run

    device = join(resolve_device(device_name))  # rank 0 checks the batch size before it shares the run
    run = Run(**broadcast(None))
    set_threads(run.config.get("threads"))
    spec, bench, model, data, train_cfg, eval_cfg = runner._rebuild(run, {})
    metrics, _ = metrics_for(runner.plugins, bench, spec, data.info.shape, run.config.get("only_metrics"))
    origin = runner.plugins.origin(runner.plugins.models.plugin_of(spec.name))
    return _train_beside(run, model, data, bench, train_cfg, eval_cfg, metrics, device, 0, origin, torchrun)


def follow_run(runner: Runner, req: RunRequest, torchrun: Torchrun) -> Outcome:
    """Rank > 0 of ``genbench run``: check and build what rank 0 does, train beside rank 0 from the
    same command, then draw a share of the evaluation's samples; store nothing."""
    from genbench.store.schema import Run

    plan = runner._plan(req)
    seed_everything(req.seed)
    with blame(plan.origin, f"building model '{plan.spec.name}'"):
        model = build_model(plan.spec, plan.data.info, plan.model_cfg)
    run = Run(id="", model=req.model or req.family, dataset=req.dataset, budget=req.budget,
              budget_images=plan.bench.images(req.budget), seed=req.seed, status="running")  # fmt: skip
    return _train_beside(run, model, plan.data, plan.bench, plan.train_cfg, plan.eval_cfg, plan.metrics,
                         plan.device, req.stop_after_steps, plan.origin, torchrun)  # fmt: skip


def _train_beside(
    run: Run, model: GenerativeModel, data: Any, bench: Any, train_cfg: Any, eval_cfg: Any,
    metrics: list[Metric], device: torch.device, stop_after_steps: int, origin: str, torchrun: Torchrun,
) -> Outcome:  # fmt: skip
    """Train and sample beside rank 0. A fault in the model's code is one line naming its plugin
    (``origin``), as on rank 0; a peer that went away is one line saying so."""
    r = torchrun.rank
    try:
        with blame(origin, f"training model '{run.model}' (rank {r.rank} of {r.world_size})"):
            give_labelled(model, representation_context(bench, data, eval_cfg), data)
            give_degradation(model, bench)
            result = train(
                model, data, train_cfg, budget_images=run.budget_images, seed=run.seed, device=device,
                checkpoint_path=None, stop_after_steps=stop_after_steps, dist=torchrun,
            )  # fmt: skip
            run.status, run.message = result.status, result.message
            if result.status == "finished":  # rank 0 evaluates exactly then (the ranks agree on how training ended)
                num_samples = eval_cfg.num_samples or bench.num_samples[run.budget]
                ctx = EvalContext(model, data, num_samples, device, seed=eval_cfg.seed, batch_size=eval_cfg.batch_size)
                torchrun.share_sampling(ctx, metrics)
    except PluginFault as exc:
        if peer_lost(exc.__cause__):
            raise ProcessLost(PEER_LOST) from exc.__cause__
        raise
    return Outcome(run, [], result)


# -- the strategies the CLI hands the runner -------------------------------------------------


class OneProcess(Distribution):
    """A command in one process: the runner's own path, start to end."""

    def run(self, runner: Runner, req: RunRequest, reporter: Reporter | None = None) -> Outcome:
        return runner.run(req, reporter)

    def resume(
        self, runner: Runner, run_id: str, reporter: Reporter | None = None, device_name: str = "auto"
    ) -> Outcome:
        return runner.resume(run_id, reporter, device_name)


class Torchrun(OneProcess):
    """This process's rank of a torchrun launch: rank 0 runs the runner's path and writes; the other
    ranks train beside it and write nothing. See the module docstring for what they share."""

    def __init__(self, rank: Rank) -> None:
        self.rank = rank

    @property
    def writes(self) -> bool:
        return self.rank.main

    def run(self, runner: Runner, req: RunRequest, reporter: Reporter | None = None) -> Outcome:
        if self.rank.main:
            return runner.run(req, reporter)
        return follow_run(runner, req, self)

    def resume(
        self, runner: Runner, run_id: str, reporter: Reporter | None = None, device_name: str = "auto"
    ) -> Outcome:
        if self.rank.main:  # it shares the run and its checkpoint with the others
            return runner.resume(run_id, reporter, device_name)
        return follow_resume(runner, device_name, self)

    def setup(self, device: torch.device, *, batch_size: int) -> torch.device:
        return setup(device, batch_size=batch_size)

    def single_process(self, what: str) -> None:
        single_process(what)

    def share_run(self, run: Run) -> None:
        share_run(run)

    def share_checkpoint(self, resume: dict[str, Any] | None, batch_size: int) -> dict[str, Any] | None:
        check_batch_size(batch_size, self.rank.world_size)
        return broadcast(resume)

    def replicas(self, model: GenerativeModel, ctx: StepContext, device: torch.device) -> Replicas:
        return DataParallel(model, ctx, self.rank, device)

    def share_sampling(self, ctx: EvalContext, metrics: Sequence[Metric]) -> None:
        share_sampling(ctx, metrics)

    def peer_lost(self, exc: BaseException | None) -> bool:
        return peer_lost(exc)

    def leave(self) -> None:
        leave()


def for_this_process() -> OneProcess:
    """The distribution of a command started here: torchrun's rank from its environment, else one process."""
    rank = current()
    return OneProcess() if rank is None else Torchrun(rank)


# -- genbench run --nproc N ------------------------------------------------------------------


def check_request(req: RunRequest, nproc: int) -> None:
    """Before launching ``nproc`` processes: the run's global batch must split evenly over them."""
    from genbench.api.dataset import DataInfo
    from genbench.config import parse_set
    from genbench.engine.build import resolve_run_configs
    from genbench.plugins import get_plugins

    plugins = get_plugins()
    spec = plugins.resolve_model(req.family, req.model)
    dspec = plugins.datasets.get(req.dataset)
    bench = plugins.benchmark(req.benchmark) if req.benchmark else plugins.benchmark_for(req.dataset)
    info = DataInfo(dspec.name, dspec.shape, dspec.num_classes)
    train_cfg, _, _ = resolve_run_configs(spec, bench, info, parse_set(req.sets), req.budget)
    check_batch_size(train_cfg.batch_size, nproc)


def without_nproc(args: list[str]) -> list[str]:
    """The command line with ``--nproc N`` / ``--nproc=N`` taken out."""
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            out.append(a)
    return out


def launch(nproc: int, args: list[str]) -> int:
    """Run ``genbench <args>`` under torchrun with ``nproc`` processes on this machine; its exit code.

    ``--standalone`` gives the launch its own rendezvous on a free local port, so two launches on
    one machine do not collide; several machines use torchrun directly (README).
    """
    if current() is not None:
        raise GenbenchError("--nproc is for a plain `genbench run`; under torchrun pass --nproc_per_node to torchrun")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "genbench", *without_nproc(args)]  # fmt: skip
    return subprocess.call(cmd)
