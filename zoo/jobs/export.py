"""Exporting a registry model for deployment: TorchScript (the tutorials' format) or ONNX (QDQ for int8).

An ONNX export is checked before it is written: ONNX Runtime runs it on the
card's test images (or random images where the dataset is not at hand) and its
top class must agree with ``zoo.load``'s on at least ``MIN_AGREEMENT`` percent
of them; otherwise nothing is written.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from zoo.context import Context, default_context
from zoo.core import atomic
from zoo.core.errors import IncompatibleError
from zoo_registry.loading import load_reference
from zoo_registry.schema import Card, Config

# Percent of images on which the export's top class must agree with zoo.load's (zoo.evaluation.agreement's top1).
MIN_AGREEMENT = 99.0


# Where a TorchScript export records the quantized engine it must be loaded under.
ENGINE_FILE = "zoo-engine.txt"


def checked_output(output: str) -> Path:
    """Where an export of ``output`` is written: through a symbolic link to its target; refused, before any work,
    when that is not a regular file or its directory does not exist.

    Raises:
        StorageError: naming the path.
    """
    from zoo.core.errors import StorageError

    path = Path(os.path.realpath(Path(output).expanduser()))
    if path.exists() and not path.is_file():
        raise StorageError(f"{path} exists and is not a regular file (a directory, device or pipe): give -o a file "
                           "path")
    if not path.parent.is_dir():
        raise StorageError(f"{path.parent} is not a directory (it does not exist, or is a file): create the "
                           "directory first, or give -o a path in an existing one")
    return path


def export_torchscript(reference: str, output: str, context: Context | None = None) -> tuple[Path, str, str | None]:
    """Script the model (trace it when scripting fails) and write it; returns (path, how, engine).

    ``engine`` is the torch quantized engine (fbgemm, x86, qnnpack...) the file must be loaded under, or None
    when it needs none. torch.jit.load repacks int8 weights for the process's current engine, and a model
    calibrated for another one computes something else there (qnnpack's 8-bit activations saturate fbgemm's
    kernels), so the engine is stored in the file (``ENGINE_FILE``, read with torch.jit.load's _extra_files)
    and named in the loading instructions.
    """
    import torch

    ctx = default_context(context)
    target = checked_output(output)
    model, config, _ = load_reference(reference, ctx.registry, ctx.catalog)
    engine = config.engine if config.engine in torch.backends.quantized.supported_engines else None
    example = torch.randn(1, config.in_channels, config.image_size, config.image_size)
    with warnings.catch_warnings():
        # TorchScript is deprecated upstream but is still what torch.jit.load and the tutorials use.
        warnings.simplefilter("ignore")
        program, how = _compile(model, example, reference)
        return _write(program, target, {ENGINE_FILE: engine or ""}), how, engine


def export_onnx(reference: str, output: str, check_images: int = 500,
                min_agreement: float = MIN_AGREEMENT, context: Context | None = None) -> tuple[Path, dict]:
    """Write ``reference`` as an ONNX model after checking it against ``zoo.load``; returns (path, check).

    ``check``: {images, source, agreement: zoo.evaluation.agreement's figures}. Raises IncompatibleError when the
    model cannot be exported or onnxruntime is missing, ZooError when the export disagrees (nothing written).
    """

    import torch

    from zoo import runtimes
    from zoo.evaluation import agreement
    from zoo.jobs.running import engine_and_subject
    from zoo.runtimes.onnx import INPUT, to_onnx

    ctx = default_context(context)
    target = checked_output(output)
    runtimes.get("onnxruntime")  # refuses with the extra to install when onnxruntime is missing
    model, config, card = load_reference(reference, ctx.registry, ctx.catalog)
    engine, subject = engine_and_subject(config, ctx.catalog)
    images, source = _check_images(config, card, check_images, ctx)
    data = to_onnx(model, subject, images[:1], engine)
    import onnxruntime

    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    with engine(), torch.inference_mode():
        expected = torch.cat([model(batch) for batch in images.split(64)])
    got = torch.cat([torch.from_numpy(session.run(None, {INPUT: batch.numpy()})[0]) for batch in images.split(64)])
    agreed = agreement(expected, got)
    check = {"images": len(images), "source": source, "agreement": agreed}
    if agreed["top1"] < min_agreement:
        raise IncompatibleError(f"the ONNX export of {reference} disagrees with zoo.load: its top class agrees on "
                       f"{agreed['top1']:.2f} % of {source} (needs {min_agreement:g} %, --min-agreement), largest "
                       f"logit difference {agreed['max_abs_diff']:.3g}; nothing was written")
    return _write_bytes(data, target), check


def _check_images(config: Config, card: Card, count: int, ctx: Context):
    """(images, description): the first ``count`` images of the card's test split, else seeded random images."""
    import torch

    from zoo import data
    from zoo.core.errors import ZooError as Unavailable

    try:
        spec = ctx.catalog.dataset(card.dataset.name)
        config_data = data.resolve(spec, None, config.image_size, config.in_channels, ctx.datasets_dir)
        split: Any = data.first(data.load_split(spec, config_data, card.dataset.split), count)
        return torch.stack([image for image, _ in split]), f"{len(split)} {spec.name} test images"
    except (Unavailable, KeyError):
        size, channels = config.image_size, config.in_channels
        images = torch.randn(count, channels, size, size, generator=torch.Generator().manual_seed(0))
        return images, f"{count} random images (the card's dataset is not available here)"


def _write_bytes(data: bytes, path: Path) -> Path:
    """All or nothing, as ``_write``."""
    atomic.write_bytes(path, data)
    return path


def _compile(model, example, reference: str):
    import torch

    try:
        program, how = torch.jit.script(model), "scripted"
    except Exception:
        try:
            with torch.no_grad():
                program, how = torch.jit.trace(model, example), "traced"
        except Exception as exc:
            raise IncompatibleError(f"cannot export {reference} to TorchScript: {str(exc).splitlines()[0]}") from None
    return program, how


def _write(program, path: Path, extra_files: dict[str, str]) -> Path:
    """All or nothing: a failed or interrupted save leaves no partial file at ``path``."""
    import torch

    with atomic.replacing(path) as tmp:
        torch.jit.save(program, str(tmp), _extra_files=extra_files)
    return path
