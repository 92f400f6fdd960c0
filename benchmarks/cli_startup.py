"""How fast the command line answers: ``neuralshade [COMMAND] --help`` against ``import torch``.

Each is a fresh process (what a user waits for), timed from start to exit; medians of several
after a warm-up run (so the file cache is warm for both). The figure is the ratio to
``python -c "import torch"`` measured in the same run: the CLI should take under a tenth.

    python benchmarks/cli_startup.py            # the recorded figures
    python benchmarks/cli_startup.py --quick    # fewer repeats (CI)
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from common import RESULTS, record, timed

COMMANDS = [
    "",
    "render",
    "dataset",
    "train",
    "eval",
    "shade",
    "demo",
    "export",
    "fit image",
    "fit sdf",
]
TARGET_RATIO = 0.1


def run(argv: list[str]) -> None:
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 11")
    parser.add_argument("--out", type=Path, default=RESULTS / "cli_startup.json")
    args = parser.parse_args()
    repeats = 3 if args.quick else 11
    cli = shutil.which("neuralshade", path=str(Path(sys.executable).parent)) or "neuralshade"

    torch_s = statistics.median(timed(lambda: run([sys.executable, "-c", "import torch"]), repeats))
    rows = []
    for command in COMMANDS:
        argv = [cli, *command.split(), "--help"]
        seconds = statistics.median(timed(lambda argv=argv: run(argv), repeats))
        rows.append(
            {
                "command": " ".join(["neuralshade", *command.split(), "--help"]),
                "seconds": round(seconds, 4),
                "ratio_to_import_torch": round(seconds / torch_s, 4),
            }
        )
        print(f"{rows[-1]['command']:32s} {seconds * 1e3:7.1f} ms  {seconds / torch_s:6.3f}x torch")
    worst = max(r["ratio_to_import_torch"] for r in rows)
    print(f"import torch {torch_s * 1e3:.0f} ms; worst ratio {worst:.3f} (target < {TARGET_RATIO})")
    record(
        args.out,
        "cli_startup",
        args.quick,
        {
            "repeats": repeats,
            "import_torch_seconds": round(torch_s, 4),
            "commands": rows,
            "worst_ratio": worst,
            "target_ratio": TARGET_RATIO,
            "meets_target": worst < TARGET_RATIO,
        },
    )
    if worst >= TARGET_RATIO:
        sys.exit(f"a command's --help took {worst:.3f}x import torch (target < {TARGET_RATIO})")


if __name__ == "__main__":
    main()
