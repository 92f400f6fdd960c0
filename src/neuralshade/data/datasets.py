"""Torch datasets over the directories that :mod:`neuralshade.data.generate` writes.

:class:`Ao2dDataset` serves crops of chosen buffers of one split of an ao2d dataset as
``(C, H, W)`` float32 tensors, for training and evaluation. Crop positions and augmentations
are drawn from generators seeded by (seed, epoch, sample index), so the stream of samples does
not depend on the number of DataLoader workers or the order in which they ask.

Augmentation uses the 8 symmetries of the square (:data:`D4`), but only those that keep a
sample true: the renderer's scene is isotropic except for the key light, so a rotated or
mirrored mask rendered again gives the rotated or mirrored image *with the light turned the
same way*. A transform is therefore allowed when it maps the light onto itself, or when the
network is told the (transformed) light through the "light" input.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image

from neuralshade.data.generate import (
    BUFFERS,
    SPLITS,
    DatasetConfig,
    missing_samples,
    read_manifest,
    sample_dir,
)
from neuralshade.errors import ConfigError, DatasetError
from neuralshade.render.heightfield import RenderParams

BUFFER_CHANNELS: dict[str, int] = {
    "source": 1,  # the mask, source.png / 255
    "target": 3,  # the beauty render, target.png / 255, sRGB
    "ao": 1,  # ambient occlusion in [0, 1]
    "shadow": 1,  # key-light visibility in [0, 1]
    "height": 1,  # z of the visible surface, pixels
    "normal": 3,  # unit normal, scene coordinates (x right, y down the rows, z up)
    "sdf": 1,  # 2D signed distance to the shapes, pixels (negative inside)
    "light": 3,  # constant (cos a, sin a, sin e) of the sample's light azimuth a, elevation e
}
"""Every buffer a dataset can serve and its number of channels."""

_PNGS = {"source": "source.png", "target": "target.png"}
Mode = Literal["random", "fixed", "full"]
MODES = ("random", "fixed", "full")


@dataclass(frozen=True)
class Symmetry:
    """One of the 8 symmetries of the square, acting on images, light azimuths and vectors.

    The image is first mirrored left-right (columns reversed) if ``flip``, then rotated
    ``rot`` × 90° counter-clockwise as seen on screen. Rotating by 90° turns the light's
    azimuth by +90°; the left-right mirror maps azimuth a to 180° − a. ``name`` is "identity",
    "rotK" (K degrees counter-clockwise) or "mirrorT", the mirror across the line through the
    image centre at T degrees on screen (it maps azimuth a to 2T − a): "mirror90" reverses the
    columns, "mirror0" the rows, "mirror135" is the transpose (main diagonal, top-left to
    bottom-right).
    """

    name: str
    rot: int
    flip: bool

    def apply(self, array: np.ndarray) -> np.ndarray:
        """The image moved: array (..., H, W) → (..., W, H) (a view, H = W here)."""
        if self.flip:
            array = array[..., ::-1]
        return np.rot90(array, self.rot, axes=(-2, -1))

    def azimuth(self, degrees: float) -> float:
        """Light azimuth (degrees, counter-clockwise on screen) after the transform, in [0, 360)."""
        a = 180.0 - degrees if self.flip else degrees
        return (a + 90.0 * self.rot) % 360.0

    def vector(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) components of vectors in scene coordinates (x right, y down) after the transform.

        The left-right mirror negates x; a counter-clockwise quarter turn on screen sends the
        screen vector (x, −y) to (y, x), i.e. scene (x, y) → (y, −x).
        """
        if self.flip:
            x = -x
        for _ in range(self.rot):
            x, y = y, -x
        return x, y

    def fixes(self, degrees: float, tol: float = 1e-6) -> bool:
        """Whether the transform maps azimuth ``degrees`` onto itself (mod 360)."""
        d = (self.azimuth(degrees) - degrees) % 360.0
        return min(d, 360.0 - d) <= tol


D4: tuple[Symmetry, ...] = (
    Symmetry("identity", 0, False),
    Symmetry("rot90", 1, False),
    Symmetry("rot180", 2, False),
    Symmetry("rot270", 3, False),
    Symmetry("mirror90", 0, True),
    Symmetry("mirror135", 1, True),
    Symmetry("mirror0", 2, True),
    Symmetry("mirror45", 3, True),
)
"""The 8 symmetries of the square; the first is the identity."""


def allowed_symmetries(azimuths: Sequence[float], light_known: bool) -> tuple[Symmetry, ...]:
    """The symmetries under which a sample stays a true render.

    light_known: the network is given each sample's light (the "light" input) and the light
    varies per sample, so any turn of it is a new, true sample: all 8. Otherwise only those
    that map every azimuth in ``azimuths`` onto itself (at least the identity).
    """
    if light_known:
        return D4
    return tuple(s for s in D4 if all(s.fixes(a) for a in azimuths))


