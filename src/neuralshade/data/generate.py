"""Paired datasets for the ao2d task: random masks and their reference renders.

Layout of a dataset directory::

    DIR/manifest.json            config, package version, split, per-sample varied parameters
    DIR/samples/000000/source.png  the mask, 8-bit grey (white = shape)
    DIR/samples/000000/target.png  the beauty render, 8-bit sRGB
    DIR/samples/000000/ao.npy …    optional float32 buffers (``buffers`` in the config)

Everything about sample i is drawn from generators seeded by (seed, i): the same config gives
the same bytes whatever the number of workers, the order, or the shard that renders it. The
manifest is a pure function of the config, so every shard of one dataset writes the same
manifest, and a directory that holds another config is refused rather than mixed.

Every file is written atomically and a sample is complete when all its files exist, so a
killed run, started again, renders only what is missing.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

import neuralshade
from neuralshade.config import Settings, build
from neuralshade.errors import ConfigError, DatasetError
from neuralshade.imageio import to_uint8, write_json, write_npy, write_png
from neuralshade.masks import MaskConfig, random_mask
from neuralshade.outputs import check_outputs
from neuralshade.progress import progress
from neuralshade.render.heightfield import RenderParams, render

FORMAT_VERSION = 1
BUFFERS = ("ao", "shadow", "height", "normal", "sdf")
SPLITS = ("train", "val", "test")
# scene parameters that may vary per sample: numbers, or RGB triples for the colours
VARIABLE = (
    "height",
    "bevel",
    "ao_radius",
    "light_azimuth",
    "light_elevation",
    "softness",
    "ambient",
    "diffuse",
    "specular",
    "shininess",
    "shape_color",
    "ground_color",
)

Range = tuple[float, float] | tuple[tuple[float, float, float], tuple[float, float, float]]


class DatasetConfig(Settings):
    """Everything that determines an ao2d dataset's bytes."""

    task: Literal["ao2d"] = Field("ao2d", description="The task the dataset is for.")
    count: int = Field(1000, ge=1, description="Number of samples.")
    size: int = Field(256, ge=8, le=8192, description="Side of the square images, in pixels.")
    seed: int = Field(0, ge=0, description="Seed of every random choice in the dataset.")
    split: dict[str, float] = Field(
        default_factory=lambda: {"train": 0.8, "val": 0.1, "test": 0.1},
        description="Fractions of samples in the train, val and test splits (sum to 1).",
    )
    buffers: list[str] = Field(
        default_factory=list, description=f"Float32 buffers saved beside the PNGs: {BUFFERS}."
    )
    render: RenderParams = Field(
        default_factory=RenderParams, description="Scene and quality of the reference render."
    )
    masks: MaskConfig = Field(default_factory=MaskConfig, description="How masks are drawn.")
    vary: dict[str, Range] = Field(
        default_factory=dict,
        description="Per-sample uniform ranges [low, high] of scene parameters (none: fixed).",
    )

    @field_validator("buffers")
    @classmethod
    def _known_buffers(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(BUFFERS))
        if unknown:
            raise ValueError(f"unknown buffers {unknown}; known: {list(BUFFERS)}")
        return sorted(set(value), key=BUFFERS.index)

    @model_validator(mode="after")
    def _check(self) -> DatasetConfig:
        if set(self.split) != set(SPLITS):
            raise ValueError(f"split needs exactly the keys {list(SPLITS)}")
        if any(v < 0 for v in self.split.values()) or abs(sum(self.split.values()) - 1) > 1e-6:
            raise ValueError("split fractions must be >= 0 and sum to 1")
        for key, (low, high) in self.vary.items():
            if key not in VARIABLE:
                raise ValueError(f"vary: {key!r} cannot vary; variable: {list(VARIABLE)}")
            colour = key.endswith("_color")
            if colour != isinstance(low, tuple) or colour != isinstance(high, tuple):
                raise ValueError(
                    f"vary.{key}: give {'two RGB triples' if colour else 'two numbers'}"
                )
            if np.any(np.asarray(low) > np.asarray(high)):
                raise ValueError(f"vary.{key}: low {low} exceeds high {high}")
            # both ends must be valid scene parameters themselves
            for end in (low, high):
                try:
                    RenderParams(**{**self.render.model_dump(), key: end})
                except ValueError as exc:  # pydantic's ValidationError is a ValueError
                    raise ValueError(f"vary.{key}: {end} is not a valid value: {exc}") from None
        return self


