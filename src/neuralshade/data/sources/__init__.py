"""Sources: how data is made. One source feeds many tasks.

A :class:`Source` says, for its own config (a pydantic :class:`~neuralshade.config.Settings`
with at least ``count``, ``size``, ``seed`` and ``split``):

- the **schema** of the buffers a sample has (:mod:`neuralshade.data.schema`), stored or
  derived, and which of them this config stores;
- how sample ``index`` is drawn and rendered (:meth:`Source.render`): everything random comes
  from generators seeded by (config seed, index), so the bytes depend on nothing else;
- the sample's **factors** (what the scene is made of: which mask, which light …), so that
  a *factor-varied* set, samples that differ in exactly one factor, can be drawn and rendered;
- which image symmetries keep a sample true (:meth:`Source.symmetries`).

The generic dataset driver (:mod:`neuralshade.data.generate`) writes, shards, resumes and
distributes any source; :class:`~neuralshade.data.datasets.BufferDataset` reads any source's
buffers by name. Sources register by name in :data:`SOURCES`, found through the
``neuralshade.sources`` entry points.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from neuralshade.config import Settings, build
from neuralshade.data.augment import Symmetry
from neuralshade.data.schema import Buffer
from neuralshade.registry import Registry

SPLITS = ("train", "val", "test")


def check_split(split: Mapping[str, float]) -> dict[str, float]:
    """A dataset config's split fractions: exactly train, val and test, >= 0, summing to 1
    (ValueError otherwise, for a pydantic validator to report)."""
    if set(split) != set(SPLITS):
        raise ValueError(f"split needs exactly the keys {list(SPLITS)}")
    if any(v < 0 for v in split.values()) or abs(sum(split.values()) - 1) > 1e-6:
        raise ValueError("split fractions must be >= 0 and sum to 1")
    return dict(split)


class Source:
    """Base of every source; subclasses set ``name``, ``Config``, ``description``."""

    name: ClassVar[str]
    Config: ClassVar[type[Settings]]
    description: ClassVar[str] = ""
    revision: ClassVar[int] = 1
    """Raised by one when a change makes the same config render other bytes; every manifest
    records the revision that rendered it (none recorded: 1)."""
    changes: ClassVar[dict[int, tuple[tuple[str, ...], str]]] = {}
    """revision → (the stored buffers whose bytes it changed, what changed): a dataset of an
    older revision resumes no more, and serves none of those buffers."""

    # ---- what a sample holds
    def schema(self, config: Any) -> dict[str, Buffer]:
        """Every buffer a dataset of this source can serve, stored or derived."""
        raise NotImplementedError

    def stored(self, config: Any) -> list[str]:
        """The buffers this config writes to disk, in file order."""
        raise NotImplementedError

    def sample_count(self, config: Any) -> int:
        """How many samples the dataset holds (``config.count`` unless samples are views)."""
        return config.count

    def split(self, config: Any) -> dict[str, list[int]]:
        """Sample indices of the train, val and test splits: a seeded permutation cut by the
        config's fractions (a source whose samples come in groups cuts whole groups)."""
        from neuralshade.data.generate import split_indices

        return split_indices(config.seed, self.sample_count(config), config.split)

    def image_size(self, config: Any) -> tuple[int, int]:
        """(H, W) of every buffer."""
        return (config.size, config.size)

    # ---- how it is made
    def factors(self, config: Any, index: int) -> dict[str, Any]:
        """What sample ``index`` is made of, as JSON values: rendering them gives the sample."""
        raise NotImplementedError

    def record(self, config: Any, index: int) -> dict[str, Any]:
        """What the manifest keeps about sample ``index`` (its varied parameters)."""
        raise NotImplementedError

    def render(self, config: Any, factors: Mapping[str, Any], device: str) -> dict[str, np.ndarray]:
        """The stored buffers of the sample ``factors`` describe, as their files hold them."""
        raise NotImplementedError

    def factor_names(self, config: Any) -> list[str]:
        """The factors of ``config``'s samples that may be varied alone."""
        raise NotImplementedError

    def vary(self, config: Any, index: int, factor: str, count: int) -> list[dict[str, Any]]:
        """``count`` factor sets equal to sample ``index``'s except in ``factor``, which is
        drawn anew (seeded by the config seed, index and factor); the first is the sample's own."""
        raise NotImplementedError

    # ---- how it is read
    def derive(
        self,
        config: Any,
        name: str,
        record: Mapping[str, Any],
        size: tuple[int, int],
        read: Callable[[str], np.ndarray],
    ) -> np.ndarray:
        """A derived buffer (``file`` None) of the sample with manifest ``record``: (C, H, W).

        ``read(other)`` gives a stored buffer the derived one ``needs``, (C', H, W) over the
        same pixels, before any image symmetry (which then acts on the result by its kind)."""
        raise NotImplementedError(f"{self.name} derives no buffer {name!r}")

    def symmetries(
        self, config: Any, records: Sequence[Mapping[str, Any]], names: Sequence[str]
    ) -> tuple[Symmetry, ...]:
        """The image symmetries under which every sample of ``records``, read as the buffers
        ``names``, stays a true sample (at least the identity)."""
        raise NotImplementedError

    def toy_config(self) -> Any:
        """A dataset config rendered in a second or two that varies every factor it can: what
        the tests that run every source and every task use."""
        raise NotImplementedError

    def load_config(self, values: Mapping[str, Any]) -> Any:
        """The source's config from plain values; problems raise ConfigError."""
        return build(self.Config, values, f"{self.name} dataset config")


SOURCES: Registry[type[Source]] = Registry("source", group="neuralshade.sources")
"""Every registered source class, by name."""


def get_source(name: str) -> Source:
    """An instance of the source registered as ``name``."""
    return SOURCES.get(name)()


def source_of(config: Any) -> Source:
    """The source whose ``Config`` ``config`` is."""
    for name in SOURCES.names():
        cls = SOURCES.get(name)
        if type(config) is cls.Config:
            return cls()
    raise TypeError(f"{type(config).__name__} is the config of no registered source")
