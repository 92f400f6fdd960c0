"""Small checkpoints shared by tests (a module of its own: several folders have a conftest)."""


def tiny_ao_model(folder, **meta):
    """A small Deep Shading net (6 → 1: camera-space position and normal → AO) saved as a
    deep-shading checkpoint in ``folder`` (extra sidecar keys from ``meta``), its weights moved
    away from their initialisation so that the output depends on every input: (path of the
    weights, the network in eval mode)."""
    import torch

    from neuralshade import checkpoint
    from neuralshade.models import build

    torch.manual_seed(0)
    net = build("deepshading", in_channels=6, out_channels=1, widths=[4, 8], groups=[1, 2])
    for p in net.parameters():
        p.data.add_(0.1 * torch.randn_like(p))
    info = {"task": "deep-shading", "inputs": ["position_camera", "normal_camera"],
            "targets": ["ao_reference"], "loss": "l1", **meta}  # fmt: skip
    path = checkpoint.save(folder / "net", {"net": net}, info).with_suffix(".safetensors")
    return path, net.eval()


def tiny_denoise_model(folder, inputs=("beauty", "albedo", "normal")):
    """A small ShadeUNet denoiser (the beauty read as log1p, predicting log1p of the light under
    logl1) saved as a denoise checkpoint in ``folder``, its weights moved away from their
    initialisation: (path of the weights, the network in eval mode)."""
    import torch

    from neuralshade import checkpoint
    from neuralshade.models import build

    torch.manual_seed(0)
    net = build("unet", in_channels=3 * len(inputs), out_channels=3, widths=[4, 8],
                blocks=[0, 1], head="direct", log_inputs=[0, 1, 2])  # fmt: skip
    for p in net.parameters():
        p.data.add_(0.1 * torch.randn_like(p))
    info = {"task": "denoise", "inputs": list(inputs), "targets": ["beauty_reference"],
            "loss": "logl1"}  # fmt: skip
    path = checkpoint.save(folder / "net", {"net": net}, info).with_suffix(".safetensors")
    return path, net.eval()
