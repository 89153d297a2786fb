"""torchvision's whole quantizable zoo through the built-in plugin: each architecture rebuilt by zoo computes what
torchvision's own model computes, bit for bit, and each published int8 weight is checked before it is recorded."""

from __future__ import annotations

import pytest
import torch

from tests.torchvision_reference import torchvision_int8
from zoo.core.errors import IntegrityError
from zoo_plugins.torchvision_models import MODELS

# torchvision.models.quantization's classification builders: the plugin must cover every one.
TORCHVISION_QUANTIZABLE = ("googlenet", "inception_v3", "mobilenet_v2", "mobilenet_v3_large", "resnet18", "resnet50",
                           "resnext101_32x8d", "resnext101_64x4d", "shufflenet_v2_x0_5", "shufflenet_v2_x1_0",
                           "shufflenet_v2_x1_5", "shufflenet_v2_x2_0")
# Small inputs keep the test within CI's budget. Inception v3 runs at its own 299x299: torchvision calibrates at that
# size, and on random weights its outputs at other sizes fall outside that range (all zero once quantized).
TEST_SIZE = {"inception_v3": 299}
PUBLISHED = [(spec, w) for spec in MODELS for w in spec.weights if w.published_as]


def _builder(spec) -> str:
    return spec.build.args[0]


def test_every_torchvision_quantizable_classifier_is_there_with_its_weights():
    from torchvision.models import quantization

    assert sorted(_builder(spec) for spec in MODELS) == sorted(TORCHVISION_QUANTIZABLE)
    assert all(callable(getattr(quantization, name)) for name in TORCHVISION_QUANTIZABLE)
    published = [w.published_as for _, w in PUBLISHED]
    assert len(published) == len(set(published)) == 14
    assert {"resnet18-int8", "tv_mobilenet_v2-int8", "resnet50-int8", "mobilenet_v3_large-int8"} <= set(published)
    for spec, weights in PUBLISHED:
        # The float parent each int8 weight names is one the plugin knows, and torchvision's enum agrees.
        parent = spec.find_weights(weights.unquantized)
        assert parent is not None and not parent.quantized, weights.name
        enum, member = weights.source.removeprefix("torchvision ").split(".")
        tv = getattr(getattr(quantization, enum), member)
        unquantized = tv.meta["unquantized"]
        assert parent.source == f"torchvision {type(unquantized).__name__}.{unquantized.name}", weights.name
        assert tv.meta["backend"] == weights.engine, weights.name
        assert weights.image_size == spec.input_size == tv.transforms().crop_size[0], weights.name
        figures = weights.get_metrics()["imagenet-1k"]
        assert (figures["top1"], figures["top5"]) == (tv.meta["_metrics"]["ImageNet-1K"]["acc@1"],
                                                      tv.meta["_metrics"]["ImageNet-1K"]["acc@5"])


@pytest.mark.slow
@pytest.mark.parametrize("spec", MODELS, ids=lambda spec: spec.name)
def test_zoo_rebuilds_torchvisions_int8_model_bit_for_bit(spec):
    """zoo's int8 model, rebuilt through its plugin and the registry codec, and torchvision's own
    ``…(weights=None, quantize=True)`` with the same int8 state dict give identical outputs."""
    from zoo.core.versions import versions
    from zoo.host.plugins import get_catalog
    from zoo.jobs.record import plugin_info
    from zoo.quantization import pipeline
    from zoo_registry import codec
    from zoo_registry.config import make_config
    from zoo_registry.loading import build

    catalog = get_catalog()
    weights = next(w for w in spec.weights if w.quantized)
    preset, backend = catalog.preset(weights.preset), catalog.backend("eager")
    size = TEST_SIZE.get(_builder(spec), 64)
    previous = torch.backends.quantized.engine
    torch.backends.quantized.engine = weights.engine
    try:
        reference, state = torchvision_int8(_builder(spec), spec.build.keywords, weights, size)
        if weights.stage == "prepared":
            patterns = catalog.fusion_patterns.values()
            state = backend.state_dict(pipeline.from_prepared_state(spec, preset, backend, 1000, size, patterns,
                                                                    state, catalog))
        config = make_config(kind="int8", arch=spec.name, plugin=plugin_info(catalog, spec.name), num_classes=1000,
                             image_size=size, in_channels=3, preset=preset, backend="eager", versions=versions())
        rebuilt = build(config, codec.encode(state), catalog)
        x = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(1))
        with torch.inference_mode():
            expected, got = reference(x), rebuilt(x)
    finally:
        torch.backends.quantized.engine = previous
    assert torch.unique(expected).numel() > 10, "near-constant outputs: comparing them would prove nothing"
    assert torch.equal(got, expected)


@pytest.mark.parametrize("spec, weights", PUBLISHED, ids=lambda value: getattr(value, "published_as", None) or "")
def test_a_wrong_file_at_a_published_weights_path_is_refused(spec, weights, tmp_path):
    """Where zoo tells offline users to put torchvision's file: anything else there is refused by its hash."""
    from zoo import Context
    from zoo.checkpoints import cache_path
    from zoo.jobs.pull import pull
    from zoo_plugins.torchvision_weights import _weights

    enum, member = weights.source.removeprefix("torchvision ").split(".")
    module = "torchvision.models.quantization"
    path = cache_path(_weights(module, enum, member).url)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"placeholder": torch.zeros(1)}, path)
    context = Context.from_environment(registry=str(tmp_path / "registry"))
    try:
        with pytest.raises(IntegrityError) as refused:
            pull(weights.published_as, context=context)
    finally:
        path.unlink()
    message = str(refused.value)
    assert "\n" not in message and str(path) in message and "is not the published file" in message
    assert context.registry.list() == []
