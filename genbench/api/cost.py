"""Counting network evaluations: what a metric (or a training step) cost in forward passes.

A *network evaluation* is one example passed forward through one of the model's networks: a
call of an ``nn.Module`` inside the model with a batch of B examples counts B. Only the
outermost call counts: a U-Net's blocks, called by the U-Net, are part of its one evaluation,
and a decoder called by the model's ``log_likelihood`` counts once per example it decodes. So
an importance-weighted bound with K samples of 100 images counts 100 encoder evaluations and
100·K decoder evaluations; a 1000-step DDPM sampler counts 1000 per sample; a GAN's sample
counts one generator evaluation. Work a model does on plain tensors (a PCA's matrix product,
a schedule's arithmetic) and the metric's own feature extractors (Inception, the FD
classifier), which are not the model's, are not counted: their time is in the seconds beside it.

A call of one of the model's capability methods (``sample``, ``log_likelihood``, ``reconstruct``,
...) that runs none of its networks counts its batch once: the model is then its own network
(a PCA, a per-pixel density). The batch of a call is the first dimension of its first tensor
argument (``sample(n)``: n); a call without either counts 1.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

import torch
from torch import nn

CAPABILITY_METHODS = ("sample", "log_likelihood", "reconstruct", "encode", "classify", "restore", "translate")


def _batch_of(args: tuple[Any, ...], kwargs: dict[str, Any], count_ints: bool = False) -> int:
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor):
            return int(value.shape[0]) if value.dim() else 1
        if count_ints and isinstance(value, int) and not isinstance(value, bool):
            return value  # sample(n)
    return 1


def _networks(model: nn.Module) -> Iterator[nn.Module]:
    """Every module inside ``model`` (not the model itself); a compiled module is hooked as one,
    never inside (hooks added inside a compiled graph would make it recompile)."""
    stack = list(model.children())
    while stack:
        module = stack.pop()
        yield module
        if not hasattr(module, "_orig_mod"):  # torch.compile's OptimizedModule wraps the module it compiled
            stack.extend(module.children())


class NetworkCounter:
    """Counts network evaluations of a model while it is entered; reads are cumulative.

    >>> with NetworkCounter(model) as counter:
    ...     model.sample(16)
    >>> counter.evaluations  # e.g. 16 for a GAN, 16 * steps for a diffusion sampler
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.evaluations = 0  # examples through an outermost network call
        self.calls = 0  # outermost network calls (batches)
        self._depth = 0
        self._api_depth = 0
        self._handles: list[Any] = []
        self._patched: list[str] = []

    def _pre(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if self._depth == 0:
            self.evaluations += _batch_of(args, kwargs)
            self.calls += 1
        self._depth += 1

    def _post(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> None:
        self._depth -= 1

    def _wrap(self, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def counted(*args: Any, **kwargs: Any) -> Any:
            before = self.evaluations
            self._api_depth += 1
            try:
                return method(*args, **kwargs)
            finally:
                self._api_depth -= 1
                if self._api_depth == 0 and self.evaluations == before:
                    self.evaluations += _batch_of(args, kwargs, count_ints=True)
                    self.calls += 1

        return counted

    def __enter__(self) -> NetworkCounter:
        for name in CAPABILITY_METHODS:
            method = getattr(self.model, name, None)
            if callable(method) and name not in vars(self.model):
                setattr(self.model, name, self._wrap(method))  # an instance attribute, removed on exit
                self._patched.append(name)
        for module in _networks(self.model):
            self._handles.append(module.register_forward_pre_hook(self._pre, with_kwargs=True))
            # always_call: a forward that raises still closes its level, so later calls count
            self._handles.append(module.register_forward_hook(self._post, with_kwargs=True, always_call=True))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        for name in self._patched:
            delattr(self.model, name)
        self._patched.clear()
        self._depth = self._api_depth = 0
