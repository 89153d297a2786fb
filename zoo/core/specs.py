"""The plain-data types that plugins register.

They import nothing heavy: a registration is cheap, and torch is imported only
where a builder or a loader is finally called.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
# An architecture's name may carry one namespace prefix: tv:efficientnet_b0, timm:resnet50.a1_in1k.
ARCH_PATTERN = re.compile(r"^(?:[a-z0-9][a-z0-9_-]*:)?[a-z0-9][a-z0-9_.-]*$")
# A qualified class name: dotted Python identifiers, at least a module and a class.
QUALIFIED_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
METHODS = ("static", "qat", "dynamic")
# A module's path in its model, as named_modules() gives it: features.1.conv.0.0
MODULE_PATH = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+){0,63}$")
# A Hugging Face Hub repository id: NAMESPACE/NAME (or a canonical NAME), as huggingface_hub validates them.
HUB_REPO_ID = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/)?[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")


def check_hub_repo_id(kind: str, owner: str, value: str | None) -> None:
    if value is not None and (not isinstance(value, str) or not HUB_REPO_ID.match(value) or ".." in value
                              or value.endswith((".git", "."))):
        raise ValueError(f"{owner}: {kind} {value!r} is not a Hugging Face Hub repository id (NAMESPACE/NAME)")


def check_license(owner: str, value: str | None) -> None:
    from zoo.core.licenses import HUB_LICENSES

    if value is not None and value not in HUB_LICENSES:
        raise ValueError(f"{owner}: license {value!r} is not one the Hugging Face Hub accepts (e.g. apache-2.0, mit, "
                         "bsd-3-clause, cc-by-4.0, other; see zoo.core.licenses.HUB_LICENSES)")


def check_name(kind: str, name: str) -> None:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ValueError(
            f"invalid {kind} name {name!r}: use lower-case letters, digits, '_', '-' and '.', "
            "starting with a letter or digit"
        )


def check_arch_name(kind: str, name: str) -> None:
    """An architecture's name: as ``check_name``, optionally after one ``prefix:`` (``tv:efficientnet_b0``)."""
    if not isinstance(name, str) or not ARCH_PATTERN.match(name):
        raise ValueError(
            f"invalid {kind} name {name!r}: use lower-case letters, digits, '_', '-' and '.', "
            "starting with a letter or digit, optionally after one 'prefix:' (tv:efficientnet_b0)"
        )


# What a quantized state dict was saved from: the converted int8 model, or the prepared one before convert.
WEIGHT_STAGES = ("converted", "prepared")


@dataclass(frozen=True)
class KnownWeights:
    """Weights a plugin knows how to obtain for its architecture.

    ``load`` returns a state dict for the float model (``quantized=False``), or,
    for ``quantized=True``, for the model after fuse → prepare → convert with
    ``preset`` (``stage="converted"``, the usual) or after fuse → prepare only
    (``stage="prepared"``: weights published before convert, e.g. torchvision's
    QAT MobileNetV3; zoo loads them into the prepared model, then converts).
    ``metrics`` is keyed by dataset name, e.g. ``{"imagenet-1k": {"top1": 69.76,
    "top5": 89.08, "images": 50000}}`` (``images``: how many evaluation images the
    figures cover, where known), or is a callable returning that mapping when
    reading it is costly.
    ``published_as`` is the short name that ``zoo pull NAME`` records quantized
    weights under as a registry model (e.g. ``resnet18-int8``).
    ``license`` is the weights' terms as a Hub licence identifier (``bsd-3-clause``,
    ``apache-2.0``, ``other``...; ``zoo.core.licenses.HUB_LICENSES``): every model
    made from them carries it. ``hub_repo`` is the Hub model repository the
    weights are published in (``NAMESPACE/NAME``), if any: model cards then name
    it as their ``base_model``. ``mean``, ``std`` (per channel, of pixels scaled
    to 0..1) and ``crop_ratio`` (the centre crop's share of the resized side) are
    how the weights expect their images normalised, where that differs from
    their dataset's plugin (timm's pretrained configs); zoo then evaluates,
    calibrates and records the model with them on that dataset.
    """

    name: str
    dataset: str
    num_classes: int
    load: Callable[[], Mapping[str, Any]]
    source: str
    quantized: bool = False
    engine: str | None = None
    preset: str | None = None
    unquantized: str | None = None
    image_size: int | None = None
    metrics: Mapping[str, Mapping[str, float]] | Callable[[], Mapping[str, Mapping[str, float]]] = field(
        default_factory=dict
    )
    recipe: str = ""
    published_as: str | None = None
    license: str | None = None
    hub_repo: str | None = None
    stage: str = "converted"
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    crop_ratio: float | None = None

    def __post_init__(self) -> None:
        check_name("weights", self.name)
        if self.stage not in WEIGHT_STAGES:
            raise ValueError(f"weights {self.name!r}: stage must be one of {', '.join(WEIGHT_STAGES)}, "
                             f"got {self.stage!r}")
        if (self.mean is None) != (self.std is None) or (
                self.mean is not None and (len(self.mean) != len(self.std or ()) or not self.mean
                                           or any(s <= 0 for s in self.std or ()))):
            raise ValueError(f"weights {self.name!r}: mean and std go together, one value per channel, std > 0")
        if self.crop_ratio is not None and not 0 < self.crop_ratio <= 2:
            # Above 1, the centre crop is larger than the resized image, and padded (some of timm's configs).
            raise ValueError(f"weights {self.name!r}: crop_ratio must be in (0, 2], got {self.crop_ratio!r}")
        if self.stage == "prepared" and not self.quantized:
            raise ValueError(f"weights {self.name!r}: only quantized weights can be published at stage 'prepared'")
        check_license(f"weights {self.name!r}", self.license)
        check_hub_repo_id("hub_repo", f"weights {self.name!r}", self.hub_repo)
        if self.published_as is not None:
            check_name("published", self.published_as)
            # A published name becomes a registry model, which only quantized weights can be.
            if not self.quantized:
                raise ValueError(f"weights {self.name!r}: only quantized weights can be published as a registry model")
        if not callable(self.load):
            raise ValueError(f"weights {self.name!r}: load must be callable")
        if self.quantized and not (self.engine and self.preset):
            raise ValueError(f"quantized weights {self.name!r} must name their engine and preset")

    def get_metrics(self) -> Mapping[str, Mapping[str, float]]:
        return self.metrics() if callable(self.metrics) else self.metrics


