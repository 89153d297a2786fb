"""Nothing a downloaded file says selects code: module types resolve only through what plugins allow.

A preset travels inside config.json, and its ``dynamic_modules`` names module
classes. An attacker who owns a Hub repository can write any name there and
recompute every digest. These tests plant a canary module on the path that
records its own import, name it (and standard-library names that run code)
in an otherwise valid artifact, and check that zoo refuses in one line,
records nothing and never imports the name.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import torch

import zoo
from tests.hub_fixtures import HUB_USER, hub_env, hub_server  # noqa: F401
from tests.test_hub import assert_one_line_error, assert_unchanged, zoo_cli
from zoo import ModuleType, Preset, hookimpl
from zoo.core.errors import IncompatibleError, ZooError
from zoo.host.plugins import PluginHost
from zoo_registry import artifact
from zoo_registry.store import Registry

NAME = "tiny-dynamic"
CANARY = "zoo_canary_payload"
CANARY_SOURCE = """
import os, pathlib
pathlib.Path(os.environ["ZOO_CANARY_FILE"]).write_text("imported")


class Payload:
    pass
"""
# A canary, and standard-library names that run code when imported or called (venv's EnvBuilder builds and
# pip-installs into virtual environments; ``this`` prints at import).
CRAFTED = (f"{CANARY}.Payload", "venv.__main__.EnvBuilder", "os.system", "this.s")

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def canary(tmp_path, monkeypatch) -> Path:
    """A module on the path (of this process and of subprocesses) that writes the returned file when imported."""
    site = tmp_path / "canary-site"
    site.mkdir()
    (site / f"{CANARY}.py").write_text(CANARY_SOURCE)
    marker = tmp_path / "canary-imported"
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("ZOO_CANARY_FILE", str(marker))
    yield marker
    sys.modules.pop(CANARY, None)


@pytest.fixture(scope="module")
def dynamic_files(tmp_path_factory) -> dict[str, bytes]:
    """The four files of a real dynamic-int8 model (random weights, a few test images)."""
    from zoo.jobs.quantize import LatencyOptions, QuantizeOptions, run_quantize
    from zoo.jobs.record import record_quantized

    registry = Registry(tmp_path_factory.mktemp("dynamic") / "registry")
    produced = run_quantize(QuantizeOptions(arch="mobilenet_v2", preset="dynamic-int8", weights="random",
                                            eval_limit=16, latency=LatencyOptions(runs=2, warmup=1, runtimes=("eager",))))
    entry = record_quantized(registry, produced, NAME)
    directory = registry.directory(entry.name, entry.version)
    return {name: (directory / name).read_bytes() for name in artifact.FILES}


def crafted(files: dict[str, bytes], module_name: str) -> dict[str, bytes]:
    """The artifact with ``module_name`` in its preset's dynamic_modules and every digest recomputed, as an
    attacker who owns the repository would."""
    config = json.loads(files[artifact.CONFIG_FILE])
    config["preset"]["dynamic_modules"] = ["torch.nn.Linear", module_name]
    card = {k: v for k, v in json.loads(files[artifact.CARD_FILE]).items() if k not in artifact.DERIVED_CARD_FIELDS}
    return artifact.forge(files[artifact.MODEL_FILE], config, card, NAME)


def test_the_untouched_dynamic_artifact_loads(dynamic_files, tmp_path):
    # The control: the crafted artifacts below differ from a loadable one only in the name they carry.
    registry = Registry(tmp_path / "registry")
    registry.write(dynamic_files)
    assert zoo.load(NAME, registry=str(registry.root)) is not None


@pytest.mark.parametrize("module_name", CRAFTED)
def test_a_recorded_config_naming_a_module_is_refused_without_importing_it(dynamic_files, canary, tmp_path,
                                                                          module_name):
    # A version recorded before this zoo checked (or written into the registry by hand) must not run either.
    registry = Registry(tmp_path / "registry")
    registry.write(crafted(dynamic_files, module_name))
    top = module_name.split(".")[0]
    already = top in sys.modules
    with pytest.raises(IncompatibleError, match=f"config.json: preset.dynamic_modules: module type '{module_name}' "
                                                "is not one the installed plugins allow"):
        zoo.load(NAME, registry=str(registry.root))
    assert not canary.exists()
    assert already or top not in sys.modules


@pytest.mark.parametrize("module_name", [CRAFTED[0], CRAFTED[1]])
def test_a_pulled_config_naming_a_module_is_refused_and_nothing_recorded(hub_server, hub_env, dynamic_files,
                                                                         canary, tmp_path, module_name):
    repo = f"{HUB_USER}/{NAME}"
    hub_server.put_files(repo, crafted(dynamic_files, module_name))
    dest = tmp_path / "dest"
    env = {**hub_env, "PYTHONPATH": os.environ["PYTHONPATH"], "ZOO_CANARY_FILE": str(canary)}
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    assert_one_line_error(zoo_cli(env, dest, "pull", repo, cwd=workdir),
                          f"module type '{module_name}' is not one the installed plugins allow")
    assert_unchanged(dest)
    assert not canary.exists()
    assert list(workdir.iterdir()) == []  # EnvBuilder would have made virtual environments here


def test_a_plugin_preset_naming_an_unregistered_module_type_is_refused_without_importing_it(canary):
    class Plugin:
        @hookimpl
        def register_presets(self, register):
            register(Preset("sneaky-dynamic", "x86", "dynamic", dynamic_modules=(f"{CANARY}.Payload",),
                            description="names a module no plugin allows"))

    host = PluginHost()
    host.add(Plugin(), "sneaky")
    catalog = host.catalog(strict=False)
    assert "sneaky-dynamic" not in catalog.presets
    assert catalog.reports["sneaky"].errors == [
        f"preset 'sneaky-dynamic' names module type '{CANARY}.Payload', which no installed plugin allows; "
        "register it with register_module_types"]
    assert not canary.exists()


def test_a_registered_module_type_is_imported_only_when_resolved(canary):
    # Once a plugin allows the class, a preset may name it, and only then is it imported.
    class Plugin:
        @hookimpl
        def register_module_types(self, register):
            register(ModuleType(f"{CANARY}.Payload"))

    host = PluginHost()
    host.add(Plugin(), "allows")
    catalog = host.catalog(strict=True)
    assert not canary.exists()
    with pytest.raises(IncompatibleError, match="is not an nn.Module class"):
        catalog.module_type(f"{CANARY}.Payload")
    assert canary.exists()
    assert catalog.module_type("torch.nn.Linear").__name__ == "Linear"


def test_float_weights_holding_nan_are_refused_naming_the_tensor(tmp_path):
    from click.testing import CliRunner
    from safetensors.torch import save_file

    from zoo.cli import main
    from zoo_plugins.mobilenet_v2 import build

    state = {k: v.contiguous() for k, v in build(10).state_dict().items()}
    state["features.3.conv.1.0.weight"][0, 0, 0, 0] = float("nan")
    path = tmp_path / "broken.safetensors"
    save_file(state, path)
    result = CliRunner().invoke(main, ["quantize", "mobilenet_v2", "--preset", "fbgemm-histogram", "--weights",
                                       str(path), "--eval-limit", "8", "--runtimes", "eager"])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == (f"Error: weights '{path}': tensor 'features.3.conv.1.0.weight' holds 1 NaN "
                                     "or infinite value(s) of 1296; zoo does not quantize such weights")


def test_non_finite_activations_in_calibration_name_the_module():
    from torch import nn

    from zoo.quantization.pipeline import calibrate

    class Overflow(nn.Module):
        def forward(self, x):
            return x * float("inf")

    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), Overflow(), nn.Flatten())
    images = torch.rand(2, 3, 8, 8) + 0.1
    with pytest.raises(ZooError, match="calibration: module '2' gives NaN or infinite activations on calibration "
                                       "images 1..2"):
        calibrate(model, [(images, None)])


@pytest.mark.parametrize("preset", ["fbgemm-histogram", "x86-histogram", "qnnpack-histogram"])
def test_a_torchscript_export_loaded_as_zoo_says_computes_what_zoo_load_computes(tmp_path, monkeypatch, preset):
    """In a fresh process, whose quantized engine is torch's default, following the export's own instructions."""
    import subprocess
    import sys

    from click.testing import CliRunner

    from zoo.cli import main
    from zoo.jobs.quantize import LatencyOptions, QuantizeOptions, run_quantize
    from zoo.jobs.record import record_quantized

    registry = Registry(tmp_path / "registry")
    produced = run_quantize(QuantizeOptions(arch="mobilenet_v2", preset=preset, eval_limit=16, calibration_images=64,
                                            latency=LatencyOptions(runs=2, warmup=1, runtimes=("eager",))))
    record_quantized(registry, produced, "exported")
    monkeypatch.setenv("ZOO_REGISTRY", str(registry.root))
    target = tmp_path / "model.pt"
    result = CliRunner().invoke(main, ["export", "exported", "-o", str(target)])
    assert result.exit_code == 0, result.output
    engine = preset.split("-")[0]
    instructions = result.stdout.strip().split("load it with: ")[1]
    assert instructions == f"torch.backends.quantized.engine = '{engine}'; model = torch.jit.load('{target}')"

    images = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    torch.save(images, tmp_path / "images.pt")  # test data written by the test itself
    code = (f"import sys, torch\nimages = torch.load({str(tmp_path / 'images.pt')!r})\n{instructions}\n"
            "extra = {'zoo-engine.txt': ''}\ntorch.jit.load(sys.argv[1], _extra_files=extra)\n"
            f"assert extra['zoo-engine.txt'] == {engine.encode()!r}, extra\n"
            "torch.save(model(images), sys.argv[2])\n")
    done = subprocess.run([sys.executable, "-c", code, str(target), str(tmp_path / "out.pt")], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with torch.inference_mode():
        expected = zoo.load("exported", registry=str(registry.root))(images)
    assert torch.equal(torch.load(tmp_path / "out.pt"), expected)
