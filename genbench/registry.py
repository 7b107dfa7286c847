"""Name -> spec registries. Unknown names get "did you mean".

A name registered by two plugins is a clash: it is kept out of the registry (using it is an
error naming both plugins) while every other name keeps working.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from genbench.errors import GenbenchError, did_you_mean


class Named(Protocol):
    """What a registry holds: a spec with a unique ``name`` (ModelSpec, DatasetSpec, MetricSpec)."""

    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=Named)


@dataclass(frozen=True)
class Entry(Generic[T]):
    spec: T
    plugin: str  # the name of the plugin that registered it


class Registry(Generic[T]):
    """Specs of one kind (models, datasets, metrics), keyed by their ``name``."""

    def __init__(self, kind: str, label: Callable[[str], str] | None = None) -> None:
        self.kind = kind
        self.label = label or (lambda plugin: plugin)  # plugin name -> how the user knows it
        self._entries: dict[str, Entry[T]] = {}
        self.clashes: dict[str, list[str]] = {}  # name -> the plugins that all registered it
        self.clashed_specs: dict[str, list[T]] = {}

    def add(self, spec: T, plugin: str) -> None:
        name = spec.name
        if name in self.clashes:
            self.clashes[name].append(plugin)
            self.clashed_specs[name].append(spec)
        elif name in self._entries:
            first = self._entries.pop(name)
            self.clashes[name] = [first.plugin, plugin]
            self.clashed_specs[name] = [first.spec, spec]
        else:
            self._entries[name] = Entry(spec, plugin)

    def clash_message(self, name: str) -> str:
        owners = " and ".join(f"'{self.label(p)}'" for p in self.clashes[name])
        return f"{self.kind} '{name}' is registered by two plugins, {owners}: uninstall one of them or rename its entry"

    def get(self, name: str) -> T:
        if name in self.clashes:
            raise GenbenchError(self.clash_message(name))
        try:
            return self._entries[name].spec
        except KeyError:
            raise GenbenchError(
                f"unknown {self.kind} '{name}'{did_you_mean(name, self._entries)}; `genbench {self.kind}s` lists them"
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
