"""The tasks, one file each (see :mod:`neuralshade.task` for what a task is).

Each module registers its task when imported; the ``neuralshade.tasks`` entry points in
pyproject.toml name them, so nothing generic imports this package.
"""
