"""Classic methods a task's networks are measured against, called like a task's predict.

Screen-space ambient occlusion from a view's camera-space G-buffers (:mod:`.camera` turns the
world-space buffers and ``pose`` into them): each ``method(position, normal, *, focal, radius,
<sample counts>, seed)`` maps (N, 3, H, W) position and normal to (N, 1, H, W) AO in [0, 1].
SSAO (Mittring 2007, hemisphere kernel), HBAO (Bavoil, Sainz, Dimitrov 2008) and GTAO
(Jimenez et al. 2016) — GTAO is the one that estimates ray-traced cosine-weighted AO.
"""

from neuralshade.baselines.gtao import gtao
from neuralshade.baselines.hbao import hbao
from neuralshade.baselines.ssao import ssao

SCREEN_SPACE_AO = {"ssao": ssao, "hbao": hbao, "gtao": gtao}

__all__ = ["SCREEN_SPACE_AO", "gtao", "hbao", "ssao"]
