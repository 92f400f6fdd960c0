"""3D scenes as plain data (pydantic, JSON): :mod:`.model` (shapes, materials, lights, cameras,
film) and :mod:`.room` (the PrimitiveRoom randomiser). No renderer is imported here;
:mod:`neuralshade.render.mitsuba.scene_dict` turns a scene into Mitsuba's dict.
"""

from neuralshade.scenes.model import Scene, load_scene, save_scene, surface_table
from neuralshade.scenes.room import FACTORS, factor_varied_rooms, random_room

__all__ = [
    "FACTORS",
    "Scene",
    "factor_varied_rooms",
    "load_scene",
    "random_room",
    "save_scene",
    "surface_table",
]
