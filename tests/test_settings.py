"""Every numeric setting declares its valid range where it is defined, and defaults are in range."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from genbench.config import EvalConfig, TrainConfig, check_settings, setting
from genbench.engine.build import model_class
from genbench.errors import GenbenchError

# Every family in plugins/: a new family declares its ranges too.
FAMILY_PLUGINS = (
    "genbench_vae",
    "genbench_gan",
    "genbench_diffusion",
    "genbench_flow",
    "genbench_ae",
    "genbench_cyclegan",
)


def numeric(tp: typing.Any) -> bool:
    args = typing.get_args(tp)
    if typing.get_origin(tp) is tuple:
        return numeric(args[0])
    if args:  # X | None
        return any(numeric(a) for a in args if a is not type(None))
    return tp in (int, float)


def configs() -> list[type]:
    from genbench.plugins import get_plugins

    found: list[type] = [TrainConfig, EvalConfig]
    for spec in get_plugins().models:
        if spec.target.split(":")[0].split(".")[0] in FAMILY_PLUGINS:
            found.append(model_class(spec).Config)
    return found


@pytest.mark.parametrize("config", configs(), ids=lambda c: c.__name__)
def test_every_numeric_field_declares_a_range_and_its_default_is_in_it(config):
    hints = typing.get_type_hints(config)
    undeclared = [f.name for f in dataclasses.fields(config) if numeric(hints[f.name]) and not f.metadata.get("range")]
    assert undeclared == [], f"{config.__name__} declares no range for {undeclared}"
    check_settings(config())


def test_ranges_are_inclusive_or_exclusive_as_declared_and_apply_to_tuple_items():
    @dataclasses.dataclass
    class C:
        lr: float = setting(0.1, gt=0, le=1)
        mult: tuple[int, ...] = setting((1, 2), ge=1)
        free: float = 0.5

    check_settings(C(lr=1.0))
    for bad, message in (
        (C(lr=0.0), "lr=0.0 is out of range: it must be > 0 and <= 1"),
        (C(lr=float("inf")), "lr=inf"),
        (C(mult=(1, 0)), "mult=1,0 is out of range: it must be >= 1"),
        (C(free=float("nan")), "free=nan is out of range: it must be a number"),
    ):
        with pytest.raises(GenbenchError, match=message):
            check_settings(bad)