@dataclass(frozen=True)
class ModelSpec:
    """An architecture: how to build it in float, how to fuse it, what it supports.

    ``build(num_classes)`` returns a quantizable float ``nn.Module`` (QuantStub at the
    input, DeQuantStub at the output, FloatFunctional for tensor arithmetic).
    ``fuse(model, is_qat)`` fuses it in place; without one, zoo applies the
    registered fusion patterns. ``backends`` lists the quantization backends the
    model is known to go through (``eager``, ``fx``, ``pt2e``...); None means
    any, and a backend that cannot handle the model says so in one line.
    """

    name: str
    build: Callable[[int], Any]
    description: str
    fuse: Callable[[Any, bool], None] | None = None
    backends: tuple[str, ...] | None = None
    input_size: int = 224
    in_channels: int = 3
    weights: tuple[KnownWeights, ...] = ()
    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_arch_name("model", self.name)
        for alias in self.aliases:
            check_arch_name("model alias", alias)
        if not callable(self.build):
            raise ValueError(f"model {self.name!r}: build must be callable")
        if self.fuse is not None and not callable(self.fuse):
            raise ValueError(f"model {self.name!r}: fuse must be callable or None")
        if self.backends is not None:
            if not isinstance(self.backends, tuple) or not self.backends:
                raise ValueError(f"model {self.name!r}: backends must be None or a non-empty tuple of backend names, "
                                 f"got {self.backends!r}")
            for backend in self.backends:
                check_name("backend", backend)
        names = [w.name for w in self.weights]
        if len(names) != len(set(names)):
            raise ValueError(f"model {self.name!r}: duplicate weights names in {names}")

    def find_weights(self, name: str) -> KnownWeights | None:
        return next((w for w in self.weights if w.name == name), None)

    def supports(self, backend: str) -> bool:
        return self.backends is None or backend in self.backends


@dataclass(frozen=True)
class BackendSpec:
    """A quantization backend, registered without importing it.

    ``load()`` returns the backend object (see ``zoo.quantization.backends.Backend``); zoo
    calls it only when a model goes through the backend, so a backend whose
    library is missing costs nothing until then. ``engines`` and ``methods``
    say which presets it can apply; ``install`` is what a user runs when
    ``load`` raises ImportError (e.g. ``pip install 'zoo[pt2e]'``).
    ``check_preset(preset)`` returns why the backend's kernels would compute a
    preset wrongly, or None; zoo refuses such a preset when it registers. It
    must not import torch.
    """

    name: str
    load: Callable[[], Any]
    description: str
    engines: tuple[str, ...]
    methods: tuple[str, ...] = METHODS
    install: str = ""
    check_preset: Callable[[Any], str | None] | None = None

    def __post_init__(self) -> None:
        check_name("backend", self.name)
        if not callable(self.load):
            raise ValueError(f"backend {self.name!r}: load must be callable")
        if not self.description or "\n" in self.description:
            raise ValueError(f"backend {self.name!r}: needs a one-line description")
        if not isinstance(self.engines, tuple) or not self.engines:
            raise ValueError(f"backend {self.name!r}: engines must be a non-empty tuple")
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods:
            raise ValueError(f"backend {self.name!r}: methods must be a non-empty subset of {METHODS}")


