"""``zoo quantize``: float model → int8 model, both measured on the same images.

Every name is checked before any long step starts. The result is the JSON
object that ``zoo quantize --json`` prints and that the registry's card extends.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import functools
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from zoo import data, runtimes
from zoo.context import Context, default_context
from zoo.core.errors import SettingError
from zoo.core.progress import Progress
from zoo.core.specs import Preset
from zoo.core.versions import versions
from zoo.evaluation import TOP_K_RULE, accuracy, agreement
from zoo.host.fence import running_model
from zoo.jobs import limits
from zoo.jobs import search as search_job
from zoo.jobs.record import Recorded
from zoo.jobs.selection import Selection, select
from zoo.quantization import pipeline, rules
from zoo.runtimes.speed import card_fields, compare
from zoo.training import QatRecipe


@dataclass(frozen=True)
class LatencyOptions:
    batch_size: int = 1
    threads: int = 1
    runs: int = 50
    warmup: int = 10
    # the runtimes to time float and int8 in (see zoo.runtimes); those that cannot run a model are skipped
    runtimes: tuple[str, ...] = runtimes.QUICK

    def __post_init__(self) -> None:
        limits.whole("latency batch size", self.batch_size, high=limits.MAX_BATCH_SIZE)
        limits.whole("threads", self.threads, high=limits.MAX_THREADS)
        limits.whole("latency runs", self.runs)
        limits.whole("warm-up runs", self.warmup, low=0)
        if isinstance(self.runtimes, str) or not self.runtimes:
            raise SettingError(f"runtimes must be a non-empty tuple of runtime names, got {self.runtimes!r}")


@dataclass(frozen=True)
class QuantizeOptions:
    arch: str
    preset: str
    dataset: str = "fashion-mnist"
    weights: str | None = None
    # None: the preset's default backend (the first it names)
    backend: str | None = None
    data_dir: str | None = None
    image_size: int | None = None
    calibration_images: int | None = None
    eval_limit: int | None = None
    eval_batch_size: int = 256
    # QatRecipe fields to override the preset's QAT defaults with
    qat: dict = field(default_factory=dict)
    latency: LatencyOptions = field(default_factory=LatencyOptions)
    fused_baseline: bool = False
    seed: int = 0
    command: str = ""
    # Per-module rules on top of the preset's: modules kept in float, and (module, preset) pairs whose observers
    # those modules take; each module a path, re:REGEX or type:CLASS (zoo.quantization.rules).
    float_modules: tuple[str, ...] = ()
    module_presets: tuple[tuple[str, str], ...] = ()
    # cross-layer equalization before calibration (zoo.quantization.equalization; static presets, backend eager)
    equalize: bool = False
    # preset "auto" or "auto:ENGINE": how the recipe search judges candidates (zoo.jobs.search)
    search: search_job.SearchOptions = field(default_factory=search_job.SearchOptions)

    def __post_init__(self) -> None:
        """Every number checked before any work, as the command line's options are.

        Raises:
            SettingError: naming the setting, its value and the range it must be in.
        """
        limits.whole("image size", self.image_size, high=limits.MAX_IMAGE_SIZE)
        limits.whole("calibration images", self.calibration_images)
        limits.whole("eval limit", self.eval_limit)
        limits.whole("eval batch size", self.eval_batch_size, high=limits.MAX_BATCH_SIZE)
        limits.whole("seed", self.seed, low=0, high=limits.MAX_SEED)
        for key in ("epochs", "batches_per_epoch", "batch_size", "freeze_bn_after", "freeze_observers_after"):
            limits.whole(f"QAT {key.replace('_', ' ')}", self.qat.get(key))
        limits.rate("QAT learning rate", self.qat.get("lr"))


@dataclass
class Quantized:
    """What a quantize run produced: the models and the result that describes them."""

    model: nn.Module
    float_model: nn.Module
    result: dict
    selection: Selection
    preset: Preset
    """The preset as it ran on this machine (after the backend adapted it)."""
    backend: str


def qat_recipe(preset: Preset, overrides: dict) -> QatRecipe:
    recipe = QatRecipe(epochs=preset.qat_epochs, batches_per_epoch=preset.qat_batches_per_epoch, lr=preset.qat_lr,
                       freeze_bn_after=preset.freeze_bn_after, freeze_observers_after=preset.freeze_observers_after)
    unknown = set(overrides) - {f.name for f in dataclasses.fields(QatRecipe)}
    if unknown:
        raise SettingError(f"unknown QAT setting(s) {', '.join(sorted(unknown))}")
    return dataclasses.replace(recipe, **{k: v for k, v in overrides.items() if v is not None})


def float_size_bytes(model: nn.Module) -> int:
    """Bytes of the float weights as zoo saves them (safetensors)."""
    from safetensors.torch import save

    return len(save({k: v.detach().contiguous() for k, v in model.state_dict().items()}))


def int8_size_bytes(model: nn.Module, backend) -> int:
    """Bytes of the int8 weights as zoo saves them (the registry's safetensors codec)."""
    from zoo_registry import codec
    return len(codec.encode(backend.state_dict(model)))


def _select(options: QuantizeOptions, ctx: Context
            ) -> tuple[Selection, Preset, str, Any, list[str], search_job.Candidates | None]:
    """Everything named, checked: (selection, preset as it runs here, backend name, backend, notes on the preset,
    and for ``--preset auto`` the candidates the search may try)."""
    catalog = ctx.catalog
    auto = search_job.is_auto(options.preset)
    preset = catalog.preset(options.preset) if not auto else None
    selection = select(options.arch, options.dataset, options.weights, options.data_dir, options.image_size, ctx)
    found = None
    if auto:
        if options.float_modules or options.module_presets:
            raise SettingError(f"--preset {options.preset} chooses which modules stay in float itself: drop "
                               "--float-module and --module-preset, or name a preset")
        found = search_job.candidates(options.preset, selection.spec, options.backend, catalog)
        preset = found.static[0]
    assert preset is not None
    if options.equalize:
        if auto:
            raise SettingError(f"--preset {options.preset} tries cross-layer equalization itself: drop --equalize")
        if preset.method != "static":
            # QAT trains the scales and weights it would even out; dynamic presets observe no activations.
            raise SettingError(f"preset '{preset.name}' is {preset.method}: --equalize applies to static presets")
        preset = dataclasses.replace(preset, equalize=True)
    backend_name = pipeline.choose_backend(selection.spec, preset, options.backend, catalog)
    backend = catalog.backend(backend_name)
    backend.check(preset)
    preset = _with_module_rules(preset, options, selection)
    preset, notes = backend.adapt(preset)
    runtimes.require(options.latency.runtimes, runtimes.Subject())
    runtimes.require(options.latency.runtimes, runtimes.Subject(backend_name, preset.method, preset.engine))
    return selection, preset, backend_name, backend, notes, found


def rule_summary(preset: Preset) -> list[dict]:
    """For the card: each module rule as the user would write it, what it sets, and how many modules it decided."""
    decided = [index for _, index in preset.module_plan]
    return [{"modules": rule.selector, "setting": "float" if rule.keeps_float else (rule.preset or "observers"),
             "decided": decided.count(index)} for index, rule in enumerate(preset.module_rules)]


def _with_module_rules(preset: Preset, options: QuantizeOptions, selection: Selection) -> Preset:
    """``preset`` with the options' module rules added and all its rules resolved on the architecture's modules,
    before any long step: a rule that names no module is one line with the closest names."""
    if not (options.float_modules or options.module_presets or preset.module_rules):
        return preset
    if preset.method == "dynamic":
        raise SettingError(f"preset '{preset.name}' is dynamic: --float-module and --module-preset apply to static "
                           "and QAT presets")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = selection.spec.build(selection.data.num_classes)
    names = rules.module_names(model)
    catalog = selection.catalog
    extra = [rules.rule_for(selector, None, names, preset) for selector in options.float_modules]
    extra += [rules.rule_for(selector, catalog.preset(name), names, preset) for selector, name in options.module_presets]
    return rules.with_rules(preset, extra, model, catalog)


def _quantize(float_model: nn.Module, selection: Selection, preset: Preset, backend,
              options: QuantizeOptions, progress: Progress) -> tuple:
    """The int8 model, and how it was made (calibration set or QAT history)."""
    spec, config = selection.spec, selection.data
    patterns = list(selection.catalog.fusion_patterns.values())
    size = config.image_size
    if preset.method == "dynamic":
        return pipeline.quantize_dynamic(float_model, spec, preset, backend, size, selection.catalog), {}
    if preset.method == "qat":
        recipe = qat_recipe(preset, options.qat)
        train_set = data.load_split(selection.dataset, config, "train", train=True)
        loader = data.loader(train_set, recipe.batch_size, shuffle=True, seed=options.seed)
        model, history = pipeline.quantize_qat(float_model, spec, preset, backend, size, patterns, loader, recipe,
                                               selection.catalog, progress=progress)
        return model, {"qat": {"recipe": dataclasses.asdict(recipe), "history": history}}
    count = options.calibration_images or preset.calibration_images
    calibration_set = data.sample(data.load_split(selection.dataset, config, "train"), count, options.seed)
    loader = data.loader(calibration_set, options.eval_batch_size)
    model, calibration = pipeline.quantize_static(float_model, spec, preset, backend, size, patterns, loader,
                                                  selection.catalog, progress=progress)
    return model, {"calibration": calibration}


def _accuracy_in(runner, runtime: str, eager: dict, test_loader, engine, progress: Progress) -> dict | None:
    """Top-1/top-5 of the int8 model in ``runtime`` on the same test images, and its agreement with eager.

    Accuracy is measured in eager PyTorch; when another runtime is the fastest, users will run it there, so its
    figures are measured too. None when the fastest runtime is eager itself.
    """
    if runtime == "eager":
        return None
    with engine():
        there = accuracy(runner, test_loader, f"evaluating int8 in {runtime}", keep_logits=True,
                         progress=progress)
    return {"runtime": runtime, "top1": there["top1"], "top5": there["top5"],
            "agreement_with_eager": agreement(eager["logits"], there["logits"])}


def _fused_accuracy(float_model, selection: Selection, test_loader, progress: Progress) -> dict:
    """Accuracy of the float model after fusion alone: fusion should not change it."""
    fused = pipeline.fuse(copy.deepcopy(float_model), selection.spec,
                          selection.catalog.fusion_patterns.values(), is_qat=False, catalog=selection.catalog).eval()
    return accuracy(fused, test_loader, "evaluating fused float", progress=progress)


def run_quantize(options: QuantizeOptions, context: Context | None = None) -> Quantized:
    """Quantize, evaluate and time, without recording (``quantize`` records): see ``zoo.quantize`` for the figures.

    Raises:
        ZooError: a subclass naming what is wrong with a name, a setting, the data or a plugin, before any long
            step where it can be known then.
    """
    ctx = default_context(context)
    progress = ctx.progress
    selection, preset, backend_name, backend, notes, found = _select(options, ctx)
    started = time.perf_counter()
    created = datetime.datetime.now(datetime.timezone.utc)
    torch.manual_seed(options.seed)

    float_model, parent_digest = selection.build_float(options.seed)
    test_set = data.first(data.load_split(selection.dataset, selection.data, "test"), options.eval_limit)
    test_loader = data.loader(test_set, options.eval_batch_size)
    owner = selection.model_plugin
    with running_model(owner, selection.spec.name, "float evaluation"):
        baseline = accuracy(float_model, test_loader, "evaluating float", progress=progress)
        fused = _fused_accuracy(float_model, selection, test_loader, progress) if options.fused_baseline else None

    engine = functools.partial(backend.engine, preset.engine)
    with engine():
        if found is not None:
            with running_model(owner, selection.spec.name, "recipe search"):
                int8_model, preset, notes, provenance = search_job.run(
                    float_model, selection, found, backend, options.search, seed=options.seed,
                    calibration_images=options.calibration_images, batch_size=options.eval_batch_size,
                    qat_overrides=options.qat, progress=progress)
        else:
            with running_model(owner, selection.spec.name, f"{preset.method} quantization"):
                int8_model, provenance = _quantize(float_model, selection, preset, backend, options, progress)
        with running_model(owner, selection.spec.name, "int8 evaluation"):
            metrics = accuracy(int8_model, test_loader, "evaluating int8", keep_logits=True, progress=progress)
    lat = options.latency
    example = next(iter(data.loader(test_set, lat.batch_size)))[0]
    if example.shape[0] < lat.batch_size:
        # Fewer test images than the batch asked for (--eval-limit): time the batch size asked for all the same.
        example = example.repeat(-(-lat.batch_size // example.shape[0]), 1, 1, 1)[:lat.batch_size]
    subject = runtimes.Subject(backend_name, preset.method, preset.engine)
    speed, runners = compare(float_model, int8_model, subject, engine, example, lat.runtimes, threads=lat.threads,
                             warmup=lat.warmup, runs=lat.runs, progress=progress)
    fastest = speed["fastest"]
    in_runtime = _accuracy_in(runners["int8"][fastest["int8"]], fastest["int8"], metrics, test_loader, engine,
                              progress)

    result = {
        "arch": selection.spec.name,
        "preset": preset.name,
        "engine": preset.engine,
        "method": preset.method,
        "backend": backend_name,
        **({"preset_notes": notes} if notes else {}),
        **({"module_rules": rule_summary(preset)} if preset.module_rules else {}),
        **({"equalize": True} if preset.equalize else {}),
        "dataset": {"name": selection.dataset.name, "split": "test", "images": metrics["images"],
                    "image_size": selection.data.image_size, "num_classes": selection.data.num_classes},
        "top_k_rule": TOP_K_RULE,
        "metrics": {"top1": metrics["top1"], "top5": metrics["top5"], "ties": metrics["ties"],
                    "size_bytes": int8_size_bytes(int8_model, backend),
                    "latency": {**speed["int8"][fastest["int8"]], "engine": preset.engine},
                    **({"in_runtime": in_runtime} if in_runtime else {})},
        "baseline": {"top1": baseline["top1"], "top5": baseline["top5"], "ties": baseline["ties"],
                     "size_bytes": float_size_bytes(float_model),
                     "latency": {**speed["float"][fastest["float"]], "engine": None}},
        **card_fields(speed),
        **({"fused_baseline": {"top1": fused["top1"], "top5": fused["top5"]}} if fused else {}),
        **provenance,
        "parent": {**selection.weights.describe(), "sha256": parent_digest},
        "seed": options.seed,
        "command": options.command,
        "versions": versions(),
        "created": created.isoformat(timespec="seconds"),
        "wall_s": round(time.perf_counter() - started, 1),
    }
    return Quantized(int8_model, float_model, result, selection, preset, backend_name)


def quantize(options: QuantizeOptions, context: Context | None = None, name: str | None = None
             ) -> tuple[Quantized, Recorded]:
    """Quantize as ``run_quantize`` does, then record the int8 model in ``context``'s registry as ``name``
    (default ARCH-int8); the name and the registry are checked before the long work.

    Raises:
        BadReferenceError: ``name`` is not a valid registry name.
        StorageError: the registry cannot be written.
        ZooError: as ``run_quantize``.
    """
    from zoo.jobs.record import record_quantized
    from zoo_registry.names import check_name

    ctx = default_context(context)
    if name:
        check_name(name)
    ctx.registry.check_writable()
    produced = run_quantize(options, ctx)
    entry = record_quantized(ctx.registry, produced, name)
    return produced, Recorded(entry, ctx.registry.open(entry)[1])
