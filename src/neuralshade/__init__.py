"""neuralshade: learn expensive rendering effects from cheap inputs."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("neuralshade")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
