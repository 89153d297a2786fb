"""The Python API: quantize or train a model and record it, or load a registry model as an nn.Module or ready to run
in a faster runtime, each in one call.

Every function takes an optional ``context`` (``zoo.Context``: the registry, the plugins and their strictness, where
progress goes); without one, it is built from the environment (``ZOO_HOME``, ``ZOO_REGISTRY``,
``ZOO_STRICT_PLUGINS``), and nothing is printed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zoo.context import Context
    from zoo_registry.schema import Card


@dataclass
class RuntimeModel:
    """A registry model prepared in a runtime other than eager PyTorch.

    Call it with a float32 tensor of shape (batch, channels, height, width); it
    returns the float32 logits, shape (batch, classes). ``module`` is the
    nn.Module it was made from (what ``runtime="eager"`` returns), ``runtime``
    the runtime's name, ``card`` the model's card (``zoo.Card``).
    """

    runtime: str
    module: Any = field(repr=False)
    card: Card = field(repr=False)
    _run: Any = field(repr=False)

    def __call__(self, images):
        return self._run(images)


@dataclass(frozen=True)
class Made:
    """What ``zoo.quantize`` or ``zoo.train`` made and recorded.

    ``model``: the model in eval mode (a ``torch.nn.Module``; int8 for ``quantize``, its backend's engine set);
    it takes float32 tensors of shape (batch, channels, image_size, image_size) and returns float32 logits of
    shape (batch, classes). ``card``: its card as the registry holds it, a read-only ``zoo.Card`` (accuracy in
    percent, sizes in bytes, latencies in milliseconds; ``card.to_dict()`` is card.json; see the README's
    "Cards"). ``reference``: NAME@VERSION in the registry.
    """

    model: Any
    card: Card
    reference: str


def quantize(arch: str, preset: str = "fbgemm-histogram", *, dataset: str = "fashion-mnist", weights: str | None = None,
             backend: str | None = None, data_dir: str | None = None, image_size: int | None = None,
             calibration_images: int | None = None, eval_limit: int | None = None,
             runtimes: str | Sequence[str] = "quick", latency_runs: int = 50, threads: int = 1, seed: int = 0,
             name: str | None = None, context: Context | None = None) -> Made:
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
        data_dir: where the dataset lies (needed by ``imagefolder``; default: zoo's data directory).
        image_size: input side in pixels, 1 to 1024 (default: the weights' or the dataset's).
        calibration_images: training images to calibrate on (default: the preset's count).
        eval_limit: evaluate on the first N test images only (default: the whole test split).
        runtimes: where latency is timed: ``"quick"`` (eager, torchscript, onnxruntime, openvino: as ``zoo
            quantize``), ``"all"`` (adds inductor), or names from ``zoo.runtimes``; a runtime that cannot run a
            model is skipped.
        latency_runs, threads: timed calls per runtime (batch 1), and threads for each (1 to 256).
        seed: seeds the weights (random), the calibration sample and QAT's shuffling.
        name: the registry name (default ARCH-int8; see the README's "Naming").
        context: the registry, plugins and progress callback (default: ``Context.from_environment()``).

    Returns:
        ``Made``: the int8 model, its card (top-1/top-5 in percent for float and int8, sizes in bytes, p50/p90
        latency in ms with the CPU's name) and its registry reference.

    Raises:
        UnknownNameError: an architecture, preset, dataset, backend or runtime nobody registers.
        SettingError: a number out of its range (a count below 1, more than 256 threads, ...).
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
        latency=LatencyOptions(threads=threads, runs=latency_runs,
                               warmup=min(10, latency_runs) if isinstance(latency_runs, int) else latency_runs,
                               runtimes=runtime_names.parse(runtimes if isinstance(runtimes, str)
                                                            else ",".join(runtimes))),
        command=_call("zoo.quantize", (arch, preset), dict(
            dataset=dataset, weights=weights, backend=backend, data_dir=data_dir, image_size=image_size,
            calibration_images=calibration_images, eval_limit=eval_limit, runtimes=runtimes,
            latency_runs=latency_runs, threads=threads, seed=seed, name=name), quantize),
    )
    produced, recorded = quantize_job(options, ctx, name)
    return Made(produced.model, recorded.card, recorded.card.label)


def _call(function: str, args: tuple, kwargs: dict, defined) -> str:
    """The call as a Python caller made it (arguments left at their defaults left out): what a card records as
    its command, so the run can be made again."""
    import inspect

    defaults = {name: p.default for name, p in inspect.signature(defined).parameters.items()}
    given = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items() if v != defaults.get(k)]
    return f"{function}({', '.join(given)})"


def train(arch: str, *, dataset: str = "fashion-mnist", weights: str | None = None, epochs: int = 4,
          batch_size: int = 128, lr: float = 0.1, data_dir: str | None = None, image_size: int | None = None,
          train_limit: int | None = None, eval_limit: int | None = None, seed: int = 0, name: str | None = None,
          context: Context | None = None) -> Made:
    """Train ``arch`` in float on ``dataset`` (or fine-tune ``weights``), evaluate it on the test split, and record
    it in the registry as ``name`` (default ARCH-DATASET, where ``zoo.quantize(arch, dataset=...)`` finds it):
    what ``zoo train`` does. SGD with Nesterov momentum, one-cycle learning rate ``lr``.

    Args:
        arch: a model name a plugin registers (``zoo models``).
        dataset: the dataset to train and evaluate on (``zoo datasets``).
        weights: weights to fine-tune (a known weights name, a registry name, a ``.safetensors`` path); default:
            from scratch. A classifier of another class count is replaced.
        epochs: passes over the training images (1 or more).
        batch_size: images per step, 1 to 1024.
        lr: the one-cycle schedule's peak learning rate, above 0 and at most 10.
        data_dir, image_size: as ``zoo.quantize``.
        train_limit: train on N random training images only (default: all).
        eval_limit: evaluate on the first N test images only (default: the whole test split).
        seed: seeds the initial weights, the sample and the shuffling.
        name: the registry name (default ARCH-DATASET, where ``zoo.quantize`` looks for float weights).
        context: the registry, plugins and progress callback (default: ``Context.from_environment()``).

    Returns:
        ``Made``: the float model as recorded, its card (top-1/top-5 in percent, size in bytes, per-epoch loss
        and training top-1) and its registry reference.

    Raises:
        UnknownNameError, SettingError, NoWeightsError, IncompatibleError, DatasetUnavailableError, StorageError:
            as ``zoo.quantize``.
    """
    from zoo.context import default_context
    from zoo.jobs.train import TrainOptions, run_train
    from zoo.training import FloatRecipe

    ctx = default_context(context)
    options = TrainOptions(arch=arch, dataset=dataset, weights=weights, data_dir=data_dir, image_size=image_size,
                           recipe=FloatRecipe(epochs=epochs, batch_size=batch_size, lr=lr), train_limit=train_limit,
                           eval_limit=eval_limit, seed=seed, name=name, command=_call("zoo.train", (arch,), dict(
                               dataset=dataset, weights=weights, epochs=epochs, batch_size=batch_size, lr=lr,
                               data_dir=data_dir, image_size=image_size, train_limit=train_limit,
                               eval_limit=eval_limit, seed=seed, name=name), train))
    recorded = run_train(options, ctx)
    return Made(load(recorded.card.label, context=ctx), recorded.card, recorded.card.label)


def transform(reference: str, *, context: Context | None = None):
    """How to feed registry model ``reference``: a ``zoo.data.Preprocess``, as torchvision's
    ``weights.transforms()``.

    Call it on a PIL image of any size and mode, or a uint8 tensor (1 or 3, height, width): it returns the float32
    tensor (in_channels, image_size, image_size) the model takes, resized (or resized and centre-cropped),
    converted to grey or RGB as the training images were, and normalised with the dataset's mean and std. Its
    ``labels`` name the model's outputs in index order, where the dataset has names (else None).

    Raises:
        UnknownNameError, AmbiguousReferenceError: ``reference`` names no version, or several.
        IncompatibleError: the model was recorded before zoo kept its preprocessing, and the dataset's plugin,
            which could tell it, is not installed.
    """
    from zoo.context import default_context
    from zoo.jobs.predict import preprocess_of

    ctx = default_context(context)
    entry = ctx.registry.resolve(reference)
    config, card, _ = ctx.registry.open(entry)
    return preprocess_of(config, card, ctx.catalog)


def load(reference: str, registry: str | None = None, runtime: str = "eager", threads: int | None = None, *,
         with_transform: bool = False, model_file: str | None = None, context: Context | None = None):
    """Load ``NAME`` (its latest version) or ``NAME@DIGEST`` from the registry (``registry``, a directory, else
    ``context``'s).

    The module tree is rebuilt through the architecture's plugin and its
    backend, and the weights are decoded from safetensors; nothing is
    unpickled. For an int8 model, the backend's engine is set for the process
    (torch.ao's quantized engine), as torchvision does for its quantized models.

    ``model_file``: ``"PATH.py:FUNCTION"``, for a model made from your own Python file (``zoo.quantize(
    "PATH.py:FUNCTION", ...)``): the same file again, whose sha256 must match what was recorded; zoo runs it.

    ``runtime``: ``"eager"`` (default) returns the nn.Module in eval mode;
    ``"torchscript"``, ``"inductor"``, ``"onnxruntime"`` or ``"openvino"`` return
    a ``RuntimeModel`` running it there with ``threads`` threads (default:
    torch's current count); ``"fastest"`` picks the fastest int8 runtime the
    card recorded, if it can run here, else eager.

    Returns:
        A ``torch.nn.Module`` in eval mode (or a ``RuntimeModel``) taking float32 tensors of shape
        (batch, channels, image_size, image_size) and returning float32 logits of shape (batch, classes);
        ``image_size`` and ``in_channels`` are in the card's ``dataset`` and the config. With ``with_transform``,
        ``(model, preprocess)``: ``preprocess`` turns an image into that input and names the classes (see
        ``zoo.transform``).

    Raises:
        UnknownNameError: no such model or runtime.
        IncompatibleError: a runtime that is not installed (saying which extra to install) or cannot run it.
        IntegrityError: a file that does not match its card; a model made from a Python file, without that file.
        SettingError: a ``model_file`` that does not exist, does not run, or lacks its function.
        SchemaVersionError: the model was made by a newer zoo.
    """
    import torch

    from zoo import runtimes
    from zoo.context import default_context
    from zoo.core.errors import UnknownNameError
    from zoo.jobs.running import engine_and_subject
    from zoo_registry.loading import load_reference
    from zoo_registry.store import Registry

    if runtime not in (*runtimes.NAMES, "fastest"):
        raise UnknownNameError("runtime", runtime, (*runtimes.NAMES, "fastest"))
    from zoo.jobs import limits

    limits.whole("threads", threads, high=limits.MAX_THREADS)
    ctx = default_context(context)
    if model_file is not None:
        from zoo.host import model_files

        model_files.register(ctx.plugins, model_files.parse(model_file))
    catalog = ctx.catalog
    model, config, card = load_reference(reference, Registry(registry) if registry else ctx.registry, catalog)
    engine, subject = engine_and_subject(config, catalog)
    if config.backend_name:
        catalog.backend(config.backend_name).set_engine(config.engine)
    if runtime == "fastest":
        runtime = _fastest_here(card, subject)
    from zoo.jobs.predict import preprocess_of

    preprocess = preprocess_of(config, card, catalog) if with_transform else None
    if runtime == "eager":
        return (model, preprocess) if with_transform else model
    chosen = runtimes.get(runtime)
    if not chosen.supports(subject):
        from zoo.core.errors import IncompatibleError

        raise IncompatibleError(f"runtime '{runtime}' does not run {subject.describe()} models")
    size, channels = config.image_size, config.in_channels
    example = torch.randn(1, channels, size, size, generator=torch.Generator().manual_seed(0))
    run = chosen.prepare(model, subject, example, threads or torch.get_num_threads(), engine)
    loaded = RuntimeModel(runtime, model, card, run)
    return (loaded, preprocess) if with_transform else loaded


def _fastest_here(card: Card, subject) -> str:
    from zoo import runtimes
    recorded = card.fastest_runtime()
    if recorded and recorded != "eager":
        usable, _ = runtimes.select([recorded], subject)
        if usable:
            return recorded
    return "eager"
