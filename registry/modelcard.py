"""README.md of an artifact: a Hugging Face model card rendered from card.json.

The YAML front matter is written by huggingface_hub's own ModelCardData, so
the Hub renders the metrics and ``ModelCard`` parses them back unchanged, and
holds only what the Hub's metadata validation accepts:

* ``license``: always, a Hub licence identifier (the card's; ``unknown`` for cards made before zoo recorded one);
* ``base_model``: only when the parent weights are themselves a Hub model repository;
* ``datasets``: the dataset's Hub id, only when its plugin declares one;
* ``model-index``: one result per metric, with ``task.type``, ``dataset.name`` and ``dataset.type`` (the Hub id,
  else zoo's dataset name), ``dataset.split``, and each metric's ``type`` and ``value``.
"""

from __future__ import annotations

from zoo.core.licenses import UNKNOWN
from zoo_registry.schema import Card, Figures, Latency

LIBRARY_NAME = "zoo"
METHOD_NAMES = {"static": "static post-training quantization", "qat": "quantization-aware training",
                "dynamic": "dynamic quantization"}


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value:.2f} %"


def _megabytes(size: int | None) -> str:
    return "" if size is None else f"{size / 1e6:.2f} MB"


def _ms(latency: Latency | None) -> str:
    return f"{latency.p50_ms:.2f} ms" if latency else ""


def eval_results(card: Card) -> list:
    from huggingface_hub import EvalResult

    dataset, metrics = card.dataset, card.metrics
    return [
        EvalResult(task_type="image-classification", task_name="Image Classification",
                   dataset_type=dataset.hub_id or dataset.name, dataset_name=dataset.name,
                   dataset_split=dataset.split,
                   metric_type="accuracy", metric_name=f"top-{k} accuracy", metric_value=value,
                   metric_config=f"top{k}")
        for k, value in ((1, metrics.top1), (5, metrics.top5))
    ]


def front_matter(card: Card) -> str:
    from huggingface_hub import ModelCardData

    tags = ["zoo", "image-classification", card.arch]
    if card.kind == "int8" and card.engine:
        tags[1:1] = ["quantized", "int8", card.engine]
    hub_id = card.dataset.hub_id
    data = ModelCardData(
        library_name=LIBRARY_NAME, tags=tags, license=card.license or UNKNOWN,
        datasets=[hub_id] if hub_id else None, base_model=(card.parent or {}).get("hub_repo"),
        model_name=card.name, eval_results=eval_results(card), pipeline_tag="image-classification",
    )
    return data.to_yaml()


def _row(label: str, figures: Figures) -> str:
    return (f"| {label} | {_percent(figures.top1)} | {_percent(figures.top5)} | {_megabytes(figures.size_bytes)} "
            f"| {_ms(figures.latency)} | {_runtime(figures.latency)} |")


def _table(card: Card) -> list[str]:
    rows = [_row("float", card.baseline)] if card.baseline else []
    rows.append(_row("int8" if card.kind == "int8" else "float", card.metrics))
    return ["| model | top-1 | top-5 | size | latency p50 | runtime |", "| --- | ---: | ---: | ---: | ---: | --- |",
            *rows]


def _runtime(latency: Latency | None) -> str:
    return (latency.runtime if latency else None) or ("eager" if latency else "")


def _summary(card: Card) -> str:
    if card.published:
        source, figures = card.published.get("source"), card.published.get("figures") or ""
        return (f"`{card.arch}` int8 weights published as {source}, recorded by zoo "
                f"(engine `{card.engine}`). {figures[:1].upper()}{figures[1:]}.")
    if card.kind == "int8":
        method = card.method or ""
        return (f"`{card.arch}` quantized to int8 by zoo with preset `{card.preset}` "
                f"({METHOD_NAMES.get(method, method)}, backend {card.backend_name}, engine `{card.engine}`).")
    return f"`{card.arch}` float weights trained by zoo (`{card.command or 'zoo train'}`)."


def _measured(card: Card) -> list[str]:
    dataset = card.dataset
    images = f", {dataset.images} images" if dataset.images else ""
    lines = [f"Accuracy on the {dataset.split} split of `{dataset.name}`{images}."]
    latency = card.metrics.latency
    if latency:
        lines.append(f"Latency: median of {latency.runs or '?'} runs, batch {latency.batch_size}, "
                     f"{latency.threads} thread(s), engine `{latency.engine}`, CPU: {latency.cpu}; "
                     "each model in the fastest runtime zoo measured for it.")
    if card.speedup is not None and card.speedup < 1:
        lines.append(f"On that CPU int8 ran {1 / card.speedup:.2f}x slower than float in its fastest runtime.")
    load = card.load
    if load and load.busy:
        lines.append(f"The machine was busy while timing (other processes used {load.other_cpus or 0:.2f} of "
                     f"{load.cpus} CPUs): the latencies are not an idle machine's.")
    return lines


def render_readme(card: Card) -> str:
    """README.md for ``card``: the Hub's YAML metadata, then the figures and how to use the model."""
    name = card.name
    body = [
        f"# {name}", "", _summary(card), "", *_table(card), "", *_measured(card), "",
        "## Use", "", "```bash", "pip install zoo", f"zoo pull {name}", f"zoo eval {name}", "```", "",
        "```python", "import zoo", "", f'model = zoo.load("{name}")  # an nn.Module, rebuilt without unpickling',
        "```", "",
        f"Version `{card.version}`; versions: {', '.join(f'{k} {v}' for k, v in card.versions.items())}.",
        "",
    ]
    return f"---\n{front_matter(card)}\n---\n\n" + "\n".join(body)
