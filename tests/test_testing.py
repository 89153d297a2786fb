"""zoo.testing.check_model: it passes a sound model and names the step where an unsound one fails."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.test_registry import OffsetOutsideStateDict
from zoo import ModelSpec, hookimpl
from zoo.host.plugins import PluginHost
from zoo.nn import DeQuantStub, QuantStub
from zoo.testing import check_model

pytestmark = pytest.mark.usefixtures("one_thread")


def sound(num_classes: int) -> nn.Module:
    return nn.Sequential(QuantStub(), nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, num_classes), DeQuantStub())


class Ignores(nn.Module):
    """Gives the same output whatever the input."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.quant, self.dequant = QuantStub(), DeQuantStub()
        self.fc = nn.Linear(1, num_classes)

    def forward(self, x):
        return self.dequant(self.fc(self.quant(torch.zeros(x.shape[0], 1))))


def spoils_fusion(model: nn.Module, is_qat: bool) -> None:
    model[2].running_mean.add_(1.0)


def catalog_with(spec: ModelSpec, plugin_also: str | None = None):
    class Plugin:
        @hookimpl
        def register_models(self, register):
            register(spec)
            if plugin_also:
                register(ModelSpec(plugin_also, sound, description="taken"))

    host = PluginHost()
    host.add(Plugin(), "under_test")
    return host.catalog()


@pytest.mark.parametrize("preset", ["fbgemm-minmax", "fbgemm-qat", "dynamic-int8"])
def test_a_sound_model_passes_with_every_method(preset):
    catalog = catalog_with(ModelSpec("sound", sound, description="sound", input_size=16))
    result = check_model("sound", preset=preset, catalog=catalog, num_classes=3)
    assert (result.arch, result.preset, result.backend) == ("sound", preset, "eager")
    assert result.fused == [["1", "2", "3"]]
    assert result.size_bytes > 0 and result.max_abs_error >= 0
    assert result.model(torch.randn(2, 3, 16, 16)).shape == (2, 3)


def test_check_model_leaves_the_callers_random_state_alone():
    catalog = catalog_with(ModelSpec("sound", sound, description="sound", input_size=16))
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    check_model("sound", preset="fbgemm-minmax", catalog=catalog)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("spec, message", [
    (ModelSpec("outside", OffsetOutsideStateDict, description="x", input_size=32),
     "outside reloaded through the registry codec differs from the model as made"),
    (ModelSpec("ignores", Ignores, description="x", input_size=16),
     "the float ignores gives the same outputs for every input"),
    (ModelSpec("fusion", sound, fuse=spoils_fusion, description="x", input_size=16),
     "fusing fusion changed its float outputs by up to"),
    (ModelSpec("shape", lambda n: sound(n + 1), description="x", input_size=16),
     "the float shape gives outputs of shape (4, 11); expected (4, 10)"),
], ids=["values-outside-the-state-dict", "constant-outputs", "fusion-changes-outputs", "wrong-class-count"])
def test_an_unsound_model_fails_at_the_step_that_shows_it(spec, message):
    with pytest.raises(AssertionError, match=f"^{message}".replace("(", r"\(").replace(")", r"\)")):
        check_model(spec.name, preset="fbgemm-minmax", catalog=catalog_with(spec))


def test_a_model_whose_plugin_reported_an_error_fails():
    catalog = catalog_with(ModelSpec("mine", sound, description="x", input_size=16), plugin_also="mobilenet_v2")
    with pytest.raises(AssertionError, match="plugin 'under_test', which registers 'mine', reported: "
                                             "model 'mobilenet_v2' from plugin 'under_test' is already registered"):
        check_model("mine", catalog=catalog)


def test_an_unknown_model_names_the_plugins_that_failed():
    class Broken:
        @hookimpl
        def register_models(self, register):
            raise RuntimeError("missing weights file")

    host = PluginHost()
    host.add(Broken(), "broken")
    with pytest.raises(AssertionError, match="unknown model 'mynet'.*plugin 'broken' failed: register_models raised"):
        check_model("mynet", catalog=host.catalog())
