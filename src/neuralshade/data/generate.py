"""The dataset driver: renders any source's samples, sharded, in parallel, resumable.

Layout of a dataset directory::

    DIR/manifest.json              source, config, package version, split, per-sample records
    DIR/samples/000000/<file> …    the sample's stored buffers (the source's schema names them)

Everything about sample i is drawn from generators seeded by (seed, i) (the source's
:meth:`~neuralshade.data.sources.Source.render`): the same config gives the same bytes whatever
the number of workers, the order, the shard or the Ray cluster that renders it. The manifest is
a pure function of the config, so every shard of one dataset writes the same manifest, and a
directory that holds another config is refused rather than mixed.

Every file is written atomically and a sample is complete when all its files exist, so a
killed run, started again, renders only what is missing.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import neuralshade
from neuralshade.data.sources import Source, get_source, source_of
from neuralshade.errors import ConfigError, DatasetError
from neuralshade.imageio import write_exr, write_json, write_npy, write_png
from neuralshade.outputs import check_outputs
from neuralshade.progress import progress

FORMAT_VERSION = 1


def split_indices(seed: int, count: int, fractions: Mapping[str, float]) -> dict[str, list[int]]:
    """A seeded permutation of ``count`` items cut into train / val / test by the fractions."""
    order = np.random.default_rng(np.random.SeedSequence([seed, 0x5EED])).permutation(count)
    n_val = round(fractions["val"] * count)
    n_test = round(fractions["test"] * count)
    n_train = count - n_val - n_test
    cuts = {
        "train": order[:n_train],
        "val": order[n_train : n_train + n_val],
        "test": order[n_train + n_val :],
    }
    return {name: sorted(int(i) for i in idx) for name, idx in cuts.items()}


def manifest(config: Any) -> dict[str, Any]:
    """The manifest: a pure function of the config (no timestamps), identical on every shard."""
    source = source_of(config)
    records = {str(i): source.record(config, i) for i in range(source.sample_count(config))}
    return {
        "format": FORMAT_VERSION,
        "source": source.name,
        "source_revision": source.revision,
        "neuralshade_version": neuralshade.__version__,
        "config": config.model_dump(mode="json"),
        "files": sample_files(config),
        "split": source.split(config),
        "samples": records if any(records.values()) else {},
    }


def sample_files(config: Any) -> list[str]:
    """Names of the files every sample directory holds when complete."""
    source = source_of(config)
    schema = source.schema(config)
    return [schema[name].file for name in source.stored(config)]


def sample_dir(root: Path, index: int) -> Path:
    return Path(root) / "samples" / f"{index:06d}"


def render_sample(config: Any, index: int, device: str = "cpu") -> dict[str, np.ndarray]:
    """Draw and render sample ``index``: {buffer name: array as its file holds it}."""
    source = source_of(config)
    return source.render(config, source.factors(config, index), device)


def is_complete(root: Path, config: Any, index: int) -> bool:
    folder = sample_dir(root, index)
    return all((folder / name).is_file() for name in sample_files(config))


def write_buffers(folder: Path, files: Mapping[str, str], buffers: Mapping[str, np.ndarray]):
    """Write each buffer to its file (``files``: buffer → file name), by the file's type."""
    for name, array in buffers.items():
        path = folder / files[name]
        if path.suffix == ".png":
            write_png(path, array)
        elif path.suffix == ".npy":
            write_npy(path, np.asarray(array, dtype=np.float32))
        else:  # .exr: the schema allows no other
            write_exr(path, array)


def _write_sample(root: Path, config: Any, index: int, device: str) -> int:
    source = source_of(config)
    buffers = render_sample(config, index, device)
    folder = sample_dir(root, index)
    # a process killed mid-write leaves its temporary file behind (never a final one)
    for stale in folder.glob(".*.tmp*"):
        stale.unlink(missing_ok=True)
    schema = source.schema(config)
    write_buffers(folder, {n: schema[n].file for n in buffers}, buffers)
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


def prepare(root: Path, config: Any) -> None:
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
        old = existing.get("source_revision", 1)
        if old != data["source_revision"]:
            raise DatasetError(
                f"{root} was rendered by revision {old} of the {data['source']} source, this "
                f"version renders revision {data['source_revision']} "
                f"({revision_changes(source_of(config), old)}): its samples would not match; "
                "choose another --out, or delete that directory to replace it"
            )
        if _normalised(config, existing.get("config")) != _normalised(config, data["config"]):
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


