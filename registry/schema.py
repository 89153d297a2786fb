"""card.json and config.json, each parsed through one schema before anything reads a field of it.

An artifact's digests prove only that its files match each other: whoever owns
a Hub repository can edit any field and recompute them. So every card and
config is bounded in size and nesting before it is parsed, then checked field
by field (types, ranges, no control characters in text that zoo prints) and
across fields and files (the card describes the config it ships with), by
pydantic models. A failure is one ``IntegrityError`` naming the file and the
field, e.g. ``card.json: metrics.top1: Input should be a valid number``.

Both schemas accept what zoo wrote since artifact version 1; fields they do
not know are kept but never read.
"""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from zoo.core.errors import IntegrityError, SchemaVersionError
from zoo.core.licenses import HUB_LICENSES
from zoo.core.specs import ARCH_PATTERN, HUB_REPO_ID, MODULE_PATH
from zoo.core.specs import ModuleRule as ModuleRuleSpec
from zoo.core.specs import Observer as ObserverSpec
from zoo.core.specs import Preset as PresetSpec

# Larger files are refused before they are parsed.
MAX_CARD_BYTES = 1 << 20
MAX_CONFIG_BYTES = 64 << 10
# Deeper JSON is refused before it is parsed (json.loads recurses; zoo writes at most 6 levels).
MAX_DEPTH = 24
MAX_TEXT = 4000
MAX_CLASSES = 100_000
MAX_IMAGE_SIZE = 4096
MAX_CHANNELS = 64

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_NAME = r"^[a-z0-9][a-z0-9_.-]{0,95}$"
_HEX64 = r"^[0-9a-f]{64}$"


def _printable(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("holds control characters")
    return value


Text = Annotated[str, Field(max_length=MAX_TEXT), AfterValidator(_printable)]
Name = Annotated[str, Field(pattern=_NAME)]
Arch = Annotated[str, Field(max_length=160, pattern=ARCH_PATTERN.pattern)]
Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0, le=10**12)]
Milliseconds = Annotated[float, Field(ge=0, le=3.6e6, allow_inf_nan=False)]


class _Record(BaseModel):
    """A validated, read-only view of (part of) a JSON file; ``to_dict`` gives back what the file holds."""

    model_config = ConfigDict(strict=True, frozen=True)

    def to_dict(self) -> dict[str, Any]:
        """The fields as the file holds them (fields the file left out stay out; unknown ones are kept)."""
        return self.model_dump(mode="json", exclude_unset=True)


