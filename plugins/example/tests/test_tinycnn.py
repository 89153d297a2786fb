"""The example plugin's own tests, as a plugin author would write them: zoo.testing does the heavy lifting.

Run with the plugin installed: ``pip install -e plugins/example && pytest plugins/example``.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from torchvision.transforms.functional import pil_to_tensor

from zoo import ZooError
from zoo.host.plugins import get_catalog
from zoo.testing import check_model


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """On 32×32 images, thread hand-offs cost more than they give."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_the_plugin_loads_and_registers_its_three_things():
    report = get_catalog().reports["example"]
    assert report.errors == []
    assert (report.package, report.version) == ("zoo-example-plugin", "0.1.0")
    assert report.registered == {"model": ["tinycnn"], "preset": ["fbgemm-histogram-per-tensor"],
                                 "dataset": ["shapes"]}


def test_importing_the_plugin_does_not_import_torch():
    code = "import sys, zoo_example_plugin; assert 'torch' not in sys.modules, sorted(sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("backend", ["eager", "fx"])
def test_tinycnn_quantizes_and_reloads_bit_identically(backend):
    result = check_model("tinycnn", preset="fbgemm-histogram", backend=backend)
    assert result.size_bytes < result.float_size_bytes / 2


def test_tinycnn_is_fused_by_the_registered_patterns():
    result = check_model("tinycnn", preset="fbgemm-minmax")
    fused = result.fused
    assert ["stem.0", "stem.1", "stem.2"] in fused  # conv-bn-relu
    assert ["stage1.1.conv2", "stage1.1.bn2"] in fused  # conv-bn: the ReLU comes after the residual add
    assert ["head.0", "head.1"] in fused  # linear-relu
    assert len(fused) == 8


def test_its_preset_gives_each_weight_tensor_one_scale():
    per_tensor = check_model("tinycnn", preset="fbgemm-histogram-per-tensor").model.stem[0].weight()
    per_channel = check_model("tinycnn", preset="fbgemm-histogram").model.stem[0].weight()
    # torch stores symmetric int8 weights as affine with a zero point of 0.
    assert per_tensor.qscheme() == torch.per_tensor_affine and per_tensor.q_zero_point() == 0
    assert per_channel.qscheme() == torch.per_channel_affine
    assert per_channel.q_per_channel_scales().numel() == per_channel.shape[0] == 8


def test_shapes_is_drawn_the_same_every_time_and_its_splits_differ():
    spec = get_catalog().dataset("shapes")
    train, again, test = (spec.build(split, None, "unused") for split in ("train", "train", "test"))
    assert (len(train), len(test)) == (6000, 1200)
    first = [pil_to_tensor(train[i][0]) for i in range(12)]
    assert all(torch.equal(a, pil_to_tensor(again[i][0])) for i, a in enumerate(first))
    assert not any(torch.equal(a, pil_to_tensor(test[i][0])) for i, a in enumerate(first))
    assert first[0].shape == (1, 32, 32)
    labels = [train[i][1] for i in range(60)]
    assert sorted(set(labels)) == list(range(spec.num_classes)) and labels.count(0) == 10


def test_shapes_refuses_a_split_it_does_not_have():
    # zoo reports what a plugin's callable raises in one line naming the plugin.
    with pytest.raises(ZooError, match="plugin 'example': build of dataset 'shapes' raised ValueError: "
                                       "shapes has no split 'validation'; valid: train, test"):
        get_catalog().dataset("shapes").build("validation", None, "unused")
