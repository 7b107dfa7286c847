"""Every flow layer is invertible and reports its log-determinant exactly.

Inverses are checked to 1e-5 in float64, log-determinants against log|det J| of the full
Jacobian computed by brute force with ``torch.autograd.functional.jacobian`` on tiny inputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from genbench_flow.dequantization import VariationalDequantizer, postprocess, preprocess
from genbench_flow.layers import (
    LOG_SCALE_BOUND,
    ActNorm,
    AffineCoupling,
    GlowNet,
    InvConv1x1,
    ResNet,
    Split,
    Squeeze,
    ZeroConv2d,
    checkerboard_mask,
)
from torch import nn
from torch.autograd.functional import jacobian

SHAPE = (4, 4, 4)  # (C, H, W): 64 dimensions, a 64x64 Jacobian


def randomize_zero_convs(module: nn.Module, seed: int = 0) -> None:
    """Give the zero-initialised output layers random weights, so couplings are not the identity."""
    gen = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, ZeroConv2d):
            with torch.no_grad():
                m.conv.weight.copy_(0.1 * torch.randn(m.conv.weight.shape, generator=gen))
                m.conv.bias.copy_(0.1 * torch.randn(m.conv.bias.shape, generator=gen))


def glow_coupling(c: int, parity: int = 0, min_scale: float = 0.0) -> AffineCoupling:
    n_in, n_out = AffineCoupling.net_channels(c, "channel", parity)
    net = GlowNet(n_in, n_out, 8)
    return AffineCoupling(c, net, mask="channel", parity=parity, scale="sigmoid", min_scale=min_scale)


def additive_coupling(c: int) -> AffineCoupling:
    n_in, n_out = AffineCoupling.net_channels(c, "channel", additive=True)
    return AffineCoupling(c, GlowNet(n_in, n_out, 8), mask="channel", scale="none")


def realnvp_coupling(c: int, mask: str, parity: int) -> AffineCoupling:
    n_in, n_out = AffineCoupling.net_channels(c, mask, parity)
    net = ResNet(n_in, n_out, 8, 1)
    return AffineCoupling(c, net, mask=mask, parity=parity, scale="tanh")  # type: ignore[arg-type]


def initialized_actnorm(c: int) -> ActNorm:
    layer = ActNorm(c)
    layer.train()
    layer(torch.randn(8, c, 4, 4) * 3 + 1)  # data-dependent initialisation
    return layer


LAYERS: dict[str, Callable[[], nn.Module]] = {
    "actnorm": lambda: initialized_actnorm(SHAPE[0]),
    "invconv-lu": lambda: InvConv1x1(SHAPE[0]),
    "coupling-glow": lambda: glow_coupling(SHAPE[0]),
    "coupling-glow-floored": lambda: glow_coupling(SHAPE[0], min_scale=0.35),  # cglow's
    "coupling-channel-0": lambda: realnvp_coupling(SHAPE[0], "channel", 0),
    "coupling-channel-1": lambda: realnvp_coupling(SHAPE[0], "channel", 1),
    "coupling-checkerboard-0": lambda: realnvp_coupling(SHAPE[0], "checkerboard", 0),
    "coupling-checkerboard-1": lambda: realnvp_coupling(SHAPE[0], "checkerboard", 1),
    "squeeze": lambda: Squeeze(),
}


def build(name: str) -> nn.Module:
    torch.manual_seed(0)
    layer = LAYERS[name]()
    randomize_zero_convs(layer)
    if isinstance(layer, InvConv1x1):  # move off the initial rotation, whose |det| is 1
        with torch.no_grad():
            layer.log_s.add_(torch.linspace(-0.3, 0.6, layer.log_s.numel()))
    return layer.double().eval()


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_inverse_float64(name: str) -> None:
    layer = build(name)
    x = torch.randn(3, *SHAPE, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y, logdet = layer(x)
    assert y.shape[0] == 3 and logdet.shape == (3,)
    torch.testing.assert_close(layer.inverse(y), x, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_logdet_is_the_jacobian(name: str) -> None:
    layer = build(name)
    x = torch.randn(1, *SHAPE, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    jac = jacobian(lambda v: layer(v.view(1, *SHAPE))[0].flatten(), x.flatten())  # (64, 64)
    _, expected = torch.linalg.slogdet(jac)
    _, logdet = layer(x)
    torch.testing.assert_close(logdet[0], expected, atol=1e-8, rtol=1e-8)
    if name != "squeeze":
        assert abs(float(expected)) > 1e-3, "a layer at the identity tests nothing"


def test_additive_coupling_is_volume_preserving_and_inverts() -> None:
    torch.manual_seed(0)
    layer = additive_coupling(SHAPE[0])
    randomize_zero_convs(layer)
    layer = layer.double().eval()
    x = torch.randn(2, *SHAPE, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y, logdet = layer(x)
    torch.testing.assert_close(logdet, torch.zeros(2, dtype=torch.float64))
    torch.testing.assert_close(layer.inverse(y), x, atol=1e-12, rtol=0)
    assert not torch.allclose(y, x), "the shift must move x_b"
    jac = jacobian(lambda v: layer(v.view(1, *SHAPE))[0].flatten(), x[:1].flatten())
    assert abs(float(torch.linalg.slogdet(jac)[1])) < 1e-10


def test_floored_scale_bounds_what_the_inverse_divides_by() -> None:
    # A network that asks for s -> 0 (raw scale -40): Glow's sigmoid obeys down to the
    # |log s| <= LOG_SCALE_BOUND clamp, so its inverse multiplies x_b by e^10; with cglow's floor
    # the scale stops at 0.35 and the inverse multiplies by at most 1/0.35.
    x = torch.randn(2, *SHAPE, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    for floor, log_s in ((0.0, -LOG_SCALE_BOUND), (0.35, math.log(0.35))):
        torch.manual_seed(0)
        layer = glow_coupling(SHAPE[0], min_scale=floor).double().eval()
        with torch.no_grad():
            layer.net.out.conv.bias[SHAPE[0] // 2 :] = -40.0  # the raw-scale half of the output
            y, logdet = layer(x)
            per_dim = logdet / (SHAPE[0] // 2 * SHAPE[1] * SHAPE[2])
            torch.testing.assert_close(per_dim, torch.full_like(per_dim, log_s), atol=1e-9, rtol=0)
            torch.testing.assert_close(layer.inverse(y), x, atol=1e-8, rtol=1e-8)


@pytest.mark.parametrize("learned", [False, True])
def test_split_inverse_and_prior(learned: bool) -> None:
    torch.manual_seed(0)
    split = Split(SHAPE[0], learned_prior=learned).double()
    randomize_zero_convs(split)
    x = torch.randn(2, *SHAPE, dtype=torch.float64)
    x1, z2, log_p = split(x)
    assert x1.shape == (2, 2, 4, 4) and z2.shape == (2, 2, 4, 4)
    torch.testing.assert_close(split.inverse(x1, z2), x, atol=1e-12, rtol=0)
    mean, logs = split.prior_params(x1)
    expected = torch.distributions.Normal(mean, logs.exp()).log_prob(z2).flatten(1).sum(1)
    torch.testing.assert_close(log_p, expected)
    # Without z2 the inverse takes the prior's mean, and noise scaled by the temperature.
    torch.testing.assert_close(split.inverse(x1)[:, 2:], mean)
    noise = torch.ones_like(mean)
    torch.testing.assert_close(split.inverse(x1, temperature=0.5, noise=noise)[:, 2:], mean + 0.5 * logs.exp())


@pytest.mark.parametrize("kind", ["center", "logit"])
def test_preprocessing_inverse_and_jacobian(kind: str) -> None:
    u = torch.rand(1, 1, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    y, logdet = preprocess(u, kind, 0.05)  # type: ignore[arg-type]
    torch.testing.assert_close(postprocess(y, kind, 0.05), u, atol=1e-12, rtol=0)  # type: ignore[arg-type]
    as_y = lambda v: preprocess(v.view(1, 1, 3, 3), kind, 0.05)[0].flatten()  # type: ignore[arg-type]  # noqa: E731
    jac = jacobian(as_y, u.flatten())
    torch.testing.assert_close(logdet[0], torch.linalg.slogdet(jac)[1])


def test_variational_dequantizer_log_q_is_the_density_of_v() -> None:
    # v = g(ε; k): log q(v|k) must be log N(ε) - log|det ∂v/∂ε|, computed here by brute force.
    torch.manual_seed(0)
    deq = VariationalDequantizer(1, 8, couplings=2).double().eval()
    randomize_zero_convs(deq)
    x = torch.randint(0, 256, (1, 1, 4, 4), generator=torch.Generator().manual_seed(4)).double() / 255
    eps = torch.randn(1, 1, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(5))

    def v_of(e: torch.Tensor) -> torch.Tensor:
        h = e.view(1, 1, 4, 4)
        k = torch.round(x * 255)
        cond = deq.features(k / 255 - 0.5)
        for c in deq.couplings:
            h, _ = c(h, cond)
        return torch.sigmoid(h).flatten()

    jac = jacobian(v_of, eps.flatten())
    expected = torch.distributions.Normal(0.0, 1.0).log_prob(eps).sum() - torch.linalg.slogdet(jac)[1]
    u, log_q = deq(x, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(log_q[0], expected)
    torch.testing.assert_close(u.flatten(), (torch.round(x * 255).flatten() + v_of(eps)) / 256)


def test_checkerboard_masks_are_complementary() -> None:
    a, b = checkerboard_mask(3, 4, 0), checkerboard_mask(3, 4, 1)
    assert torch.equal(a + b, torch.ones(1, 1, 3, 4)) and float(a[0, 0, 0, 0]) == 1.0