class _Lenient(_Record):
    """Unknown fields are kept (a newer zoo may add some) but never read."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)


class _Strict(_Record):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Latency(_Lenient):
    p50_ms: Milliseconds
    p90_ms: Milliseconds
    batch_size: Annotated[int, Field(ge=1, le=65536)]
    threads: Annotated[int, Field(ge=1, le=4096)]
    cpu: Text | None = None
    runs: Annotated[int, Field(ge=1, le=10**7)] | None = None
    runtime: Name | None = None
    engine: Text | None = None
    # The machine a sweep cell was timed on (``zoo sweep``): latencies compare only within one node.
    node: Text | None = None


class Agreement(_Lenient):
    top1: Percent
    argmax: Percent
    max_abs_diff: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    step: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    images: Count


class InRuntime(_Lenient):
    runtime: Name
    top1: Percent
    top5: Percent
    agreement_with_eager: Agreement


class Accuracy(_Lenient):
    top1: Percent
    top5: Percent
    ties: Percent | None = None  # images whose top class is shared, percent (zoo.evaluation)


class Figures(Accuracy):
    size_bytes: Count
    latency: Latency | None = None
    in_runtime: InRuntime | None = None


class Dataset(_Lenient):
    name: Name
    hub_id: Annotated[str, Field(pattern=HUB_REPO_ID.pattern)] | None = None
    split: Name
    images: Count | None
    image_size: Annotated[int, Field(ge=1, le=MAX_IMAGE_SIZE)]
    num_classes: Annotated[int, Field(ge=1, le=MAX_CLASSES)]


class FileInfo(_Strict):
    sha256: Annotated[str, Field(pattern=_HEX64)]
    size: Count


class Plugin(_Lenient):
    name: Text | None
    package: Text | None = None
    version: Text | None = None


class ModelFile(_Strict):
    """The user's own Python file a model was built from (``zoo quantize PATH.py:FUNCTION``): which one, never
    where; loading needs the file given again, with this sha256."""

    name: Annotated[str, Field(max_length=255), AfterValidator(_printable)]
    function: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")]
    sha256: Annotated[str, Field(pattern=_HEX64)]


class Timing(_Lenient):
    p50_ms: Milliseconds
    p90_ms: Milliseconds


class Runtimes(_Lenient):
    float: dict[Name, Timing] = {}
    int8: dict[Name, Timing] = {}
    skipped: dict[Literal["float", "int8"], dict[Name, Text]] = {}
    fastest: dict[Literal["float", "int8"], Name] = {}


class Load(_Lenient):
    other_cpus: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None
    cpus: Annotated[int, Field(ge=1, le=100_000)]
    busy: bool | None


class RuleSummary(_Lenient):
    modules: Text
    setting: Text
    decided: Count


class SweepCell(_Lenient):
    """Which cell of a ``zoo sweep`` grid made a card, and the key a re-run finds it by (``zoo.jobs.sweep``)."""

    key: Annotated[str, Field(pattern=_HEX64)]
    arch: Arch
    preset: Name
    dataset: Name
    weights: Text | None
    weights_sha256: Annotated[str, Field(pattern=_HEX64)] | None
    options: dict[Name, Any]


class Card(_Lenient):
    name: Name
    version: Annotated[str, Field(pattern=_HEX64)]
    card_version: Annotated[int, Field(ge=1)]
    kind: Literal["int8", "float"]
    arch: Arch
    preset: Name | None = None
    engine: Text | None = None
    method: Literal["static", "qat", "dynamic"] | None = None
    backend: Name | None = None
    mode: Name | None = None
    dataset: Dataset
    metrics: Figures
    baseline: Figures | None = None
    fused_baseline: Accuracy | None = None
    runtimes: Runtimes | None = None
    speedup: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    load: Load | None = None
    parent: dict[Name, Text | None] | None = None
    # How top-1/top-5 counted ties for the top classes (zoo.evaluation); cards made before it say nothing: argmax.
    top_k_rule: Name | None = None
    # A Hub licence identifier (zoo.core.licenses); cards made before zoo recorded one have none.
    license: Literal[HUB_LICENSES] | None = None  # type: ignore[valid-type]
    published: dict[Name, Text | None] | None = None
    preset_notes: list[Text] | None = None
    # zoo quantize --equalize: cross-layer equalization before calibration (config.json's preset says so too).
    equalize: bool | None = None
    # zoo quantize --float-module / --module-preset, and a preset's own rules (config.json has them in full).
    module_rules: list[RuleSummary] | None = None
    seed: int | None = None
    command: Text | None = None
    versions: dict[Name, Text] = {}
    created: Annotated[str, Field(pattern=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")]
    wall_s: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    plugin: Plugin
    files: dict[Literal["model.safetensors", "config.json", "README.md"], FileInfo]
    model_file: ModelFile | None = None
    # zoo quantize: how the int8 model was made (calibration images, or the QAT recipe and its history).
    calibration: dict[Name, Any] | None = None
    qat: dict[Name, Any] | None = None
    # zoo quantize --preset auto: the budget, the validation split and every candidate tried (zoo.jobs.search).
    search: dict[Name, Any] | None = None
    # zoo train: the training recipe and its per-epoch figures.
    recipe: dict[Name, Any] | None = None
    history: list[dict[Name, Any]] | None = None
    started: Annotated[str, Field(pattern=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")] | None = None
    # zoo bench --record: one row per runtime and thread count.
    benchmarks: list[dict[Name, Any]] | None = None
    # zoo sweep: the grid cell this card is the result of.
    sweep: SweepCell | None = None

    @property
    def backend_name(self) -> str | None:
        """The backend that made an int8 model; cards of artifact version 1 called it "mode"."""
        return self.backend or self.mode

    @property
    def label(self) -> str:
        """NAME@VERSION, the reference that names this version in a registry."""
        return f"{self.name}@{self.version}"

    def fastest_runtime(self) -> str | None:
        """The runtime the card measured fastest for its own kind (int8 or float), if it timed several."""
        return self.runtimes.fastest.get(self.kind) if self.runtimes else None

    def content(self) -> dict[str, Any]:
        """The card as a dict without the fields derived from its files (name, version, files): what a new
        version of the same model starts from."""
        return {k: v for k, v in self.to_dict().items() if k not in ("name", "version", "files")}

    @model_validator(mode="after")
    def _agrees_with_itself(self) -> Card:
        if set(self.files) != {"model.safetensors", "config.json", "README.md"}:
            raise ValueError("files must list model.safetensors, config.json and README.md")
        if self.metrics.top5 < self.metrics.top1:
            raise ValueError(f"metrics: top5 {self.metrics.top5} is below top1 {self.metrics.top1}")
        if self.kind == "int8" and (self.preset is None or self.method is None or not (self.backend or self.mode)):
            raise ValueError("an int8 card names its preset, method and backend")
        return self


class Observer(_Strict):
    kind: Literal["minmax", "moving_average_minmax", "histogram", "per_channel_minmax",
                  "moving_average_per_channel_minmax"]
    dtype: Literal["quint8", "qint8"]
    symmetric: bool
    reduce_range: bool
    quant_min: Annotated[int, Field(ge=-128, le=255)] | None
    quant_max: Annotated[int, Field(ge=-128, le=255)] | None


class ModuleRule(_Strict):
    match: Literal["type", "regex", "name"]
    # Shown, never evaluated on load: the plan below says which modules the rule decided.
    pattern: Annotated[str, Field(min_length=1, max_length=300), AfterValidator(_printable)]
    activation: Observer | None
    weight: Observer | None
    preset: Name | None = None


ModulePath = Annotated[str, Field(max_length=1000, pattern=MODULE_PATH.pattern)]


class Preset(_Strict):
    name: Name
    engine: Name
    method: Literal["static", "qat", "dynamic"]
    description: Text
    backends: list[Name] | None = None
    activation: Observer | None
    weight: Observer | None
    dynamic_modules: list[Annotated[str, Field(max_length=200)]]
    calibration_images: Annotated[int, Field(ge=1, le=10**8)]
    qat_epochs: Annotated[int, Field(ge=1, le=10**4)]
    qat_batches_per_epoch: Annotated[int, Field(ge=1, le=10**8)]
    qat_lr: Annotated[float, Field(gt=0, le=10, allow_inf_nan=False)]
    freeze_bn_after: Annotated[int, Field(ge=0, le=10**4)]
    freeze_observers_after: Annotated[int, Field(ge=0, le=10**4)]
    equalize: bool = False
    module_rules: Annotated[list[ModuleRule], Field(max_length=1000)] = []
    # module path -> index into module_rules: the modules each rule decided when the model was made.
    module_plan: Annotated[dict[ModulePath, Annotated[int, Field(ge=0)]], Field(max_length=10_000)] = {}

    def to_spec(self) -> PresetSpec:
        """The preset as the quantization pipeline takes it (``zoo.core.specs.Preset``).

        Raises:
            ValueError: the fields break what ``zoo.core.specs.Preset`` checks (e.g. a plan pointing at no rule).
        """
        def observer(side: Observer | None) -> ObserverSpec | None:
            return ObserverSpec(**side.to_dict()) if side is not None else None

        fields = self.to_dict()
        fields.update(activation=observer(self.activation), weight=observer(self.weight),
                      dynamic_modules=tuple(self.dynamic_modules),
                      backends=tuple(self.backends) if self.backends is not None else None,
                      module_rules=tuple(ModuleRuleSpec(rule.match, rule.pattern, observer(rule.activation),
                                                        observer(rule.weight), rule.preset)
                                         for rule in self.module_rules),
                      module_plan=tuple(self.module_plan.items()))
        return PresetSpec(**fields)

    @model_validator(mode="after")
    def _plan_points_at_rules(self) -> Preset:
        bad = next((name for name, index in self.module_plan.items() if index >= len(self.module_rules)), None)
        if bad is not None:
            raise ValueError(f"module_plan: {bad!r} points at rule {self.module_plan[bad]}, but there are "
                             f"{len(self.module_rules)}")
        for rule in self.module_rules:
            if (rule.activation is None) != (rule.weight is None):
                raise ValueError(f"module rule {rule.pattern!r}: give activation and weight, or neither (float)")
        return self


class Codec(_Strict):
    format: Literal["zoo-int8-safetensors"]
    version: Annotated[int, Field(ge=1, le=1)]


class Preprocessing(_Lenient):
    image_size: Annotated[int, Field(ge=1, le=MAX_IMAGE_SIZE)]
    resize: Literal["resize", "resize_crop"]
    crop_ratio: Annotated[float, Field(gt=0, le=2, allow_inf_nan=False)] | None = None
    channels: Literal[1, 3]
    mean: list[Annotated[float, Field(ge=-1e3, le=1e3, allow_inf_nan=False)]]
    std: list[Annotated[float, Field(gt=0, le=1e3, allow_inf_nan=False)]]
    in_channels: Annotated[int, Field(ge=1, le=MAX_CHANNELS)]

    @model_validator(mode="after")
    def _one_value_per_channel(self) -> Preprocessing:
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ValueError("mean and std need one value per channel")
        return self


class Config(_Lenient):
    format: Literal["zoo-artifact"]
    artifact_version: Annotated[int, Field(ge=1, le=2)]
    codec: Codec
    kind: Literal["int8", "float"]
    arch: Arch
    plugin: Plugin
    num_classes: Annotated[int, Field(ge=1, le=MAX_CLASSES)]
    image_size: Annotated[int, Field(ge=1, le=MAX_IMAGE_SIZE)]
    in_channels: Annotated[int, Field(ge=1, le=MAX_CHANNELS)]
    preset: Preset | None
    engine: Name | None
    backend: Name | None = None
    mode: Name | None = None
    versions: dict[Name, Text]
    preprocessing: Preprocessing | None = None
    labels: list[Annotated[str, Field(max_length=200), AfterValidator(_printable)]] | None = None
    model_file: ModelFile | None = None

    @property
    def backend_name(self) -> str | None:
        """The backend that made an int8 model; artifact version 1 called it "mode" (eager or fx, both torch.ao)."""
        return self.backend or self.mode

    @model_validator(mode="after")
    def _agrees_with_itself(self) -> Config:
        if self.labels is not None and len(self.labels) != self.num_classes:
            raise ValueError(f"labels: {len(self.labels)} names for {self.num_classes} classes")
        if self.preprocessing is not None and (self.preprocessing.image_size, self.preprocessing.in_channels) != (
                self.image_size, self.in_channels):
            raise ValueError("preprocessing: image_size and in_channels differ from the config's")
        if self.kind == "int8":
            if self.preset is None or not (self.backend or self.mode):
                raise ValueError("an int8 config names its preset and backend")
            if self.engine != self.preset.engine:
                raise ValueError(f"engine {self.engine!r} is not its preset's ({self.preset.engine!r})")
        elif self.preset is not None:
            raise ValueError("a float config has no preset")
        return self


def parse(data: bytes, file_name: str, label: str) -> dict:
    """The JSON object in ``data`` after the size and nesting bounds; IntegrityError naming the file otherwise."""
    limit = MAX_CARD_BYTES if file_name == "card.json" else MAX_CONFIG_BYTES
    if len(data) > limit:
        raise IntegrityError(f"{label}: {file_name} is {len(data)} bytes, more than the {limit} zoo reads")
    depth = _depth(data)
    if depth > MAX_DEPTH:
        raise IntegrityError(f"{label}: {file_name} nests {depth} levels deep, more than the {MAX_DEPTH} zoo reads")
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise IntegrityError(f"{label}: {file_name} is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise IntegrityError(f"{label}: {file_name} does not hold a JSON object")
    return value


# The newest card.json this zoo reads (zoo.jobs.record writes it).
CARD_VERSION = 1


def check_card(card: dict, label: str) -> Card:
    """card.json through its schema, after its version: a newer one is one line asking for a newer zoo.

    Raises:
        SchemaVersionError: card_version is newer than this zoo reads.
        IntegrityError: a field breaks the schema (naming it).
    """
    version = card.get("card_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > CARD_VERSION:
        raise SchemaVersionError(f"{label}: card.json was made by a newer zoo (card version {version}); this zoo "
                                 f"reads up to version {CARD_VERSION}: upgrade zoo")
    return _validated(Card, card, "card.json", label)


def check_config(config: dict, label: str) -> Config:
    """config.json through its schema. Raises IntegrityError naming the field that breaks it."""
    return _validated(Config, config, "config.json", label)


def check_pair(card: Card, config: Config, label: str) -> None:
    """card.json describes the config it ships with: kind, architecture, classes, input size, preset, backend."""
    pairs: list[tuple[str, Any, Any]] = [
        ("kind", card.kind, config.kind),
        ("arch", card.arch, config.arch),
        ("dataset.num_classes", card.dataset.num_classes, config.num_classes),
        ("dataset.image_size", card.dataset.image_size, config.image_size),
    ]
    if config.kind == "int8" and config.preset is not None:
        pairs += [("preset", card.preset, config.preset.name),
                  ("backend", card.backend_name, config.backend_name),
                  ("engine", card.engine, config.engine)]
    for field, in_card, in_config in pairs:
        if in_card != in_config:
            raise IntegrityError(f"{label}: card.json: {field} is {_shown(in_card)} but config.json says "
                                 f"{_shown(in_config)}")


def _validated(model: type[BaseModel], value: dict, file_name: str, label: str):
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(_part(part) for part in error["loc"]) or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        raise IntegrityError(f"{label}: {file_name}: {where}: {message} (got {_shown(error.get('input'))})") from None


def _part(part: Any) -> str:
    """One step of a field's location, quoted unless it is a plain name (keys come from the file)."""
    text = str(part)
    return text if re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", text) else _shown(text)


def _depth(data: bytes) -> int:
    """The deepest nesting of objects and arrays in JSON text, counted without parsing it."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x7B, 0x5B):  # { [
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x7D, 0x5D):
            depth -= 1
    return deepest


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _shown(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return type(value).__name__
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    text = repr(value)
    text = _CONTROL.sub("?", text)
    return text if len(text) <= 60 else text[:57] + "..."


# The public name (``zoo.ModelConfig``): "Config" alone would read as zoo's own settings.
ModelConfig = Config
