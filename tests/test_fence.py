"""Plugin callables fenced: whatever a plugin's code raises at run time is one line naming the plugin,
the callable and the model or dataset, exit 2 — never a traceback, nothing recorded."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from zoo import BackendSpec, DatasetSpec, KnownWeights, ModelSpec, hookimpl
from zoo.cli import main
from zoo.host.plugins import host
from zoo_registry.store import Registry

pytestmark = pytest.mark.usefixtures("one_thread")


class Tiny(torch.nn.Module):
    def __init__(self, num_classes: int, features: int = 4 * 8 * 8, fails_past_probe: bool = False):
        super().__init__()
        self.fails_past_probe = fails_past_probe
        self.quant, self.dequant = torch.ao.quantization.QuantStub(), torch.ao.quantization.DeQuantStub()
        self.conv, self.relu = torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU()
        self.head = torch.nn.Linear(features, num_classes)

    def forward(self, x):
        if self.fails_past_probe and x.shape[0] != 2:  # zoo's probe passes two images; calibration more
            raise RuntimeError("forward blew up")
        x = self.relu(self.conv(self.quant(x)))
        return self.dequant(self.head(torch.flatten(x, 1)))


class Images:
    """Sixteen 8×8 colour images, two classes; item ``broken_item`` raises."""

    def __init__(self, transform, broken_item: int | None):
        self.transform, self.broken_item = transform, broken_item

    def __len__(self) -> int:
        return 16

    def __getitem__(self, index: int):
        if index == self.broken_item:
            raise OSError(f"image {index} is truncated")
        image = Image.new("RGB", (8, 8), color=(index * 15, 0, 255 - index * 15))
        return self.transform(image), "cat" if self.broken_item == -1 else index % 2


def raises(message: str):
    def fail(*args, **kwargs):
        raise RuntimeError(message)
    return fail


class FaultyPlugin:
    """A plugin whose callable named ``broken`` raises; everything else works."""

    def __init__(self, broken: str):
        self.broken = broken

    def _pick(self, name: str, working):
        return raises(f"{name} broke") if self.broken == name else working

    @hookimpl
    def register_models(self, register):
        def build(num_classes: int):
            if self.broken == "returns None":
                return None
            if self.broken == "exits":
                raise SystemExit(0)
            # A head sized for another input: the forward pass fails on 8×8 images.
            return Tiny(num_classes, features=10 if self.broken == "forward" else 4 * 8 * 8,
                        fails_past_probe=self.broken == "past the probe")

        def fuse(model, is_qat: bool) -> None:
            torch.ao.quantization.fuse_modules(model, [["conv", "relu"]], inplace=True)

        weights = KnownWeights("tiny-trained", dataset="faulty-images", num_classes=2, source="a test",
                               load=(lambda: 42) if self.broken == "load junk" else
                               self._pick("load", lambda: Tiny(2).state_dict()))
        register(ModelSpec("tiny", self._pick("build", build), description="a tiny test model",
                           fuse=self._pick("fuse", fuse), input_size=8, weights=(weights,)))

    @hookimpl
    def register_datasets(self, register):
        def build(split, transform, root, download):
            return Images(transform, broken_item={"item": 3, "label": -1}.get(self.broken))

        register(DatasetSpec("faulty-images", self._pick("dataset", build), description="sixteen test images",
                             num_classes=2, image_size=8, augment=False))

    @hookimpl
    def register_backends(self, register):
        register(BackendSpec("brittle", load=lambda: Brittle(), description="a backend whose prepare fails",
                             engines=("fbgemm",), methods=("static",)))


class Brittle:
    name = "brittle"

    def check(self, preset) -> None:
        pass

    def adapt(self, preset):
        return preset, []

    def engine(self, name):
        import contextlib

        return contextlib.nullcontext()

    def prepare(self, model, preset, example_inputs, fuse):
        raise KeyError("observer table")


@pytest.fixture
def faulty(request, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_REGISTRY", str(tmp_path / "registry"))
    host.add(FaultyPlugin(request.param), "faulty")
    yield request.param
    host.remove("faulty")


def quantize(*extra: str):
    return CliRunner().invoke(main, ["quantize", "tiny", "--dataset", "faulty-images", "--preset", "fbgemm-minmax",
                                     "--eval-limit", "8", "--calibration-images", "8", "--latency-runs", "2",
                                     "--runtimes", "eager", *extra], catch_exceptions=False)


@pytest.mark.parametrize("faulty, extra, expected", [
    ("build", ["--weights", "random"], "plugin 'faulty': build of model 'tiny' raised RuntimeError: build broke"),
    ("fuse", ["--weights", "random"], "plugin 'faulty': fuse of model 'tiny' raised RuntimeError: fuse broke"),
    ("load", ["--weights", "tiny-trained"],
     "plugin 'faulty': load of weights 'tiny-trained' of model 'tiny' raised RuntimeError: load broke"),
    ("dataset", ["--weights", "random"],
     "plugin 'faulty': build of dataset 'faulty-images' raised RuntimeError: dataset broke"),
    ("item", ["--weights", "random"],
     "plugin 'faulty': item 3 of dataset 'faulty-images' raised OSError: image 3 is truncated"),
    ("forward", ["--weights", "random"],
     "plugin 'faulty': forward of model 'tiny' on a (2, 3, 8, 8) input raised RuntimeError: mat1 and mat2 shapes"),
    ("nothing", ["--weights", "random", "--backend", "brittle"],
     "plugin 'faulty': prepare of backend 'brittle' raised KeyError: 'observer table'"),
    ("returns None", ["--weights", "random"],
     "plugin 'faulty': build of model 'tiny' raised TypeError: returned NoneType None, not a torch.nn.Module"),
    ("exits", ["--weights", "random"], "plugin 'faulty': build of model 'tiny' raised SystemExit: 0"),
    ("past the probe", ["--weights", "random"],
     "plugin 'faulty': model 'tiny' during float evaluation raised RuntimeError: forward blew up"),
    ("load junk", ["--weights", "tiny-trained"],
     "weights 'tiny-trained': the loader returned int, not a state dict"),
    ("label", ["--weights", "random"], "plugin 'faulty': item 0 of dataset 'faulty-images' raised TypeError: "
                                       "returned tuple (tensor("),
], indirect=["faulty"])
def test_what_a_plugin_callable_raises_is_one_line_naming_plugin_callable_and_model(faulty, extra, expected):
    result = quantize(*extra)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {expected}"), result.stderr
    assert "Traceback" not in result.output
    assert Registry().list() == []


@pytest.mark.parametrize("faulty", ["nothing"], indirect=True)
def test_the_faulty_plugin_works_when_nothing_is_broken(faulty):
    # The fence changes nothing for code that does not raise.
    result = quantize("--weights", "tiny-trained")
    assert result.exit_code == 0, result.output
    assert [e.arch for e in Registry().list()] == ["tiny"]
