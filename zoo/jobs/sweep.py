"""``zoo sweep``: a grid of quantize jobs (architectures × presets × datasets), recorded by the driver alone.

A cell is plain data: its ``QuantizeOptions``, the registry name it records under and the key a re-run finds it
by. ``run_cell`` runs one without any registry of the driver's and returns plain data: the four artifact files,
or a one-line error. The driver checks each returned artifact as it checks one from the Hub (names, digests,
schemas, a rebuild) before it writes it, so the cells may run in the driver's own process (``inprocess``) or as
Ray tasks on other machines (``zoo.jobs.sweep_ray``); SQLite, which the registry's index is, is not for
network file systems, and a worker never needs the registry's path.

A cell's key is the sha256 of what decides its result: architecture, preset, dataset, the float weights (their
name and the sha256 of their tensors) and every quantize option but the command line itself. The card keeps it
(``card.sweep``), so a cell already recorded with the same key is skipped unless asked to run again.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from zoo.context import Context, default_context
from zoo.core.errors import (
    IncompatibleError,
    IntegrityError,
    NoWeightsError,
    SettingError,
    WeightsFileError,
    ZooError,
)
from zoo.host.plugins import PluginHost, host
from zoo.jobs.quantize import QuantizeOptions
from zoo_registry import artifact, names
from zoo_registry.store import Entry, Registry

EXECUTORS = ("inprocess", "ray")
# The most cells one sweep may hold: a grid is typed by hand, and each cell is minutes of work.
MAX_CELLS = 10_000


@dataclass(frozen=True)
class Cell:
    """One quantize job of a grid, as plain data a worker can be sent.

    Attributes:
        name: the registry name it records under (``cell_name``).
        key: sha256 of what decides its result (``cell_key``).
        options: the quantize job.
        weights: the float weights' name as resolved on the driver ("random", a plugin's weights name, NAME@VERSION
            of registry weights).
        weights_sha256: sha256 of those weights' tensors (``zoo.state_dicts.state_dict_digest``); None for random.
        shipped: the artifact files of registry weights (file name to bytes), which a worker records in a scratch
            registry of its own; None otherwise.
        problem: why the cell cannot run, known when it was planned (no float weights for it, a preset its model
            or backend cannot take), in one line; the sweep reports it as a failed cell and runs the others.
    """

    name: str
    key: str
    options: QuantizeOptions
    weights: str
    weights_sha256: str | None
    shipped: dict[str, bytes] | None = dataclasses.field(default=None, repr=False)
    problem: str | None = None

    @property
    def label(self) -> str:
        o = self.options
        return f"{o.arch} × {o.preset} × {o.dataset}"

    def identity(self) -> dict[str, Any]:
        """What the card records as ``sweep``."""
        o = self.options
        return {"key": self.key, "arch": o.arch, "preset": o.preset, "dataset": o.dataset, "weights": self.weights,
                "weights_sha256": self.weights_sha256, "options": result_options(o)}


@dataclass(frozen=True)
class Outcome:
    """What became of a cell: ``recorded`` (now), ``skipped`` (recorded before with the same key), ``failed``
    (``error`` says why, in one line) or ``planned`` (a dry run). ``entry`` is its registry version when there is
    one; ``node`` the machine it ran on; ``wall_s`` the seconds it ran there."""

    cell: Cell
    status: Literal["recorded", "skipped", "failed", "planned"]
    entry: Entry | None = None
    error: str | None = None
    node: str | None = None
    wall_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        o = self.cell.options
        return {"arch": o.arch, "preset": o.preset, "dataset": o.dataset, "name": self.cell.name,
                "key": self.cell.key, "status": self.status, "reference": self.entry.ref if self.entry else None,
                "error": self.error, "node": self.node, "wall_s": self.wall_s}


def split_list(what: str, value: str | Sequence[str]) -> list[str]:
    """``"a,b"`` (or a sequence of such) as ``["a", "b"]``, each once, in the order given.

    Raises:
        SettingError: the list is empty.
    """
    parts = [value] if isinstance(value, str) else list(value)
    items = list(dict.fromkeys(p.strip() for part in parts for p in part.split(",") if p.strip()))
    if not items:
        raise SettingError(f"{what} needs at least one name, e.g. --{what} a,b")
    return items


def result_options(options: QuantizeOptions) -> dict[str, Any]:
    """The options of a cell that decide its result, as JSON: all but the grid's axes and the command line."""
    fields = dataclasses.asdict(options)
    for axis in ("arch", "preset", "dataset", "weights", "command"):
        fields.pop(axis)
    return json.loads(json.dumps(fields))


