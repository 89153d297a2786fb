"""``zoo explain``: which layers of an int8 model lose the most signal to quantization.

For each quantized layer, the signal-to-quantization-noise ratio (SQNR, dB) of
its output against the same layer of the float model it was made from, both
fed the same calibration images: ``10·log10(Σ float² / Σ (float − int8)²)``.
Each int8 layer sees the int8 model's own upstream outputs, so the figure
includes the error carried in from earlier layers; what a layer adds is its
drop from the layer before it (in module order, the forward order of a
sequential network such as MobileNetV2). Layers are ranked by that drop: the
ones at the top are the ones to keep in float or calibrate better. The float model is
rebuilt from the card's parent weights and checked against the digest the
card recorded, then fused as the int8 model was, so layers pair by name.
"""

from __future__ import annotations

import math
from typing import Any

from zoo.context import Context, default_context
from zoo.core.errors import IncompatibleError, IntegrityError

# Backends whose int8 modules keep the fused float model's module names (torch.ao eager mode); FX renames what it
# fuses and pt2e keeps no modules, so pairing their layers needs their graphs (not done yet).
SUPPORTED = ("eager",)
QUANTIZED_PACKAGES = ("torch.ao.nn.quantized", "torch.ao.nn.intrinsic.quantized")


def sqnr_db(reference, noisy) -> float:
    """10·log10(Σ reference² / Σ (reference − noisy)²), in dB; infinite where they are equal."""
    noise = float(((reference - noisy) ** 2).sum())
    signal = float((reference ** 2).sum())
    if noise == 0:
        return math.inf
    if signal == 0:
        return -math.inf
    return 10 * math.log10(signal / noise)


def explain(reference: str, images: int | None = None, context: Context | None = None) -> dict[str, Any]:
    """SQNR per quantized layer of registry model ``reference``, worst first, on ``images`` calibration images
    (default: as many as it was calibrated on, the same seeded sample).

    Returns:
        {name, version, images, layers: [{layer, type, sqnr_db, drop_db: SQNR lost from the layer before it, in
        module order (None for the first)}] sorted by drop_db, largest first, output_sqnr_db: the logits' SQNR}.

    Raises:
        IncompatibleError: a float, dynamic or QAT model, an int8 model of a backend other than eager (FX and pt2e
            graphs do not keep the float model's module names), or float weights zoo cannot rebuild.
        IntegrityError: the rebuilt float weights are not the ones the card recorded.
    """
    import torch

    from zoo import data
    from zoo.jobs.selection import select
    from zoo.quantization import pipeline
    from zoo_registry.loading import build

    ctx = default_context(context)
    registry, catalog = ctx.registry, ctx.catalog
    entry = registry.resolve(reference)
    config, card, model_bytes = registry.open(entry)
    if config.kind != "int8" or config.preset is None:
        raise IncompatibleError(f"{entry.ref} is a float model: zoo explain compares an int8 model with its float one")
    if config.backend_name not in SUPPORTED:
        raise IncompatibleError(f"{entry.ref} was made by backend '{config.backend_name}': zoo explain reads layers "
                                f"by name, which only backends {', '.join(SUPPORTED)} keep")
    parent = card.parent or {}
    if config.preset.method == "dynamic":
        raise IncompatibleError(f"{entry.ref} is dynamically quantized: its activations are not quantized ahead, so "
                                "there is no calibration to explain")
    if config.preset.method == "qat":
        raise IncompatibleError(f"{entry.ref} was made by QAT, which trained its weights further: zoo keeps no float "
                                "model to compare its layers with (zoo explain reads static PTQ models)")
    images = images or int((card.calibration or {}).get("images") or 64)
    int8 = build(config, model_bytes, catalog, entry.ref)
    selection = select(config.arch, card.dataset.name, parent.get("name"), None, config.image_size, ctx)
    float_model, digest = selection.build_float(card.seed or 0)
    if parent.get("sha256") and digest != parent["sha256"]:
        raise IntegrityError(f"{entry.ref}: the float weights '{parent.get('name')}' rebuilt here are not the ones "
                             "it was made from (their sha256 differs from the card's)")
    fused = pipeline.fuse(float_model, selection.spec, catalog.fusion_patterns.values(), False, catalog)
    if config.preset.equalize:  # the int8 model was made from the equalized float one
        from zoo.quantization import equalization
        equalization.equalize(fused)
    # The images the model was calibrated on, where the count matches: the same seeded sample quantize drew.
    calibration = data.sample(data.load_split(selection.dataset, selection.data, "train"), images, card.seed or 0)
    batch = torch.stack([calibration[index][0] for index in range(data.size(calibration))])

    backend = catalog.backend(config.backend_name)
    rows, output_sqnr = rank_layers(fused, int8, batch, backend, config.engine)
    return {"name": entry.name, "version": entry.version, "images": len(batch), "layers": rows,
            "output_sqnr_db": output_sqnr}


def rank_layers(fused, int8, batch, backend, engine: str | None) -> tuple[list[dict[str, Any]], float]:
    """(layers worst first, the logits' SQNR in dB) for an eager-mode ``int8`` model and the ``fused`` float model
    it was made from, both fed ``batch`` (float32, N×C×H×W); see ``explain`` for the rows."""
    import torch

    float_modules = dict(fused.named_modules())
    layers = {name: module for name, module in int8.named_modules()
              if type(module).__module__.startswith(QUANTIZED_PACKAGES) and name in float_modules
              and not name.endswith("dequant")}
    outputs: dict[str, dict[str, Any]] = {"float": {}, "int8": {}}

    def keep(side: str, name: str):
        def hook(module, inputs, output):
            if isinstance(output, torch.Tensor):
                outputs[side][name] = output.dequantize() if output.is_quantized else output.detach()
        return hook

    handles = [float_modules[name].register_forward_hook(keep("float", name)) for name in layers]
    handles += [module.register_forward_hook(keep("int8", name)) for name, module in layers.items()]
    try:
        with torch.inference_mode():
            float_logits = fused(batch)
            with backend.engine(engine):
                int8_logits = int8(batch)
    finally:
        for handle in handles:
            handle.remove()

    def measured(name: str) -> float | None:
        if name not in outputs["float"] or name not in outputs["int8"] or (
                outputs["float"][name].shape != outputs["int8"][name].shape):
            return None
        return sqnr_db(outputs["float"][name], outputs["int8"][name])

    # The input's own quantization (the QuantStub, wherever the model defines it) is where the chain starts.
    stubs = [name for name, module in layers.items() if type(module).__name__ == "Quantize"]
    inputs = [value for value in map(measured, stubs) if value is not None]
    rows: list[dict[str, Any]] = []
    previous = min(inputs) if inputs else math.inf
    for name in layers:  # module order
        value = measured(name) if name not in stubs else None
        if value is None:
            continue
        drop = previous - value if math.isfinite(previous) and math.isfinite(value) else None
        rows.append({"layer": name, "type": type(layers[name]).__name__, "sqnr_db": round(value, 2),
                     "drop_db": None if drop is None else round(drop, 2)})
        previous = value
    # Worst first: the largest loss a layer adds; the first layer (no layer before it) by its own SQNR.
    rows.sort(key=lambda row: -(row["drop_db"] if row["drop_db"] is not None else -row["sqnr_db"]))
    return rows, round(sqnr_db(float_logits, int8_logits.dequantize() if int8_logits.is_quantized
                               else int8_logits), 2)
