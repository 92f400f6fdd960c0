"""How a room dataset should store its views: write and read speed, and bytes per view, by layout.

One real view (``random_room(SEED, 0)`` at 128², ``render_gbuffers`` at 64 spp, every buffer:
17 buffers, 41 float32 channels, 2.7 MB) is written ``N`` times in each layout:

- ``exr``, ``exr-half``: one OpenEXR file per buffer per view (``write_exr``: ZIP; float32, half);
- ``npy``: one ``.npy`` file per buffer per view (``write_npy``), the dataset writer's other format;
- ``npz``, ``npz-zip``: one ``.npz`` per view (``np.savez``, ``np.savez_compressed``);
- ``tar``: WebDataset-style shards of ``SHARD`` views (``tarfile``, members
  ``{view}.{buffer}.npy``);
- ``zarr``: one array per buffer, (N, H, W, C), one chunk per view, zarr's default codec (zstd).

Every file goes through :func:`neuralshade.imageio.atomic_path` (fsync, then rename, as the
dataset writer does) except zarr's chunks, which zarr writes itself. Writes: the whole set, after
a few untimed warm-up views, median of ``REPEATS`` runs. Reads: a random view (all its buffers;
the median over ``RANDOM`` distinct views) and a sequential pass over every view (median of
``REPEATS``), each warm (files in the page cache, as just written) and cold (after
``posix_fadvise(DONTNEED)`` on every file of the layout; the host may still cache the virtual
disk). MB/s counts the view's 2.7 MB of float32, whatever a layout stores, so columns compare;
every read is checked against the written arrays (exactly, or to half precision).

    python benchmarks/storage.py            # 200 views
    python benchmarks/storage.py --quick    # 20 views, 64² at 16 spp
"""

from __future__ import annotations

import argparse
import importlib.metadata
import io
import itertools
import os
import shutil
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from common import RESULTS, record, timed

from neuralshade.imageio import atomic_path, read_exr, write_exr, write_npy
from neuralshade.render.mitsuba.gbuffer import render_gbuffers
from neuralshade.render.mitsuba.scene_dict import get_mitsuba, to_mitsuba
from neuralshade.scenes.model import Film, surface_table
from neuralshade.scenes.room import random_room

SEED = 1
SHARD = 100  # views per tar shard: ~270 MB, inside WebDataset's advice of 100 MB to 1 GB
REPEATS = 3
RANDOM = 50
WARMUP_VIEWS = 3

View = dict[str, np.ndarray]


def render_view(size: int, spp: int) -> View:
    """Every buffer of one view of ``random_room(SEED, 0)``, float32 (H, W, C) each."""
    room = random_room(SEED, 0, film=Film(width=size, height=size))
    table = surface_table(room)
    roughness = dict(zip(table.shape_ids, table.roughness.tolist(), strict=True))
    return render_gbuffers(
        to_mitsuba(room), spp=spp, seed=1, roughness=roughness, hide_emitters=room.lights_hidden
    )


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------------
# layouts: write(root, views) stores them all; open(root) gives a reader with view(i) and views()


class BufferFiles:
    """One file per buffer per view, ``{view:06d}.{buffer}.{suffix}``, as ``neuralshade dataset``
    writes them (EXR or ``.npy``). The reader lists the folder once, when it opens."""

    def __init__(self, suffix: str, write: Callable, read: Callable):
        self.suffix, self.write_one, self.read_one = suffix, write, read

    def write(self, root: Path, views: Iterator[View]) -> None:
        for i, view in enumerate(views):
            for name, array in view.items():
                self.write_one(root / f"{i:06d}.{name}.{self.suffix}", array)

    def open(self, root: Path) -> BufferFiles.Reader:
        index: dict[int, list[tuple[str, Path]]] = {}
        for path in sorted(root.glob(f"*.{self.suffix}")):
            view, name, _ = path.name.split(".")
            index.setdefault(int(view), []).append((name, path))
        return self.Reader(index, self.read_one)

    @dataclass
    class Reader:
        index: dict[int, list[tuple[str, Path]]]
        read: Callable

        def view(self, i: int) -> View:
            return {name: self.read(path) for name, path in self.index[i]}

        def views(self) -> Iterator[View]:
            return (self.view(i) for i in sorted(self.index))


