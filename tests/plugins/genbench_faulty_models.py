"""The faulty plugin's models: the toy model with a bug in its constructor or its training step."""

from __future__ import annotations

from genbench_toy import ToyPixel


class RaisesWhenBuilt(ToyPixel):
    def __init__(self, config, info) -> None:  # type: ignore[no-untyped-def]
        super().__init__(config, info)
        raise ValueError("hidden size must be even")


class RaisesWhenTrained(ToyPixel):
    def training_step(self, batch, ctx):  # type: ignore[no-untyped-def]
        raise IndexError("index 8 is out of bounds for dimension 1 with size 8")
