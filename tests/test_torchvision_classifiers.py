"""Any torchvision classifier as tv:NAME: listed without importing torch, declared as torchvision has it, quantized
through FX and pt2e with no hand-written variant, recorded, and rebuilt."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from zoo_plugins import torchvision_classifiers as tvc


def test_the_declared_listing_is_what_the_installed_torchvision_offers():
    import torchvision

    declared = json.loads(tvc.DECLARED.read_text())
    assert declared["torchvision"] == torchvision.__version__.split("+")[0]
    assert sorted(declared["models"]) == sorted(torchvision.models.list_models(module=torchvision.models))
    measured = tvc.read_torchvision()
    for arch, entry in declared["models"].items():
        assert (entry["input_size"], entry["weights"]) == (measured[arch]["input_size"], measured[arch]["weights"]), arch
        # Every backend either traced the model or says why not, in one line.
        assert set(entry["backends"]) | set(entry["untraced"]) == set(tvc.BACKENDS), arch
        assert all("\n" not in why for why in entry["untraced"].values()), arch


def test_models_lists_every_classifier_with_its_backends_without_importing_torch():
    code = ("import json, sys; from zoo.cli import main\n"
            "try:\n    main(['models', 'tv:*', '--json'])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'zoo models imported torch'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, timeout=120)
    assert done.returncode == 0, done.stderr
    listed = {m["name"]: m for m in json.loads(done.stdout)}
    declared = json.loads(tvc.DECLARED.read_text())["models"]
    assert set(listed) == {f"tv:{arch}" for arch, entry in declared.items() if entry["backends"]}
    assert listed["tv:efficientnet_b0"]["backends"] == ["fx", "pt2e"]
    assert listed["tv:efficientnet_b0"]["input_size"] == 224 and listed["tv:efficientnet_b7"]["input_size"] == 600
    weights = {w["name"]: w for w in listed["tv:regnet_y_400mf"]["weights"]}
    assert set(weights) == {"imagenet1k-v1", "imagenet1k-v2"}
    assert weights["imagenet1k-v2"]["source"] == "torchvision RegNet_Y_400MF_Weights.IMAGENET1K_V2"


def test_swag_weights_carry_their_own_licence():
    models = {spec.name: spec for spec in map(lambda item: tvc.spec(*item), tvc.listing()["models"].items())}
    licences = {w.name: w.license for w in models["tv:regnet_y_16gf"].weights}
    assert licences["imagenet1k-v1"] == "bsd-3-clause" and licences["imagenet1k-swag-e2e-v1"] == "cc-by-nc-4.0"


@pytest.mark.slow
@pytest.mark.parametrize("backend, preset", [("fx", "x86-histogram"), ("pt2e", "x86-pt2e")])
def test_a_torchvision_classifier_quantizes_records_and_reloads_with_no_plugin_code(backend, preset, tmp_path):
    import torch

    import zoo

    context = zoo.Context.from_environment(registry=str(tmp_path / "registry"))
    made = zoo.quantize("tv:regnet_x_400mf", preset, weights="random", backend=backend, eval_limit=16,
                        calibration_images=8, runtimes="eager", latency_runs=2, context=context)
    assert made.reference.startswith("tv-regnet_x_400mf-int8@")
    assert (made.card.arch, made.card.backend_name, made.card.license) == ("tv:regnet_x_400mf", backend,
                                                                           "bsd-3-clause")
    reloaded = zoo.load(made.reference, context=context)
    images = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        expected = made.model(images)
        assert torch.unique(expected).numel() > 1
        assert torch.equal(reloaded(images), expected)
