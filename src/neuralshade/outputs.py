"""Where outputs go: one function decides, before any work, and nothing is lost or overwritten.

Every command that writes one output per input (``shade`` today; each task's ``predict``
later) asks :func:`plan_outputs` for its paths, and every command that writes into a folder
asks :func:`check_outputs` before it starts. The rules:

* Distinct inputs get distinct outputs. An input named directly (a file or a glob match)
  gives ``OUT/<stem><suffix>``; an input found in a folder keeps its path relative to that
  folder (``photos/2024/a.jpg`` given as ``photos`` → ``OUT/2024/a<suffix>``).
* Where two inputs would share an output, their names keep their extensions
  (``x.png`` and ``x.jpg`` → ``x.png.png`` and ``x.jpg.png``); where that is not enough
  (``a/x.png`` and ``b/x.png``), they keep the folders that tell them apart
  (``OUT/a/x.png``, ``OUT/b/x.png``). The same file named twice is done once.
* Anything still colliding, an output that is one of the inputs, or an output folder that is
  a file, is refused before any work, naming the inputs and paths involved.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from neuralshade.errors import OutputError


@dataclass(frozen=True)
class Source:
    """An input file and the folder its output name is taken relative to.

    ``root`` is the folder the user named for files found inside it, else the file's own folder.
    """

    path: Path
    root: Path

    @property
    def relative(self) -> Path:
        return self.path.relative_to(self.root)


def plan_outputs(sources: Sequence[Source], out_dir: str | os.PathLike, suffix: str) -> list:
    """(source, output path) for each distinct input, in order; refuses collisions.

    ``suffix`` is the outputs' extension (``".png"``). Raises OutputError, before anything is
    written, when two inputs would still share an output, when an output would replace an
    input, or when ``out_dir`` cannot be a folder (see :func:`check_outputs`).
    """
    out = Path(out_dir)
    unique: list[Source] = []
    seen: set[Path] = set()
    for source in sources:  # the same file named twice (a file and its folder, say): once
        key = source.path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(source)

    names = {s: s.relative.with_suffix(suffix) for s in unique}
    for group in _collisions(names):
        # the first way of naming that tells the group apart: keep the extensions (x.png and
        # x.jpg), keep the folders (a/x.png and b/x.png), or both
        folders = _distinguishing_folders([s.root for s in group])
        ways = [
            [s.relative.with_name(s.relative.name + suffix) for s in group],
            [f / names[s] for s, f in zip(group, folders, strict=True)],
            [
                f / s.relative.with_name(s.relative.name + suffix)
                for s, f in zip(group, folders, strict=True)
            ],
        ]
        for way in ways:
            if len({os.path.normcase(str(n)) for n in way}) == len(group):
                names.update(zip(group, way, strict=True))
                break
    clashes = _collisions(names)
    if clashes:
        listed = "; ".join(
            f"{', '.join(str(s.path) for s in group)} -> {out / names[group[0]]}"
            for group in clashes
        )
        raise OutputError(
            f"these inputs would write the same output: {listed}; rename them or give them "
            "separate output folders"
        )
    plan = [(s, out / names[s]) for s in unique]
    check_outputs(out, [o for _, o in plan], [s.path for s in unique])
    return plan


def check_outputs(
    out_dir: str | os.PathLike,
    outputs: Iterable[str | os.PathLike] = (),
    inputs: Iterable[str | os.PathLike] = (),
) -> None:
    """Refuse, before any work, outputs that cannot be written or would replace an input.

    ``out_dir`` must be a folder or not exist yet (nothing above it may be a file); no path
    in ``outputs`` may be one of ``inputs`` or an existing folder. Raises OutputError naming
    the path and what to do.
    """
    out = Path(out_dir)
    for folder in (out, *out.parents):
        if folder.exists():
            if not folder.is_dir():
                where = f"{out}: {folder}" if folder != out else str(out)
                raise OutputError(f"{where} is a file, not a folder; choose another output folder")
            break
    taken = {Path(p).resolve(): Path(p) for p in inputs if Path(p).exists()}
    for path in map(Path, outputs):
        if path.resolve() in taken:
            raise OutputError(
                f"writing {path} would overwrite the input {taken[path.resolve()]}: "
                "choose another output folder"
            )
        if path.is_dir():
            raise OutputError(f"{path} is a folder where an output file belongs: move it away")


def _collisions(names: dict[Source, Path]) -> list[list[Source]]:
    """Groups (in input order) of sources that share an output name."""
    groups: dict[str, list[Source]] = defaultdict(list)
    for source, name in names.items():
        groups[os.path.normcase(str(name))].append(source)
    return [group for group in groups.values() if len(group) > 1]


def _distinguishing_folders(roots: list[Path]) -> list[Path]:
    """Each root's path below the folder all of them share (``a``, ``b`` for ``./a``, ``./b``).

    Roots that resolve to the same folder get the same prefix (and stay in collision).
    """
    resolved = [r.resolve() for r in roots]
    common = Path(os.path.commonpath(resolved))
    return [r.relative_to(common) for r in resolved]
