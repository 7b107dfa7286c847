"""The one error type the CLI shows as a single line with exit code 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class GenbenchError(Exception):
    """A problem with the user's input or environment: says what is wrong and what to do."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A ' (did you mean X?)' suffix, or the list of valid names when nothing is close."""
    choices = sorted(choices)
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    if close:
        return f" (did you mean '{close[0]}'?)"
    return f" (choose from: {', '.join(choices)})" if choices else ""
