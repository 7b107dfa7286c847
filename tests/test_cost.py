"""Network evaluations (genbench.api.cost): what is counted, and that evaluation stores it per metric."""

from __future__ import annotations

import torch
from torch import nn

from genbench.api.cost import NetworkCounter
from genbench.api.dataset import DataInfo
from genbench.api.model import GenerativeModel

INFO = DataInfo("toy", (1, 4, 4), 2)


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 16))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x) + x


class TwoNets(GenerativeModel):
    """An encoder and a decoder with blocks inside; the likelihood decodes K latents per image."""

    capabilities = frozenset({"sample", "log_likelihood"})

    def __init__(self, k: int = 5) -> None:
        super().__init__(None, INFO)
        self.k = k
        self.nets = nn.ModuleDict({"encoder": Block(), "decoder": nn.Sequential(Block(), Block())})

    def log_likelihood(self, x, y=None):  # type: ignore[no-untyped-def]
        z = self.nets["encoder"](x.flatten(1))  # (B, 16)
        zk = z.repeat_interleave(self.k, 0)  # (B*K, 16)
        return -self.nets["decoder"](zk).square().mean(1).view(len(x), self.k).mean(1)

    def sample(self, n, *, labels=None, generator=None):  # type: ignore[no-untyped-def]
        return torch.sigmoid(self.nets["decoder"](torch.randn(n, 16))).view(n, 1, 4, 4)


class Pixels(GenerativeModel):
    """No networks: parameters only, like a PCA."""

    capabilities = frozenset({"sample"})

    def __init__(self) -> None:
        super().__init__(None, INFO)
        self.loc = nn.Parameter(torch.full((1, 4, 4), 0.5))

    def sample(self, n, *, labels=None, generator=None):  # type: ignore[no-untyped-def]
        return self.loc.expand(n, -1, -1, -1).clamp(0, 1)


def test_outermost_network_calls_count_their_examples():
    model = TwoNets(k=5)
    with torch.no_grad(), NetworkCounter(model) as counter:
        model.log_likelihood(torch.rand(7, 1, 4, 4))
        # encoder: 7 images; decoder: 7 * 5 latents; the blocks inside count nothing more
        assert (counter.evaluations, counter.calls) == (7 + 35, 2)
        model.sample(3)
        assert counter.evaluations == 42 + 3
    with torch.no_grad():
        model.sample(10)  # hooks and wrappers are gone after the block
    assert counter.evaluations == 45
    assert "sample" not in vars(model) and not model.nets["encoder"]._forward_pre_hooks


def test_a_model_without_networks_counts_its_capability_calls():
    model = Pixels()
    with torch.no_grad(), NetworkCounter(model) as counter:
        model.sample(12)
        model.sample(n=4)
    assert counter.evaluations == 16
    assert "sample" not in vars(model)


def test_a_failing_forward_does_not_stop_the_count():
    model = TwoNets()
    with torch.no_grad(), NetworkCounter(model) as counter:
        try:
            model.nets["encoder"](torch.rand(2, 3))  # wrong width: raises inside the block
        except RuntimeError:
            pass
        model.nets["encoder"](torch.rand(4, 16))
    assert counter.evaluations == 2 + 4


# -- computed once: nll and ood-auroc share the test images' likelihood pass ------------------


def _likelihood_evaluation(metric_names: list[str]):  # type: ignore[no-untyped-def]
    """Scores of an untrained VAE (a stochastic IWAE bound) on digits with inverted digits as the OOD set."""
    from genbench_vae.vae import VAE

    from genbench.api.anomaly import AnomalyContext
    from genbench.api.dataset import ImageData
    from genbench.data import load_dataset
    from genbench.engine.build import build_metric
    from genbench.engine.evaluate import evaluate
    from genbench.plugins import get_plugins

    digits = load_dataset("digits")
    inverted = ImageData("inverted", 255 - digits.train_x, digits.train_y, 255 - digits.test_x, digits.test_y, 10)
    torch.manual_seed(0)
    model = VAE(VAE.Config(iwae_k=4), digits.info)
    metrics = [build_metric(get_plugins().metrics.get(name)) for name in metric_names]
    scores = evaluate(model, metrics, digits, num_samples=60, device=torch.device("cpu"), seed=3, batch_size=25,
                      cache_dir=__import__("pathlib").Path("/nonexistent"), test_count=60,
                      anomaly=AnomalyContext(inverted))  # fmt: skip
    return model, {s.name: s for s in scores}