def _names(value: str | Sequence[str], what: str) -> tuple[str, ...]:
    names = (value,) if isinstance(value, str) else tuple(value)
    if not names:
        raise ConfigError(f"{what}: give at least one buffer; known: {list(BUFFER_CHANNELS)}")
    unknown = [n for n in names if n not in BUFFER_CHANNELS]
    if unknown:
        raise ConfigError(f"{what}: unknown buffer(s) {unknown}; known: {list(BUFFER_CHANNELS)}")
    return names


def _corrupt(path: Path, problem: str) -> DatasetError:
    return DatasetError(
        f"{path}: {problem}; the file is corrupt: delete it and rerun `neuralshade dataset ao2d` "
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


def _channels_first(array: np.ndarray) -> np.ndarray:
    """(h, w) → (1, h, w); (h, w, C) → (C, h, w)."""
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


class Ao2dDataset(torch.utils.data.Dataset):
    """Crops of chosen buffers of one split of an ao2d dataset directory.

    ``ds[i]`` is ``(input, target)``: input (C_in, S, S) = the ``inputs`` buffers concatenated
    along channels in the order given, target (C_out, S, S) likewise, float32, S = ``crop``
    (the image size in mode "full" or with crop None). Buffers and channels
    (:data:`BUFFER_CHANNELS`): "source" (1, mask in [0, 1]), "target" (3, sRGB beauty in
    [0, 1]), "ao", "shadow" (1 each, in [0, 1]), "height", "sdf" (1 each, pixels), "normal" (3,
    unit vectors, scene coordinates x right, y down, z up) and "light" (3 constant channels
    (cos a, sin a, sin e): the sample's light azimuth a, counter-clockwise on screen from +x,
    and elevation e).

    Args:
        root: the dataset directory (holding manifest.json).
        split: "train", "val", "test" or "all"; the samples come from the manifest.
        inputs, targets: buffer names (a single name may be given as a string).
        crop: side of the square crops, pixels; None = the whole image. Ignored in mode "full".
        mode: "random": a new crop position (and transform) each epoch, drawn from
            ``np.random.default_rng([seed, epoch, index])``; "fixed": the same crop and
            transform for a sample every time, from ``default_rng([seed, index])`` (for
            validation: samples differ, epochs agree); "full": the whole image, crop ignored,
            transforms drawn as in "fixed". ``index`` is the sample's index in the dataset (not
            its position in the split), so a sample gets the same crop in every split.
        augment: apply one of :attr:`transforms`, drawn per sample: the symmetries of the
            square that keep the sample true. All 8 when "light" is an input and the azimuth
            varies per sample (the "light" channels then carry the transformed azimuth);
            otherwise only those that map the light's azimuth onto itself, for every sample of
            the split (azimuth 90°: identity and left-right mirror; 135°: identity and
            transpose; not a multiple of 45°: identity only, so no augmentation applies).
            Normals turn with the image; scalar buffers just move.
        seed: seeds the crops and transforms (not the dataset's own seed).

    Raises ConfigError for an unknown split, mode or buffer name or a bad crop, and
    DatasetError when the directory lacks a buffer asked for, its split is empty, or samples
    of the split are missing or incomplete; reading a corrupt file raises DatasetError naming it.

    Attributes: ``indices`` (the split's sample indices, ``ds[i]`` is sample ``indices[i]``),
    ``config`` (the dataset's :class:`~neuralshade.data.generate.DatasetConfig`), ``size`` (the
    images' side), ``transforms`` (the symmetries ``ds[i]`` draws from; only the identity when
    ``augment`` is False or nothing else keeps the samples true), ``epoch``.

    With DataLoader workers, call :meth:`set_epoch` before iterating each epoch and keep
    ``persistent_workers=False`` (the default), so that the workers' copies see the new epoch.

    Example::

        >>> ds = Ao2dDataset("data/ao2d", "train", inputs=("source",), targets=("target",),
        ...                  crop=128, augment=True)
        >>> x, y = ds[0]
        >>> x.shape, y.shape, ds.in_channels, ds.out_channels
        (torch.Size([1, 128, 128]), torch.Size([3, 128, 128]), 1, 3)
        >>> ds.set_epoch(1)  # new random crops
    """

    channels = BUFFER_CHANNELS

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        inputs: str | Sequence[str] = ("source",),
        targets: str | Sequence[str] = ("target",),
        crop: int | None = 128,
        mode: Mode = "random",
        augment: bool = False,
        seed: int = 0,
    ):
        self.root = Path(root)
        self.inputs = _names(inputs, "inputs")
        self.targets = _names(targets, "targets")
        if split not in (*SPLITS, "all"):
            raise ConfigError(f"unknown split {split!r}; choose one of {[*SPLITS, 'all']}")
        if mode not in MODES:
            raise ConfigError(f"unknown mode {mode!r}; choose one of {list(MODES)}")
        if not isinstance(seed, int) or seed < 0:
            raise ConfigError(f"seed must be an integer >= 0, got {seed!r}")
        self.split, self.mode, self.augment, self.seed = split, mode, bool(augment), seed
        self.epoch = 0

        data = read_manifest(self.root)
        try:
            self.config = DatasetConfig.model_validate(data["config"])
        except (KeyError, ValueError) as exc:
            raise DatasetError(
                f"{self.root / 'manifest.json'}: its config is not one this version reads "
                f"({exc}); regenerate the dataset"
            ) from None
        self.size = self.config.size
        self._check_saved()
        self.crop = self._check_crop(crop)
        self.indices = self._check_split(data)
        self._varied = {int(k): v for k, v in data.get("samples", {}).items()}
        self.transforms = self._true_symmetries() if self.augment else D4[:1]

    def _check_saved(self) -> None:
        saved = set(self.config.buffers)
        unsaved = [b for b in (*self.inputs, *self.targets) if b in BUFFERS and b not in saved]
        if unsaved:
            wanted = ",".join(b for b in BUFFERS if b in saved or b in unsaved)
            raise DatasetError(
                f"{self.root} did not save the buffer(s) {sorted(set(unsaved))} (it saved "
                f"{self.config.buffers or 'none'}); regenerate it into a new directory with "
                f"`buffers` including them (e.g. `neuralshade dataset ao2d --buffers {wanted}`)"
            )

    def _check_crop(self, crop: int | None) -> int | None:
        if self.mode == "full" or crop is None:
            return None
        if not isinstance(crop, int) or crop < 1:
            raise ConfigError(f"crop must be a positive integer or None, got {crop!r}")
        if crop > self.size:
            raise ConfigError(
                f"crop {crop} is larger than the dataset's {self.size} × {self.size} images: "
                f"choose crop <= {self.size}, or mode='full' for whole images"
            )
        return crop

    def _check_split(self, data: dict) -> list[int]:
        split, count = self.split, self.config.count
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
                f"`neuralshade dataset ao2d` with the same options (--out {self.root}) to finish it"
            )
        return indices

    def _true_symmetries(self) -> tuple[Symmetry, ...]:
        light_known = "light" in self.inputs and "light_azimuth" in self.config.vary
        fixed = self.config.render.light_azimuth
        azimuths = {self._varied.get(i, {}).get("light_azimuth", fixed) for i in self.indices}
        return allowed_symmetries(sorted(azimuths), light_known)

    @property
    def in_channels(self) -> int:
        """Channels of the input tensor."""
        return sum(BUFFER_CHANNELS[b] for b in self.inputs)

    @property
    def out_channels(self) -> int:
        """Channels of the target tensor."""
        return sum(BUFFER_CHANNELS[b] for b in self.targets)

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose random crops and transforms ``ds[i]`` serves (mode "random")."""
        if not isinstance(epoch, int) or epoch < 0:
            raise ConfigError(f"epoch must be an integer >= 0, got {epoch!r}")
        self.epoch = epoch

    def render_params(self, i: int) -> RenderParams:
        """The render parameters of the split's i-th sample (the config's, with its varied ones)."""
        return self.config.render.model_copy(update=self._varied.get(self.indices[i], {}))

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        index = self.indices[i]
        key = [self.seed, self.epoch, index] if self.mode == "random" else [self.seed, index]
        rng = np.random.default_rng(key)
        side = self.crop or self.size
        top, left = (int(v) for v in rng.integers(0, self.size - side + 1, size=2))
        window = (slice(top, top + side), slice(left, left + side))
        symmetry = self.transforms[int(rng.integers(len(self.transforms)))]

        params = self.render_params(i)
        buffers = {}
        for name in dict.fromkeys((*self.inputs, *self.targets)):  # each read once
            if name == "light":
                a = math.radians(symmetry.azimuth(params.light_azimuth))
                e = math.radians(params.light_elevation)
                values = np.array([math.cos(a), math.sin(a), math.sin(e)], np.float32)
                buffers[name] = np.broadcast_to(values[:, None, None], (3, side, side))
                continue
            buffers[name] = symmetry.apply(self._read(name, index, window))
            if name == "normal":
                x, y = symmetry.vector(buffers[name][0], buffers[name][1])
                buffers[name] = np.stack([x, y, buffers[name][2]])

        def join(names: tuple[str, ...]) -> torch.Tensor:
            return torch.from_numpy(np.concatenate([buffers[n] for n in names]))  # (C, S, S)

        return join(self.inputs), join(self.targets)

    def _read(self, name: str, index: int, window: tuple[slice, slice]) -> np.ndarray:
        """One stored buffer of sample ``index``, cropped: (C, h, w) float32."""
        folder = sample_dir(self.root, index)
        shape = (self.size, self.size, 3) if BUFFER_CHANNELS[name] == 3 else (self.size,) * 2
        if name in _PNGS:
            return _read_png(folder / _PNGS[name], shape, window)
        return _read_npy(folder / f"{name}.npy", shape, window)
