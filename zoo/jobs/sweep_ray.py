"""The Ray executor of ``zoo sweep``: each cell a Ray task, packed onto nodes by the CPUs it declares.

Ray is an optional extra (``pip install 'zoo[ray]'``) and is imported only when a sweep asks for it. A task runs
``zoo.jobs.sweep.run_cell`` and returns its plain data (the artifact files, or a one-line error); the driver
records. A task whose worker process dies (killed, out of memory, its node lost) is retried by Ray up to
``retries`` times, then reported as a failed cell in one line: it returned nothing, so nothing of it is written.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

from zoo.core.errors import SettingError
from zoo.jobs.sweep import Cell, Executor, one_line, run_cell

# Environment a worker needs to load the plugins the driver loaded; sent with the job when zoo starts or joins Ray.
FORWARDED_ENV = ("ZOO_PLUGINS", "ZOO_STRICT_PLUGINS")
# Tasks whose worker died are run again this many times before the cell is reported failed.
RETRIES = 1
# A Ray instance zoo starts on this machine keeps its object store this small (bytes): results are a few artifacts.
LOCAL_OBJECT_STORE_BYTES = 256 * 1024 * 1024


def _cell_task(cell: Cell, threads: int, strict_plugins: bool) -> dict[str, Any]:
    """What runs on a worker: the cell, its latency marked with the node's address and Ray node id."""
    import ray

    context = ray.get_runtime_context()
    node = f"{ray.util.get_node_ip_address()} ({context.get_node_id()[:8]})"
    return run_cell(cell, threads=threads, node=node, strict_plugins=strict_plugins)


def ray_executor(*, address: str | None = None, cpus_per_cell: int = 1, strict_plugins: bool = False,
                 retries: int = RETRIES) -> Executor:
    """An executor that runs each cell as a Ray task declaring ``cpus_per_cell`` CPUs (torch uses as many
    threads in it).

    Ray is joined as the caller left it: an initialised Ray is used as it is; otherwise ``address`` (or
    ``RAY_ADDRESS``) names a cluster to join, and without either a local Ray is started for this sweep and
    stopped after it.

    Raises:
        SettingError: Ray is not installed (naming the extra to install), or the cluster cannot be joined.
    """
    try:
        import ray
    except ImportError:
        raise SettingError("--executor ray needs Ray: pip install 'zoo[ray]'") from None

    def execute(cells: Sequence[Cell]) -> Iterator[tuple[Cell, dict[str, Any]]]:
        from zoo.host import model_files

        own_files = [c.options.arch for c in cells if c.options.arch.endswith(".py")
                     or model_files.is_reference(c.options.arch) or c.options.arch.startswith(model_files.PREFIX)]
        if own_files:
            raise SettingError(f"architecture '{own_files[0]}' is your own file, which Ray workers do not have: "
                               "package it as a plugin installed on every node, or use --executor inprocess")
        started = _join(ray, address)
        task = ray.remote(_cell_task).options(num_cpus=cpus_per_cell, max_retries=retries)
        pending = {task.remote(cell, cpus_per_cell, strict_plugins): cell for cell in cells}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    cell = pending.pop(ref)
                    yield cell, _result(ray, ref, retries)
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
            if started:
                ray.shutdown()

    return execute


def _join(ray, address: str | None) -> bool:
    """Initialise Ray unless it is; True when this call did (and so should shut it down)."""
    if ray.is_initialized():
        return False
    env = {name: os.environ[name] for name in FORWARDED_ENV if name in os.environ}
    target = address or os.environ.get("RAY_ADDRESS")
    local = {} if target else {"object_store_memory": LOCAL_OBJECT_STORE_BYTES}
    try:
        ray.init(address=target, include_dashboard=False, log_to_driver=False, configure_logging=False,
                 runtime_env={"env_vars": env} if env else None, **local)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise SettingError(f"cannot join the Ray cluster at {target}: {one_line(exc)}") from None
    return True


def _result(ray, ref, retries: int) -> dict[str, Any]:
    """The cell's result, or a failure naming what Ray said became of its worker."""
    try:
        return ray.get(ref)
    except ray.exceptions.WorkerCrashedError:
        why = f"the worker process running it died (tried {retries + 1} times)"
    except ray.exceptions.NodeDiedError:
        why = "the node running it left the cluster"
    except ray.exceptions.TaskCancelledError:
        why = "it was cancelled"
    except ray.exceptions.RayTaskError as exc:
        # Raised outside run_cell's own guard: the task could not even start there (zoo missing on the node, say).
        why = f"it failed on its worker before zoo ran it ({one_line(exc.cause if exc.cause else exc)})"
    except ray.exceptions.RayError as exc:
        why = f"Ray could not run it ({type(exc).__name__}: {one_line(exc)})"
    return {"status": "failed", "error": why}
