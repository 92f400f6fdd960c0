"""Rendering a dataset on a Ray cluster: ``neuralshade dataset … --ray [ADDRESS]``.

Each missing sample is one Ray task (one CPU) that renders it and writes its files into the
dataset folder, exactly as a local worker would: a sample's bytes depend only on (seed, index),
so a dataset rendered on a cluster is byte-identical to one rendered by a single process, and a
killed run resumes where it stopped. Every node must see the dataset folder at the same path
(a shared file system); the driver writes the manifest, the workers the samples.

``ADDRESS`` is a running cluster's (``ray://host:10001`` or ``host:6379``); ``auto`` (the
default of a bare ``--ray``) joins the cluster this machine belongs to, or starts a local one
with every core of this machine when there is none. For job arrays without Ray (SLURM), each
job renders a part with ``--shard i/n`` instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from neuralshade.errors import ConfigError


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "--ray needs Ray: pip install 'neuralshade[ray]' (or render on this machine "
            "with --workers N)"
        ) from None
    return ray


def render_on_ray(
    root: Path, job: dict[str, Any], indices: Sequence[int], device: str, address: str
) -> Iterator[int]:
    """Render samples ``indices`` of the dataset at ``root`` as Ray tasks; yield each as done.

    job: the dataset config as JSON (:func:`neuralshade.data.generate.job`). A Ray started
    here is shut down at the end; a cluster joined is left running.
    """
    ray = _ray()
    started = False
    if not ray.is_initialized():
        try:
            if address == "auto":
                try:
                    ray.init(address="auto", log_to_driver=False)
                except ConnectionError:  # no cluster here: start one on this machine
                    ray.init(include_dashboard=False, log_to_driver=False)
            else:
                _check_reachable(address)
                ray.init(address=address, log_to_driver=False)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise ConfigError(
                f"--ray {address}: cannot reach a Ray cluster there ({exc})"
            ) from None
        started = True
    try:
        task = ray.remote(num_cpus=1, max_retries=3)(_render_one)
        pending = [task.remote(str(root), job, int(i), device) for i in indices]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
    finally:
        if started:
            ray.shutdown()


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Refuse at once an address where nothing listens (Ray itself retries for minutes)."""
    import socket

    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"--ray {address}: give host:port, ray://host:port or auto")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ConfigError(
            f"--ray {address}: cannot reach a Ray cluster there ({exc.strerror or exc})"
        ) from None


def _render_one(root: str, job: dict[str, Any], index: int, device: str) -> int:
    """One sample, in a Ray worker: one torch thread, as the task holds one CPU."""
    import torch

    from neuralshade.data.generate import _worker_task

    torch.set_num_threads(1)
    return _worker_task((root, job, index, device))
