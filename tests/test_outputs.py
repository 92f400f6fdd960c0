"""Output paths: distinct inputs get distinct outputs, or the command refuses before any work."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from neuralshade.cli import main
from neuralshade.errors import OutputError
from neuralshade.imageio import write_png
from neuralshade.outputs import Source, check_outputs, plan_outputs
from neuralshade.shading import expand_inputs


def names(plan, out):
    return [str(o.relative_to(out)) for _, o in plan]


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_png(path, np.zeros((16, 16), np.float32))
    return path


def test_unique_names_are_plain_stems(tmp_path):
    sources = [Source(touch(tmp_path / n), tmp_path) for n in ("a.png", "b.jpg")]
    assert names(plan_outputs(sources, tmp_path / "out", ".png"), tmp_path / "out") == [
        "a.png",
        "b.png",
    ]


def test_stems_that_collide_keep_their_extensions(tmp_path):
    sources = [Source(touch(tmp_path / n), tmp_path) for n in ("x.png", "x.jpg", "y.png")]
    plan = plan_outputs(sources, tmp_path / "out", ".png")
    assert names(plan, tmp_path / "out") == ["x.png.png", "x.jpg.png", "y.png"]


def test_same_names_in_different_folders_keep_the_folders(tmp_path):
    a, b = touch(tmp_path / "a/x.png"), touch(tmp_path / "b/x.png")
    plan = plan_outputs([Source(a, a.parent), Source(b, b.parent)], tmp_path / "out", ".png")
    assert names(plan, tmp_path / "out") == ["a/x.png", "b/x.png"]


def test_folder_inputs_keep_their_structure_and_the_same_file_is_done_once(tmp_path):
    for name in ("photos/top.png", "photos/2024/a.jpg", "photos/2025/a.jpg", "photos/.hidden.png"):
        touch(tmp_path / name)
    sources = expand_inputs([str(tmp_path / "photos"), str(tmp_path / "photos/top.png")])
    plan = plan_outputs(sources, tmp_path / "out", ".png")
    assert names(plan, tmp_path / "out") == ["2024/a.png", "2025/a.png", "top.png"]


def test_a_collision_no_renaming_resolves_is_refused_naming_the_inputs(tmp_path):
    # a.png and a.jpg keep their extensions, and a.png.png then meets a.png's new name
    files = [touch(tmp_path / n) for n in ("a.png", "a.jpg", "a.png.png")]
    with pytest.raises(OutputError, match=r"same output: .*a\.png, .*a\.png\.png -> "):
        plan_outputs([Source(f, tmp_path) for f in files], tmp_path / "out", ".png")
    assert not (tmp_path / "out").exists()


def test_outputs_that_are_inputs_or_under_a_file_are_refused(tmp_path):
    image = touch(tmp_path / "x.png")
    with pytest.raises(OutputError, match="overwrite the input"):
        plan_outputs([Source(image, tmp_path)], tmp_path, ".png")
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_outputs(tmp_path / "file" / "deeper")
    (tmp_path / "out/x.png").mkdir(parents=True)
    with pytest.raises(OutputError, match="folder where an output file belongs"):
        plan_outputs([Source(image, tmp_path)], tmp_path / "out", ".png")


@pytest.mark.parametrize(
    "files, given, expected",
    [
        (["a/x.png", "b/x.png"], ["a/x.png", "b/x.png"], ["a/x.png", "b/x.png"]),
        (["x.png", "x.jpg"], ["x.png", "x.jpg"], ["x.jpg.png", "x.png.png"]),
        (["a/x.png", "b/x.png"], ["a", "b"], ["a/x.png", "b/x.png"]),
    ],
)
def test_shade_writes_one_image_per_input(tmp_path, capsys, monkeypatch, files, given, expected):
    monkeypatch.chdir(tmp_path)
    for name in files:
        mask = np.zeros((32, 32), np.float32)
        mask[8:24, 8:24] = 1 if name.endswith("png") else 0.0  # the inputs differ
        touch(Path(name))
        write_png(name, mask)
    assert main(["shade", *given, "-o", "out", "--device", "cpu"]) == 0
    assert "shaded 2 images" in capsys.readouterr().out
    written = sorted(str(p.relative_to("out")) for p in Path("out").rglob("*.png"))
    assert written == expected
    assert all(np.asarray(Image.open(Path("out") / w)).shape == (32, 32, 3) for w in written)


def test_shade_refuses_before_any_work_when_an_output_is_an_input(tmp_path, capsys):
    first, second = touch(tmp_path / "in/a.png"), touch(tmp_path / "b.png")
    code = main(["shade", str(first), str(second), "-o", str(tmp_path), "--device", "cpu"])
    assert code == 2 and "overwrite the input" in capsys.readouterr().err
    assert not (tmp_path / "a.png").exists()  # the first input was not shaded either