def sample_rngs(seed: int, index: int) -> tuple[np.random.Generator, np.random.Generator, int]:
    """Independent streams of sample ``index``: mask, scene parameters, and the render's seed."""
    mask_ss, params_ss, render_ss = np.random.SeedSequence([seed, index]).spawn(3)
    return (
        np.random.default_rng(mask_ss),
        np.random.default_rng(params_ss),
        int(render_ss.generate_state(1)[0]),
    )


def sample_params(config: DatasetConfig, index: int) -> dict[str, Any]:
    """The varied scene parameters of sample ``index`` (empty when nothing varies)."""
    _, rng, _ = sample_rngs(config.seed, index)
    out: dict[str, Any] = {}
    for key in VARIABLE:  # fixed order, so adding a key to vary never reshuffles the others
        if key in config.vary:
            low, high = (np.asarray(v, dtype=np.float64) for v in config.vary[key])
            value = np.asarray(rng.uniform(low, high))
            out[key] = [round(float(v), 6) for v in value] if value.ndim else round(float(value), 6)
    return out


def split_indices(config: DatasetConfig) -> dict[str, list[int]]:
    """A seeded permutation of the samples cut into train / val / test by the fractions."""
    order = np.random.default_rng(np.random.SeedSequence([config.seed, 0x5EED])).permutation(
        config.count
    )
    n_val = round(config.split["val"] * config.count)
    n_test = round(config.split["test"] * config.count)
    n_train = config.count - n_val - n_test
    cuts = {
        "train": order[:n_train],
        "val": order[n_train : n_train + n_val],
        "test": order[n_train + n_val :],
    }
    return {name: sorted(int(i) for i in idx) for name, idx in cuts.items()}


def manifest(config: DatasetConfig) -> dict[str, Any]:
    """The manifest: a pure function of the config (no timestamps), identical on every shard."""
    return {
        "format": FORMAT_VERSION,
        "task": config.task,
        "neuralshade_version": neuralshade.__version__,
        "config": config.model_dump(mode="json"),
        "files": sample_files(config),
        "split": split_indices(config),
        "samples": {str(i): sample_params(config, i) for i in range(config.count)}
        if config.vary
        else {},
    }


def sample_files(config: DatasetConfig) -> list[str]:
    """Names of the files every sample directory holds when complete."""
    return ["source.png", "target.png", *(f"{b}.npy" for b in config.buffers)]


def sample_dir(root: Path, index: int) -> Path:
    return root / "samples" / f"{index:06d}"


def render_sample(config: DatasetConfig, index: int, device: str = "cpu") -> dict[str, np.ndarray]:
    """Draw and render sample ``index``: {'source': (H, W) uint8, 'target': (H, W, 3) uint8, …}.

    The mask is quantised to 8 bits before rendering, so rendering ``source.png`` again gives
    ``target.png``.
    """
    mask_rng, _, render_seed = sample_rngs(config.seed, index)
    source = to_uint8(random_mask(config.size, mask_rng, config.masks))
    params = config.render.model_copy(update=sample_params(config, index))
    result = render(
        source.astype(np.float32) / 255.0, params, seed=render_seed, device=device
    ).numpy()
    out = {"source": source, "target": to_uint8(result["beauty"])}
    out.update({b: result[b] for b in config.buffers})
    return out


def is_complete(root: Path, config: DatasetConfig, index: int) -> bool:
    folder = sample_dir(root, index)
    return all((folder / name).is_file() for name in sample_files(config))


def _write_sample(root: Path, config: DatasetConfig, index: int, device: str) -> int:
    buffers = render_sample(config, index, device)
    folder = sample_dir(root, index)
    # a process killed mid-write leaves its temporary file behind (never a final one)
    for stale in folder.glob(".*.tmp*"):
        stale.unlink(missing_ok=True)
    write_png(folder / "source.png", buffers.pop("source"))
    write_png(folder / "target.png", buffers.pop("target"))
    for name, array in buffers.items():
        write_npy(folder / f"{name}.npy", array.astype(np.float32))
    return index


def parse_shard(text: str) -> tuple[int, int]:
    """'i/n' → (i, n) with 0 ≤ i < n."""
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard must look like i/n (e.g. 0/4), got {text!r}") from None
    if not 0 <= i < n:
        raise ConfigError(f"--shard {text}: need 0 <= i < n")
    return i, n


