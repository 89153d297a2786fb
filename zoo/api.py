"""The Python API: quantize or train a model and record it, or load a registry model as an nn.Module or ready to run
in a faster runtime, each in one call.

Every function takes an optional ``context`` (``zoo.Context``: the registry, the plugins and their strictness, where
progress goes); without one, it is built from the environment (``ZOO_HOME``, ``ZOO_REGISTRY``,
``ZOO_STRICT_PLUGINS``), and nothing is printed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zoo.context import Context


@dataclass
class RuntimeModel:
    """A registry model prepared in a runtime other than eager PyTorch.

    Call it with a float32 tensor of shape (batch, channels, height, width); it
    returns the float32 logits, shape (batch, classes). ``module`` is the
    nn.Module it was made from (what ``runtime="eager"`` returns), ``runtime``
    the runtime's name, ``card`` the model's card.
    """

    runtime: str
    module: Any
    card: dict
    _run: Any

    def __call__(self, images):
        return self._run(images)


@dataclass(frozen=True)
class Made:
    """What ``zoo.quantize`` or ``zoo.train`` made and recorded.

    ``model``: the model in eval mode (a ``torch.nn.Module``; int8 for ``quantize``, its backend's engine set);
    it takes float32 tensors of shape (batch, channels, image_size, image_size) and returns float32 logits of
    shape (batch, classes). ``card``: its card as the registry holds it (accuracy in percent, sizes in bytes,
    latencies in milliseconds; see the README's "Cards"). ``reference``: NAME@VERSION in the registry.
    """

    model: Any
    card: dict
    reference: str


def quantize(arch: str, preset: str = "fbgemm-histogram", *, dataset: str = "fashion-mnist", weights: str | None = None,
             backend: str | None = None, data_dir: str | None = None, image_size: int | None = None,
             calibration_images: int | None = None, eval_limit: int | None = None, runtimes: Sequence[str] = ("eager",),
             latency_runs: int = 50, threads: int = 1, seed: int = 0, name: str | None = None,
             context: Context | None = None) -> Made:
    """Quantize ``arch`` to int8 with ``preset`` (PTQ, QAT or dynamic), evaluate float and int8 on the same test
    images, time both in ``runtimes``, and record the int8 model in the registry as ``name`` (default ARCH-int8):
    what ``zoo quantize`` does.

    Args:
        arch: a model name a plugin registers (``zoo models``).
        preset: a qconfig preset (``zoo presets``).
        dataset: an evaluation dataset (``zoo datasets``); calibration and QAT use its training split.
        weights: the float weights to start from: a known weights name, a registry name, a ``.safetensors``
            path or ``"random"``; default the plugin's weights for ``dataset``.
        backend: ``eager``, ``fx`` or ``pt2e`` (default: the preset's first).
        calibration_images: training images to calibrate on (default: the preset's count).
        eval_limit: evaluate on the first N test images only.
        runtimes: where latency is timed (``zoo.runtimes``: eager, torchscript, inductor, onnxruntime, openvino).
        latency_runs, threads: timed calls per runtime, and threads for each.

    Returns:
        ``Made``: the int8 model, its card (top-1/top-5 in percent for float and int8, sizes in bytes, p50/p90
        latency in ms with the CPU's name) and its registry reference.

    Raises:
        UnknownNameError: an architecture, preset, dataset, backend or runtime nobody registers.
        NoWeightsError, IncompatibleError, DatasetUnavailableError, NonFiniteError, PluginError, StorageError:
            as their names say; each before the long steps where it can be known then, and nothing is recorded.
    """
    from zoo import runtimes as runtime_names
    from zoo.context import default_context
    from zoo.jobs.quantize import LatencyOptions, QuantizeOptions
    from zoo.jobs.quantize import quantize as quantize_job

    ctx = default_context(context)
    options = QuantizeOptions(
        arch=arch, preset=preset, dataset=dataset, weights=weights, backend=backend, data_dir=data_dir,
        image_size=image_size, calibration_images=calibration_images, eval_limit=eval_limit, seed=seed,
        latency=LatencyOptions(threads=threads, runs=latency_runs, warmup=min(10, latency_runs),
                               runtimes=runtime_names.parse(",".join(runtimes))),
        command=f"zoo.quantize({arch!r}, {preset!r})",
    )
    produced, recorded = quantize_job(options, ctx, name)
    return Made(produced.model, recorded.card, recorded.entry.ref)


def train(arch: str, *, dataset: str = "fashion-mnist", weights: str | None = None, epochs: int = 4,
          batch_size: int = 128, lr: float = 0.1, data_dir: str | None = None, image_size: int | None = None,
          train_limit: int | None = None, eval_limit: int | None = None, seed: int = 0, name: str | None = None,
          context: Context | None = None) -> Made:
    """Train ``arch`` in float on ``dataset`` (or fine-tune ``weights``), evaluate it on the test split, and record
    it in the registry as ``name`` (default ARCH-DATASET, where ``zoo.quantize(arch, dataset=...)`` finds it):
    what ``zoo train`` does. SGD with Nesterov momentum, one-cycle learning rate ``lr``.

    Returns:
        ``Made``: the float model as recorded, its card (top-1/top-5 in percent, size in bytes, per-epoch loss
        and training top-1) and its registry reference.

    Raises:
        UnknownNameError, NoWeightsError, IncompatibleError, DatasetUnavailableError, StorageError: as
            ``zoo.quantize``.
    """
    from zoo.context import default_context
    from zoo.jobs.train import TrainOptions, run_train
    from zoo.training import FloatRecipe

    ctx = default_context(context)
    options = TrainOptions(arch=arch, dataset=dataset, weights=weights, data_dir=data_dir, image_size=image_size,
                           recipe=FloatRecipe(epochs=epochs, batch_size=batch_size, lr=lr), train_limit=train_limit,
                           eval_limit=eval_limit, seed=seed, name=name, command=f"zoo.train({arch!r})")
    card = run_train(options, ctx)
    reference = f"{card['name']}@{card['version']}"
    return Made(load(reference, context=ctx), card, reference)


def load(reference: str, registry: str | None = None, runtime: str = "eager", threads: int | None = None, *,
         context: Context | None = None):
    """Load ``NAME`` (its latest version) or ``NAME@DIGEST`` from the registry (``registry``, a directory, else
    ``context``'s).

    The module tree is rebuilt through the architecture's plugin and its
    backend, and the weights are decoded from safetensors; nothing is
    unpickled. For an int8 model, the backend's engine is set for the process
    (torch.ao's quantized engine), as torchvision does for its quantized models.

    ``runtime``: ``"eager"`` (default) returns the nn.Module in eval mode;
    ``"torchscript"``, ``"inductor"``, ``"onnxruntime"`` or ``"openvino"`` return
    a ``RuntimeModel`` running it there with ``threads`` threads (default:
    torch's current count); ``"fastest"`` picks the fastest int8 runtime the
    card recorded, if it can run here, else eager.

    Returns:
        A ``torch.nn.Module`` in eval mode (or a ``RuntimeModel``) taking float32 tensors of shape
        (batch, channels, image_size, image_size) and returning float32 logits of shape (batch, classes);
        ``image_size`` and ``in_channels`` are in the card's ``dataset`` and the config.

    Raises:
        UnknownNameError: no such model or runtime.
        IncompatibleError: a runtime that is not installed (saying which extra to install) or cannot run it.
        IntegrityError: a file that does not match its card.
        SchemaVersionError: the model was made by a newer zoo.
    """
    import contextlib
    import functools

    import torch

    from zoo import runtimes
    from zoo.context import default_context
    from zoo.core.errors import UnknownNameError
    from zoo_registry.config import backend_of
    from zoo_registry.loading import load_reference
    from zoo_registry.store import Registry

    if runtime not in (*runtimes.NAMES, "fastest"):
        raise UnknownNameError("runtime", runtime, (*runtimes.NAMES, "fastest"))
    ctx = default_context(context)
    catalog = ctx.catalog
    model, config, card = load_reference(reference, Registry(registry) if registry else ctx.registry, catalog)
    backend_name = backend_of(config)
    engine: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext
    subject = runtimes.Subject()
    if backend_name:
        backend = catalog.backend(backend_name)
        backend.set_engine(config.get("engine"))
        engine = functools.partial(backend.engine, config.get("engine"))
        subject = runtimes.Subject(backend_name, config["preset"]["method"], config.get("engine"))
    if runtime == "fastest":
        runtime = _fastest_here(card, subject)
    if runtime == "eager":
        return model
    chosen = runtimes.get(runtime)
    if not chosen.supports(subject):
        from zoo.core.errors import IncompatibleError

        raise IncompatibleError(f"runtime '{runtime}' does not run {subject.describe()} models")
    size, channels = config["image_size"], config["in_channels"]
    example = torch.randn(1, channels, size, size, generator=torch.Generator().manual_seed(0))
    run = chosen.prepare(model, subject, example, threads or torch.get_num_threads(), engine)
    return RuntimeModel(runtime, model, card, run)


def _fastest_here(card: dict, subject) -> str:
    from zoo import runtimes
    side = "int8" if card.get("kind") == "int8" else "float"
    recorded = ((card.get("runtimes") or {}).get("fastest") or {}).get(side)
    if recorded and recorded != "eager":
        usable, _ = runtimes.select([recorded], subject)
        if usable:
            return recorded
    return "eager"
