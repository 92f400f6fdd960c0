"""User-facing errors.

Anything a user can cause (a missing or corrupt file, a bad option, a wrong config value)
raises a :class:`NeuralShadeError` whose message names the thing and says what to do.
The CLI prints ``error: <message>`` and exits with status 2, with no traceback.
"""


class NeuralShadeError(Exception):
    """Base class of every error a user can cause."""


class InputError(NeuralShadeError):
    """An input file or array cannot be used (missing, corrupt, empty, too large)."""


class OutputError(NeuralShadeError):
    """An output cannot be written where asked (a file in the way, no permission, a full disk),
    or would overwrite an input or another output."""


class ConfigError(NeuralShadeError):
    """A configuration value or option is invalid."""


class DatasetError(NeuralShadeError):
    """A dataset directory is missing, incomplete or inconsistent."""


class CheckpointError(NeuralShadeError):
    """A checkpoint is missing, corrupt, inconsistent, or for another task or model."""


class TrainingError(NeuralShadeError):
    """Training cannot go on (e.g. the loss became NaN or infinite)."""
