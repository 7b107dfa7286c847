"""A fixture plugin that registers a model name another plugin already uses."""

from genbench import hookimpl
from genbench.specs import ModelSpec


@hookimpl
def genbench_register_models() -> list[ModelSpec]:
    return [ModelSpec("toy-pixel", "clash", "genbench_toy:ToyPixel", frozenset({"sample", "log_likelihood"}))]
