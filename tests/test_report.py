"""benchmarks/report.py: the docs' measured figures are the JSON's, and follow it."""

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("report", ROOT / "benchmarks" / "report.py")
report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(report)


@pytest.fixture
def copy(tmp_path):
    """A scratch root with copies of the docs, and a copy of the results folder."""
    for doc in report.DOCS:
        (tmp_path / doc).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / doc, tmp_path / doc)
    shutil.copytree(report.RESULTS, tmp_path / "results")
    return tmp_path


def run(copy, *flags):
    return report.main(["--root", str(copy), "--results", str(copy / "results"), *flags])


def edit_json(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_committed_docs_match_the_json(capsys):
    status = report.main(["--check"])
    assert status == 0, "the docs are stale: run python benchmarks/report.py\n" + (
        capsys.readouterr().out
    )


def test_a_changed_json_changes_the_docs_and_check_names_the_stale_sections(copy, capsys):
    def slower_torus(data):
        fit = data["fits"][0]
        assert (fit["preset"], fit["shape"]) == ("hash", "torus")
        fit["train_seconds"] = 123.4

    edit_json(copy / "results" / "fields_sdf.json", slower_torus)
    before = {doc: (ROOT / doc).read_text() for doc in report.DOCS}

    assert run(copy, "--check") == 1
    out = capsys.readouterr().out
    assert "block fields_sdf" in out  # the table
    assert "fit hash torus train_seconds :.0f" in out  # the README's sentence
    assert "-| `hash` | torus | 0.9901 | 0.0037 | 63 |" in out
    assert "+| `hash` | torus | 0.9901 | 0.0037 | 123 |" in out

    assert run(copy) == 0
    readme = (copy / "README.md").read_text()
    assert "train_seconds :.0f -->123<!-- /fig --> s" in readme
    assert "| `hash` | torus | 0.9901 | 0.0037 | 123 |" in (copy / "docs/RESULTS.md").read_text()
    assert run(copy, "--check") == 0
    assert {doc: (ROOT / doc).read_text() for doc in report.DOCS} == before  # untouched


def test_machine_line_comes_from_the_json(copy):
    for path in (copy / "results").glob("*.json"):
        edit_json(path, lambda data: data["machine"].update(cpu_count=64))
    assert run(copy) == 0
    results = (copy / "docs/RESULTS.md").read_text()
    assert "64 cores of an Intel Xeon" in results
    assert "2 cores of an Intel Xeon" not in results


def test_an_unknown_figure_is_an_error_that_names_it(copy, capsys):
    readme = copy / "README.md"
    marker = "<!-- fig: fields_sdf.fits[0].no_such_key -->1<!-- /fig -->"
    readme.write_text(readme.read_text() + f"\n{marker}\n")
    assert run(copy, "--check") == 2
    assert "no_such_key" in capsys.readouterr().err


def test_an_unclosed_block_is_an_error(copy, capsys):
    readme = copy / "README.md"
    text = readme.read_text().replace("<!-- end generated -->", "", 1)
    readme.write_text(text)
    assert run(copy, "--check") == 2
    assert "marker" in capsys.readouterr().err


@pytest.mark.parametrize(
    "value, spec, text",
    [
        (0.2474, ".0%", "25 %"),
        ((0.436, 0.570), ".0%", "44–57 %"),
        ((0.0009, 0.00091), ".4f", "0.0009"),
        (-0.000117, ".4f", "−0.0001"),
        (4.09e-07, ".0e", "4e-7"),
        (1712961, ",", "1,712,961"),
        (24.0, "", "24"),
        ([0, 1, 2], "", "0, 1, 2"),
    ],
)
def test_figures_are_written_as_the_docs_write_them(value, spec, text):
    assert report.fmt(value, spec) == text


def test_the_paired_table_bolds_a_gap_whose_interval_leaves_out_zero():
    ci = lambda m, lo, hi: {"mean": m, "low": lo, "high": hi, "n": 50}  # noqa: E731
    paired = {"reference": "ours", "methods": {
        "l2": {"lrmse": ci(1.5, 0.4, 2.6), "lber": ci(-0.02, -0.05, 0.01),
               "grmse": ci(-0.1, -0.2, -0.01), "gber": ci(0.0, 0.0, 0.0)}}}  # fmt: skip
    text = report.paired_table("x")({"x": {"paired": paired}})
    lines = text.splitlines()
    assert lines[0] == "| method − **ours** (ARShadowGAN-like) | LRMSE | LBER | GRMSE | GBER |"
    assert lines[2] == ("| L2 U-Net (no attention, no GAN) | **+1.50 [+0.40, +2.60]** "
                        "| -0.020 [-0.050, +0.010] | **-0.10 [-0.20, -0.01]** "
                        "| +0.000 [+0.000, +0.000] |")  # fmt: skip
