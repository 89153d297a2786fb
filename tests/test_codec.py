"""The int8 codec: every built-in model × preset × backend survives encode → decode bit for bit,
and files that are not zoo's, are newer, or are damaged are refused with a CodecError."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as save_safetensors
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from zoo import state_dicts
from zoo.core.errors import CodecError
from zoo.host.plugins import PluginHost, get_catalog
from zoo.quantization import pipeline
from zoo.quantization.backends import torch_ao
from zoo.testing import settle_batch_norm
from zoo_registry import codec

NUM_CLASSES = 10
IMAGE_SIZE = 32
BATCH = 2

ARCHS = ("mobilenet_v2", "resnet18", "tv_mobilenet_v2")
TORCH_AO = ("eager", "fx")
# Each built-in preset and the backends it names.
PRESETS = {
    "fbgemm-minmax": TORCH_AO, "fbgemm-histogram": TORCH_AO, "qnnpack-minmax": TORCH_AO,
    "qnnpack-histogram": TORCH_AO, "x86-histogram": TORCH_AO, "fbgemm-qat": TORCH_AO, "qnnpack-qat": TORCH_AO,
    "x86-qat": TORCH_AO, "dynamic-int8": TORCH_AO, "x86-pt2e": ("pt2e",), "x86-pt2e-qat": ("pt2e",),
}

# The one case per preset that runs under -m "not slow", spread over the architectures and backends.
QUICK = {
    "fbgemm-minmax": ("mobilenet_v2", "eager"),
    "fbgemm-histogram": ("resnet18", "fx"),
    "qnnpack-minmax": ("tv_mobilenet_v2", "eager"),
    "qnnpack-histogram": ("mobilenet_v2", "fx"),
    "x86-histogram": ("tv_mobilenet_v2", "fx"),
    "fbgemm-qat": ("resnet18", "eager"),
    "qnnpack-qat": ("mobilenet_v2", "fx"),
    "x86-qat": ("tv_mobilenet_v2", "eager"),
    "dynamic-int8": ("resnet18", "fx"),
    "x86-pt2e": ("tv_mobilenet_v2", "pt2e"),
    # pt2e QAT's convert folds BN by exporting ~40 patterns, about half a minute a model: slow cases only.
    "x86-pt2e-qat": None,
}


@pytest.fixture(autouse=True)
def quiet(monkeypatch):
    monkeypatch.setenv("ZOO_NO_PROGRESS", "1")


pytestmark = pytest.mark.usefixtures("one_thread")


# pt2e QAT's convert takes minutes a model here (above), and what it stores does not depend on the architecture
# (torch.export's graph and its literal qparams, as for x86-pt2e, which runs on all three): one architecture, the one
# with residual adds, keeps the suite within CI's time.
PT2E_QAT_ARCHS = ("resnet18",)


def matrix():
    for preset, backends in PRESETS.items():
        for arch in ARCHS:
            if preset == "x86-pt2e-qat" and arch not in PT2E_QAT_ARCHS:
                continue
            for backend in backends:
                marks = () if QUICK[preset] == (arch, backend) else (pytest.mark.slow,)
                yield pytest.param(arch, preset, backend, id=f"{arch}-{preset}-{backend}", marks=marks)


def random_images(count: int, seed: int) -> torch.Tensor:
    return torch.randn(count, 3, IMAGE_SIZE, IMAGE_SIZE, generator=torch.Generator().manual_seed(seed))


def calibration_loader() -> DataLoader:
    images = random_images(4, seed=1)
    return DataLoader(TensorDataset(images, torch.zeros(4, dtype=torch.long)), batch_size=BATCH)


def train_a_little(prepared: nn.Module, lr: float) -> None:
    """Two SGD steps, enough to move the fake-quantizers' ranges and the weights.

    At the preset's own rate: at 0.01, random-weight MobileNetV2 under FX QAT
    blows a depthwise weight up to NaN in the second step.
    """
    prepared.train()
    optimizer = torch.optim.SGD(prepared.parameters(), lr=lr)
    labels = torch.randint(0, NUM_CLASSES, (BATCH,), generator=torch.Generator().manual_seed(2))
    for step in range(2):
        loss = nn.functional.cross_entropy(prepared(random_images(BATCH, seed=10 + step)), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def quantized_model(spec, preset, backend, patterns) -> nn.Module:
    # Not skeleton's seed 0, so a skeleton that kept its own values would be caught.
    torch.manual_seed(1234)
    float_model = settle_batch_norm(spec.build(NUM_CLASSES), random_images(8, seed=0))
    if preset.method == "dynamic":
        return pipeline.quantize_dynamic(float_model, spec, preset, backend, IMAGE_SIZE)
    prepared = pipeline.prepare(float_model, spec, preset, backend, IMAGE_SIZE, patterns)
    if preset.method == "static":
        pipeline.calibrate(prepared, calibration_loader())
    else:
        train_a_little(prepared, preset.qat_lr)
    return pipeline.convert(prepared, backend)


def assert_same_value(expected, actual, where: str) -> None:
    if isinstance(expected, torch.Tensor):
        assert isinstance(actual, torch.Tensor), where
        assert_same_tensor(expected, actual, where)
    elif isinstance(expected, torch.ScriptObject):
        assert isinstance(actual, torch.ScriptObject), where
        assert expected._type().qualified_name() == actual._type().qualified_name(), where
        assert_same_value(expected.__getstate__(), actual.__getstate__(), where)
    elif isinstance(expected, (tuple, list)):
        assert type(actual) is type(expected) and len(actual) == len(expected), where
        for i, (e, a) in enumerate(zip(expected, actual)):
            assert_same_value(e, a, f"{where}[{i}]")
    else:
        assert type(actual) is type(expected) and actual == expected, where


def assert_same_tensor(expected: torch.Tensor, actual: torch.Tensor, where: str) -> None:
    assert (actual.dtype, actual.shape, actual.is_quantized) == (expected.dtype, expected.shape,
                                                                 expected.is_quantized), where
    if not expected.is_quantized:
        assert torch.equal(actual, expected), where
        return
    assert actual.qscheme() == expected.qscheme(), where
    assert torch.equal(actual.int_repr(), expected.int_repr()), where
    if expected.qscheme() == torch.per_tensor_affine:
        assert (actual.q_scale(), actual.q_zero_point()) == (expected.q_scale(), expected.q_zero_point()), where
    else:
        assert torch.equal(actual.q_per_channel_scales(), expected.q_per_channel_scales()), where
        assert torch.equal(actual.q_per_channel_zero_points(), expected.q_per_channel_zero_points()), where
        assert actual.q_per_channel_axis() == expected.q_per_channel_axis(), where


def assert_same_state(expected, actual) -> None:
    assert list(actual) == list(expected)
    for key, value in expected.items():
        assert_same_value(value, actual[key], key)
    assert actual._metadata == expected._metadata


def test_the_matrix_covers_every_builtin_model_and_preset():
    # torchvision's other quantizable models are rebuilt bit for bit by tests/test_torchvision_zoo.py, and the
    # generic tv:NAME and timm:NAME classifiers go through FX and pt2e in tests/test_torchvision_classifiers.py and
    # tests/test_timm_plugin.py.
    from zoo_plugins.torchvision_models import MODELS as TORCHVISION_QUANTIZABLE

    catalog = PluginHost().catalog()
    generic = {name for name in catalog.models if name.startswith(("tv:", "timm:"))}
    assert set(ARCHS) | {spec.name for spec in TORCHVISION_QUANTIZABLE} | generic == set(catalog.models)
    assert set(ARCHS) <= {"mobilenet_v2"} | {spec.name for spec in TORCHVISION_QUANTIZABLE}
    assert PRESETS == {name: tuple(catalog.preset_backends(p)) for name, p in catalog.presets.items()}


@pytest.mark.parametrize(("arch", "preset_name", "backend_name"), list(matrix()))
def test_round_trip_is_bit_identical(arch, preset_name, backend_name):
    catalog = get_catalog()
    spec, backend = catalog.model(arch), catalog.backend(backend_name)
    preset, _ = backend.adapt(catalog.preset(preset_name))
    patterns = list(catalog.fusion_patterns.values())
    images = random_images(BATCH, seed=3)
    with backend.engine(preset.engine):
        original = quantized_model(spec, preset, backend, patterns)
        state = backend.state_dict(original)
        decoded = codec.decode(codec.encode(state))
        assert_same_state(state, decoded)

        reloaded = pipeline.skeleton(spec, preset, backend, NUM_CLASSES, IMAGE_SIZE, patterns)
        with torch.no_grad():
            expected = original(images)
            assert expected.std() > 0, "the int8 model's outputs are constant: the test proves nothing"
            assert not torch.equal(reloaded(images), expected), "the skeleton already matched: the test proves nothing"
            backend.load_state_dict(reloaded, decoded)
            assert torch.equal(reloaded(images), expected)
        assert_same_state(state, backend.state_dict(reloaded))


class TinyLstm(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(8, 16, num_layers=2, batch_first=True)
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def dynamic_lstm(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    catalog = get_catalog()
    types = [catalog.module_type(name) for name in catalog.preset("dynamic-int8").dynamic_modules]
    example = (torch.randn(BATCH, 5, 8),)
    return torch_ao.EagerBackend().quantize_dynamic(TinyLstm().eval(), types, example)


def test_dynamic_lstm_round_trip_is_bit_identical():
    sequences = torch.randn(BATCH, 5, 8, generator=torch.Generator().manual_seed(4))
    with torch_ao.engine("x86"), torch.no_grad():
        original = dynamic_lstm(seed=1)
        decoded = codec.decode(codec.encode(original.state_dict()))
        assert_same_state(original.state_dict(), decoded)
        reloaded = dynamic_lstm(seed=2)
        assert not torch.equal(reloaded(sequences), original(sequences))
        state_dicts.load_strict(reloaded, decoded)
        assert torch.equal(reloaded(sequences), original(sequences))


def small_int8_model() -> nn.Module:
    with torch_ao.engine("x86"):
        return dynamic_lstm(seed=5)


def test_encode_is_deterministic():
    state = small_int8_model().state_dict()
    assert codec.encode(state, {"note": "a"}) == codec.encode(state, {"note": "a"})


def test_plain_values_round_trip():
    state = {
        "none": None, "flag": True, "count": 3, "ratio": 0.1, "nan": float("nan"), "inf": float("-inf"),
        "name": "x", "dtype": torch.quint8, "size": torch.Size([2, 3]), "nested": (1, [2.5, None], ()),
        "empty": torch.zeros(0), "scalar": torch.tensor(7, dtype=torch.int64),
        "per_tensor": torch.quantize_per_tensor(torch.randn(3, 4), 0.05, 3, torch.quint8),
        "qint32": torch.quantize_per_tensor(torch.randn(5), 0.01, 0, torch.qint32),
        "float_qparams": torch.quantize_per_channel(torch.randn(4, 3), torch.rand(4) + 0.1, torch.randn(4), 0,
                                                    torch.quint8),
    }
    decoded = codec.decode(codec.encode(state))
    assert list(decoded) == list(state)
    for key in ("none", "flag", "count", "ratio", "inf", "name", "dtype", "size", "nested"):
        assert type(decoded[key]) is type(state[key]) and decoded[key] == state[key], key
    assert decoded["nan"] != decoded["nan"]
    for key in ("empty", "scalar", "per_tensor", "qint32", "float_qparams"):
        assert_same_tensor(state[key], decoded[key], key)


def test_read_metadata_gives_the_callers_metadata_only():
    data = codec.encode({"w": torch.ones(2)}, {"arch": "resnet18", "preset": "x86-qat"})
    assert codec.read_metadata(data) == {"arch": "resnet18", "preset": "x86-qat"}


def test_the_file_is_plain_safetensors_with_the_layout_in_its_metadata():
    data = codec.encode({"w": torch.ones(2), "dtype": torch.qint8})
    length = int.from_bytes(data[:8], "little")
    metadata = json.loads(data[8:8 + length])["__metadata__"]
    assert metadata["format"] == codec.FORMAT
    assert metadata["codec_version"] == str(codec.CODEC_VERSION)
    assert json.loads(metadata["layout"]) == [{"key": "w", "kind": "tensor", "tensor": "w"},
                                              {"key": "dtype", "kind": "dtype", "name": "qint8"}]


# ------------------------------------------------------------------ refusals


def zoo_file(layout, tensors=None, **metadata) -> bytes:
    """A hand-made zoo file, to say exactly what a damaged or newer one holds."""
    header = {"format": codec.FORMAT, "codec_version": str(codec.CODEC_VERSION), "layout": json.dumps(layout)}
    header.update(metadata)
    return save_safetensors(tensors or {"w": torch.ones(2)}, metadata=header)


def test_a_newer_codec_version_is_refused():
    data = zoo_file([], codec_version=str(codec.CODEC_VERSION + 1))
    with pytest.raises(CodecError, match="newer.*upgrade zoo"):
        codec.decode(data)


def test_a_plain_safetensors_file_is_refused():
    for data in (save_safetensors({"w": torch.ones(2)}), save_safetensors({"w": torch.ones(2)}, {"format": "pt"})):
        with pytest.raises(CodecError, match="not a zoo model file"):
            codec.decode(data)
        with pytest.raises(CodecError, match="not a zoo model file"):
            codec.read_metadata(data)


@pytest.mark.parametrize("damage", ["truncated", "header-only", "tiny", "garbage", "empty"])
def test_damaged_bytes_are_refused(damage):
    good = codec.encode(small_int8_model().state_dict())
    data = {
        "truncated": good[:-10],
        "header-only": good[:8 + int.from_bytes(good[:8], "little")],
        "tiny": good[:5],
        "garbage": b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!",
        "empty": b"",
    }[damage]
    with pytest.raises(CodecError):
        codec.decode(data)


def test_a_missing_tensor_is_refused():
    with pytest.raises(CodecError, match="'absent'"):
        codec.decode(zoo_file([{"key": "w", "kind": "tensor", "tensor": "absent"}]))


@pytest.mark.parametrize("entry", [
    {"key": "d", "kind": "dtype", "name": "float128"},
    {"key": "d", "kind": "qtensor", "dtype": "evil", "qscheme": "per_tensor_affine", "int_repr": "w"},
])
def test_an_unknown_dtype_is_refused(entry):
    with pytest.raises(CodecError, match="unknown dtype"):
        codec.decode(zoo_file([entry]))


def test_an_unknown_kind_is_refused():
    with pytest.raises(CodecError, match="unknown kind 'object'"):
        codec.decode(zoo_file([{"key": "w", "kind": "object"}]))


@pytest.mark.parametrize("layout", ["[{", "{}", "[1]"])
def test_a_malformed_layout_is_refused(layout):
    data = save_safetensors({"w": torch.ones(2)}, {"format": codec.FORMAT, "codec_version": "1", "layout": layout})
    with pytest.raises(CodecError, match="malformed"):
        codec.decode(data)


def test_integer_data_of_the_wrong_width_is_refused():
    entry = {"key": "q", "kind": "qtensor", "dtype": "qint8", "qscheme": "per_tensor_affine", "int_repr": "w",
             "scale": 0.1, "zero_point": 0}
    with pytest.raises(CodecError, match="cannot hold"):
        codec.decode(zoo_file([entry]))


def test_values_without_a_description_are_not_encoded():
    with pytest.raises(CodecError, match="'odd'.*object"):
        codec.encode({"odd": object()})
    with pytest.raises(CodecError, match="reserved"):
        codec.encode({}, {"layout": "mine"})


def test_keys_whose_tensor_names_would_collide_are_refused():
    with pytest.raises(CodecError, match="'a/0' is already taken"):
        codec.encode({"a": (torch.ones(1),), "a/0": torch.ones(1)})


def test_a_key_twice_in_the_layout_is_refused():
    entry = {"key": "w", "kind": "tensor", "tensor": "w"}
    with pytest.raises(CodecError, match="'w' appears twice"):
        codec.decode(zoo_file([entry, entry]))


def test_load_into_names_the_first_offending_key():
    model = small_int8_model()
    state = model.state_dict()
    missing = {k: v for k, v in state.items() if k != "head.scale"}
    with pytest.raises(CodecError, match="lacks 'head.scale'"):
        state_dicts.load_strict(model, missing)
    with pytest.raises(CodecError, match="has 'extra'"):
        state_dicts.load_strict(model, {**state, "extra": torch.ones(1)})
    weight, bias = state["head._packed_params._packed_params"]
    narrower = (weight[:2], bias[:2])
    with pytest.raises(CodecError, match="'head._packed_params._packed_params'.*shape \\[2, 16\\]"):
        state_dicts.load_strict(model, {**state, "head._packed_params._packed_params": narrower})


def test_the_codec_never_revives_python_objects():
    source = Path(codec.__file__).read_text()
    for forbidden in ("pickle", "torch.load", "eval(", "exec("):
        assert forbidden not in source, forbidden