@dataclass(frozen=True)
class ModuleType:
    """A module class that presets and fusion patterns may name, by its qualified name.

    zoo resolves a module type named in a preset (``dynamic_modules``) or a
    fusion pattern only if an installed plugin registered it, because presets
    travel inside downloaded config.json files: a name nobody registered is
    refused without importing anything. Registering ``"torch.nn.GRUCell"``
    imports nothing either; the class is imported when a model is built.
    """

    name: str
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not QUALIFIED_NAME.match(self.name):
            raise ValueError(f"module type {self.name!r}: give a qualified class name such as 'torch.nn.Linear'")


@dataclass(frozen=True)
class FusionPattern:
    """A chain of module types that eager mode fuses into one module.

    ``types`` are classes or their qualified names (``"torch.nn.Conv2d"``), so a
    plugin can register a pattern without importing torch. The chain is matched
    along the data flow: each module's output feeds only the next one.
    """

    name: str
    types: tuple[Any, ...]
    description: str = ""

    def __post_init__(self) -> None:
        check_name("fusion pattern", self.name)
        if not isinstance(self.types, tuple) or not 2 <= len(self.types) <= 3:
            raise ValueError(f"fusion pattern {self.name!r}: types must be a tuple of 2 or 3 module types")
        for t in self.types:
            if not (isinstance(t, type) or (isinstance(t, str) and "." in t)):
                raise ValueError(
                    f"fusion pattern {self.name!r}: {t!r} is neither a class nor a qualified class name"
                )


@dataclass(frozen=True)
class Observer:
    """What an observer or fake-quantizer measures, independent of the backend that implements it.

    ``kind`` is one of ``minmax``, ``moving_average_minmax``, ``histogram``,
    ``per_channel_minmax``, ``moving_average_per_channel_minmax``.
    """

    kind: str
    dtype: str = "quint8"
    symmetric: bool = False
    reduce_range: bool = False
    quant_min: int | None = None
    quant_max: int | None = None

    KINDS = ("minmax", "moving_average_minmax", "histogram", "per_channel_minmax",
             "moving_average_per_channel_minmax")
    # The integers each dtype holds.
    RANGES = {"quint8": (0, 255), "qint8": (-128, 127)}

    def __post_init__(self) -> None:
        if self.kind not in self.KINDS:
            raise ValueError(f"unknown observer kind {self.kind!r}; valid: {', '.join(self.KINDS)}")
        if self.dtype not in self.RANGES:
            raise ValueError(f"observer dtype must be quint8 or qint8, got {self.dtype!r}")
        if (self.quant_min is None) != (self.quant_max is None):
            raise ValueError("observer: give both quant_min and quant_max, or neither")
        low, high = self.RANGES[self.dtype]
        quant_min, quant_max = self.quant_min, self.quant_max
        if quant_min is not None:
            if type(quant_min) is not int or type(quant_max) is not int:
                raise ValueError("observer: quant_min and quant_max must be integers")
            if not low <= quant_min < quant_max <= high:
                raise ValueError(f"observer: need {low} <= quant_min < quant_max <= {high} for {self.dtype}, got "
                                 f"quant_min={self.quant_min}, quant_max={self.quant_max}")

    @property
    def per_channel(self) -> bool:
        return "per_channel" in self.kind

    @property
    def levels(self) -> tuple[int, int]:
        """The integer range the observer quantizes to, after quant_min/quant_max and reduce_range."""
        if self.quant_min is not None and self.quant_max is not None:  # __post_init__: both or neither
            return self.quant_min, self.quant_max
        low, high = self.RANGES[self.dtype]
        if self.reduce_range:  # torch's reduce_range drops one bit
            return (low // 2, high // 2)
        return low, high


MODULE_MATCHES = ("type", "regex", "name")
# What a module rule may name: a module path (features.1.conv.0.0), or a regex over such paths, or a class name.
MAX_PATTERN = 300


@dataclass(frozen=True)
class ModuleRule:
    """One exception to a preset's recipe, for some of a model's modules (torch.ao's QConfigMapping, as data).

    ``match`` says what ``pattern`` is: ``name`` (one module path, e.g. ``features.1.conv.0.0``), ``regex``
    (module paths it matches with ``re.match``, as torch.ao's ``set_module_name_regex``) or ``type`` (a module
    class's qualified name, which an installed plugin must register as a ``ModuleType``; exact class, as torch.ao's
    ``set_object_type``). ``activation`` and ``weight`` are the observers for those modules; both None keeps them
    in float. ``preset`` names the preset the observers were taken from, for display only.

    A rule covers its modules and everything inside them, unless a module inside has a rule of its own; of the
    rules that match one module, a ``name`` rule wins over a ``regex`` rule, which wins over a ``type`` rule (and
    of several regexes, the first given, as torch.ao). ``zoo.quantization.rules`` resolves rules against a model.
    """

    match: str
    pattern: str
    activation: Observer | None = None
    weight: Observer | None = None
    preset: str | None = None

    def __post_init__(self) -> None:
        if self.match not in MODULE_MATCHES:
            raise ValueError(f"module rule: match must be one of {', '.join(MODULE_MATCHES)}, got {self.match!r}")
        if not isinstance(self.pattern, str) or not self.pattern or len(self.pattern) > MAX_PATTERN:
            raise ValueError(f"module rule: pattern must be a non-empty string of at most {MAX_PATTERN} characters")
        if self.match == "regex":
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"module rule: {self.pattern!r} is not a regular expression ({exc})") from None
        if self.match == "type" and not QUALIFIED_NAME.match(self.pattern):
            raise ValueError(f"module rule: type {self.pattern!r} is not a qualified class name such as "
                             "'torch.nn.Linear'")
        if (self.activation is None) != (self.weight is None):
            raise ValueError(f"module rule {self.pattern!r}: give activation and weight observers, or neither "
                             "(float)")
        if self.preset is not None:
            check_name("preset", self.preset)

    @property
    def keeps_float(self) -> bool:
        return self.activation is None

    @property
    def selector(self) -> str:
        """The rule's modules as ``zoo quantize --float-module`` and ``--module-preset`` take them."""
        return self.pattern if self.match == "name" else f"{'re' if self.match == 'regex' else 'type'}:{self.pattern}"

    def describe(self) -> str:
        return f"{self.selector}: {'float' if self.keeps_float else self.preset or 'own observers'}"