def revision_changes(source: Any, since: int, buffers: Sequence[str] | None = None) -> str:
    """What changed in ``source`` after revision ``since`` (those of ``buffers`` only, when
    given), one clause per revision; '' when nothing did."""
    out = []
    for rev in range(since + 1, source.revision + 1):
        changed, why = source.changes.get(rev, ((), "no note"))
        if buffers is None or set(changed) & set(buffers):
            out.append(f"revision {rev}: {why}")
    return "; ".join(out)


def _normalised(config: Any, values: Any) -> Any:
    """A manifest's config as this version writes it: the fields added since (at their
    defaults, which keep the bytes) filled in, so a dataset made before still resumes."""
    try:
        return type(config).model_validate(values).model_dump(mode="json")
    except (ValueError, TypeError):  # pydantic's ValidationError is a ValueError
        return values


def _worker_init(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def job(config: Any) -> dict[str, Any]:
    """A dataset config as JSON a worker process rebuilds it from: {'source', 'config'}."""
    return {"source": source_of(config).name, "config": config.model_dump(mode="json")}


def _worker_task(args: tuple[str, dict, int, str]) -> int:
    root, job_, index, device = args
    config = get_source(job_["source"]).Config.model_validate(job_["config"])
    return _write_sample(Path(root), config, index, device)


def generate(
    root: str | os.PathLike,
    config: Any,
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
    indices = shard_range(source_of(config).sample_count(config), shard)
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

            for _ in render_on_ray(root, job(config), todo, device, ray):
                bar.update()
        elif workers == 1 or len(todo) <= 1:
            for i in todo:
                _write_sample(root, config, i, device)
                bar.update()
        else:
            threads = max(1, (os.cpu_count() or 1) // workers)
            # spawn, not fork: forking a process that already runs torch threads can hang
            ctx = multiprocessing.get_context("spawn")
            args = [(str(root), job(config), i, device) for i in todo]
            with ctx.Pool(workers, initializer=_worker_init, initargs=(threads,)) as pool:
                for _ in pool.imap_unordered(_worker_task, args):
                    bar.update()
    return {"rendered": len(todo), "skipped": len(indices) - len(todo), "total": len(indices)}


def load_config(values: Mapping[str, Any], source: str | None = None) -> Any:
    """A source's dataset config from plain values (YAML / CLI); problems raise ConfigError.

    The source is ``source``, else the values' ``source`` (or, as format-1 configs name it,
    ``task``) key.
    """
    if not isinstance(values, Mapping):
        raise ConfigError(f"invalid dataset config: expected a mapping, got {values!r}")
    name = source or values.get("source") or values.get("task")
    if name is None:
        raise ConfigError("a dataset config must name its source (source: NAME)")
    values = {k: v for k, v in values.items() if k != "source"}
    return get_source(str(name)).load_config(values)


def dataset_source(data: Mapping[str, Any]) -> Source:
    """The source of a dataset from its manifest (format-1 manifests name it ``task``)."""
    return get_source(data.get("source") or data["config"].get("task", ""))


def dataset_config(root: str | os.PathLike, data: Mapping[str, Any] | None = None) -> Any:
    """The config of the dataset at ``root`` (from its manifest ``data``, if read)."""
    data = data if data is not None else read_manifest(root)
    try:
        return dataset_source(data).Config.model_validate(data["config"])
    except (KeyError, ValueError) as exc:
        raise DatasetError(
            f"{Path(root) / 'manifest.json'}: its config is not one this version reads "
            f"({exc}); regenerate the dataset"
        ) from None


def read_manifest(root: str | os.PathLike) -> dict[str, Any]:
    """The manifest of a dataset directory; a missing or corrupt one raises DatasetError."""
    path = Path(root) / "manifest.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise DatasetError(
            f"{root} is not a dataset: it has no manifest.json "
            "(make one with `neuralshade dataset SOURCE --out DIR`)"
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
    config = dataset_config(root)
    wanted = range(source_of(config).sample_count(config)) if indices is None else indices
    return [i for i in wanted if not is_complete(Path(root), config, i)]
