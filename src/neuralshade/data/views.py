"""Multi-view sets and factor-varied batches over a dataset whose samples are views of scenes.

A multi-view source (room) records for each sample its ``scene`` and ``view`` (and, in
factor-varied datasets, the ``factor`` its group varies). On top of
:class:`~neuralshade.data.datasets.BufferDataset`:

- :class:`SceneViews`: item s = scene s's ``observed`` views (K of them, stacked: (K, C, H, W)
  per buffer) and one other ``query`` view, CNSR's training example; which views is drawn
  from ``default_rng([seed, epoch, scene])`` ("random") or ``[seed, scene]`` ("fixed").
- :class:`FactorBatches`: item g = every scene of factor group g as a batch (B, …) of
  :class:`SceneViews` items, with the factor it varies (None for a fully random test group).
- :class:`FactorSteps`: item s = the batch of training step s, one group's scenes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from neuralshade.data.datasets import BufferDataset, Mode
from neuralshade.errors import ConfigError, DatasetError


class SceneViews(torch.utils.data.Dataset):
    """K observed views + 1 query view of each scene of a split.

    ``ds[s]`` = ``{"observed": {name: (K, C, H, W)}, "query": {name: (C, H, W)}, "scene",
    "views": [K observed view numbers, the query's]}``; ``observed`` and ``query`` name the
    buffers of each (e.g. observed ``beauty``, ``pose``; query ``normal``, ``position``,
    ``id``, ``pose``, ``beauty_reference``). Crops are whole views (mode "full") by default.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        observed: Sequence[str] = ("beauty", "pose"),
        query: Sequence[str] = ("normal", "position", "id", "pose", "beauty_reference"),
        k: int = 3,
        mode: Mode = "full",
        seed: int = 0,
    ):
        names = list(dict.fromkeys((*observed, *query)))
        self.data = BufferDataset(root, split, names, crop=None, mode="full", seed=seed)
        self.observed, self.query = tuple(observed), tuple(query)
        self.k, self.mode, self.seed, self.epoch = k, mode, seed, 0
        by_scene: dict[int, dict[int, int]] = {}
        for i in range(len(self.data)):
            r = self.data.record(i)
            if "scene" not in r or "view" not in r:
                raise DatasetError(
                    f"{root}: its samples are not views of scenes (no scene/view in the "
                    "manifest); SceneViews needs a multi-view source such as room"
                )
            by_scene.setdefault(r["scene"], {})[r["view"]] = i
        self.scenes = sorted(by_scene)
        self._views = by_scene
        fewest = min(len(v) for v in by_scene.values())
        if not 1 <= k < fewest:
            raise ConfigError(
                f"k = {k} observed views need at least k + 1 views per scene; the {split} "
                f"split's scenes have {fewest}"
            )

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose random views ``ds[s]`` serves (mode "random")."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.scenes)

    def item(self, scene: int) -> dict[str, Any]:
        """The item of scene number ``scene`` (the manifest's, not the position)."""
        views = self._views[scene]
        key = [self.seed, self.epoch, scene] if self.mode == "random" else [self.seed, scene]
        chosen = [sorted(views)[j] for j in np.random.default_rng(key).permutation(len(views))]
        chosen = chosen[: self.k + 1]
        samples = [self.data[views[v]] for v in chosen]
        return {
            "observed": {n: torch.stack([s[n] for s in samples[:-1]]) for n in self.observed},
            "query": {n: samples[-1][n] for n in self.query},
            "scene": scene,
            "views": chosen,
        }

    def __getitem__(self, s: int) -> dict[str, Any]:
        return self.item(self.scenes[s])


class FactorBatches(torch.utils.data.Dataset):
    """The factor-varied groups of a split: ``ds[g]`` = the group's scenes as one batch.

    ``{"observed": {name: (B, K, C, H, W)}, "query": {name: (B, C, H, W)}, "factor": name or
    None, "scenes": [...]}``: in a varied group every scene shares two of lighting, geometry
    and material and differs in ``factor`` (CNSR's training batches); test groups are random.
    """

    def __init__(self, root: str | os.PathLike, split: str = "train", **views: Any):
        self.views = SceneViews(root, split, **views)
        groups: dict[Any, list[int]] = {}
        for i in range(len(self.views.data)):
            r = self.views.data.record(i)
            if "group" not in r:
                raise DatasetError(f"{root}: no factor groups (make it with --factor-batch B)")
            groups.setdefault(r["group"], [])
            if r["scene"] not in groups[r["group"]]:
                groups[r["group"]].append(r["scene"])
        self.groups = [groups[g] for g in sorted(groups)]
        self._factor = {
            g: self.views.data.record(i).get("factor")
            for i in range(len(self.views.data))
            for g in [self.views.data.record(i)["group"]]
        }
        self._names = sorted(groups)

    def __len__(self) -> int:
        return len(self.groups)

    def factor(self, g: int) -> str | None:
        """The factor group ``g`` varies (None: a fully random group)."""
        return self._factor[self._names[g]]

    def batch(self, g: int, scenes: Sequence[int] | None = None) -> dict[str, Any]:
        """Group ``g`` as one batch, of ``scenes`` (some of its scenes) or all of them."""
        scenes = list(self.groups[g] if scenes is None else scenes)
        items = [self.views.item(s) for s in scenes]
        observed = {
            n: torch.stack([it["observed"][n] for it in items]) for n in items[0]["observed"]
        }
        query = {n: torch.stack([it["query"][n] for it in items]) for n in items[0]["query"]}
        return {"observed": observed, "query": query, "factor": self.factor(g), "scenes": scenes}

    def __getitem__(self, g: int) -> dict[str, Any]:
        return self.batch(g)


class FactorSteps(torch.utils.data.Dataset):
    """Item s = the batch of training step s over the factor groups of ``groups`` (a
    :class:`FactorBatches` in mode "random"), a pure function of (seed, s), so a resumed run
    sees the batches it would have seen.

    Step s takes group ``order[s mod G]`` of epoch s // G (``order``: a permutation of the G
    groups drawn from ``default_rng([seed, epoch])``), its views drawn for that epoch;
    ``batch_size`` of its scenes (all of them when it has no more: a batch is one group, as
    the original's ``[:batch_size]`` of a stored group), and K observed views, K drawn
    uniformly from ``k_range`` (CNSR's ``random_num_views``) or fixed, from
    ``default_rng([seed, s])``.
    """

    def __init__(
        self, groups: FactorBatches, batch_size: int, seed: int, k_range: tuple[int, int]
    ):
        if batch_size < 1:
            raise ConfigError(f"batch_size must be 1 or more, got {batch_size}")
        low, high = k_range
        if not 1 <= low <= high <= groups.views.k:
            raise ConfigError(f"observed views {k_range} must lie in 1 ... {groups.views.k}")
        self.groups, self.batch_size, self.seed, self.k_range = groups, batch_size, seed, k_range

    def __len__(self) -> int:  # steps are unbounded; the loop decides when to stop
        return 2**62

    def __getitem__(self, step: int) -> dict[str, Any]:
        count = len(self.groups)
        epoch, position = divmod(step, count)
        g = int(np.random.default_rng([self.seed, epoch]).permutation(count)[position])
        rng = np.random.default_rng([self.seed, step])
        scenes = self.groups.groups[g]
        if self.batch_size < len(scenes):
            scenes = sorted(rng.choice(scenes, self.batch_size, replace=False).tolist())
        views = self.groups.views
        views.set_epoch(epoch)
        low, high = self.k_range
        full = views.k
        views.k = int(rng.integers(low, high + 1))
        try:
            return self.groups.batch(g, scenes)
        finally:
            views.k = full
