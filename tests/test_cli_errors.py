"""Every command against a table of bad inputs: exit 2, ``error: …``, no traceback, nothing left.

Each case runs in a fresh workspace of good and bad files; the whole workspace is compared
before and after, so a command that wrote part of its output before failing is caught too.
The commands run in this process (``main``): an exception that escapes fails the test, as a
traceback would fail a user.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import yaml

from neuralshade.cli import main
from neuralshade.imageio import write_png

GOOD = "ao2d-resconv-cpu"  # the smaller bundled model


def _sidecar(**changes):
    def write(ws: Path) -> str:
        info = json.loads((ws / "ckpt/good.json").read_text())
        for key, value in changes.items():
            *parents, leaf = key.split(".")
            node = info
            for part in parents:
                node = node[part]
            node[leaf] = value
        (ws / "ckpt/bad.json").write_text(json.dumps(info))
        shutil.copy(ws / "ckpt/good.safetensors", ws / "ckpt/bad.safetensors")
        return str(ws / "ckpt/bad.safetensors")

    return write


def _raw_sidecar(text: str):
    def write(ws: Path) -> str:
        (ws / "ckpt/bad.json").write_text(text)
        shutil.copy(ws / "ckpt/good.safetensors", ws / "ckpt/bad.safetensors")
        return str(ws / "ckpt/bad.safetensors")

    return write


def _garbage_weights(ws: Path) -> str:
    shutil.copy(ws / "ckpt/good.json", ws / "ckpt/bad.json")
    (ws / "ckpt/bad.safetensors").write_bytes(b"\x00not safetensors" * 10)
    return str(ws / "ckpt/bad.safetensors")


def _pickled_weights(ws: Path) -> str:
    import pickle

    shutil.copy(ws / "ckpt/good.json", ws / "ckpt/bad.json")
    (ws / "ckpt/bad.safetensors").write_bytes(pickle.dumps({"weight": [1.0, 2.0]}))
    return str(ws / "ckpt/bad.safetensors")


HOSTILE = {
    "model-is-a-list": _sidecar(model=[1, 2]),
    "model-name-is-a-number": _sidecar(**{"model.name": 5}),
    "model-args-is-a-list": _sidecar(**{"model.args": [1]}),
    "model-args-wrong-type": _sidecar(**{"model.args.channels": "many"}),
    "model-args-negative": _sidecar(**{"model.args.channels": -3}),
    "model-unknown": _sidecar(**{"model.name": "no-such-net"}),
    "render-is-a-list": _sidecar(render=[1]),
    "render-wrong-type": _sidecar(**{"render.height": "tall"}),
    "render-nan": _sidecar(**{"render.light_azimuth": float("nan")}),
    "render-unknown-key": _sidecar(**{"render.heigth": 3}),
    "inputs-is-a-number": _sidecar(inputs=7),
    "loss-unknown": _sidecar(loss="no-such-loss"),
    "step-negative": _sidecar(step=-4),
    "format-unknown": _sidecar(format=99),
    "sidecar-not-json": _raw_sidecar("{not json"),
    "sidecar-a-list": _raw_sidecar("[1, 2, 3]"),
    "sidecar-empty": _raw_sidecar(""),
    "weights-garbage": _garbage_weights,
    "weights-a-pickle": _pickled_weights,
}


@pytest.fixture
def ws(tmp_path, tiny_run):
    """A workspace: good inputs, bad inputs, and a file standing where folders go."""
    mask = np.zeros((24, 24), np.float32)
    mask[6:18, 6:18] = 1
    write_png(tmp_path / "mask.png", mask)
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x07" * 200)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "afile").write_text("a file where a folder belongs")
    (tmp_path / "empty.obj").write_bytes(b"")
    (tmp_path / "garbage.obj").write_text("v 1 2\nf 9 9 9\nnonsense\n")
    (tmp_path / "bad.yaml").write_text("data: [unclosed\n")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    weights = resources.files("neuralshade") / "weights"
    (tmp_path / "ckpt").mkdir()
    shutil.copy(str(weights / f"{GOOD}.safetensors"), tmp_path / "ckpt/good.safetensors")
    shutil.copy(str(weights / f"{GOOD}.json"), tmp_path / "ckpt/good.json")
    train_config = tiny_run
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(train_config))
    (tmp_path / "nan.yaml").write_text(
        yaml.safe_dump({**train_config, "steps": 2}) + "seed: .nan\n"
    )
    return tmp_path


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): "dir"
        if p.is_dir()
        else hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
    }


CASES = {
    # ---- render
    "render missing": "render nothing.png -o out",
    "render empty": "render empty.png -o out",
    "render corrupt": "render garbage.png -o out",
    "render not an image": "render notes.txt -o out",
    "render a folder as input": "render ckpt -o out",
    "render -o a file": "render mask.png -o afile",
    "render -o under a file": "render mask.png -o afile/out",
    "render nan azimuth": "render mask.png -o out --light-azimuth nan",
    "render inf azimuth": "render mask.png -o out --light-azimuth inf",
    "render zero height": "render mask.png -o out --height 0",
    "render nan via --set": "render mask.png -o out --set ambient=.nan",
    "render negative seed": "render mask.png -o out --seed -1",
    "render zero max-pixels": "render mask.png -o out --max-pixels 0",
    "render wrong type": "render mask.png -o out --ao-samples many",
    "render unknown option": "render mask.png -o out --colour red",
    # ---- dataset
    "dataset -o a file": "dataset ao2d --out afile --count 2 --size 16",
    "dataset -o under a file": "dataset ao2d --out afile/d --count 2 --size 16",
    "dataset zero count": "dataset ao2d --out d --count 0",
    "dataset nan azimuth": "dataset ao2d --out d --count 2 --size 16 --light-azimuth nan",
    "dataset nan vary": "dataset ao2d --out d --count 2 --size 16 --vary light_azimuth=nan:inf",
    "dataset reversed vary": "dataset ao2d --out d --count 2 --size 16 --vary height=9:3",
    "dataset missing config": "dataset ao2d --out d --config nothing.yaml",
    "dataset corrupt config": "dataset ao2d --out d --config bad.yaml",
    "dataset config not a mapping": "dataset ao2d --out d --config list.yaml",
    "dataset bad shard": "dataset ao2d --out d --count 2 --size 16 --shard 3/2",
    "dataset zero workers": "dataset ao2d --out d --count 2 --size 16 --workers 0",
    "dataset room unknown reference buffer": "dataset room --out d --reference-buffers ao,fog",
    "dataset room flag for ao2d": "dataset ao2d --out d --reference-buffers ao",
    # ---- train
    "train missing config": "train nothing.yaml --out run",
    "train corrupt config": "train bad.yaml --out run",
    "train config not a mapping": "train list.yaml --out run",
    "train empty config": "train empty.png --out run",
    "train nan in config": "train nan.yaml --out run",
    "train zero steps": "train train.yaml --out run --set steps=0",
    "train nan lr": "train train.yaml --out run --set optimizer.lr=.nan",
    "train -o a file": "train train.yaml --out afile",
    "train -o under a file": "train train.yaml --out afile/run",
    "train resume nothing": "train train.yaml --out run --resume",
    "train missing data": "train train.yaml --out run --set data=nowhere",
    # ---- eval
    "eval missing checkpoint": "eval nothing.safetensors --data DATA --out ev",
    "eval missing data": "eval ckpt/good.safetensors --data nowhere --out ev",
    "eval data is a file": "eval ckpt/good.safetensors --data afile --out ev",
    "eval -o a file": "eval ckpt/good.safetensors --data DATA --out afile",
    "eval unknown baseline": "eval ckpt/good.safetensors --data DATA --out ev --baseline fog",
    "eval baseline and none": "eval ckpt/good.safetensors --data DATA --baseline a --no-baselines",
    # ---- infer
    "infer missing folder": "infer ckpt/good.safetensors nowhere -o out",
    "infer folder is a file": "infer ckpt/good.safetensors afile -o out",
    "infer missing model": "infer nothing.safetensors DATA -o out",
    "infer -o a file": "infer ckpt/good.safetensors DATA -o afile",
    # ---- shade
    "shade missing": "shade nothing.png -o out",
    "shade empty": "shade empty.png -o out",
    "shade corrupt": "shade garbage.png -o out",
    "shade -o a file": "shade mask.png -o afile",
    "shade -o under a file": "shade mask.png -o afile/out",
    "shade zero tile": "shade mask.png -o out --tile 0",
    "shade zero max-pixels": "shade mask.png -o out --max-pixels 0",
    "shade unknown model": "shade mask.png -o out --model no-such-model",
    "shade model is not a checkpoint": "shade mask.png -o out --model mask.png",
    "shade model predicts ao": "shade mask.png -o out --model HOSTILE:targets-ao",
    # ---- demo
    "demo -o a file": "demo --out afile",
    "demo -o under a file": "demo --out afile/demo",
    "demo empty text": "demo --text= --out demo",
    # ---- export
    "export missing checkpoint": "export nothing.safetensors --onnx m.onnx",
    "export into a file's folder": "export ckpt/good.safetensors --onnx afile/m.onnx",
    "export over its checkpoint": "export ckpt/good.safetensors --onnx ckpt/good.json",
    "export old opset": "export ckpt/good.safetensors --onnx m.onnx --opset 5",
    # ---- fit image
    "fit image missing": "fit image nothing.png --out f",
    "fit image empty": "fit image empty.png --out f",
    "fit image corrupt": "fit image garbage.png --out f",
    "fit image zero epochs": "fit image mask.png --out f --epochs 0",
    "fit image negative epochs": "fit image mask.png --out f --epochs -2",
    "fit image nan lr": "fit image mask.png --out f --set lr=.nan",
    "fit image unknown preset": "fit image mask.png --out f --preset no-such",
    "fit image -o a file": "fit image mask.png --out afile",
    "fit image resume nothing": "fit image mask.png --out f --resume",
    "fit image over its input": "fit image ckpt/good.json --out ckpt",
    # ---- fit sdf
    "fit sdf unknown shape": "fit sdf no_such_shape --out f",
    "fit sdf missing mesh": "fit sdf nothing.obj --out f",
    "fit sdf empty mesh": "fit sdf empty.obj --out f",
    "fit sdf corrupt mesh": "fit sdf garbage.obj --out f",
    "fit sdf zero steps": "fit sdf torus --out f --steps 0",
    "fit sdf inf lr": "fit sdf torus --out f --set lr=.inf",
    "fit sdf -o a file": "fit sdf torus --out afile",
}
CASES.update(
    {f"shade hostile {name}": f"shade mask.png -o out --model HOSTILE:{name}" for name in HOSTILE}
)
CASES.update(
    {
        f"eval hostile {name}": f"eval HOSTILE:{name} --data DATA --out ev"
        for name in ("model-is-a-list", "inputs-is-a-number", "render-wrong-type", "loss-unknown")
    }
)
CASES.update(
    {
        f"export hostile {name}": f"export HOSTILE:{name} --onnx m.onnx"
        for name in ("model-args-is-a-list", "model-args-negative", "weights-a-pickle")
    }
)
HOSTILE["targets-ao"] = _sidecar(targets=["ao"])


@pytest.mark.parametrize("case", CASES)
def test_a_bad_input_exits_2_with_an_error_line_and_leaves_nothing(
    case, ws, tiny_dataset, capsys, monkeypatch
):
    monkeypatch.chdir(ws)
    argv = []
    for word in CASES[case].split(" "):
        if word.startswith("HOSTILE:"):
            word = HOSTILE[word.removeprefix("HOSTILE:")](ws)
        argv.append(word.replace("DATA", str(tiny_dataset)))
    argv += ["--quiet"] if argv[0] in ("render", "dataset", "train", "eval", "shade", "fit") else []
    argv += ["--device", "cpu"] if argv[0] in ("render", "eval", "shade", "demo") else []
    before = snapshot(ws)
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, f"{argv}: exit {code}\n{out}{err}"
    assert any(line.startswith("error: ") for line in err.splitlines()), err
    assert "Traceback" not in out + err
    assert snapshot(ws) == before, "the failed command left output behind"
