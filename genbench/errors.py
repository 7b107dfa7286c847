"""The one error type the CLI shows as a single line with exit code 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager


class GenbenchError(Exception):
    """A problem with the user's input or environment: says what is wrong and what to do."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A ' (did you mean X?)' suffix, or the list of valid names when nothing is close."""
    choices = sorted(choices)
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    if close:
        return f" (did you mean '{close[0]}'?)"
    return f" (choose from: {', '.join(choices)})" if choices else ""


class PluginFault(Exception):
    """Code inside a plugin raised: the CLI prints one line naming the plugin and exits 1.

    The original exception is the ``__cause__``; ``genbench --debug`` (or ``GENBENCH_DEBUG=1``)
    prints its traceback.
    """


class ProcessLost(Exception):
    """Another process of the same torchrun launch stopped (or stopped answering) while this one
    waited on it: the CLI prints one line and exits 1; that process's own error says why."""


@contextmanager
def blame(origin: str, doing: str) -> Iterator[None]:
    """Turn an unexpected exception raised while ``doing`` something into a PluginFault naming
    ``origin`` (the plugin's distribution and version). A GenbenchError passes through unchanged:
    the plugin is telling the user what to fix."""
    try:
        yield
    except GenbenchError:
        raise
    except Exception as exc:
        raise PluginFault(f"plugin {origin} failed while {doing}: {type(exc).__name__}: {exc}") from exc
