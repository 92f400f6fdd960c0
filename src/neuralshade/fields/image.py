"""Fitting an image with a coordinate network: (x, y) in [−1, 1]² → (r, g, b).

``neuralshade fit image IMAGE [--preset NAME] [--set key=value ...] [--epochs N] [--out DIR]``

Pixel (row i, column j) of an H×W image sits at x = (2j + 1)/W − 1, y = (2i + 1)/H − 1 (its
centre; y grows down the rows), so the image fills [−1, 1]² whatever its size. An epoch is one
pass over every pixel in a seeded random order, in mini-batches, with the MSE loss (the
image-fitting post's setup). After each epoch the whole image is rendered and its PSNR taken.

The output directory gets:

- ``reconstruction.png``, the network's image at the end, and ``outside.png``, the network on
  [−2, 2]² (the image is the middle quarter: what the field does where it never saw data);
- ``history.json`` (PSNR and training seconds per epoch) and ``psnr.png`` (its plot);
- ``summary.json``: parameters, the size of the weights in fp16 on disk, the PSNR of a JPEG of
  the same image at no more bytes, epochs to converge, the seconds to reach 30 dB and in all;
- ``field.safetensors`` + ``field.json``, a checkpoint (``neuralshade export`` takes it).

A killed fit resumes where it stopped: ``last.safetensors`` (weights and optimizer) is
written after every epoch, and ``--resume`` continues from it on the same batches.
"""

from __future__ import annotations

import io
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from pydantic import Field
from safetensors.torch import save as safetensors_bytes

from neuralshade import checkpoint
from neuralshade.config import Settings, load_preset
from neuralshade.config import preset_names as config_preset_names
from neuralshade.errors import ConfigError, InputError
from neuralshade.fields.network import FieldConfig, FieldNetwork, optimizer
from neuralshade.imageio import read_image, write_bytes, write_json, write_png
from neuralshade.metrics import psnr
from neuralshade.models import build as build_model
from neuralshade.outputs import check_outputs
from neuralshade.progress import progress
from neuralshade.resume import begin, fingerprint, restore

# a fit at a constant learning rate goes on the same way for more epochs
RESUME_FREE = ("epochs",)
OUTPUTS = (
    "reconstruction.png",
    "outside.png",
    "history.json",
    "psnr.png",
    "summary.json",
    *checkpoint.file_names("field"),
    *checkpoint.file_names("last", optimizer=True),
)
CONVERGED_DB = 0.5  # "converged": the first epoch within this many dB of the best PSNR
TARGET_DB = 30.0
PRESET_PREFIX = "fit-image-"


class ImageFitConfig(Settings):
    """A field network and how to fit it to an image (see the presets ``fit-image-*.yaml``)."""

    field: FieldConfig = Field(..., description="The network: encoding and MLP.")
    epochs: int = Field(100, ge=1, description="Passes over every pixel.")
    batch_size: int = Field(1024, ge=1, description="Pixels per optimizer step.")
    lr: float = Field(1e-3, gt=0, description="Adam learning rate (constant).")
    seed: int = Field(0, ge=0, description="Seeds the initialisation and the pixel order.")


def preset_names() -> list[str]:
    """The shipped presets ``fit-image-*.yaml``, without the prefix."""
    return config_preset_names(PRESET_PREFIX)


def load_config(preset_or_path: str, overrides: list[str] | None = None) -> ImageFitConfig:
    """A preset's name (``hash-t4096``) or a YAML file, with ``key=value`` overrides applied."""
    return load_preset(ImageFitConfig, PRESET_PREFIX, preset_or_path, overrides, "image-fitting")


def pixel_coordinates(height: int, width: int, extent: float = 1.0) -> torch.Tensor:
    """Pixel centres of an H×W image over [−extent, extent]²: (H·W, 2) as (x, y), rows first."""
    ys = ((torch.arange(height) * 2 + 1) / height - 1) * extent
    xs = ((torch.arange(width) * 2 + 1) / width - 1) * extent
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=1)


@torch.no_grad()
def render(net: FieldNetwork, height: int, width: int, extent: float = 1.0) -> np.ndarray:
    """The field on an H×W grid over [−extent, extent]²: (H, W, C) float32, clamped to [0, 1]."""
    coords = pixel_coordinates(height, width, extent)
    out = torch.cat([net(chunk) for chunk in coords.split(1 << 16)])
    return out.clamp(0, 1).reshape(height, width, -1).numpy()


