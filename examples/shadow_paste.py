"""Paste a rendered object into a photograph, for `neuralshade shadow` to give it its shadow.

The photograph is scikit-image's ``coffee`` (CC0, Rachel Michetti): a cup on a wooden table,
lit from the upper left, its shadow on the table. The object is a teapot rendered by Mitsuba 3
(the PrimitiveRoom's mesh, lit from the left as the photo is), cut out by its exact coverage
and pasted onto the table beside the cup, with no shadow. Writes, in the folder given
(default ``out/shadow``):

- ``photo.png``: the photograph (300 × 200);
- ``pasted.png``: the photograph with the teapot pasted in;
- ``mask.png``: the teapot's pixels, white on black.

    python examples/shadow_paste.py out/shadow
    neuralshade shadow out/shadow/pasted.png --mask out/shadow/mask.png -o out/shadow/shadow.png
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

from neuralshade.imageio import linear_to_srgb, write_png
from neuralshade.render.mitsuba.shadow import render_quintuple
from neuralshade.scenes.model import (
    Camera,
    ConstantLight,
    DirectionalLight,
    Film,
    Material,
    Mesh,
    Rectangle,
    Rotation,
    Scene,
    Transform,
)
from neuralshade.scenes.shadow import ShadowScene

SIZE = 80  # the rendered object's square
WHERE = (112, 212)  # (row, column) of the object's square's top-left corner in the photo


def teapot() -> tuple[np.ndarray, np.ndarray]:
    """The teapot's picture (SIZE, SIZE, 3) in [0, 1] and coverage (SIZE, SIZE)."""
    materials = {"ground": Material(albedo=(0.5, 0.5, 0.5)),
                 "object": Material(albedo=(0.1, 0.3, 0.75), roughness=1.0)}  # fmt: skip
    shapes = [
        Rectangle(id="ground", material="ground", to_world=Transform(
            rotate=[Rotation(axis=(1, 0, 0), degrees=-90.0)], scale=(20.0, 20.0, 1.0))),
        Mesh(id="object", material="object", asset="primitive-room/teapot2.obj",
             to_world=Transform(rotate=[Rotation(axis=(0, 1, 0), degrees=200.0)])),
    ]  # fmt: skip
    scene = Scene(
        film=Film(width=SIZE, height=SIZE),
        cameras=[Camera(origin=(0.0, 2.6, 2.6), target=(0.0, 0.4, 0.0), fov=50.0)],
        shapes=shapes, materials=materials,
        lights=[DirectionalLight(id="key", direction=(1.0, -1.2, 0.6), irradiance=(3.0,) * 3),
                ConstantLight(id="sky", radiance=(0.25, 0.25, 0.28))],
    )  # fmt: skip
    out = render_quintuple(ShadowScene(scene=scene, occluders=[]), spp=256, supersample=4)
    linear, coverage = out["with_object"], out["mask"]
    level = np.percentile(linear[coverage > 0.5].max(axis=1), 95)
    return linear_to_srgb(linear * 0.85 / level), coverage


def main(folder: str = "out/shadow") -> None:
    import skimage.data

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    photo = np.asarray(Image.fromarray(skimage.data.coffee()).resize((300, 200), Image.LANCZOS))
    photo = photo.astype(np.float32) / 255
    picture, coverage = teapot()
    pasted, mask = photo.copy(), np.zeros(photo.shape[:2], np.float32)
    (r, c), window = WHERE, (slice(WHERE[0], WHERE[0] + SIZE), slice(WHERE[1], WHERE[1] + SIZE))
    a = coverage[:, :, None]
    pasted[window] = a * picture + (1 - a) * photo[window]
    mask[window] = coverage >= 0.5
    write_png(out / "photo.png", photo)
    write_png(out / "pasted.png", pasted)
    write_png(out / "mask.png", mask)
    print(f"wrote {out}/photo.png, pasted.png and mask.png (the teapot at row {r}, column {c})")


if __name__ == "__main__":
    main(*sys.argv[1:2])
