"""neuralshade: learn expensive rendering effects from cheap inputs."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("neuralshade")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

__all__ = ["__version__", "shade"]


def __getattr__(name: str):
    # `neuralshade.shade` without importing torch on a plain `import neuralshade`
    if name == "shade":
        from neuralshade.infer import shade

        return shade
    raise AttributeError(f"module 'neuralshade' has no attribute {name!r}")
