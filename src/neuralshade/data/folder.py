"""Buffers of one view from a folder of files: what ``neuralshade render`` writes.

:func:`read_folder` reads the buffers a network needs by name, through its source's schema:
a stored buffer from its file in the folder (``<name>.exr`` for the 3D sources), a derived
one (a camera-space normal) computed by the source from the stored buffers it needs and the
folder's ``params.json`` (its record: the camera a render used). The folder is the user's:
every problem (a missing buffer, a size that differs, a NaN) is an InputError that names it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from neuralshade.data.sources import Source
from neuralshade.errors import InputError
from neuralshade.imageio import read_exr


def read_params(folder: Path) -> dict[str, Any]:
    """The folder's params.json ({} where there is none)."""
    path = folder / "params.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read it ({exc}); render the folder again") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: not a JSON object; render the folder again")
    return data


def read_folder(
    source: Source, folder: str | os.PathLike, names: Sequence[str]
) -> dict[str, np.ndarray]:
    """The buffers ``names`` of the view in ``folder``: {name: (C, H, W) float32}, finite.

    Raises InputError naming what is missing (the file, or what a derived buffer needs and the
    command that writes it), a buffer of another size, or one with NaN or infinite values.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder (give a folder `neuralshade render` wrote)")
    config = source.load_config({})
    schema = source.schema(config)
    params = read_params(folder)
    cache: dict[str, np.ndarray] = {}

    def stored(name: str, wanted_by: str) -> np.ndarray:
        if name not in cache:
            buffer = schema[name]
            path = folder / buffer.file
            if path.suffix not in (".exr", ".npy"):
                raise InputError(
                    f"the model needs {name} ({buffer.file}), an image of the {source.name} "
                    "source, not a render folder's buffer: this reads EXR and .npy buffers"
                )
            if not path.is_file():
                because = "" if wanted_by == name else f" (for {wanted_by})"
                raise InputError(
                    f"{folder} has no {buffer.file}: the model needs {name}{because}; "
                    f"render it with that buffer (`neuralshade render SCENE -o {folder} "
                    f"--buffers ...`)"
                )
            array = read_exr(path) if path.suffix == ".exr" else np.load(path, allow_pickle=False)
            array = np.asarray(array, np.float32)
            array = array[None] if array.ndim == 2 else np.moveaxis(array, -1, 0)
            if array.shape[0] != buffer.channels:
                raise InputError(
                    f"{path}: {array.shape[0]} channels, {name} has {buffer.channels}"
                )
            cache[name] = array
        return cache[name]

    out = {}
    for name in names:
        if name not in schema:
            raise InputError(f"the model needs {name!r}, which no {source.name} view holds")
        buffer = schema[name]
        if not buffer.derived:
            out[name] = stored(name, name)
            continue
        for need in buffer.needs:
            stored(need, name)
        if not params:
            raise InputError(
                f"{folder} has no params.json: {name} is derived from the render's camera"
            )
        if not cache:
            raise InputError(f"{name} needs a stored buffer of the view to size it")
        size = tuple(next(iter(cache.values())).shape[-2:])
        read = lambda n, by=name: stored(n, by)  # noqa: E731
        out[name] = np.asarray(source.derive(config, name, params, size, read), np.float32)
    sizes = {k: v.shape[-2:] for k, v in {**cache, **out}.items()}
    if len(set(sizes.values())) > 1:
        raise InputError(f"{folder}: its buffers differ in size: {sizes}")
    for name, array in out.items():
        if not np.isfinite(array).all():
            raise InputError(f"{folder}: {name} has NaN or infinite values")
    return out
