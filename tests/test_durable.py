"""Durable, race-free writes: data on disk before the rename, and no umask toggling."""

import os

import numpy as np
import pytest

from neuralshade import checkpoint, imageio
from neuralshade.errors import OutputError
from neuralshade.imageio import write_bytes, write_json, write_npy, write_png
from neuralshade.models import build


def record_sync_and_rename(monkeypatch) -> list[tuple[str, str]]:
    """Events ("fsync", path) and ("replace", destination), in order."""
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", str(os.path.realpath(dst))))
        real_replace(src, dst)

    monkeypatch.setattr(imageio.os, "fsync", fsync)
    monkeypatch.setattr(imageio.os, "replace", replace)
    return events


@pytest.mark.parametrize(
    "write",
    [
        lambda p: write_bytes(p / "a.bin", b"data"),
        lambda p: write_json(p / "manifest.json", {"a": 1}),
        lambda p: write_npy(p / "ao.npy", np.zeros(3, np.float32)),
        lambda p: write_png(p / "target.png", np.zeros((4, 4), np.float32)),
    ],
)
def test_every_write_is_flushed_before_the_rename_and_the_folder_after(
    tmp_path, monkeypatch, write
):
    events = record_sync_and_rename(monkeypatch)
    write(tmp_path)
    kinds = [kind for kind, _ in events]
    assert kinds == ["fsync", "replace", "fsync"], events
    temporary, destination, folder = (path for _, path in events)
    assert os.path.dirname(temporary) == str(tmp_path.resolve()) != temporary  # the temp file
    assert os.path.dirname(destination) == folder == str(tmp_path.resolve())


def test_a_checkpoint_flushes_weights_optimizer_and_sidecar(tmp_path, monkeypatch):
    import torch

    model = build("resconv", in_channels=1, channels=4, layers=2, strides=[1, 1])
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.zeros(1, 1, 24, 24)).mean().backward()
    optimizer.step()
    events = record_sync_and_rename(monkeypatch)
    checkpoint.save(tmp_path / "last", model, {"task": "ao2d", "step": 1}, optimizer)
    renamed = [os.path.basename(p) for kind, p in events if kind == "replace"]
    assert renamed == ["last.safetensors", "last.state.safetensors", "last.json"]
    for i, (kind, _) in enumerate(events):
        if kind == "replace":
            assert events[i - 1][0] == "fsync" and events[i + 1][0] == "fsync"


def test_writes_never_touch_the_umask_and_get_the_usual_permissions(tmp_path, monkeypatch):
    mask = os.umask(0o027)
    try:

        def no_umask(_):
            raise AssertionError("os.umask changes the whole process's umask: races threads")

        monkeypatch.setattr(os, "umask", no_umask)
        write_bytes(tmp_path / "a.bin", b"x")
        write_png(tmp_path / "b.png", np.zeros((2, 2), np.float32))
    finally:
        monkeypatch.undo()
        os.umask(mask)
    for name in ("a.bin", "b.png"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o640  # 0o666 less the umask


def test_a_write_under_a_file_is_an_output_error_that_leaves_nothing(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OutputError, match="afile"):
        write_json(tmp_path / "afile" / "out.json", {})
    (tmp_path / "folder.json").mkdir()
    with pytest.raises(OutputError, match="folder stands where the file belongs"):
        write_json(tmp_path / "folder.json", {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "folder.json"]


def test_no_permission_to_write_is_an_output_error_naming_the_path(tmp_path, monkeypatch):
    # root may write anywhere, so the refusal a user without permission meets is simulated
    real_open = os.open

    def denied(path, flags, *args):
        if flags & os.O_CREAT:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(imageio.os, "open", denied)
    with pytest.raises(OutputError, match=r"cannot write .*m\.onnx: Permission denied.*permission"):
        write_bytes(tmp_path / "m.onnx", b"x")
    assert list(tmp_path.iterdir()) == []
