"""Registries by name: a dict and a decorator, refusing duplicates, listing the known names.

    SOURCES = Registry("source", group="neuralshade.sources")

    @SOURCES.register("ao2d")
    class Ao2dSource(Source): ...

    SOURCES.get("ao2d")      # the class; an unknown name raises ConfigError listing the known

A registry with an entry-point ``group`` imports, on its first lookup, every module the
installed packages declare under that group (``[project.entry-points."neuralshade.tasks"]`` in
pyproject.toml); importing a module registers what it defines. So generic code finds every
task and source by name without importing any of them, and another package can add its own.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import metadata
from typing import Generic, TypeVar

from neuralshade.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one kind (``what``: "task", "source", "metric", …)."""

    def __init__(self, what: str, group: str | None = None):
        self.what, self.group = what, group
        self._entries: dict[str, T] = {}
        self._discovered = group is None

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: add the decorated object under ``name`` (a second one is an error)."""

        def add(obj: T) -> T:
            self.add(name, obj)
            return obj

        return add

    def add(self, name: str, obj: T) -> None:
        known = self._entries.get(name)
        if known is not None and known is not obj:
            raise ValueError(f"{self.what} name {name!r} is already registered to {known!r}")
        self._entries[name] = obj

    def _discover(self) -> None:
        if not self._discovered:
            self._discovered = True
            for entry in metadata.entry_points(group=self.group):
                entry.load()

    def get(self, name: str) -> T:
        """The entry ``name``; an unknown name raises ConfigError listing the known ones."""
        self._discover()
        if name not in self._entries:
            raise ConfigError(f"unknown {self.what} {name!r}; known: {', '.join(self.names())}")
        return self._entries[name]

    def names(self) -> list[str]:
        """The registered names, sorted."""
        self._discover()
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        self._discover()
        return name in self._entries