def shard_range(count: int, shard: tuple[int, int]) -> range:
    """Contiguous index range of shard (i, n): shard sizes differ by at most one."""
    i, n = shard
    return range(count * i // n, count * (i + 1) // n)


def prepare(root: Path, config: DatasetConfig) -> None:
    """Create ``root`` with its manifest, or check that the one there describes ``config``."""
    data = manifest(config)
    path = root / "manifest.json"
    if path.exists():
        try:
            existing = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            raise DatasetError(
                f"{path} is unreadable: delete it to start the dataset again"
            ) from None
        if existing.get("config") != data["config"]:
            raise DatasetError(
                f"{root} holds a dataset made with another config; choose another --out, or "
                "delete that directory to replace it"
            )
        return
    if root.exists() and any(root.iterdir()):
        raise DatasetError(
            f"{root} exists, is not empty and has no manifest.json: "
            "choose an empty or new --out directory"
        )
    write_json(path, data)


def _worker_init(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _worker_task(args: tuple[str, dict, int, str]) -> int:
    root, config_dict, index, device = args
    return _write_sample(Path(root), DatasetConfig.model_validate(config_dict), index, device)


def generate(
    root: str | os.PathLike,
    config: DatasetConfig,
    *,
    workers: int = 1,
    shard: tuple[int, int] = (0, 1),
    device: str = "cpu",
    quiet: bool = False,
    ray: str | None = None,
) -> dict:
    """Render the samples of ``shard`` that are missing from ``root``; return a summary.

    Resumes: finished samples are kept, missing ones rendered. ``workers`` processes render in
    parallel, or, with ``ray`` (a cluster's address, or ``"auto"``), the tasks of a Ray cluster
    (:mod:`neuralshade.data.cluster`); the bytes depend on neither. Returns {'rendered',
    'skipped', 'total'}.
    """
    root = Path(root)
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    check_outputs(root, [root / "manifest.json"])
    prepare(root, config)
    indices = shard_range(config.count, shard)
    todo = [i for i in indices if not is_complete(root, config, i)]
    bar = progress(
        total=len(indices),
        initial=len(indices) - len(todo),
        desc="rendering",
        unit="sample",
        quiet=quiet,
    )
    with bar:
        if ray is not None:
            from neuralshade.data.cluster import render_on_ray

            for _ in render_on_ray(root, config.model_dump(mode="json"), todo, device, ray):
                bar.update()
        elif workers == 1 or len(todo) <= 1:
            for i in todo:
                _write_sample(root, config, i, device)
                bar.update()
        else:
            threads = max(1, (os.cpu_count() or 1) // workers)
            # spawn, not fork: forking a process that already runs torch threads can hang
            ctx = multiprocessing.get_context("spawn")
            args = [(str(root), config.model_dump(mode="json"), i, device) for i in todo]
            with ctx.Pool(workers, initializer=_worker_init, initargs=(threads,)) as pool:
                for _ in pool.imap_unordered(_worker_task, args):
                    bar.update()
    return {"rendered": len(todo), "skipped": len(indices) - len(todo), "total": len(indices)}


def load_config(values: dict[str, Any]) -> DatasetConfig:
    """DatasetConfig from plain values (YAML / CLI); problems raise ConfigError."""
    return build(DatasetConfig, values, "dataset config")


def read_manifest(root: str | os.PathLike) -> dict[str, Any]:
    """The manifest of a dataset directory; a missing or corrupt one raises DatasetError."""
    path = Path(root) / "manifest.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise DatasetError(
            f"{root} is not a dataset: it has no manifest.json "
            "(make one with `neuralshade dataset ao2d --out DIR`)"
        ) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from None
    if data.get("format") != FORMAT_VERSION:
        raise DatasetError(
            f"{path}: dataset format {data.get('format')} is not supported "
            f"(this version reads format {FORMAT_VERSION})"
        )
    return data


def missing_samples(root: str | os.PathLike, indices: Sequence[int] | None = None) -> list[int]:
    """Indices among ``indices`` (default all) whose files are not all present."""
    data = read_manifest(root)
    config = DatasetConfig.model_validate(data["config"])
    wanted = range(config.count) if indices is None else indices
    return [i for i in wanted if not is_complete(Path(root), config, i)]
