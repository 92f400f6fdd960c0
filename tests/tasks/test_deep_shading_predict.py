"""deep-shading's prediction: AO clamped to [0, 1], and 1 where the camera saw no surface."""

import torch

from neuralshade.task import get_task

AO_INFO = {"inputs": ["position_camera", "normal_camera"], "targets": ["ao_reference"]}


class Constant(torch.nn.Module):
    """A stand-in network: the same value everywhere, whatever the input."""

    def __init__(self, value: float):
        super().__init__()
        self.value = value

    def forward(self, x):
        return torch.full_like(x[:, :1], self.value)


def test_ao_is_one_where_no_sample_hit_and_the_network_elsewhere():
    normal = torch.zeros(1, 3, 4, 5)
    normal[..., :2, :] = torch.tensor([0.0, 0.0, 1.0]).view(1, 3, 1, 1)  # top rows: a surface
    normal[..., 3, 4] = torch.tensor([0.0, 0.1, 0.0])  # a partly covered edge pixel
    batch = {"position_camera": torch.randn(1, 3, 4, 5), "normal_camera": normal}
    pred = get_task("deep-shading").predict({"net": Constant(0.3)}, batch, AO_INFO)
    hit = normal.abs().sum(1, keepdim=True) > 0
    assert torch.equal(pred[hit], torch.full_like(pred[hit], 0.3))
    assert torch.equal(pred[~hit], torch.ones_like(pred[~hit]))
    assert int(hit.sum()) == 11


def test_ao_is_clamped_and_light_is_left_alone_by_the_background_rule():
    batch = {"position_camera": torch.zeros(1, 3, 2, 2), "normal_camera": torch.zeros(1, 3, 2, 2)}
    batch["normal_camera"][..., 0, 0] = 1.0
    task = get_task("deep-shading")
    assert float(task.predict({"net": Constant(-0.5)}, batch, AO_INFO)[0, 0, 0, 0]) == 0.0
    gi = {"inputs": ["position_camera", "normal_camera"], "targets": ["indirect_reference"]}
    light = task.predict({"net": Constant(2.0)}, batch, gi)
    assert torch.equal(light, torch.full_like(light, 2.0))  # light on the sky: not AO's rule