class NpzFiles:
    """One ``.npz`` per view: ``{view:06d}.npz``, ZIP-deflated (``compressed``) or stored."""

    def __init__(self, compressed: bool):
        self.save = np.savez_compressed if compressed else np.savez

    def write(self, root: Path, views: Iterator[View]) -> None:
        for i, view in enumerate(views):
            with atomic_path(root / f"{i:06d}.npz") as tmp, open(tmp, "wb") as f:
                self.save(f, **view)

    def open(self, root: Path) -> NpzFiles.Reader:
        return self.Reader(sorted(root.glob("*.npz")))

    @dataclass
    class Reader:
        paths: list[Path]

        def view(self, i: int) -> View:
            with np.load(self.paths[i], allow_pickle=False) as z:
                return {name: z[name] for name in z.files}

        def views(self) -> Iterator[View]:
            return (self.view(i) for i in range(len(self.paths)))


class TarShards:
    """WebDataset-style shards ``shard-{k:05d}.tar`` of ``SHARD`` views, members
    ``{view:06d}.{buffer}.npy`` in view order. Random access seeks through an index of member
    offsets, built when the reader opens (its cost is in the JSON)."""

    def write(self, root: Path, views: Iterator[View]) -> None:
        views = iter(views)
        for k in itertools.count():
            batch = list(itertools.islice(views, SHARD))
            if not batch:
                return
            shard = root / f"shard-{k:05d}.tar"
            with (
                atomic_path(shard) as tmp,
                tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar,
            ):
                for i, view in enumerate(batch, start=k * SHARD):
                    for name, array in view.items():
                        data = npy_bytes(array)
                        info = tarfile.TarInfo(f"{i:06d}.{name}.npy")
                        info.size = len(data)  # mtime 0: the bytes depend on the data alone
                        tar.addfile(info, io.BytesIO(data))

    def open(self, root: Path) -> TarShards.Reader:
        shards = sorted(root.glob("shard-*.tar"))
        index: dict[int, list[tuple[Path, str, int, int]]] = {}
        for path in shards:
            with tarfile.open(path) as tar:
                for m in tar.getmembers():
                    view, name, _ = m.name.split(".")
                    index.setdefault(int(view), []).append((path, name, m.offset_data, m.size))
        return self.Reader(shards, index)

    @dataclass
    class Reader:
        shards: list[Path]
        index: dict[int, list[tuple[Path, str, int, int]]]

        def view(self, i: int) -> View:
            out = {}
            with open(self.index[i][0][0], "rb") as f:
                for _, name, offset, size in self.index[i]:
                    f.seek(offset)
                    out[name] = np.load(io.BytesIO(f.read(size)), allow_pickle=False)
            return out

        def views(self) -> Iterator[View]:
            for path in self.shards:  # a stream, as a WebDataset loader reads it
                with tarfile.open(path, "r|") as tar:
                    view, current = {}, None
                    for m in tar:
                        key, name, _ = m.name.split(".")
                        if key != current and view:
                            yield view
                            view = {}
                        current = key
                        view[name] = np.load(io.BytesIO(tar.extractfile(m).read()))
                    if view:
                        yield view


class ZarrStore:
    """A zarr group, one array per buffer shaped (N, H, W, C), chunked one view per chunk."""

    def write(self, root: Path, views: Iterator[View]) -> None:
        import zarr

        group, arrays = zarr.open_group(root, mode="w"), {}
        views = list(views)
        for i, view in enumerate(views):
            for name, array in view.items():
                if name not in arrays:
                    shape, chunks = (len(views), *array.shape), (1, *array.shape)
                    arrays[name] = group.create_array(
                        name, shape=shape, chunks=chunks, dtype=np.float32
                    )
                arrays[name][i] = array

    def open(self, root: Path) -> ZarrStore.Reader:
        import zarr

        group = zarr.open_group(root, mode="r")
        return self.Reader({name: array for name, array in group.arrays()})

    @dataclass
    class Reader:
        arrays: dict[str, Any]

        def view(self, i: int) -> View:
            return {name: array[i] for name, array in self.arrays.items()}

        def views(self) -> Iterator[View]:
            n = next(iter(self.arrays.values())).shape[0]
            return (self.view(i) for i in range(n))


