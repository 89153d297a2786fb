"""The Hugging Face Hub's checks of a model card's YAML metadata, for the test Hub server.

The Hub validates README.md front matter at ``/api/validate-yaml`` (which
``huggingface_hub`` calls before ``create_commit`` uploads a README.md, and
``ModelCard.validate`` calls directly) and again when the commit lands, and
refuses it with HTTP 400 and ``{"errors": [{"message"}], "warnings": []}``
(commit: ``{"error"}``). Messages follow the Hub's Joi style, quoting the
path of the field: ``"license" must be one of [apache-2.0, mit, ...]``.

Checked here, as documented for model cards
(https://huggingface.co/docs/hub/model-cards#model-card-metadata): ``license``
one of the Hub's licence identifiers (the list below is the one the Hub quotes
in that error); ``datasets`` Hub dataset ids; ``base_model`` model repositories
that exist on this Hub; ``pipeline_tag`` a known task; ``tags`` strings;
``model-index`` a list of ``{name, results}`` whose results hold ``task.type``,
``dataset.name`` and ``dataset.type`` as strings, ``dataset.config``,
``dataset.split`` and ``dataset.revision`` as strings when present, and
``metrics`` of ``{type, value}``. This list is written from the Hub's
documentation and error messages, deliberately not imported from zoo: a
test that zoo's cards pass it must not be zoo checking itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import yaml

LICENSES = (
    "apache-2.0", "mit", "openrail", "bigscience-openrail-m", "creativeml-openrail-m", "bigscience-bloom-rail-1.0",
    "bigcode-openrail-m", "afl-3.0", "artistic-2.0", "bsl-1.0", "bsd", "bsd-2-clause", "bsd-3-clause",
    "bsd-3-clause-clear", "c-uda", "cc", "cc0-1.0", "cc-by-2.0", "cc-by-2.5", "cc-by-3.0", "cc-by-4.0",
    "cc-by-sa-3.0", "cc-by-sa-4.0", "cc-by-nc-2.0", "cc-by-nc-3.0", "cc-by-nc-4.0", "cc-by-nd-4.0",
    "cc-by-nc-nd-3.0", "cc-by-nc-nd-4.0", "cc-by-nc-sa-2.0", "cc-by-nc-sa-3.0", "cc-by-nc-sa-4.0",
    "cdla-sharing-1.0", "cdla-permissive-1.0", "cdla-permissive-2.0", "wtfpl", "ecl-2.0", "epl-1.0", "epl-2.0",
    "etalab-2.0", "eupl-1.1", "eupl-1.2", "agpl-3.0", "gfdl", "gpl", "gpl-2.0", "gpl-3.0", "lgpl", "lgpl-2.1",
    "lgpl-3.0", "isc", "h-research", "intel-research", "lppl-1.3c", "ms-pl", "apple-ascl", "apple-amlr", "mpl-2.0",
    "odc-by", "odbl", "openmdw-1.0", "openrail++", "osl-3.0", "postgresql", "ofl-1.1", "ncsa", "unlicense", "zlib",
    "pddl", "lgpl-lr", "deepfloyd-if-license", "fair-noncommercial-research-license", "llama2", "llama3",
    "llama3.1", "llama3.2", "llama3.3", "llama4", "grok2-community", "gemma", "unknown", "other",
)
# The tasks of the Hub's pipeline_tag that an image model can have (a subset of the Hub's list).
PIPELINE_TAGS = ("image-classification", "image-feature-extraction", "object-detection", "image-segmentation",
                 "zero-shot-image-classification", "image-to-text", "other")
REPO_ID = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/)?[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")


def front_matter(readme: str) -> tuple[dict | None, list[str]]:
    """(metadata, errors) of a README.md's text; (None, []) when it has no front matter."""
    lines = readme.splitlines()
    if not lines or lines[0].strip() != "---":
        return None, []
    try:
        end = next(i for i, line in enumerate(lines[1:], 1) if line.strip() == "---")
    except StopIteration:
        return None, ["Metadata block is not closed"]
    try:
        data = yaml.safe_load("\n".join(lines[1:end])) or {}
    except yaml.YAMLError as exc:
        return None, [f"Invalid YAML: {str(exc).splitlines()[0]}"]
    if not isinstance(data, dict):
        return None, ['"value" must be of type object']
    return data, []