def cell_key(options: QuantizeOptions, weights: str, weights_sha256: str | None) -> str:
    """sha256 (hex) of architecture, preset, dataset, weights and the options that decide a cell's result."""
    identity = {"arch": options.arch, "preset": options.preset, "dataset": options.dataset, "weights": weights,
                "weights_sha256": weights_sha256, "options": result_options(options)}
    return artifact.sha256(artifact.canonical_json(identity))


def cell_name(arch: str, preset: str, dataset: str) -> str:
    """The registry name a cell records under: ARCH-PRESET-DATASET (``tv:resnet50`` → ``tv-resnet50-...``).

    Raises:
        BadReferenceError: the name would not be a valid registry name (over 96 characters, say).
    """
    return names.check_name(f"{names.name_part(arch)}-{preset}-{dataset}".lower())


def grid(base: QuantizeOptions, archs: Sequence[str], presets: Sequence[str], datasets: Sequence[str]
         ) -> list[QuantizeOptions]:
    """Every (arch, preset, dataset) of the lists, as ``base`` with those three replaced, datasets outermost
    and presets innermost.

    Raises:
        SettingError: more than MAX_CELLS cells.
    """
    count = len(archs) * len(presets) * len(datasets)
    if count > MAX_CELLS:
        raise SettingError(f"the grid has {count} cells, more than the {MAX_CELLS} a sweep runs")
    return [dataclasses.replace(base, arch=a, preset=p, dataset=d) for d in datasets for a in archs for p in presets]


def plan(jobs: Sequence[QuantizeOptions], context: Context | None = None) -> list[Cell]:
    """The cells of ``jobs``, every name checked and every cell's float weights resolved on this machine.

    Weights are loaded once per architecture and dataset to take their sha256; registry weights go with their
    cells (``Cell.shipped``), since a worker has no registry of the driver's.

    Raises:
        UnknownNameError: an architecture, preset, dataset or weights name nobody registers (with valid choices).
        SettingError: an architecture from the user's own file that cannot be read or run.
        NoWeightsError, WeightsFileError, IncompatibleError, BadReferenceError: as ``zoo.jobs.weights.resolve``
            and ``cell_name`` say.
    """
    from zoo.host import model_files
    from zoo.jobs import weights as weight_choices
    from zoo.state_dicts import state_dict_digest

    ctx = default_context(context)
    resolved: dict[tuple[str, str, str | None], tuple[str, str | None, dict[str, bytes] | None]] = {}
    cells = []
    for options in jobs:
        arch = options.arch
        if arch.endswith(".py") or model_files.is_reference(arch):
            # The user's own file, as `zoo quantize` takes it: registered under file:STEM.FUNCTION for this process.
            arch = model_files.register(ctx.plugins, model_files.parse(arch))
        spec = ctx.catalog.model(arch)
        catalog = ctx.catalog
        catalog.preset(options.preset)
        dataset = catalog.dataset(options.dataset).name
        name = cell_name(spec.name, options.preset, dataset)
        which = (spec.name, dataset, options.weights)
        try:
            _check_backend(spec, options, catalog)
            if which not in resolved:
                choice = weight_choices.resolve(spec, dataset, options.weights, ctx.registry, catalog)
                digest = state_dict_digest(choice.load()) if choice.load is not None else None
                resolved[which] = (choice.name, digest,
                                   _files_of(ctx.registry, choice.entry) if choice.entry else None)
        except (NoWeightsError, WeightsFileError, IncompatibleError) as exc:
            # This cell cannot run; the grid's other cells can.
            cells.append(Cell(name, cell_key(options, options.weights or "", None), options, options.weights or "-",
                              None, problem=one_line(exc)))
            continue
        weights, digest, shipped = resolved[which]
        cells.append(Cell(name, cell_key(options, weights, digest), options, weights, digest, shipped))
    return cells