def layouts() -> dict[str, Any]:
    """name → layout; zarr only where it is installed."""
    out = {
        "exr": BufferFiles("exr", write_exr, read_exr),
        "exr-half": BufferFiles("exr", partial(write_exr, half=True), read_exr),
        "npy": BufferFiles("npy", write_npy, partial(np.load, allow_pickle=False)),
        "npz": NpzFiles(compressed=False),
        "npz-zip": NpzFiles(compressed=True),
        "tar": TarShards(),
    }
    try:
        import zarr  # noqa: F401

        out["zarr"] = ZarrStore()
    except ImportError:
        print("zarr is not installed: its layout is skipped (pip install zarr)")
    return out


# ------------------------------------------------------------------------------------------------
# measuring


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def evict(root: Path) -> None:
    """Drop every file under ``root`` from the page cache (flushing it first), so the next read
    comes from the disk."""
    for path in files_under(root):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def check(got: View, want: View, half: bool) -> None:
    assert got.keys() == want.keys(), f"buffers {sorted(got)} read, {sorted(want)} written"
    for name, array in want.items():
        expected = array.astype(np.float16).astype(np.float32) if half else array
        np.testing.assert_array_equal(got[name], expected, err_msg=name)


def measure(name: str, layout: Any, view: View, n: int, work: Path) -> dict[str, Any]:
    """Write and read speeds of ``n`` copies of ``view`` in ``layout``, under ``work``."""
    half = name == "exr-half"
    layout.write(work / "warmup", (view for _ in range(WARMUP_VIEWS)))
    write_s = []
    for _ in range(REPEATS):
        shutil.rmtree(work / "data", ignore_errors=True)
        write_s += timed(lambda: layout.write(work / "data", (view for _ in range(n))), 1, warmup=0)
    root = work / "data"
    files = files_under(root)
    on_disk = sum(p.stat().st_size for p in files)

    start = time.perf_counter()
    reader = layout.open(root)
    open_s = time.perf_counter() - start
    picks = np.random.default_rng(0).choice(n, size=min(RANDOM, n), replace=False)
    check(reader.view(int(picks[0])), view, half)
    check(next(iter(reader.views())), view, half)

    def sequential() -> None:
        count = sum(1 for _ in reader.views())
        assert count == n, f"{name}: {count} views read, {n} written"

    reads = {}
    for state in ("warm", "cold"):
        if state == "cold":
            evict(root)
        random_s = [timed(partial(reader.view, i), 1, warmup=0)[0] for i in picks.tolist()]
        if state == "warm":
            sequential_s = timed(sequential, REPEATS, warmup=1)
        else:
            sequential_s = []
            for _ in range(REPEATS):
                evict(root)
                sequential_s += timed(sequential, 1, warmup=0)
        reads[state] = {
            "random_view_seconds": float(np.median(random_s)),
            "sequential_pass_seconds": float(np.median(sequential_s)),
            "all_random_seconds": random_s,
            "all_sequential_seconds": sequential_s,
        }
    return {
        "bytes_per_view": on_disk / n,
        "files_per_view": len(files) / n,
        "write_seconds": float(np.median(write_s)),
        "all_write_seconds": write_s,
        "open_seconds": open_s,
        "reads": reads,
    }


def rates(r: dict[str, Any], n: int, view_mb: float) -> dict[str, float]:
    """views/s and MB/s (of the float32 view) for each operation."""
    out = {"write_views_per_s": n / r["write_seconds"]}
    for state, read in r["reads"].items():
        out[f"random_{state}_views_per_s"] = 1 / read["random_view_seconds"]
        out[f"sequential_{state}_views_per_s"] = n / read["sequential_pass_seconds"]
    out |= {k.replace("views_per_s", "mb_per_s"): v * view_mb for k, v in list(out.items())}
    return out


