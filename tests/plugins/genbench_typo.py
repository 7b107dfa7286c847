"""A fixture plugin with a misspelt hook name (no "s"): it must be reported, not silently ignored."""

from genbench import hookimpl


@hookimpl
def genbench_register_model():  # type: ignore[no-untyped-def]
    return []
