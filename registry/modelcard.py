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

from collections.abc import Mapping
from typing import Any

from zoo.core.licenses import UNKNOWN

LIBRARY_NAME = "zoo"
METHOD_NAMES = {"static": "static post-training quantization", "qat": "quantization-aware training",
                "dynamic": "dynamic quantization"}


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value:.2f} %"


def _megabytes(size: int | None) -> str:
    return "" if size is None else f"{size / 1e6:.2f} MB"


def _ms(latency: Mapping | None) -> str:
    return f"{latency['p50_ms']:.2f} ms" if latency else ""


def eval_results(card: Mapping[str, Any]) -> list:
    from huggingface_hub import EvalResult

    dataset, metrics = card["dataset"], card["metrics"]
    return [
        EvalResult(task_type="image-classification", task_name="Image Classification",
                   dataset_type=dataset.get("hub_id") or dataset["name"], dataset_name=dataset["name"],
                   dataset_split=dataset["split"],
                   metric_type="accuracy", metric_name=f"top-{k} accuracy", metric_value=metrics[f"top{k}"],
                   metric_config=f"top{k}")
        for k in (1, 5)
    ]


def front_matter(card: Mapping[str, Any]) -> str:
    from huggingface_hub import ModelCardData

    tags = ["zoo", "image-classification", card["arch"]]
    if card.get("kind") == "int8":
        tags[1:1] = ["quantized", "int8", card["engine"]]
    hub_id = card["dataset"].get("hub_id")
    data = ModelCardData(
        library_name=LIBRARY_NAME, tags=tags, license=card.get("license") or UNKNOWN,
        datasets=[hub_id] if hub_id else None, base_model=(card.get("parent") or {}).get("hub_repo"),
        model_name=card["name"], eval_results=eval_results(card), pipeline_tag="image-classification",
    )
    return data.to_yaml()


def _table(card: Mapping[str, Any]) -> list[str]:
    rows = []
    if "baseline" in card:
        b = card["baseline"]
        rows.append(f"| float | {_percent(b['top1'])} | {_percent(b['top5'])} | {_megabytes(b.get('size_bytes'))} "
                    f"| {_ms(b.get('latency'))} | {_runtime(b.get('latency'))} |")
    m = card["metrics"]
    label = "int8" if card.get("kind") == "int8" else "float"
    rows.append(f"| {label} | {_percent(m['top1'])} | {_percent(m['top5'])} | {_megabytes(m.get('size_bytes'))} "
                f"| {_ms(m.get('latency'))} | {_runtime(m.get('latency'))} |")
    return ["| model | top-1 | top-5 | size | latency p50 | runtime |", "| --- | ---: | ---: | ---: | ---: | --- |",
            *rows]


def _runtime(latency: Mapping[str, Any] | None) -> str:
    return (latency or {}).get("runtime") or ("eager" if latency else "")


def _summary(card: Mapping[str, Any]) -> str:
    if "published" in card:
        published = card["published"]
        return (f"`{card['arch']}` int8 weights published as {published['source']}, recorded by zoo "
                f"(engine `{card['engine']}`). {published['figures'][0].upper()}{published['figures'][1:]}.")
    if card.get("kind") == "int8":
        return (f"`{card['arch']}` quantized to int8 by zoo with preset `{card['preset']}` "
                f"({METHOD_NAMES.get(card['method'], card['method'])}, "
                f"backend {card.get('backend') or card.get('mode')}, engine `{card['engine']}`).")
    return f"`{card['arch']}` float weights trained by zoo (`{card.get('command', 'zoo train')}`)."


def _measured(card: Mapping[str, Any]) -> list[str]:
    dataset = card["dataset"]
    images = f", {dataset['images']} images" if dataset.get("images") else ""
    lines = [f"Accuracy on the {dataset['split']} split of `{dataset['name']}`{images}."]
    latency = card["metrics"].get("latency")
    if latency:
        lines.append(f"Latency: median of {latency.get('runs', '?')} runs, batch {latency['batch_size']}, "
                     f"{latency['threads']} thread(s), engine `{latency.get('engine')}`, CPU: {latency.get('cpu')}; "
                     "each model in the fastest runtime zoo measured for it.")
    speedup = card.get("speedup")
    if speedup is not None and speedup < 1:
        lines.append(f"On that CPU int8 ran {1 / speedup:.2f}x slower than float in its fastest runtime.")
    load = card.get("load") or {}
    if load.get("busy"):
        lines.append(f"The machine was busy while timing (other processes used {load['other_cpus']:.2f} of "
                     f"{load['cpus']} CPUs): the latencies are not an idle machine's.")
    return lines


def render_readme(card: Mapping[str, Any]) -> str:
    name = card["name"]
    body = [
        f"# {name}", "", _summary(card), "", *_table(card), "", *_measured(card), "",
        "## Use", "", "```bash", "pip install zoo", f"zoo pull {name}", f"zoo eval {name}", "```", "",
        "```python", "import zoo", "", f'model = zoo.load("{name}")  # an nn.Module, rebuilt without unpickling',
        "```", "",
        f"Version `{card['version']}`; versions: {', '.join(f'{k} {v}' for k, v in card.get('versions', {}).items())}.",
        "",
    ]
    return f"---\n{front_matter(card)}\n---\n\n" + "\n".join(body)