@dataclass(frozen=True)
class Preset:
    """A quantization recipe: engine, method and what to observe.

    ``method`` is ``static`` (post-training, calibrated), ``qat`` (fake-quantized
    training) or ``dynamic`` (weights quantized ahead, activations at run time,
    for ``dynamic_modules``). ``engine`` is what the backend computes with: a
    torch.ao quantized engine (fbgemm, x86, qnnpack) or a pt2e quantizer
    (x86_inductor). ``backends`` names the backends that can apply the preset,
    the default first; None means every registered backend that has the
    engine and the method, in the order they registered (zoo's own first:
    eager, fx, pt2e; see ``zoo backends``).
    """

    name: str
    engine: str
    method: str
    description: str
    backends: tuple[str, ...] | None = None
    activation: Observer | None = None
    weight: Observer | None = None
    dynamic_modules: tuple[str, ...] = ()
    calibration_images: int = 1024
    qat_epochs: int = 8
    qat_batches_per_epoch: int = 20
    qat_lr: float = 1e-4
    freeze_bn_after: int = 4
    freeze_observers_after: int = 5
    # Cross-layer equalization of the fused float model before observers go in (zoo.quantization.equalization):
    # for per-tensor weights of depthwise-separable networks; backend eager.
    equalize: bool = False
    module_rules: tuple[ModuleRule, ...] = ()
    # Which modules each rule decided, as (module path, index into module_rules), resolved against the model when
    # it was quantized (zoo.quantization.rules.resolve): a stored model is rebuilt from this, never by evaluating
    # the rules' patterns again.
    module_plan: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        check_name("preset", self.name)
        if self.method not in METHODS:
            raise ValueError(f"preset {self.name!r}: method must be one of {METHODS}, got {self.method!r}")
        if not self.description or "\n" in self.description:
            raise ValueError(f"preset {self.name!r}: needs a one-line description")
        if self.backends is not None:
            if not isinstance(self.backends, tuple) or not self.backends:
                raise ValueError(f"preset {self.name!r}: backends must be None or a non-empty tuple of backend names")
            for backend in self.backends:
                check_name("backend", backend)
        if self.method == "dynamic":
            if not self.dynamic_modules:
                raise ValueError(f"dynamic preset {self.name!r} must list dynamic_modules")
        elif self.activation is None or self.weight is None:
            raise ValueError(f"{self.method} preset {self.name!r} needs activation and weight observers")
        else:
            # What every int8 kernel zoo knows computes: unsigned activations, one scale each, and signed weights.
            if self.activation.per_channel:
                raise ValueError(f"preset {self.name!r}: activations take one scale per tensor, not a per-channel "
                                 f"observer ({self.activation.kind})")
            if self.activation.dtype != "quint8":
                raise ValueError(f"preset {self.name!r}: activations must be quint8 (unsigned), not "
                                 f"{self.activation.dtype}")
            if self.weight.dtype != "qint8":
                raise ValueError(f"preset {self.name!r}: weights must be qint8 (signed), not {self.weight.dtype}")
        self._check_module_rules()

    def _check_module_rules(self) -> None:
        if not self.module_rules and not self.module_plan:
            return
        if self.method == "dynamic":
            raise ValueError(f"dynamic preset {self.name!r}: module rules apply to static and QAT presets")
        for rule in self.module_rules:
            if not isinstance(rule, ModuleRule):
                raise ValueError(f"preset {self.name!r}: module_rules must hold ModuleRule objects")
            if rule.activation is not None and (rule.activation.per_channel or rule.activation.dtype != "quint8"):
                raise ValueError(f"preset {self.name!r}: rule {rule.selector!r}: activations take one quint8 scale "
                                 "per tensor")
            if rule.weight is not None and rule.weight.dtype != "qint8":
                raise ValueError(f"preset {self.name!r}: rule {rule.selector!r}: weights must be qint8")
        names = [name for name, _ in self.module_plan]
        if len(names) != len(set(names)):
            raise ValueError(f"preset {self.name!r}: module_plan names a module twice")
        for name, index in self.module_plan:
            if not isinstance(name, str) or not MODULE_PATH.match(name):
                raise ValueError(f"preset {self.name!r}: module_plan: {name!r} is not a module path")
            if type(index) is not int or not 0 <= index < len(self.module_rules):
                raise ValueError(f"preset {self.name!r}: module_plan: {name!r} points at no rule ({index!r})")

    def module_settings(self) -> list[tuple[str, ModuleRule]]:
        """(module path, the rule that decided it) for every module a rule decided, deepest modules first (where
        rules nest, the inner one wins)."""
        settings = [(name, self.module_rules[index]) for name, index in self.module_plan]
        return sorted(settings, key=lambda item: -item[0].count("."))


