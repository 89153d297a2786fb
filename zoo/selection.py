"""Resolving what a command names (architecture, dataset, weights) into checked parts.

Everything that can be wrong with the names is found here, before any long step starts.
"""

from __future__ import annotations

from dataclasses import dataclass

from zoo import data, weights
from zoo.errors import IncompatibleError
from zoo.plugins import Catalog, get_catalog
from zoo.specs import DatasetSpec, ModelSpec, Preset


@dataclass(frozen=True)
class Selection:
    spec: ModelSpec
    dataset: DatasetSpec
    data: data.DataConfig
    weights: weights.WeightsChoice
    catalog: Catalog

    def plugin(self, kind: str, name: str) -> dict:
        owner = self.catalog.owner(kind, name)
        return {"name": owner, "version": self.catalog.plugin_version(owner)}

    def build_float(self, seed: int, allow_new_head: bool = False):
        """The float model with its weights loaded; returns (model, weights digest)."""
        import torch

        torch.manual_seed(seed)
        model = self.spec.build(self.data.num_classes)
        digest = weights.load_into(model, self.weights, self.data.num_classes, allow_new_head=allow_new_head)
        return model.eval(), digest


def select(arch: str, dataset: str, requested_weights: str | None, data_dir: str | None = None,
           image_size: int | None = None, catalog: Catalog | None = None) -> Selection:
    catalog = catalog or get_catalog()
    spec = catalog.model(arch)
    dataset_spec = catalog.dataset(dataset)
    choice = weights.resolve(spec, dataset_spec.name, requested_weights)
    config = data.resolve(dataset_spec, data_dir, image_size or choice.image_size, spec.in_channels)
    return Selection(spec, dataset_spec, config, choice, catalog)