def image_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB (:func:`neuralshade.metrics.psnr`, capped at 100 dB) of (H, W, C) images."""

    def batch(image: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(image, np.float32)).permute(2, 0, 1)[None]

    return min(100.0, float(psnr(batch(a), batch(b))))


def fp16_bytes(net: torch.nn.Module) -> int:
    """Bytes of the network's weights stored in fp16 as a safetensors file (header included)."""
    return len(safetensors_bytes({k: v.half().contiguous() for k, v in net.state_dict().items()}))


def jpeg_at_bytes(image: np.ndarray, budget: int) -> dict[str, Any]:
    """The best JPEG (Pillow, 4:2:0) of ``image`` that takes at most ``budget`` bytes.

    image: (H, W, 3) float in [0, 1]. Searches Pillow's whole quality scale 1…100 by bisection
    (size grows with quality), so a budget above quality 100's size gets quality 100. Returns
    {'quality', 'bytes', 'psnr'}; quality None when even quality 1 is larger than the budget
    (its size and PSNR are then given for quality 1).
    """
    pixels = Image.fromarray(np.round(np.clip(image, 0, 1) * 255).astype(np.uint8))

    def encode(quality: int) -> bytes:
        buffer = io.BytesIO()
        pixels.save(buffer, format="JPEG", quality=quality)
        return buffer.getvalue()

    lo, hi, best = 1, 100, None
    while lo <= hi:
        q = (lo + hi) // 2
        if len(encode(q)) <= budget:
            best, lo = q, q + 1
        else:
            hi = q - 1
    data = encode(best or 1)
    decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), np.float32) / 255
    return {"quality": best, "bytes": len(data), "psnr": image_psnr(decoded, image)}


SAMPLE_IMAGES = ("astronaut", "camera", "coffee", "chelsea", "rocket")


def sample_image(name_or_path: str) -> Any:
    """A path as is, or the name of a photograph shipped with scikit-image as (H, W, 3) uint8.

    Raises InputError when it is neither an existing file nor a known photograph.
    """
    if Path(name_or_path).exists() or name_or_path not in SAMPLE_IMAGES:
        if not Path(name_or_path).exists():
            raise InputError(
                f"{name_or_path}: no such file, nor one of scikit-image's photographs "
                f"({', '.join(SAMPLE_IMAGES)})"
            )
        return name_or_path
    try:
        from skimage import data
    except ImportError:
        raise InputError(
            f"the photograph {name_or_path!r} comes with scikit-image: "
            "pip install 'neuralshade[fields]'"
        ) from None
    return getattr(data, name_or_path)()


def load_rgb(image: Any, max_pixels: int | None = None) -> np.ndarray:
    """A path or an array as (H, W, 3) float32 in [0, 1] (grey is repeated, alpha dropped)."""
    if isinstance(image, (str, os.PathLike)):
        picture = read_image(image, **({"max_pixels": max_pixels} if max_pixels else {}))
        if picture.mode in ("I;16", "I;16B", "I;16L", "I"):
            array = np.asarray(picture, np.float32) / 65535  # 16-bit grey
        else:
            array = np.asarray(picture.convert("RGB"))
    else:
        array = np.asarray(image)
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / 255
    elif array.dtype == np.uint16:
        array = array.astype(np.float32) / 65535
    array = np.asarray(array, np.float32)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4) or min(array.shape[:2]) < 1:
        raise InputError(f"expected an (H, W) or (H, W, 3|4) image, got shape {array.shape}")
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    return np.ascontiguousarray(array[..., :3].clip(0, 1))


