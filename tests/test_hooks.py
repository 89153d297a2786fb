"""Every hook has a test here and a heading in the plugin guide, whose examples run here as plugins.

The meta-tests keep that true as hooks are added: a hook in zoo.core.hookspecs
without a ``test_hook_<name>`` in tests/, or without a ``### <name>(register)``
heading in plugins/README.md, fails them. Each ``test_hook_<name>`` loads the
guide's example for that hook as a plugin and checks what it registered does
its job in zoo.
"""

from __future__ import annotations

import inspect
import re
import types
from dataclasses import dataclass
from pathlib import Path

import pluggy
import pytest
import torch
from torch import nn

import zoo
from zoo import ModelSpec, data
from zoo.core import hookspecs
from zoo.core.errors import IncompatibleError
from zoo.host.plugins import HOOKS, PluginHost
from zoo.quantization import pipeline
from zoo.testing import check_model, settle_batch_norm

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "plugins" / "README.md"
TESTS = Path(__file__).resolve().parent

# A fenced block, with the comment that says how the tests use it when there is one.
BLOCK = re.compile(r"^(?:<!-- example: (?P<how>.+?) -->\n)?```(?P<lang>\w*)\n(?P<code>.*?)^```$", re.M | re.S)
HEADING = re.compile(r"^#+ (?P<title>.+)$", re.M)
RUN = "run"
COPIED = "same as "


@dataclass(frozen=True)
class Example:
    heading: str
    how: str | None
    lang: str
    code: str


def guide_examples() -> list[Example]:
    text = GUIDE.read_text()
    headings = [(m.start(), m["title"]) for m in HEADING.finditer(text)]
    return [Example(heading=next((t for start, t in reversed(headings) if start < m.start()), ""),
                    how=m["how"], lang=m["lang"], code=m["code"]) for m in BLOCK.finditer(text)]


def hook_names() -> list[str]:
    pm = pluggy.PluginManager("zoo")
    return sorted(name for name in dir(hookspecs) if pm.parse_hookspec_opts(hookspecs, name))


def documented_heading(hook: str) -> str:
    return f"{hook}({', '.join(inspect.signature(getattr(hookspecs, hook)).parameters)})"


# --------------------------------------------------------------------------------------- meta-tests


def test_the_plugin_host_calls_every_hook():
    assert hook_names() == sorted(HOOKS)


@pytest.mark.parametrize("hook", hook_names())
def test_every_hook_has_a_test_and_a_documented_heading(hook):
    tests = [path.name for path in TESTS.rglob("*.py") if re.search(rf"^def test_hook_{hook}\(",
                                                                     path.read_text(), re.M)]
    assert tests, f"no test_hook_{hook} in {TESTS}"
    headings = {m["title"] for m in HEADING.finditer(GUIDE.read_text())}
    assert documented_heading(hook) in headings, f"no '### {documented_heading(hook)}' in {GUIDE}"


def test_every_code_example_in_the_guide_is_run_or_checked():
    hooks = {documented_heading(hook) for hook in hook_names()}
    unchecked = [e.code.splitlines()[0] for e in guide_examples()
                 if e.lang in ("python", "toml") and not (e.how == RUN and e.heading in hooks
                                                           or (e.how or "").startswith(COPIED))]
    assert not unchecked, f"examples in {GUIDE} that no test runs or checks, starting: {unchecked}"


def test_examples_copied_from_files_match_them():
    copied = [e for e in guide_examples() if (e.how or "").startswith(COPIED)]
    assert copied
    for example in copied:
        path = ROOT / example.how.removeprefix(COPIED)
        assert example.code in path.read_text(), f"the example in {GUIDE} under '{example.heading}' is not in {path}"


# ------------------------------------------------------------------- each hook, through its example


def guide_plugin(hook: str) -> types.ModuleType:
    """The guide's example under ``### <hook>(register)``, as the module of a plugin."""
    [example] = [e for e in guide_examples() if e.heading == documented_heading(hook) and e.how == RUN]
    module = types.ModuleType(f"guide_{hook}")
    exec(compile(example.code, f"{GUIDE} ({hook})", "exec"), module.__dict__)
    return module


def host_with(*hooks: str) -> PluginHost:
    host = PluginHost()
    for hook in hooks:
        host.add(guide_plugin(hook), f"guide_{hook.removeprefix('register_')}")
    return host


def catalog_with(*hooks: str):
    return host_with(*hooks).catalog(strict=True)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("backend", ["eager", "fx"])
