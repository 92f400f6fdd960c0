"""Intel Open Image Denoise (OIDN), the production denoiser, as the ``denoise`` task's baseline.

OIDN's ``RT`` filter (a U-Net trained by Intel on rendered images; its weights ship inside the
``pyoidn`` wheel, so nothing is downloaded) takes the noisy colour and, optionally, the
first-hit albedo and normal, the same auxiliary buffers our denoisers read. Its settings, as
OIDN names them:

- ``hdr``: the colour is linear HDR radiance (True for renders; False for [0, 1] LDR images).
- ``quality``: ``"high"`` (its best filter), ``"balanced"`` or ``"fast"``. On the CPU, with
  pyoidn 2.5, ``balanced`` gives ``high``'s output to the bit (measured); ``fast`` is a
  smaller filter.
- ``clean_aux``: the albedo and normal are noise-free. Left False for the noisy auxiliary
  buffers a path tracer writes at the colour's sample count: OIDN then runs its network
  trained on noisy ones (``rt_hdr_alb_nrm``); True wants them clean (prefiltered by OIDN's
  albedo and normal filters first, which this module does not do).

Our own weights for OIDN's network (:mod:`neuralshade.models.oidn`, trained by the
``denoise`` task) run inside OIDN's filter through :class:`WeightedFilter` (:func:`write_tza`
writes them in OIDN's format).

Normals may be in world or camera space, in [-1, 1]; the albedo in [0, 1].
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from neuralshade.errors import ConfigError

QUALITIES = ("high", "balanced", "fast")


@functools.cache
def _pyoidn() -> Any:
    try:
        import pyoidn
    except ImportError as exc:  # an optional dependency
        raise ConfigError(
            "Open Image Denoise needs the pyoidn package: pip install 'neuralshade[denoise]'"
        ) from exc
    return pyoidn


def oidn(
    color: np.ndarray,
    albedo: np.ndarray | None = None,
    normal: np.ndarray | None = None,
    *,
    quality: str = "high",
    hdr: bool = True,
    clean_aux: bool = False,
) -> np.ndarray:
    """OIDN's ``RT`` filter on (H, W, 3) float32 arrays; returns the denoised (H, W, 3).

    ``albedo`` and ``normal``: None, or the same shape as ``color``; OIDN takes a normal only
    with an albedo. The caller makes the colour finite and non-negative (OIDN's contract).

    Example::

        clean = oidn(noisy, albedo, normal, quality="balanced")
    """
    if quality not in QUALITIES:
        raise ConfigError(f"OIDN quality must be one of {list(QUALITIES)}, got {quality!r}")
    if normal is not None and albedo is None:
        raise ConfigError("OIDN takes a normal only together with an albedo")
    images = [color, albedo, normal]
    for name, image in zip(("color", "albedo", "normal"), images, strict=True):
        if image is not None and (image.ndim != 3 or image.shape[-1] != 3):
            raise ConfigError(f"OIDN's {name} must be (H, W, 3), got {image.shape}")
        if image is not None and image.shape != color.shape:
            raise ConfigError(f"OIDN's {name} is {image.shape}, the colour {color.shape}")
    color, albedo, normal = (
        None if image is None else np.ascontiguousarray(image, dtype=np.float32) for image in images
    )
    return _pyoidn().denoise(color, albedo, normal, hdr=hdr, clean_aux=clean_aux, quality=quality)


def write_tza(tensors: dict[str, Any]) -> bytes:
    """A state dict ({name: array or tensor}, 4-D convolution weights and 1-D biases) as
    OIDN's TZA weights format, version 2, in float16 as OIDN's own blobs (its devices read
    no other type): what OIDN's ``weights`` parameter takes
    (:func:`neuralshade.models.oidn.parse_tza` reads it back)."""
    import struct

    arrays = {k: np.ascontiguousarray(np.asarray(v, dtype=np.float16)) for k, v in tensors.items()}
    header = 12
    data, offsets, at = [], {}, header
    for name, a in arrays.items():
        if a.ndim not in (1, 4):
            raise ConfigError(f"TZA holds 1-D biases and 4-D weights; {name} is {a.shape}")
        at += -at % 64  # aligned, as OIDN's own blobs
        offsets[name] = at
        data.append((at, a.tobytes()))
        at += a.nbytes
    table = [struct.pack("<I", len(arrays))]
    for name, a in arrays.items():
        encoded = name.encode()
        layout = b"x" if a.ndim == 1 else b"oihw"
        table += [struct.pack("<H", len(encoded)), encoded, struct.pack("<B", a.ndim),
                  struct.pack(f"<{a.ndim}I", *a.shape), layout, b"h",
                  struct.pack("<Q", offsets[name])]  # fmt: skip
    out = bytearray(at)
    for start, raw in data:
        out[start : start + len(raw)] = raw
    out[:header] = struct.pack("<HBBQ", 0x41D7, 2, 0, len(out))
    return bytes(out) + b"".join(table)


class WeightedFilter:
    """OIDN's ``RT`` filter (HDR colour, albedo, normal) running weights of our own: a blob
    from :func:`write_tza`, e.g. OIDN's network fine-tuned by the ``denoise`` task, at
    OIDN's own speed. One device and filter, reused; calls are serialised.

    Example::

        run = WeightedFilter(write_tza(model.state_dict()))
        clean = run(noisy, albedo, normal)
    """

    def __init__(self, weights: bytes):
        import ctypes
        import threading

        _pyoidn()  # installed, or a ConfigError saying how
        from pyoidn.capi import oidn_Capi, oidn_ffi
        from pyoidn.device import Device
        from pyoidn.filter import OIDN_QUALITY_HIGH, Filter

        self._weights = ctypes.create_string_buffer(weights, len(weights))  # kept alive
        self._lock = threading.Lock()
        self._device = Device()
        self._device.commit()
        self._filter = Filter(self._device, "RT")
        set_data = ctypes.CDLL(str(library())).oidnSetSharedFilterData
        set_data.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]
        handle = int(oidn_ffi.cast("uintptr_t", self._filter._filter))
        set_data(handle, b"weights", ctypes.addressof(self._weights), len(weights))
        self._filter.set_bool("hdr", True)
        self._filter.set_int("quality", OIDN_QUALITY_HIGH)  # as OIDN's own high: no fast math
        self._error = oidn_Capi, oidn_ffi
        self._check("weights")

    def _check(self, what: str) -> None:
        capi, ffi = self._error
        message = ffi.new("const char**")
        if int(capi.oidnGetDeviceError(self._device._device, message)) != 0:
            text = ffi.string(message[0]).decode() if message[0] != ffi.NULL else "no message"
            raise ConfigError(f"OIDN refused the {what}: {text}")

    def __call__(self, color: np.ndarray, albedo: np.ndarray, normal: np.ndarray) -> np.ndarray:
        """(H, W, 3) float32 each (colour finite, ≥ 0) → the denoised (H, W, 3)."""
        from pyoidn.filter import OIDN_FORMAT_FLOAT3

        images = [np.ascontiguousarray(a, dtype=np.float32) for a in (color, albedo, normal)]
        if any(a.shape != images[0].shape or a.ndim != 3 or a.shape[-1] != 3 for a in images):
            raise ConfigError(
                f"colour, albedo and normal must be (H, W, 3) of one size, got "
                f"{[a.shape for a in images]}"
            )
        out = np.empty_like(images[0])
        with self._lock:
            for name, image in zip(("color", "albedo", "normal", "output"), (*images, out),
                                   strict=True):  # fmt: skip
                self._filter.set_image(name, image, OIDN_FORMAT_FLOAT3)
            self._filter.commit()
            self._check("images")
            self._filter.execute()
            self._check("execution")
        return out


def library(name: str = "OpenImageDenoise"):
    """The path of OIDN's library ``lib{name}.so`` inside the installed pyoidn wheel (the API,
    loaded already by pyoidn itself; ``OpenImageDenoise_core`` holds the shipped weights)."""
    from pathlib import Path

    folder = Path(_pyoidn().__file__).parent
    found = sorted(folder.glob(f"oidn/lib*/lib{name}.so*"))
    if not found:
        raise ConfigError(f"no lib{name}.so under {folder}: OIDN's Linux wheel has it")
    return found[0]