def fit_image(
    image: Any,
    config: ImageFitConfig,
    out: str | os.PathLike,
    *,
    resume: bool = False,
    quiet: bool = False,
    log: Any = print,
) -> dict[str, Any]:
    """Fit ``config.field`` to ``image`` (path or array); write the outputs listed above.

    Returns the summary (also ``out/summary.json``).
    """
    target = load_rgb(image)
    h, w, _ = target.shape
    if config.field.n_input_dims != 2 or config.field.network.n_output_dims != 3:
        raise ConfigError(
            "an image field maps (x, y) to (r, g, b): field.n_input_dims must be 2 and "
            "field.network.n_output_dims 3"
        )
    out_dir = Path(out)
    torch.manual_seed(config.seed)
    net = build_model("field", config=config.field)
    opt = optimizer(net, config.lr)
    coords = pixel_coordinates(h, w)
    colours = torch.from_numpy(target.reshape(-1, 3))
    history: list[dict[str, float]] = []
    last = out_dir / "last"
    target_id = {"size": [h, w], "pixels_sha256": fingerprint(target.tobytes())}
    meta = {
        "task": "fields-image",
        "config": config.model_dump(mode="json"),
        "target": target_id,
        "size": [h, w],
    }
    check_outputs(out_dir, [out_dir / name for name in OUTPUTS], _paths(image))
    if begin(last, resume=resume, what="fit"):
        name = checkpoint.DEFAULT_NETWORK
        expected = {**meta, "models": {name: net.spec}}
        info = restore(last, {name: net}, {name: opt}, expected, free=RESUME_FREE)
        history = info["history"]
        log(f"resuming {out_dir} after epoch {len(history)}")

    n = h * w
    for epoch in progress(
        range(len(history), config.epochs), desc="fitting", unit="epoch", quiet=quiet
    ):
        start = time.perf_counter()
        order = torch.randperm(n, generator=torch.Generator().manual_seed(config.seed + epoch))
        net.train()
        for batch in order.split(config.batch_size):
            loss = torch.nn.functional.mse_loss(net(coords[batch]), colours[batch])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        seconds = time.perf_counter() - start + (history[-1]["seconds"] if history else 0.0)
        if not math.isfinite(loss.item()):
            raise ConfigError(
                f"the fit diverged in epoch {epoch + 1} (loss {loss.item()}): lower lr"
            )
        quality = image_psnr(render(net.eval(), h, w), target)
        history.append({"epoch": epoch + 1, "psnr": quality, "seconds": seconds})
        checkpoint.save(last, net, {**meta, "history": history}, opt)

    net.eval()
    reconstruction = render(net, h, w)
    summary = summarise(net, target, reconstruction, history, config)
    write_png(out_dir / "reconstruction.png", reconstruction)
    write_png(out_dir / "outside.png", render(net, h, w, extent=2.0))
    write_json(out_dir / "history.json", history)
    plot_history(history, out_dir / "psnr.png", summary["jpeg_same_bytes"]["psnr"])
    checkpoint.save(out_dir / "field", net, {**meta, "history": history, "summary": summary})
    write_json(out_dir / "summary.json", summary)
    return summary


def _paths(image: Any) -> list[Any]:
    return [image] if isinstance(image, (str, os.PathLike)) else []


def summarise(
    net: FieldNetwork,
    target: np.ndarray,
    reconstruction: np.ndarray,
    history: list[dict[str, float]],
    config: ImageFitConfig,
) -> dict[str, Any]:
    """The figures of a finished fit (see the module docstring)."""
    psnrs = [e["psnr"] for e in history]
    best = max(psnrs)
    converged = next(e for e in history if e["psnr"] >= best - CONVERGED_DB)
    reached = next((e for e in history if e["psnr"] >= TARGET_DB), None)
    size = fp16_bytes(net)
    return {
        "psnr": image_psnr(reconstruction, target),
        "best_psnr": best,
        "parameters": sum(p.numel() for p in net.parameters()),
        "fp16_bytes": size,
        "jpeg_same_bytes": jpeg_at_bytes(target, size),
        "epochs": len(history),
        "epochs_to_converge": converged["epoch"],
        "converged_within_db": CONVERGED_DB,
        f"seconds_to_{TARGET_DB:.0f}_db": reached["seconds"] if reached else None,
        "train_seconds": history[-1]["seconds"],
        "size": list(target.shape[:2]),
        "config": config.model_dump(mode="json"),
        "torch_threads": torch.get_num_threads(),
    }


def plot_history(history: list[dict[str, float]], path: Path, jpeg_psnr: float) -> None:
    """PSNR per epoch, with the JPEG of the same size as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot([e["epoch"] for e in history], [e["psnr"] for e in history], label="network")
    ax.axhline(jpeg_psnr, color="grey", ls="--", lw=1, label="JPEG, same bytes")
    ax.set_xlabel("epoch")
    ax.set_ylabel("PSNR (dB)")
    ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    write_bytes(path, buffer.getvalue())