def recommendation(
    results: dict, speeds: dict, half_error: dict[str, float], size: int
) -> list[str]:
    """Three lines: what the dataset should store its views as, and why, with the figures."""
    exr, npy, npz, tar = (speeds[name] for name in ("exr", "npy", "npz", "tar"))
    mb = {name: r["bytes_per_view"] / 1e6 for name, r in results.items()}
    zarr = (
        f"; zarr, {speeds['zarr']['sequential_cold_views_per_s']:.0f}, pays a chunk call per "
        "buffer per view"
        if "zarr" in speeds
        else "; zarr was not measured (not installed)"
    )
    return [
        f"store: one float32 EXR per buffer per view ({mb['exr']:.2f} MB/view, "
        f"{mb['exr']:.1f} GB per 1000 views, written at "
        f"{exr['write_views_per_s']:.0f} views/s, far faster than a view renders), which "
        f"Mitsuba, Blender and OIDN's tools open as they are; half EXR ({mb['exr-half']:.2f} MB) "
        f"rounds position by up to {half_error['position']:.1e} and depth by "
        f"{half_error['depth']:.1e}: keep float32.",
        f"random access (crops): cold, a whole {size}² view reads at "
        f"{exr['random_cold_views_per_s']:.0f} views/s from EXR, "
        f"{npy['random_cold_views_per_s']:.0f} from .npy (which a crop can memory-map), "
        f"{npz['random_cold_views_per_s']:.0f} from npz, {tar['random_cold_views_per_s']:.0f} "
        f"from an indexed tar: per-view files serve crops well enough.",
        f"streaming at scale: pack the EXRs into tar shards of .npy members (WebDataset: "
        f"{tar['sequential_cold_views_per_s']:.0f} views/s cold, {mb['tar']:.2f} MB/view, one "
        f"file per {SHARD} views instead of {results['exr']['files_per_view']:.0f} per view)"
        f"{zarr}.",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 views of 64² at 16 spp")
    parser.add_argument("--views", type=int, default=None, help="views written (default 200)")
    parser.add_argument("--dir", type=Path, default=None, help="scratch folder (default: a temp)")
    parser.add_argument("--out", type=Path, default=None, help="JSON output path")
    args = parser.parse_args(argv)
    size, spp, n = (64, 16, 20) if args.quick else (128, 64, 200)
    n = args.views or n
    out = args.out or RESULTS / f"storage{'_quick' if args.quick else ''}.json"

    mi = get_mitsuba()
    view = render_view(size, spp)
    view_mb = sum(a.nbytes for a in view.values()) / 1e6
    scratch = Path(tempfile.mkdtemp(prefix="neuralshade-storage-", dir=args.dir))
    results, speeds = {}, {}
    try:
        for name, layout in layouts().items():
            results[name] = measure(name, layout, view, n, scratch / name)
            speeds[name] = rates(results[name], n, view_mb)
            shutil.rmtree(scratch / name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    channels = sum(a.shape[-1] for a in view.values())
    print(
        f"{n} views of {size}² ({len(view)} buffers, {channels} channels, {view_mb:.2f} MB "
        f"float32 each); views/s (MB/s of float32), medians"
    )
    cols = ("write", "random_warm", "random_cold", "sequential_warm", "sequential_cold")
    heads = ("write", "random warm", "random cold", "seq warm", "seq cold")
    print(f"{'layout':9s} {'MB/view':>7s} {'files':>5s} " + " ".join(f"{h:>15s}" for h in heads))
    for name, r in results.items():
        s = speeds[name]
        cells = " ".join(
            f"{s[f'{c}_views_per_s']:6.0f} ({s[f'{c}_mb_per_s']:5.0f})".rjust(15) for c in cols
        )
        print(f"{name:9s} {r['bytes_per_view'] / 1e6:7.2f} {r['files_per_view']:5.3g} {cells}")
    half_error = {
        name: float(np.abs(a.astype(np.float16).astype(np.float32) - a).max())
        for name, a in view.items()
    }
    lines = recommendation(results, speeds, half_error, size)
    versions = {"mitsuba": mi.__version__}
    if "zarr" in results:
        versions["zarr"] = importlib.metadata.version("zarr")
    print("\n".join(lines))
    record(
        out,
        "storage",
        args.quick,
        {
            "size": size,
            "spp": spp,
            "views": n,
            "seed": SEED,
            "shard_views": SHARD,
            "repeats": REPEATS,
            "random_views": RANDOM,
            "buffers": {name: list(a.shape) for name, a in view.items()},
            "view_float32_mb": view_mb,
            "half_max_abs_error": half_error,
            "layouts": {name: {**results[name], **speeds[name]} for name in results},
            "recommendation": lines,
        },
        **versions,
    )


if __name__ == "__main__":
    main()
