"""Name -> spec registries. Duplicate names fail at start-up; unknown names get "did you mean"."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from genbench.errors import GenbenchError, did_you_mean

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    spec: T
    plugin: str  # the name of the plugin that registered it


class Registry(Generic[T]):
    """Specs of one kind (models, datasets, metrics), keyed by their ``name``."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def add(self, spec: T, plugin: str) -> None:
        name = spec.name  # type: ignore[attr-defined]
        if name in self._entries:
            other = self._entries[name].plugin
            raise GenbenchError(
                f"{self.kind} '{name}' is registered by two plugins, '{other}' and '{plugin}': "
                "uninstall one of them or rename its entry"
            )
        self._entries[name] = Entry(spec, plugin)

    def get(self, name: str) -> T:
        try:
            return self._entries[name].spec
        except KeyError:
            raise GenbenchError(
                f"unknown {self.kind} '{name}'{did_you_mean(name, self._entries)}; "
                f"`genbench {self.kind}s` lists them"
            ) from None

    def plugin_of(self, name: str) -> str:
        return self._entries[name].plugin

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __iter__(self) -> Iterator[T]:
        return (self._entries[n].spec for n in self.names())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)