def errors(readme: str, is_model_repo: Callable[[str], bool]) -> list[str]:
    """Every way ``readme``'s metadata breaks the Hub's rules for a model card, as the Hub words them."""
    data, found = front_matter(readme)
    if data is None:
        return found
    if "license" in data and data["license"] not in LICENSES:
        found.append(f'"license" must be one of [{", ".join(LICENSES)}]')
    for key in ("datasets", "base_model", "tags"):
        value = data.get(key)
        if value is not None and not isinstance(value, (str, list)):
            found.append(f'"{key}" must be one of [string, array]')
    for i, dataset in enumerate(_as_list(data.get("datasets"))):
        if not isinstance(dataset, str) or not REPO_ID.match(dataset):
            found.append(f'"datasets[{i}]" must be a valid dataset id, got {dataset!r}')
    for model in _as_list(data.get("base_model")):
        if not isinstance(model, str) or not REPO_ID.match(model):
            found.append(f'"base_model" must be a valid model id, got {model!r}')
        elif not is_model_repo(model):
            found.append(f'"base_model" {model} is not a model repository on the Hub')
    for i, tag in enumerate(_as_list(data.get("tags"))):
        if not isinstance(tag, str):
            found.append(f'"tags[{i}]" must be a string')
    if "pipeline_tag" in data and data["pipeline_tag"] not in PIPELINE_TAGS:
        found.append(f'"pipeline_tag" must be one of [{", ".join(PIPELINE_TAGS)}]')
    if "library_name" in data and not isinstance(data["library_name"], str):
        found.append('"library_name" must be a string')
    if "model-index" in data:
        found += _model_index_errors(data["model-index"])
    return found


def _as_list(value: Any) -> list:
    return [] if value is None else value if isinstance(value, list) else [value]


def _model_index_errors(index: Any) -> list[str]:
    if not isinstance(index, list):
        return ['"model-index" must be an array']
    found = []
    for i, model in enumerate(index):
        where = f"model-index[{i}]"
        if not isinstance(model, dict):
            found.append(f'"{where}" must be of type object')
            continue
        found += _required_string(model, "name", where)
        results = model.get("results")
        if not isinstance(results, list):
            found.append(f'"{where}.results" is required and must be an array')
            continue
        for j, result in enumerate(results):
            found += _result_errors(result, f"{where}.results[{j}]")
    return found


def _result_errors(result: Any, where: str) -> list[str]:
    if not isinstance(result, dict):
        return [f'"{where}" must be of type object']
    found = []
    task, dataset, metrics = result.get("task"), result.get("dataset"), result.get("metrics")
    if not isinstance(task, dict):
        found.append(f'"{where}.task" is required')
    else:
        found += _required_string(task, "type", f"{where}.task")
    if not isinstance(dataset, dict):
        found.append(f'"{where}.dataset" is required')
    else:
        found += _required_string(dataset, "name", f"{where}.dataset")
        found += _required_string(dataset, "type", f"{where}.dataset")
        for key in ("config", "split", "revision"):
            if key in dataset and not isinstance(dataset[key], str):
                found.append(f'"{where}.dataset.{key}" must be a string')
    if not isinstance(metrics, list) or not metrics:
        found.append(f'"{where}.metrics" is required and must be a non-empty array')
    else:
        for k, metric in enumerate(metrics):
            if not isinstance(metric, dict):
                found.append(f'"{where}.metrics[{k}]" must be of type object')
                continue
            found += _required_string(metric, "type", f"{where}.metrics[{k}]")
            if "value" not in metric:
                found.append(f'"{where}.metrics[{k}].value" is required')
    return found


def _required_string(obj: dict, key: str, where: str) -> list[str]:
    if key not in obj:
        return [f'"{where}.{key}" is required']
    if not isinstance(obj[key], str):
        return [f'"{where}.{key}" must be a string']
    return []
