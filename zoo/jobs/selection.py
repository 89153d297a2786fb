"""Resolving what a command names (architecture, dataset, weights) into checked parts.

Everything that can be wrong with the names is found here, before any long step starts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from zoo import data
from zoo.context import Context, default_context
from zoo.core.errors import IncompatibleError
from zoo.core.specs import DatasetSpec, ModelSpec
from zoo.host import model_files
from zoo.host.plugins import Catalog
from zoo.jobs import weights


@dataclass(frozen=True)
class Selection:
    spec: ModelSpec
    dataset: DatasetSpec
    data: data.DataConfig
    weights: weights.WeightsChoice
    catalog: Catalog

    @property
    def model_plugin(self) -> str:
        """The name of the plugin that registered the architecture, for messages about its code."""
        return self.catalog.owner("model", self.spec.name) or "(unknown)"

    def plugin(self, kind: str, name: str) -> dict:
        owner = self.catalog.owner(kind, name)
        return {"name": owner, "version": self.catalog.plugin_version(owner)}

    def build_float(self, seed: int, allow_new_head: bool = False):
        """The float model with its weights loaded; returns (model, weights digest)."""
        import torch

        torch.manual_seed(seed)
        model = self.spec.build(self.data.num_classes)
        digest = weights.load_into(model, self.weights, self.data.num_classes, allow_new_head=allow_new_head)
        model.eval()
        self._probe(model)
        return model, digest

    def _probe(self, model) -> None:
        """One forward pass on two blank images, so a plugin's model that cannot take this dataset's input fails
        here in one line naming its plugin, not as a traceback from the middle of calibration or training."""
        import torch

        from zoo.host.fence import fenced

        shape = (2, self.spec.in_channels, self.data.image_size, self.data.image_size)
        with torch.no_grad():
            forward = fenced(model, self.model_plugin, f"forward of model '{self.spec.name}' on a {shape} input")
            outputs = forward(torch.zeros(shape))
        if not (isinstance(outputs, torch.Tensor) and tuple(outputs.shape) == (2, self.data.num_classes)):
            got = tuple(outputs.shape) if isinstance(outputs, torch.Tensor) else type(outputs).__name__
            raise IncompatibleError(f"model '{self.spec.name}' (plugin '{self.model_plugin}') gives {got} for a {shape} input; "
                                    f"zoo expects logits of shape (2, {self.data.num_classes})")


def select(arch: str, dataset: str, requested_weights: str | None, data_dir: str | None = None,
           image_size: int | None = None, context: Context | None = None) -> Selection:
    """The model, dataset and weights a job names, each checked against ``context``'s plugins and registry.

    ``arch`` is a registered architecture, or ``PATH.py:FUNCTION``: the user's own file, whose ``FUNCTION(num_classes)``
    builds the float model (``zoo.host.model_files``).

    Raises:
        UnknownNameError: an architecture, dataset or weights name no plugin registers (with the closest names).
        SettingError: a model file that does not exist, does not run, or lacks the function.
        NoWeightsError, IncompatibleError, DatasetUnavailableError: as ``zoo.jobs.weights.resolve`` and
            ``zoo.data.resolve`` say.
    """
    ctx = default_context(context)
    if arch.endswith(".py") or model_files.is_reference(arch):
        # The user's own file, run because they named it: its builder becomes architecture file:STEM.FUNCTION.
        arch = model_files.register(ctx.plugins, model_files.parse(arch))
    catalog = ctx.catalog
    spec = catalog.model(arch)
    dataset_spec = catalog.dataset(dataset)
    choice = weights.resolve(spec, dataset_spec.name, requested_weights, ctx.registry, catalog)
    config = data.resolve(dataset_spec, data_dir, image_size or choice.image_size, spec.in_channels,
                          ctx.datasets_dir)
    size = runnable_size(spec, config.num_classes, config.image_size, chosen=image_size is not None,
                         fallback=choice.image_size or spec.input_size, plugin=catalog.owner("model", spec.name))
    if size != config.image_size:
        config = dataclasses.replace(config, image_size=size)
    if choice.normalization is not None and choice.dataset == dataset_spec.name and (
            len(choice.normalization[0]) == dataset_spec.channels):
        # Weights that say how their images were normalised (timm's) are fed that way on their own dataset.
        config = dataclasses.replace(config, normalization=choice.normalization)
    return Selection(spec, dataset_spec, config, choice, catalog)


# Sizes tried, smallest first, to tell the user the smallest one a model runs at.
SIZE_LADDER = (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 299, 320, 384, 448, 512)


def runnable_size(spec: ModelSpec, num_classes: int, size: int, *, chosen: bool, fallback: int,
                  plugin: str | None) -> int:
    """The input size a job runs ``spec`` at: ``size`` when the model runs there; when it does not and the user did
    not choose it (the dataset's native size), ``fallback`` (the weights' or the model's declared input size).

    Raises:
        IncompatibleError: the model cannot run at ``size`` (chosen, or with no fallback that works) but does at a
            larger one, naming the model, the size, why, and the smallest size on ``SIZE_LADDER`` that works. A
            model that runs at no size is left to the job's probe, which names the plugin's failing code.
    """
    import torch

    with torch.random.fork_rng():  # the job's own seeding decides its weights, not this probe
        model = spec.build(num_classes).eval()

    def why_not(side: int) -> str | None:
        try:
            with torch.no_grad():
                model(torch.zeros(2, spec.in_channels, side, side))
        except Exception as exc:  # noqa: BLE001  a model's own code: any failure means "not at this size"
            text = str(exc).strip()
            return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}".strip()
        return None

    problem = why_not(size)
    if problem is None:
        return size
    if not chosen and fallback != size and why_not(fallback) is None:
        return fallback
    smallest = next((side for side in SIZE_LADDER if side > size and why_not(side) is None), None)
    if smallest is None:
        # Not a matter of size: the job's own probe of the built model reports it, naming the plugin's code.
        return size
    raise IncompatibleError(f"model '{spec.name}' (plugin '{plugin}') cannot run on {size}x{size} inputs "
                            f"({problem[:200]}); the smallest size that works is {smallest}: pass --image-size "
                            f"{smallest} or more")