def test_hook_register_models(backend):
    catalog = catalog_with("register_models")
    assert catalog.reports["guide_models"].registered == {"model": ["minicnn"]}
    result = check_model("minicnn", backend=backend, catalog=catalog)
    assert result.fused == [["1", "2", "3"]]
    with torch.no_grad():
        assert result.model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_hook_register_fusion_patterns():
    clips = torch.randn(2, 2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    video = ModelSpec("video", build=lambda num_classes: None, description="a block of 3-D convolution")

    def fuse(patterns) -> tuple[type, bool]:
        torch.manual_seed(0)
        model = settle_batch_norm(nn.Sequential(nn.Conv3d(2, 4, 3), nn.BatchNorm3d(4), nn.ReLU()), clips)
        with torch.no_grad():
            expected = model(clips)
            pipeline.fuse(model, video, patterns)
            return type(model[0]), torch.allclose(model.eval()(clips), expected, atol=1e-5)

    with_guide = catalog_with("register_fusion_patterns").fusion_patterns
    assert fuse(with_guide.values()) == (torch.ao.nn.intrinsic.ConvReLU3d, True)
    assert fuse(PluginHost().catalog().fusion_patterns.values()) == (nn.Conv3d, True)


def test_hook_register_backends():
    catalog = catalog_with("register_backends")
    assert catalog.reports["guide_backends"].registered == {"backend": ["fx-float-ends"]}
    # fbgemm-histogram names no backend, so every backend with its engine and method applies it.
    assert catalog.preset_backends(catalog.preset("fbgemm-histogram")) == ["eager", "fx", "fx-float-ends"]
    spec = ModelSpec("three-convs", build=lambda num_classes: nn.Sequential(
        nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU(), nn.Conv2d(8, num_classes, 3),
        nn.AdaptiveAvgPool2d(1), nn.Flatten()), description="three convolutions", input_size=16)
    host = PluginHost()
    host.add(guide_plugin("register_backends"), "guide_backends")
    host.add(types.SimpleNamespace(register_models=zoo.hookimpl(lambda register: register(spec))), "three")
    result = check_model("three-convs", backend="fx-float-ends", catalog=host.catalog(strict=True))
    # float, int8, float (quantized modules carry an output scale); check_model also checked the round trip
    convs = [result.model.get_submodule(name) for name in ("0", "2", "4")]
    assert [hasattr(conv, "scale") for conv in convs] == [False, True, False]


def test_hook_register_module_types():
    class GruCellClassifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.cell, self.head = nn.GRUCell(8, 16), nn.Linear(16, 4)

        def forward(self, x):
            return self.head(self.cell(x))

    catalog = catalog_with("register_module_types")
    assert catalog.reports["guide_module_types"].registered == {"module type": ["torch.nn.GRUCell"],
                                                                "preset": ["dynamic-int8-gru-cell"]}
    spec = ModelSpec("gru-cell", build=lambda num_classes: GruCellClassifier(), description="a GRU cell")
    torch.manual_seed(0)
    model, inputs = GruCellClassifier().eval(), torch.randn(3, 8)
    int8 = pipeline.quantize_dynamic(model, spec, catalog.preset("dynamic-int8-gru-cell"), catalog.backend("eager"),
                                     8, catalog)
    assert type(int8.cell) is torch.ao.nn.quantized.dynamic.GRUCell
    assert type(int8.head) is torch.ao.nn.quantized.dynamic.Linear
    with torch.no_grad():
        assert torch.allclose(int8(inputs), model(inputs), atol=0.05)
    # Without the plugin that allows it, the same name is refused, and a preset naming it cannot register.
    with pytest.raises(IncompatibleError, match="'torch.nn.GRUCell' is not one the installed plugins allow"):
        PluginHost().catalog().module_type("torch.nn.GRUCell")


def test_hook_register_presets():
    catalog = catalog_with("register_models", "register_presets")
    assert catalog.owner("preset", "fbgemm-minmax-per-channel") == "guide_presets"
    per_channel = check_model("minicnn", preset="fbgemm-minmax-per-channel", catalog=catalog).model[1].weight()
    per_tensor = check_model("minicnn", preset="fbgemm-minmax", catalog=catalog).model[1].weight()
    assert per_channel.qscheme() == torch.per_channel_affine
    assert per_channel.q_per_channel_scales().numel() == 16
    assert per_tensor.qscheme() == torch.per_tensor_affine


def test_hook_register_datasets():
    from zoo.context import Context
    from zoo.jobs.quantize import LatencyOptions, QuantizeOptions, run_quantize

    host = host_with("register_models", "register_datasets")
    spec = host.catalog(strict=True).dataset("noise")
    config = data.resolve(spec, None, None, in_channels=3)
    train, test = (data.load_split(spec, config, split) for split in ("train", "test"))
    assert (len(train), len(test)) == (1000, 200)
    image, label = test[0]
    assert image.shape == (3, 32, 32) and 0 <= label < 10
    assert not torch.equal(train[0][0], image)

    produced = run_quantize(QuantizeOptions(arch="minicnn", preset="fbgemm-minmax", dataset="noise", weights="random",
                                            calibration_images=16, eval_limit=32,
                                            latency=LatencyOptions(runs=2, warmup=1, runtimes=("eager",))),
                            Context.from_environment(plugins=host, strict_plugins=True))
    assert produced.result["dataset"] == {"name": "noise", "split": "test", "images": 32, "image_size": 32,
                                          "num_classes": 10}
    assert produced.result["calibration"] == {"split": "train", "images": 16}