def _check_backend(spec, options: QuantizeOptions, catalog) -> None:
    """Refuse, as `zoo quantize` would before any work, a preset the model or the backend asked for cannot take."""
    from zoo.jobs.search import candidates, is_auto
    from zoo.quantization import pipeline

    if is_auto(options.preset):
        candidates(options.preset, spec, options.backend, catalog)
        return
    preset = catalog.preset(options.preset)
    backend = catalog.backend(pipeline.choose_backend(spec, preset, options.backend, catalog))
    backend.check(dataclasses.replace(preset, equalize=options.equalize))


def _files_of(registry: Registry, entry: Entry) -> dict[str, bytes]:
    directory = registry.directory(entry.name, entry.version)
    return {file_name: (directory / file_name).read_bytes() for file_name in artifact.FILES}


def already_recorded(registry: Registry, cell: Cell) -> Entry | None:
    """The version of ``cell.name`` whose card holds ``cell.key``, newest first; None when there is none."""
    for entry in registry.list(name=cell.name, arch=cell.options.arch, preset=cell.options.preset):
        try:
            card = registry.open(entry)[1]
        except ZooError:
            continue  # a damaged version is no result: the cell runs again
        if card.sweep is not None and card.sweep.key == cell.key:
            return entry
    return None


def node_name() -> str:
    """This machine's name, as latency figures are marked with outside Ray."""
    return socket.gethostname()


def run_cell(cell: Cell, *, threads: int | None = None, node: str | None = None, strict_plugins: bool = False,
             plugins: PluginHost | None = None) -> dict[str, Any]:
    """Run one cell where this function is called, without the driver's registry: what a worker does.

    ``threads``: torch's thread count while the cell runs (default: as it is). ``node``: the machine, recorded
    with each latency figure (default: the host name). Registry weights (``cell.shipped``) go into a scratch
    registry that is removed afterwards; everything else comes from this machine (plugins, data under
    ``ZOO_HOME``), and its plugins from ``plugins`` (default: the installed ones, as ``ZOO_PLUGINS`` selects).

    Returns:
        Plain data: {"status": "ok", "files": {file name: bytes}, "node", "wall_s"} with the four artifact files
        named ``cell.name``, or {"status": "failed", "error": one line, "node", "wall_s"}. Never raises for what
        the cell does (a ZooError, or any other exception as its type and first line).
    """
    import torch

    from zoo.core.paths import zoo_home
    from zoo.jobs.quantize import run_quantize
    from zoo.jobs.record import render_quantized

    node = node or node_name()
    started = time.perf_counter()
    scratch = tempfile.mkdtemp(prefix="zoo-sweep-cell-")
    previous = torch.get_num_threads()
    try:
        if threads:
            torch.set_num_threads(threads)
        ctx = Context(home=zoo_home(), registry_root=Registry(scratch).root, strict_plugins=strict_plugins,
                      plugins=plugins or host)
        if cell.shipped:
            ctx.registry.write(cell.shipped)
        produced = run_quantize(cell.options, ctx)
        digest = (produced.result.get("parent") or {}).get("sha256")
        if digest != cell.weights_sha256:
            raise IncompatibleError(f"the float weights {cell.weights} on {node} (sha256 {str(digest)[:12]}) are not the ones "
                           f"the sweep planned with (sha256 {str(cell.weights_sha256)[:12]}): give every node the "
                           "same weights")
        for side in ("metrics", "baseline"):
            latency = (produced.result.get(side) or {}).get("latency")
            if latency is not None:
                latency["node"] = node
        produced.result["sweep"] = cell.identity()
        files = render_quantized(produced, cell.name)
        return {"status": "ok", "files": files, "node": node, "wall_s": round(time.perf_counter() - started, 1)}
    except Exception as exc:  # noqa: BLE001  one cell's failure, whatever it is, is reported and the others go on
        return {"status": "failed", "error": one_line(exc), "node": node,
                "wall_s": round(time.perf_counter() - started, 1)}
    finally:
        torch.set_num_threads(previous)
        shutil.rmtree(scratch, ignore_errors=True)


