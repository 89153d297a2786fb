"""``zoo quantize ARCH --preset auto``: the cheapest recipe that keeps top-1 within a budget of float.

Candidates are tried cheapest first, each judged on a validation split carved
from the training images (never the test split, which only the chosen model
sees, as in any quantize run):

1. the static presets of one engine, per-tensor min-max before histogram and
   per-channel observers, each also after cross-layer equalization (eager);
2. the best of those with its most sensitive layers kept in float, 1, 2, 4
   then 8 of them, ranked by ``zoo explain``'s SQNR loss (eager mode, where
   int8 layers keep their float names; other backends skip this step and say
   so in the trace), as ``--float-module`` rules;
3. the engine's QAT preset, if allowed.

The search stops at the first candidate within ``max_drop`` top-1 points of
the float model on the validation split; otherwise it keeps the best one and
says by how much it misses. Calibration and QAT draw from the training images
left after the validation split. The chosen recipe is an ordinary preset with
module rules, so the recorded model rebuilds from config.json like any other.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from zoo import data
from zoo.core.errors import IncompatibleError, SettingError, UnknownNameError
from zoo.core.progress import Progress
from zoo.core.specs import ModuleRule, Preset
from zoo.evaluation import accuracy
from zoo.quantization import pipeline, rules

AUTO = "auto"
# Cost of an observer kind for ordering candidates: a histogram takes longer to calibrate than min-max.
_COST = {"minmax": 0, "moving_average_minmax": 0, "per_channel_minmax": 1, "moving_average_per_channel_minmax": 1,
         "histogram": 2}
# Eager-mode int8 layers keep their float names, so their SQNR ranks them (zoo.jobs.explain); other backends do not.
RANKED_BACKENDS = ("eager",)
# Where zoo can equalize (zoo.quantization.equalization works on eager mode's fused models).
EQUALIZING_BACKENDS = ("eager",)


def is_auto(preset: str) -> bool:
    return preset == AUTO or preset.startswith(f"{AUTO}:")


@dataclass(frozen=True)
class SearchOptions:
    """``max_drop``: top-1 points below float allowed on the validation split (float pt, ≥ 0).
    ``validation_images``: carved from the training split with the run's seed. ``fallback_layers``: how many of the
    most sensitive layers to keep in float, tried in turn. ``sensitivity_images``: calibration images the SQNR
    ranking is measured on. ``equalize``: also try each preset after cross-layer equalization."""

    max_drop: float = 0.2
    allow_qat: bool = False
    validation_images: int = 2000
    fallback_layers: tuple[int, ...] = (1, 2, 4, 8)
    sensitivity_images: int = 64
    # Try each preset after cross-layer equalization too, where the backend allows it.
    equalize: bool = True

    def __post_init__(self) -> None:
        if not (isinstance(self.max_drop, (int, float)) and 0 <= self.max_drop <= 100):
            raise SettingError(f"max drop: {self.max_drop!r} is not a number of top-1 points from 0 to 100")
        if not isinstance(self.validation_images, int) or self.validation_images < 1:
            raise SettingError(f"validation images: {self.validation_images!r} is not a whole number >= 1")


@dataclass(frozen=True)
class Candidates:
    """What a search may try, all on one engine and backend: static presets cheapest first, then a QAT preset."""

    engine: str
    backend: str
    static: tuple[Preset, ...]
    qat: Preset | None


def candidates(name: str, spec, requested_backend: str | None, catalog) -> Candidates:
    """The candidates of ``name`` (``auto``, or ``auto:ENGINE``) for ``spec`` through ``requested_backend``
    (default: the first backend the engine's first static preset and the model both go through).

    Raises:
        UnknownNameError: no static preset has that engine.
        IncompatibleError: none of them goes through the backend for this model.
    """
    engine = name.partition(":")[2] or None
    statics = [p for p in catalog.presets.values() if p.method == "static" and engine in (None, p.engine)]
    if not statics:
        engines = sorted({p.engine for p in catalog.presets.values() if p.method == "static"})
        raise UnknownNameError("engine for --preset auto:ENGINE", engine or "", engines)
    usable: list[tuple[Preset, str]] = []
    problems = []
    for preset in statics:
        # Without --backend, the preset's first backend the model goes through (a tv: model skips eager for fx).
        tried = [requested_backend] if requested_backend else (
            [b for b in catalog.preset_backends(preset) if spec.supports(b)] or catalog.preset_backends(preset)[:1])
        for backend_name in tried:
            try:
                usable.append((preset, pipeline.choose_backend(spec, preset, backend_name, catalog)))
                break
            except IncompatibleError as exc:
                problems.append(str(exc))
    if not usable:
        raise IncompatibleError(f"--preset {name}: no static preset works for model '{spec.name}' here "
                                f"({problems[0]})")
    first, backend = usable[0]
    static = [p for p, b in usable if p.engine == first.engine and b == backend]
    static.sort(key=lambda p: (_COST.get(p.activation.kind, 3) if p.activation else 3,
                               _COST.get(p.weight.kind, 3) if p.weight else 3))
    qat = next((p for p in catalog.presets.values() if p.method == "qat" and p.engine == first.engine
                and backend in catalog.preset_backends(p) and spec.supports(backend)), None)
    return Candidates(first.engine, backend, tuple(static), qat)


def run(float_model: nn.Module, selection, found: Candidates, backend, search: SearchOptions, *, seed: int,
        calibration_images: int | None, batch_size: int, qat_overrides: dict, progress: Progress
        ) -> tuple[nn.Module, Preset, list[str], dict[str, Any]]:
    """Try ``found``'s candidates until one is within budget; returns (int8 model, its preset as it ran here, the
    backend's notes on it, the card's provenance: calibration or qat, and ``search`` with the trace).

    Raises:
        SettingError: the validation split does not fit the training split.
    """
    from zoo.jobs.quantize import qat_recipe

    catalog, spec, config = selection.catalog, selection.spec, selection.data
    patterns = list(catalog.fusion_patterns.values())
    rest, held_out = data.carve(data.load_split(selection.dataset, config, "train"), search.validation_images, seed)
    validation = data.loader(held_out, batch_size)
    float_top1 = accuracy(float_model, validation, "validating float", progress=progress)["top1"]
    trace: list[dict[str, Any]] = []
    # (validation top-1, model, preset as it ran, notes, provenance, the candidate as the search made it)
    tried: list[tuple[float, nn.Module, Preset, list[str], dict, Preset]] = []

    def judge(model: nn.Module, preset: Preset, notes: list[str], provenance: dict, started: float,
              step: str, candidate: Preset) -> bool:
        top1 = accuracy(model, validation, f"validating {preset.name}", progress=progress)["top1"]
        drop = round(float_top1 - top1, 2)
        trace.append({"step": step, "preset": preset.name, "equalize": preset.equalize,
                      "float_modules": [r.pattern for r in preset.module_rules if r.keeps_float],
                      "top1": top1, "drop": drop, "within": drop <= search.max_drop,
                      "wall_s": round(time.perf_counter() - started, 1)})
        tried.append((top1, model, preset, notes, provenance, candidate))
        return drop <= search.max_drop

    def calibrated(preset: Preset) -> tuple[nn.Module, Preset, list[str], dict]:
        adapted, notes = backend.adapt(preset)
        count = calibration_images or adapted.calibration_images
        loader = data.loader(data.sample(rest, count, seed), batch_size)
        model, calibration = pipeline.quantize_static(float_model, spec, adapted, backend, config.image_size,
                                                      patterns, loader, catalog, progress=progress)
        return model, adapted, notes, {"calibration": {**calibration, "excluding": "validation images"}}

    def outcome(met: bool) -> tuple[nn.Module, Preset, list[str], dict[str, Any]]:
        best = max(range(len(tried)), key=lambda i: (tried[i][0], -i)) if not met else len(tried) - 1
        _, model, preset, notes, provenance, _ = tried[best]
        provenance = {**provenance, "search": {
            "max_drop": search.max_drop, "met": met, "chosen": best, "engine": found.engine,
            "validation": {"split": "train", "images": data.size(held_out), "float_top1": float_top1},
            "trace": trace,
            **({} if met else {"missed_by": round(trace[best]["drop"] - search.max_drop, 2)})}}
        return model, preset, notes, provenance

    equalizing = search.equalize and found.backend in EQUALIZING_BACKENDS
    for preset in found.static:
        for candidate, step in [(preset, "preset"),
                                *([(dataclasses.replace(preset, equalize=True), "equalized")] if equalizing else [])]:
            started = time.perf_counter()
            model, adapted, notes, provenance = calibrated(candidate)
            if judge(model, adapted, notes, provenance, started, step, candidate):
                return outcome(True)
    if search.equalize and not equalizing:
        trace.append({"step": "equalized", "skipped": f"zoo equalizes layers in backend "
                      f"{', '.join(EQUALIZING_BACKENDS)} only, not '{found.backend}'"})

    best_static = max(tried, key=lambda entry: entry[0])
    if found.backend in RANKED_BACKENDS:
        base = best_static[5]
        ranked = _sensitive_layers(float_model, best_static[1], selection, rest, search, seed, backend, found,
                                   base.equalize)
        for count in search.fallback_layers:
            if count > len(ranked):
                break
            started = time.perf_counter()
            ruled = rules.with_rules(base, [ModuleRule("name", layer) for layer in ranked[:count]], float_model,
                                     catalog)
            model, adapted, notes, provenance = calibrated(ruled)
            if judge(model, adapted, notes, provenance, started, f"{count} layer(s) in float", ruled):
                return outcome(True)
    else:
        trace.append({"step": "layers in float", "skipped": f"backend '{found.backend}' keeps no layer names to rank "
                      f"by SQNR; per-layer fallback needs backend {', '.join(RANKED_BACKENDS)}"})

    if search.allow_qat and found.qat is not None:
        started = time.perf_counter()
        adapted, notes = backend.adapt(found.qat)
        recipe = qat_recipe(adapted, qat_overrides)
        train_rest, _ = data.carve(data.load_split(selection.dataset, config, "train", train=True),
                                   search.validation_images, seed)
        loader = data.loader(train_rest, recipe.batch_size, shuffle=True, seed=seed)
        model, history = pipeline.quantize_qat(float_model, spec, adapted, backend, config.image_size, patterns,
                                               loader, recipe, catalog, progress=progress)
        provenance = {"qat": {"recipe": dataclasses.asdict(recipe), "history": history}}
        if judge(model, adapted, notes, provenance, started, "QAT", found.qat):
            return outcome(True)
    elif search.allow_qat:
        trace.append({"step": "QAT", "skipped": f"no QAT preset for engine '{found.engine}' and backend "
                      f"'{found.backend}'"})
    return outcome(False)


def _sensitive_layers(float_model, int8_model, selection, rest, search: SearchOptions, seed: int, backend,
                      found: Candidates, equalized: bool) -> list[str]:
    """The int8 model's layers, most sensitive first (zoo explain's ranking), as module paths rules can name."""
    from zoo.jobs.explain import rank_layers
    from zoo.quantization import equalization

    fused = pipeline.fuse(copy.deepcopy(float_model), selection.spec, selection.catalog.fusion_patterns.values(),
                          False, selection.catalog)
    if equalized:
        equalization.equalize(fused)
    sample = data.sample(rest, search.sensitivity_images, seed)
    batch = torch.stack([sample[index][0] for index in range(data.size(sample))])
    rows, _ = rank_layers(fused, int8_model, batch, backend, found.engine)
    names = set(rules.module_names(float_model))
    return [row["layer"] for row in rows if row["layer"] in names]