def test_nll_and_ood_auroc_pay_one_likelihood_pass_for_the_shared_test_images():
    from genbench.api.metric import EvalContext
    from genbench.data import load_dataset
    from genbench.metrics.nll import test_log_likelihoods

    both = _likelihood_evaluation(["nll", "ood-auroc"])[1]
    swapped = _likelihood_evaluation(["ood-auroc", "nll"])[1]
    model, nll_alone = _likelihood_evaluation(["nll"])
    ood_alone = _likelihood_evaluation(["ood-auroc"])[1]
    # Same images, same noise: the values are those each metric gives alone, to the last digit.
    for scores in (both, swapped):
        assert scores["nll"].value == nll_alone["nll"].value
        assert scores["ood-auroc"].value == ood_alone["ood-auroc"].value
        assert scores["nll"].interval == nll_alone["nll"].interval
    # What one pass over the 60 shared test images costs: 60 encoder + 60 * K decoder evaluations.
    ctx = EvalContext(model, load_dataset("digits"), 60, torch.device("cpu"), batch_size=25)
    with NetworkCounter(model) as one_pass:
        test_log_likelihoods(ctx, 60, "nll", "test")
    assert one_pass.evaluations == 60 * (1 + 4)
    alone = nll_alone["nll"].evaluations + ood_alone["ood-auroc"].evaluations
    for scores in (both, swapped):
        together = scores["nll"].evaluations + scores["ood-auroc"].evaluations
        assert together == alone - one_pass.evaluations
    # Charged to the metric that ran the pass: the second pays only for its own images.
    assert both["ood-auroc"].evaluations == ood_alone["ood-auroc"].evaluations - one_pass.evaluations
    assert swapped["nll"].evaluations == nll_alone["nll"].evaluations - one_pass.evaluations


# -- a re-evaluation recomputes only what its changed setting reaches ---------------------------


def test_a_reevaluation_recomputes_only_the_metrics_its_setting_reaches(tmp_path):
    from genbench.engine.runner import Runner, RunRequest

    notices: list[str] = []
    runner = Runner(tmp_path, notice=notices.append)
    request = RunRequest(family="vae", model="vae", dataset="digits", budget="smoke", sets=["iwae_k=4"])
    run = runner.run(request).run
    first = {m.name: m for m in runner.store.get_run(run.id).metrics}
    assert {"probe-acc", "recon-mse", "clf-fd", "nll"} <= set(first)
    assert all(m.network_evaluations is not None for m in first.values())
    # Computed once: the 360 samples (one decoder evaluation each) for every sample metric, the test
    # reconstructions (one encoder and one decoder evaluation per image) for recon-mse and psnr.
    sample_metrics = [m for name, m in first.items() if name.startswith("clf-")]
    assert len(sample_metrics) >= 5 and sum(m.network_evaluations for m in sample_metrics) == 360
    assert first["recon-mse"].network_evaluations + first["psnr"].network_evaluations == 2 * 360

    # The label budget reaches only the probe: nothing else is recomputed, nor paid for.
    again = runner.evaluate(run.id, ["eval.labels=100"])
    assert [(s.name, s.settings["labels"]) for s in again.scores] == [("probe-acc", "100")]
    # it encodes the 100 labelled images and the test images, where the first evaluation encoded all of them
    assert 0 < again.scores[0].evaluations < first["probe-acc"].network_evaluations
    assert any("changes only probe-acc" in n for n in notices), notices

    # The sample count reaches the sample metrics, not the test-set ones (reconstructions, probe).
    fewer = runner.evaluate(run.id, ["eval.num_samples=100"])
    names = {s.name for s in fewer.scores}
    assert "clf-fd" in names and not names & {"recon-mse", "psnr", "probe-acc", "nll"}
    assert all(s.fingerprint.get("num_samples") == 100 for s in fewer.scores if s.name.startswith("clf-"))
    # The values that stand are still stored beside the new ones.
    stored = [m.name for m in runner.store.get_run(run.id).metrics]
    assert stored.count("recon-mse") == 1 and stored.count("probe-acc") == 2 and stored.count("clf-fd") == 2