def one_line(exc: BaseException) -> str:
    """A ZooError's message, or any other exception as its type and first line."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return first if isinstance(exc, ZooError) and first else f"{type(exc).__name__}: {first or '(no message)'}"


# What an executor does: run the cells, and yield each with run_cell's result as it finishes, in any order.
Executor = Callable[[Sequence[Cell]], Iterable[tuple[Cell, dict[str, Any]]]]


def in_process(context: Context | None = None, threads: int | None = None) -> Executor:
    """The default executor: the cells one after another in this process, with ``context``'s plugins and
    ``threads`` torch threads (default: as they are)."""
    ctx = default_context(context)

    def execute(cells: Sequence[Cell]) -> Iterator[tuple[Cell, dict[str, Any]]]:
        node = node_name()
        for cell in cells:
            yield cell, run_cell(cell, threads=threads, node=node, strict_plugins=ctx.strict_plugins,
                                 plugins=ctx.plugins)

    return execute


def sweep(cells: Sequence[Cell], execute: Executor, context: Context | None = None, *, rerun: bool = False,
          dry_run: bool = False, on_outcome: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Run the cells not yet recorded (all with ``rerun``) through ``execute`` and record each result as it
    arrives, after checking it as an artifact from outside (``zoo_registry.checked.record_checked``) and that
    it is the cell asked for. A failing cell is an Outcome with its one-line error; the others go on. With
    ``dry_run`` nothing runs: each cell is ``planned`` or ``skipped``.

    Returns:
        One Outcome per cell, in the order of ``cells``; ``on_outcome`` is also called with each as it is known.

    Raises:
        StorageError: the registry cannot be written (checked before any cell runs).
    """
    ctx = default_context(context)
    registry = ctx.registry
    outcomes: dict[str, Outcome] = {}

    def done(outcome: Outcome) -> None:
        outcomes[outcome.cell.key] = outcome
        if on_outcome is not None:
            on_outcome(outcome)

    to_run = []
    for cell in cells:
        if cell.problem is not None:
            done(Outcome(cell, "failed", error=cell.problem))
            continue
        found = None if rerun else already_recorded(registry, cell)
        if found is not None:
            done(Outcome(cell, "skipped", found))
        elif dry_run:
            done(Outcome(cell, "planned"))
        else:
            to_run.append(cell)
    if to_run:
        registry.check_writable()
        with ctx.progress.steps(execute(to_run), f"sweep: {len(to_run)} cell(s)", length=len(to_run)) as results:
            for cell, result in results:
                done(_recorded(registry, cell, result, ctx))
    return [outcomes[cell.key] for cell in cells]


def _recorded(registry: Registry, cell: Cell, result: Any, ctx: Context) -> Outcome:
    """Record what a worker returned for ``cell``, once it has passed every check; a failed Outcome otherwise."""
    from zoo_registry.checked import check, record_checked

    node = result.get("node") if isinstance(result, dict) else None
    node = node if isinstance(node, str) else None
    wall = result.get("wall_s") if isinstance(result, dict) else None
    wall = wall if isinstance(wall, (int, float)) else None
    if not isinstance(result, dict) or result.get("status") not in ("ok", "failed"):
        return Outcome(cell, "failed", error="the worker returned no result zoo knows", node=node)
    if result["status"] == "failed":
        error = result.get("error")
        return Outcome(cell, "failed", error=error if isinstance(error, str) else "(no message)", node=node,
                       wall_s=wall)
    files = result.get("files")
    source = f"sweep cell {cell.name} from {node or 'a worker'}"
    try:
        if not isinstance(files, dict) or not all(isinstance(v, bytes) for v in files.values()):
            raise IntegrityError(f"{source}: the worker returned no artifact files")
        card, _ = check(files, source)
        if card.name != cell.name or card.sweep is None or card.sweep.key != cell.key:
            raise IntegrityError(f"{source}: the worker returned {card.name} (sweep key {card.sweep.key[:12] if card.sweep else None}),"
                           f" not the cell asked for ({cell.name}, key {cell.key[:12]}); nothing was recorded")
        entry = record_checked(registry, files, source, ctx.catalog)
    except ZooError as exc:
        return Outcome(cell, "failed", error=one_line(exc), node=node, wall_s=wall)
    return Outcome(cell, "recorded", entry, node=node, wall_s=wall)
