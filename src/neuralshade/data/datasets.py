"""Torch datasets of named buffers over the directories :mod:`neuralshade.data.generate` writes.

:class:`BufferDataset` serves chosen buffers of one split of any source's dataset as a dict
``{name: (C, H, W) float32 tensor}``. Every buffer of a sample gets the same crop and the same
image symmetry, applied by the buffer's kind (:mod:`neuralshade.data.augment`); which
symmetries keep the samples true is the source's call. Crop positions and symmetries are drawn
from generators seeded by (seed, epoch, sample index), so the stream of samples does not depend
on the number of DataLoader workers or the order in which they ask.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image

from neuralshade.data.augment import D4, Symmetry, crop_window
from neuralshade.data.generate import (
    dataset_config,
    dataset_source,
    missing_samples,
    read_manifest,
    revision_changes,
    sample_dir,
)
from neuralshade.data.schema import check_names
from neuralshade.data.sources import SPLITS
from neuralshade.errors import ConfigError, DatasetError, InputError

Mode = Literal["random", "fixed", "full"]
MODES = ("random", "fixed", "full")
#: bytes of decoded EXR and PNG buffers a dataset keeps in memory: each file is decoded once,
#: not once per epoch (decoding a room's 13 EXRs costs more than a small network's step)
CACHE_BYTES = 2 * 2**30


class BufferDataset(torch.utils.data.Dataset):
    """Crops of chosen buffers of one split of a dataset directory, as dicts of tensors.

    ``ds[i]`` is ``{name: (C, S, S) float32}`` for each of ``buffers``, S = ``crop`` (the image
    size in mode "full" or with crop None), all cut at the same place and moved by the same
    symmetry. Channels, kinds and units are the source's schema's (``ds.schema``).

    Args:
        root: the dataset directory (holding manifest.json).
        split: "train", "val", "test" or "all"; the samples come from the manifest.
        buffers: buffer names of the source's schema (a single name may be a string).
        crop: side of the square crops, pixels; None = the whole image. Ignored in mode "full".
        mode: "random": a new crop position (and symmetry) each epoch, drawn from
            ``np.random.default_rng([seed, epoch, index])``; "fixed": the same crop and
            symmetry for a sample every time, from ``default_rng([seed, index])`` (for
            validation: samples differ, epochs agree); "full": the whole image, crop ignored,
            symmetries drawn as in "fixed". ``index`` is the sample's index in the dataset (not
            its position in the split), so a sample gets the same crop in every split.
        augment: apply one of :attr:`transforms`, drawn per sample: the symmetries the source
            says keep every sample of the split, read as these buffers, true.
        seed: seeds the crops and transforms (not the dataset's own seed).

    Raises ConfigError for an unknown split, mode or buffer name or a bad crop, and
    DatasetError when the directory lacks a buffer asked for, its split is empty, or samples
    of the split are missing or incomplete; reading a corrupt file raises DatasetError naming it.

    Attributes: ``indices`` (the split's sample indices, ``ds[i]`` is sample ``indices[i]``),
    ``source``, ``config`` (the dataset's config), ``schema``, ``size`` ((H, W)),
    ``transforms`` (the symmetries ``ds[i]`` draws from; only the identity when ``augment`` is
    False), ``epoch``.

    With DataLoader workers, call :meth:`set_epoch` before iterating each epoch and keep
    ``persistent_workers=False`` (the default), so that the workers' copies see the new epoch.

    Example::

        >>> ds = BufferDataset("data/ao2d", "train", ("source", "target"), crop=128)
        >>> {k: tuple(v.shape) for k, v in ds[0].items()}
        {'source': (1, 128, 128), 'target': (3, 128, 128)}
        >>> ds.set_epoch(1)  # new random crops
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        buffers: str | Sequence[str] = ("source", "target"),
        crop: int | None = 128,
        mode: Mode = "random",
        augment: bool = False,
        seed: int = 0,
    ):
        self.root = Path(root)
        if split not in (*SPLITS, "all"):
            raise ConfigError(f"unknown split {split!r}; choose one of {[*SPLITS, 'all']}")
        if mode not in MODES:
            raise ConfigError(f"unknown mode {mode!r}; choose one of {list(MODES)}")
        if not isinstance(seed, int) or seed < 0:
            raise ConfigError(f"seed must be an integer >= 0, got {seed!r}")
        self.split, self.mode, self.augment, self.seed = split, mode, bool(augment), seed
        self.epoch = 0

        data = read_manifest(self.root)
        self.source = dataset_source(data)
        self.config = dataset_config(self.root, data)
        self.schema = self.source.schema(self.config)
        self.buffers = check_names(self.schema, buffers, "buffers")
        self.size = self.source.image_size(self.config)
        self._check_saved()
        self._check_revision(data.get("source_revision", 1))
        self.crop = self._check_crop(crop)
        self.indices = self._check_split(data)
        self._records = {int(k): v for k, v in data.get("samples", {}).items()}
        self.transforms = self._true_symmetries() if self.augment else D4[:1]
        self._decoded: dict[Path, np.ndarray] = {}  # whole decoded images, up to CACHE_BYTES
        self._decoded_bytes = 0

    def _needed(self) -> list[str]:
        """The buffers this dataset reads: those it serves and those they are derived from."""
        return [*self.buffers, *(n for b in self.buffers for n in self.schema[b].needs)]

    def _check_saved(self) -> None:
        saved = set(self.source.stored(self.config))
        stored = [b for b in self.schema if not self.schema[b].derived]
        unsaved = [b for b in self._needed() if b in stored and b not in saved]
        if unsaved:
            raise DatasetError(
                f"{self.root} did not save the buffer(s) {sorted(set(unsaved))} (it saved "
                f"{sorted(saved)}); regenerate it into a new directory with them among its "
                f"stored buffers (`neuralshade dataset {self.source.name} --help` says how)"
            )

    def _check_revision(self, revision: int) -> None:
        stale = revision_changes(self.source, revision, self._needed())
        if stale:
            raise DatasetError(
                f"{self.root} was rendered by revision {revision} of the {self.source.name} "
                f"source, whose buffers it asks for changed since ({stale}); regenerate it into "
                f"a new directory (`neuralshade dataset {self.source.name} --help` says how)"
            )

    def _check_crop(self, crop: int | None) -> int | None:
        if self.mode == "full" or crop is None:
            return None
        if not isinstance(crop, int) or crop < 1:
            raise ConfigError(f"crop must be a positive integer or None, got {crop!r}")
        if crop > min(self.size):
            h, w = self.size
            raise ConfigError(
                f"crop {crop} is larger than the dataset's {w} × {h} images: "
                f"choose crop <= {min(self.size)}, or mode='full' for whole images"
            )
        return crop

    def _check_split(self, data: dict) -> list[int]:
        split, count = self.split, self.source.sample_count(self.config)
        indices = list(range(count)) if split == "all" else data["split"][split]
        if not indices:
            raise DatasetError(
                f"the {split} split of {self.root} is empty: {count} samples × {split} "
                f"fraction {self.config.split[split]} rounds to 0 samples; generate more samples "
                f"(count) or give {split} a larger fraction"
            )
        missing = missing_samples(self.root, indices)
        if missing:
            raise DatasetError(
                f"{len(missing)} of the {len(indices)} samples of the {split} split of "
                f"{self.root} are missing or incomplete (first: "
                f"{sample_dir(self.root, missing[0])}): the dataset was not finished; rerun "
                f"`neuralshade dataset {self.source.name}` with the same options "
                f"(--out {self.root}) to finish it"
            )
        return indices

    def _true_symmetries(self) -> tuple[Symmetry, ...]:
        if not all(self.schema[b].follows_symmetries for b in self.buffers):
            return D4[:1]  # a vector that cannot turn with the image: no symmetry stays true
        if self.size[0] != self.size[1]:
            return D4[:1]
        records = [self.record(i) for i in range(len(self))]
        return self.source.symmetries(self.config, records, self.buffers)

    def channels(self, names: Sequence[str]) -> int:
        """Channels of the buffers ``names`` concatenated."""
        return sum(self.schema[n].channels for n in names)

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose random crops and transforms ``ds[i]`` serves (mode "random")."""
        if not isinstance(epoch, int) or epoch < 0:
            raise ConfigError(f"epoch must be an integer >= 0, got {epoch!r}")
        self.epoch = epoch

    def record(self, i: int) -> dict[str, Any]:
        """The manifest's record of the split's i-th sample (its varied parameters)."""
        return self._records.get(self.indices[i], {})

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        index = self.indices[i]
        key = [self.seed, self.epoch, index] if self.mode == "random" else [self.seed, index]
        rng = np.random.default_rng(key)
        # drawn even for whole images, so that the symmetry's draw is the same in every mode
        window = crop_window(self.size, self.crop or min(self.size), rng)
        if self.crop is None:
            window = (slice(0, self.size[0]), slice(0, self.size[1]))
        symmetry = self.transforms[int(rng.integers(len(self.transforms)))]
        shape = (window[0].stop - window[0].start, window[1].stop - window[1].start)
        out = {}
        for name in self.buffers:
            buffer = self.schema[name]
            if buffer.derived:
                array = self.source.derive(
                    self.config, name, self.record(i), shape, lambda n: self._read(n, index, window)
                )
            else:
                array = self._read(name, index, window)
            out[name] = torch.from_numpy(np.ascontiguousarray(symmetry.buffer(array, buffer)))
        return out

    def _read(self, name: str, index: int, window: tuple[slice, slice]) -> np.ndarray:
        """One stored buffer of sample ``index``, cropped: (C, h, w) float32."""
        buffer = self.schema[name]
        path = sample_dir(self.root, index) / buffer.file
        shape = (*self.size, buffer.channels) if buffer.channels > 1 else self.size
        if path.suffix not in (".png", ".exr"):
            return _read_npy(path, shape, window)  # memory-mapped: a crop reads its own rows
        whole = self._decoded.get(path)
        if whole is None:
            read = _read_png if path.suffix == ".png" else _read_exr
            whole = read(path, shape, (slice(None), slice(None)))
            if self._decoded_bytes + whole.nbytes <= CACHE_BYTES:
                self._decoded[path] = whole
                self._decoded_bytes += whole.nbytes
        return np.array(whole[:, window[0], window[1]])  # a copy: the cache stays as read


def stack(sample: Mapping[str, torch.Tensor], names: Sequence[str]) -> torch.Tensor:
    """Buffers ``names`` of a sample (C, H, W) or batch (B, C, H, W) concatenated along C."""
    return torch.cat([sample[n] for n in names], dim=-3)


def _corrupt(path: Path, problem: str) -> DatasetError:
    return DatasetError(
        f"{path}: {problem}; the file is corrupt: delete it and rerun `neuralshade dataset` "
        "with the same options to render the sample again"
    )


def _read_png(path: Path, shape: tuple[int, ...], window: tuple[slice, slice]) -> np.ndarray:
    """A window of an 8-bit PNG, (H, W) grey or (H, W, 3) RGB, as (C, h, w) in [0, 1]."""
    try:
        with Image.open(path) as image:
            if image.size != shape[1::-1]:  # from the header, before decoding any pixel
                raise _corrupt(
                    path,
                    f"it is {image.size[0]} × {image.size[1]} pixels, not {shape[1]} × {shape[0]}",
                )
            array = np.asarray(image)
    except DatasetError:
        raise
    except Exception as exc:  # PIL reports bad data with many exception types
        raise _corrupt(path, f"cannot read it ({type(exc).__name__}: {exc})") from None
    if array.dtype != np.uint8 or array.shape != shape:
        raise _corrupt(path, f"expected uint8 {shape}, got {array.dtype} {array.shape}")
    return _channels_first(array[window].astype(np.float32) / 255.0)


def _read_npy(path: Path, shape: tuple[int, ...], window: tuple[slice, slice]) -> np.ndarray:
    """A window of a float32 ``.npy`` buffer as (C, h, w); never unpickles anything.

    Memory-mapped, so a crop reads only its own rows of a large buffer.
    """
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
        if array.dtype != np.float32 or array.shape != shape:
            raise _corrupt(path, f"expected float32 {shape}, got {array.dtype} {array.shape}")
        crop = np.array(array[window], dtype=np.float32)  # copies out of the map
    except DatasetError:
        raise
    except Exception as exc:  # numpy raises ValueError, EOFError or OSError on bad files
        raise _corrupt(path, f"cannot read it ({type(exc).__name__}: {exc})") from None
    return _channels_first(crop)



def with_buffers(data: BufferDataset, names: Sequence[str]) -> BufferDataset:
    """``data`` if it serves the buffers ``names``, else a dataset of the same split's whole
    images that does (made once per set of names): a baseline reads what the network did not."""
    if set(names) <= set(data.buffers):
        return data
    return _whole_images(str(data.root), data.split, tuple(names))


@functools.cache
def _whole_images(root: str, split: str, names: tuple[str, ...]) -> BufferDataset:
    return BufferDataset(root, split, names, crop=None, mode="full")

def _read_exr(path: Path, shape: tuple[int, ...], window: tuple[slice, slice]) -> np.ndarray:
    """A window of an OpenEXR buffer as (C, h, w) float32."""
    from neuralshade.imageio import read_exr

    try:
        array = read_exr(path)
    except InputError as exc:
        raise _corrupt(path, str(exc)) from None
    array = array[..., 0] if len(shape) == 2 else array
    if array.shape != shape:
        raise _corrupt(path, f"expected {shape}, got {array.shape}")
    return _channels_first(np.ascontiguousarray(array[window]))


def _channels_first(array: np.ndarray) -> np.ndarray:
    """(h, w) → (1, h, w); (h, w, C) → (C, h, w)."""
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
