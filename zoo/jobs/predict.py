"""``zoo predict``: a registry model classifies image files, fed the way config.json says it was trained."""

from __future__ import annotations

import glob
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zoo.context import Context, default_context
from zoo.core.errors import IncompatibleError, SettingError
from zoo_registry.schema import Card, Config

# What PIL reads and people keep images in.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
BATCH = 64


def preprocess_of(config: Config, card: Card, catalog):
    """The ``zoo.data.Preprocess`` config.json records; for a model recorded before it did, the one its dataset's
    plugin gives.

    Raises:
        IncompatibleError: neither says (an old model whose dataset plugin is not installed).
    """
    from zoo import data

    if config.preprocessing is not None:
        return data.Preprocess.from_record(config.preprocessing.to_dict(), config.labels)
    name = card.dataset.name
    spec = catalog.datasets.get(name)
    if spec is None:
        raise IncompatibleError(f"{card.name} was recorded before zoo kept how to feed a model, and the plugin of "
                                f"its dataset '{name}' is not installed to tell it")
    labels = spec.labels if isinstance(spec.labels, tuple) else None
    return data.Preprocess.from_record(data.preprocessing(spec, config.image_size, config.in_channels), labels)


def image_paths(arguments: Sequence[str]) -> list[Path]:
    """The image files ``arguments`` name: files as given, a directory's images (sorted, not recursive), and a
    glob pattern's matches (for patterns the shell left unexpanded).

    Raises:
        SettingError: an argument that is no file, directory or matching pattern.
    """
    found: list[Path] = []
    for argument in arguments:
        path = Path(argument).expanduser()
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.exists():
            found.append(path)
        elif glob.has_magic(argument):
            found += sorted(Path(p) for p in glob.glob(str(path)) if Path(p).is_file())
        else:
            raise SettingError(f"{argument}: no such image file, directory or matching glob pattern")
    return found


def _read(path: Path, preprocess) -> Any:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            return preprocess(image)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return f"cannot read {path} as an image ({reason})"


def predict(reference: str, images: Sequence[str], top_k: int = 3, context: Context | None = None) -> list[dict]:
    """The top ``top_k`` classes of registry model ``reference`` for each image, in the order given.

    Returns:
        One entry per image: {image, predictions: [{class, label, score}]} (score: softmax probability in percent
        of the model's outputs; label: the class name config.json records, else the class index as text), or
        {image, error} for a file that could not be read as an image.

    Raises:
        UnknownNameError, AmbiguousReferenceError: no such model.
        SettingError: an image argument names nothing.
        IncompatibleError: as ``preprocess_of``.
    """
    import torch

    from zoo.jobs.running import engine_and_subject
    from zoo_registry.loading import load_reference

    ctx = default_context(context)
    paths = image_paths(images)
    model, config, card = load_reference(reference, ctx.registry, ctx.catalog)
    preprocess = preprocess_of(config, card, ctx.catalog)
    engine, _ = engine_and_subject(config, ctx.catalog)
    read = [(path, _read(path, preprocess)) for path in paths]
    tensors = [(i, value) for i, (_, value) in enumerate(read) if not isinstance(value, str)]
    scores: dict[int, torch.Tensor] = {}
    with engine(), torch.inference_mode():
        for start in range(0, len(tensors), BATCH):
            chunk = tensors[start:start + BATCH]
            logits = model(torch.stack([tensor for _, tensor in chunk])).float()
            for (index, _), row in zip(chunk, logits.softmax(dim=1)):
                scores[index] = row
    labels = preprocess.labels
    results: list[dict] = []
    for index, (path, value) in enumerate(read):
        if isinstance(value, str):
            results.append({"image": str(path), "error": value})
            continue
        top = scores[index].topk(min(top_k, scores[index].numel()))
        results.append({"image": str(path), "predictions": [
            {"class": int(c), "label": labels[int(c)] if labels else str(int(c)), "score": round(100 * float(p), 2)}
            for p, c in zip(top.values, top.indices)]})
    return results
