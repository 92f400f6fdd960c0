"""The command line answers at once: parsing and --help import nothing heavy.

The time itself is a benchmark (benchmarks/cli_startup.py); this checks the cause of a slow
start, which is deterministic: no torch, numpy or pydantic before a command runs.
"""

import subprocess
import sys

from neuralshade.cli import COMMANDS, RENDER_FLAGS, build_parser, declared_fields

HEAVY = ("torch", "numpy", "pydantic", "PIL", "scipy", "yaml")

PROBE = """
import sys
from neuralshade.cli import main
for argv in ({argvs}):
    assert main(argv) == 0, argv
print("imported:", ",".join(m for m in {heavy!r} if m in sys.modules))
"""


def test_help_and_version_import_nothing_heavy():
    argvs = [["--help"], ["--version"]] + [[*c.split(), "--help"] for c in [*COMMANDS, "fit image"]]
    argvs.append(["fit", "sdf", "--help"])
    code = PROBE.format(argvs=", ".join(map(repr, argvs)), heavy=HEAVY)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert last == "imported:", f"imported before any command ran: {last}"


def test_render_flags_read_from_source_match_the_render_settings():
    from neuralshade.render.params import RenderParams

    declared = declared_fields("render.params", "RenderParams")
    assert set(declared) == set(RenderParams.model_fields)
    for key in RENDER_FLAGS:
        kind, default, description = declared[key]
        field = RenderParams.model_fields[key]
        assert (default, description) == (field.default, field.description), key
        assert kind is ({float: float, int: int}.get(field.annotation, str)), key


def test_the_full_parser_knows_every_command_and_the_default_max_pixels_agrees():
    from neuralshade.imageio import DEFAULT_MAX_PIXELS

    parser = build_parser()
    args = parser.parse_args(["shade", "x.png", "-o", "out"])
    assert args.max_pixels == DEFAULT_MAX_PIXELS and args.command == "shade"
    assert set(parser._subparsers._group_actions[0].choices) == set(COMMANDS)
