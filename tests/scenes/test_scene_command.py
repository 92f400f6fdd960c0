"""`neuralshade scene random`: a PrimitiveRoom as JSON, exactly the randomiser's."""

from neuralshade.cli import main
from neuralshade.scenes.model import Film, load_scene
from neuralshade.scenes.room import random_room


def test_scene_random_writes_the_randomisers_room(tmp_path, capsys):
    out = tmp_path / "room.json"
    argv = ["scene", "random", "--seed", "4", "--index", "2", "--views", "3", "--size", "64x48"]
    assert main([*argv, "-o", str(out)]) == 0
    expected = random_room(4, 2, 3, film=Film(width=64, height=48))
    assert load_scene(out) == expected
    assert "3 view(s), 64x48" in capsys.readouterr().out


def test_scene_random_refuses_bad_values(tmp_path, capsys):
    for bad in (["--seed", "-1"], ["--views", "0"], ["--size", "0x3"], ["--size", "ax3"]):
        assert main(["scene", "random", *bad, "-o", str(tmp_path / "x.json")]) == 2, bad
        assert capsys.readouterr().err.startswith("error: ")
    assert not (tmp_path / "x.json").exists()