@dataclass(frozen=True)
class DatasetSpec:
    """An image-classification dataset with train and test splits.

    ``build(split, transform, root, download)`` returns a torch Dataset of
    ``(image, label)``. ``root`` is the directory zoo keeps the dataset in, or
    the path the user gave when ``needs_path`` is true. ``num_classes`` may be
    None when only the data tells (an ImageFolder); then ``count_classes(root)``
    must tell it. ``labels`` names the classes in index order: a tuple, or
    ``labels(root)`` returning one when only the data tells (an ImageFolder's
    folder names); models made on the dataset carry them in config.json.
    ``hub_id`` is the dataset's Hugging Face Hub repository
    (``zalando-datasets/fashion_mnist``), if it has one: model cards list it
    under ``datasets``.
    """

    name: str
    build: Callable[..., Any]
    description: str
    num_classes: int | None
    image_size: int
    channels: int = 3
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)
    resize_crop: bool = False
    augment: bool = True
    needs_path: bool = False
    count_classes: Callable[[str], int] | None = None
    obtain: str = ""
    splits: tuple[str, ...] = ("train", "test")
    hub_id: str | None = None
    labels: tuple[str, ...] | Callable[[Any], Any] | None = None

    def __post_init__(self) -> None:
        check_name("dataset", self.name)
        check_hub_repo_id("hub_id", f"dataset {self.name!r}", self.hub_id)
        if isinstance(self.labels, tuple):
            if not all(isinstance(label, str) for label in self.labels):
                raise ValueError(f"dataset {self.name!r}: labels must be strings")
            if self.num_classes is not None and len(self.labels) != self.num_classes:
                raise ValueError(f"dataset {self.name!r}: {len(self.labels)} labels for {self.num_classes} classes")
        elif self.labels is not None and not callable(self.labels):
            raise ValueError(f"dataset {self.name!r}: labels must be a tuple of strings or a callable")
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ValueError(f"dataset {self.name!r}: mean and std need one value per channel")
        if self.num_classes is None and self.count_classes is None:
            raise ValueError(f"dataset {self.name!r}: give num_classes or count_classes")
