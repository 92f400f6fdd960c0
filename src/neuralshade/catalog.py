"""What is installed: every task with its buffers, networks, presets and bundled models.

``neuralshade tasks`` prints :func:`tasks`.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from neuralshade.task import get_task, task_names


def _shipped(folder: str, suffix: str) -> dict[str, Any]:
    """name → file of the package's ``folder`` ending in ``suffix``."""
    root = resources.files("neuralshade") / folder
    return {
        p.name.removesuffix(suffix): p
        for p in sorted(root.iterdir(), key=lambda p: p.name)
        if p.name.endswith(suffix)
    }


def presets() -> dict[str, str]:
    """Shipped training presets (configs/*.yaml with a ``task`` and a ``steps``) → task."""
    from neuralshade.config import load_yaml

    out = {}
    for name, path in _shipped("configs", ".yaml").items():
        values = load_yaml(str(path))
        if "steps" in values and "task" in values and "data" in values:
            out[name] = values["task"]
    return out


def bundled() -> dict[str, str]:
    """Bundled models (weights/*.json) → task."""
    return {
        name: json.loads(path.read_text()).get("task")
        for name, path in _shipped("weights", ".json").items()
    }


def tasks() -> list[dict[str, Any]]:
    """One JSON-friendly entry per registered task."""
    shipped, models = presets(), bundled()
    out = []
    for name in task_names():
        task = get_task(name)
        out.append(
            {
                "name": name,
                "description": task.description,
                "source": task.source,
                "inputs": list(task.inputs),
                "targets": list(task.targets),
                "networks": list(task.networks),
                "metrics": list(task.metrics),
                "baselines": list(task.baselines),
                "presets": [p for p, t in shipped.items() if t == name],
                "bundled": [m for m, t in models.items() if t == name],
            }
        )
    return out
