"""deep-shading's prediction: AO clamped to [0, 1], and 1 where the camera saw no surface;
indirect light never negative, and 0 there."""

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


def test_ao_is_clamped_indirect_light_is_zero_off_the_scene_other_light_left_alone():
    batch = {"position_camera": torch.zeros(1, 3, 2, 2), "normal_camera": torch.zeros(1, 3, 2, 2)}
    batch["normal_camera"][..., 0, 0] = 1.0  # one pixel sees a surface, three the sky
    task = get_task("deep-shading")
    assert float(task.predict({"net": Constant(-0.5)}, batch, AO_INFO)[0, 0, 0, 0]) == 0.0
    # indirect light needs a surface to bounce off: none where the camera saw the sky
    gi = {"inputs": ["position_camera", "normal_camera"], "targets": ["indirect_reference"]}
    light = task.predict({"net": Constant(2.0)}, batch, gi)
    assert torch.equal(light, torch.tensor([[[[2.0, 0.0], [0.0, 0.0]]]]))
    assert float(task.predict({"net": Constant(-1.0)}, batch, gi).min()) == 0.0  # never < 0
    # the view through a lens shows the sky's own light there: left to the network
    dof = {"inputs": ["position_camera", "normal_camera"], "targets": ["dof_reference"]}
    light = task.predict({"net": Constant(2.0)}, batch, dof)
    assert torch.equal(light, torch.full_like(light, 2.0))
