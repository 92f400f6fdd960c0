"""Progress bars for long work: shown on a terminal, silent in logs, CI and with ``quiet``."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm


def progress(
    iterable: Iterable[Any] | None = None,
    *,
    total: int | None = None,
    desc: str | None = None,
    unit: str = "it",
    quiet: bool = False,
    **kwargs: Any,
) -> tqdm:
    """A tqdm bar on stderr, disabled when ``quiet`` or when stderr is not a terminal."""
    return tqdm(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        dynamic_ncols=True,
        disable=quiet or not sys.stderr.isatty(),
        **kwargs,
    )
