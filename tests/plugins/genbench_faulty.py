"""A fixture plugin with the mistakes a plugin author makes: a target that does not import,
models that raise while being built or trained, and a command registration that raises."""

from __future__ import annotations

from genbench import hookimpl
from genbench.specs import ModelSpec

CAPS = frozenset({"sample", "log_likelihood"})


@hookimpl
def genbench_register_models() -> list[ModelSpec]:
    return [
        ModelSpec("faulty-typo", "faulty", "genbench_faulty_models_typo:Model", CAPS),  # a misspelt module
        ModelSpec("faulty-build", "faulty", "genbench_faulty_models:RaisesWhenBuilt", CAPS, default=True),
        ModelSpec("faulty-train", "faulty", "genbench_faulty_models:RaisesWhenTrained", CAPS),
    ]


@hookimpl
def genbench_register_commands(app) -> None:  # type: ignore[no-untyped-def]
    raise RuntimeError("this plugin's command registration is broken")
