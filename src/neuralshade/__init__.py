"""neuralshade: learn expensive rendering effects from cheap inputs."""

__all__ = ["__version__", "denoise", "infer", "insert_shadow", "shade"]


def __getattr__(name: str):
    # `neuralshade.shade` without importing torch on a plain `import neuralshade`, and the
    # version without a package-metadata scan until someone asks for it
    if name == "shade":
        from neuralshade.shading import shade

        return shade
    if name == "infer":  # the module, callable as its function infer(model, buffers)
        import neuralshade.infer as module

        return module
    if name == "denoise":  # the module, callable as its function denoise(color, albedo, normal)
        import neuralshade.denoise as module

        return module
    if name == "insert_shadow":
        from neuralshade.shadowing import insert_shadow

        return insert_shadow
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("neuralshade")
        except PackageNotFoundError:  # running from a source tree that was not installed
            value = "0+unknown"
        globals()["__version__"] = value
        return value
    raise AttributeError(f"module 'neuralshade' has no attribute {name!r}")
