"""Per-module rules (--float-module, --module-preset): resolved against the model's module paths before any long
step, applied alike by the eager, FX and pt2e backends, stored in config.json as a plan of module paths, and
rebuilt from it bit for bit."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from tests.test_cli import SMALL, zoo
from tests.test_codec import BATCH, IMAGE_SIZE, NUM_CLASSES, quantized_model, random_images
from zoo.core.errors import IncompatibleError, SettingError
from zoo.core.specs import ModuleRule, Observer, Preset
from zoo.host.plugins import get_catalog
from zoo.quantization import pipeline, rules
from zoo_registry import codec

pytestmark = pytest.mark.usefixtures("one_thread")

MINMAX = Observer("minmax", quant_min=0, quant_max=127)
WEIGHT = Observer("minmax", dtype="qint8", symmetric=True)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3)
        self.block = nn.Sequential(nn.Conv2d(4, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
        self.head = nn.Linear(4, 2)


def test_the_nearest_and_most_specific_rule_decides_each_module():
    conv = ModuleRule("type", "torch.nn.Conv2d", MINMAX, WEIGHT, preset="a")
    block = ModuleRule("regex", r"block")
    later_regex = ModuleRule("regex", r"block\.1", MINMAX, WEIGHT, preset="b")
    named = ModuleRule("name", "block.0", MINMAX, WEIGHT, preset="c")
    plan = dict(rules.resolve(Net(), [conv, block, later_regex, named], get_catalog()))
    # block.0 matches all four: its name wins. block.1 matches two regexes: the first given wins, as in torch.ao.
    # stem matches the type rule only; head matches nothing and keeps the preset's own recipe.
    assert plan == {"stem": 0, "block": 1, "block.0": 3, "block.1": 1, "block.2": 1}
    preset = Preset("p", "fbgemm", "static", "d", activation=MINMAX, weight=WEIGHT,
                    module_rules=(conv, block, later_regex, named), module_plan=tuple(plan.items()))
    # Deepest first, so a backend that lets the first match win applies the inner rule.
    assert [name for name, _ in preset.module_settings()][:3] == ["block.0", "block.1", "block.2"]


@pytest.mark.parametrize(("selector", "error", "fragments"), [
    ("blok.0", SettingError, ("no module 'blok.0'", "closest: block.0")),
    ("re:nothing.*", SettingError, ("matches no module",)),
    ("type:torch.nn.GELU", IncompatibleError, ("'torch.nn.GELU' is not one the installed plugins allow",)),
    ("type:torch.nn.LSTM", SettingError, ("matches no module",)),
])
def test_a_rule_that_matches_nothing_is_one_line_naming_the_closest(selector, error, fragments):
    model = Net()
    base = Preset("p", "fbgemm", "static", "d", activation=MINMAX, weight=WEIGHT)
    with pytest.raises(error) as caught:
        rule = rules.rule_for(selector, None, rules.module_names(model), base)
        rules.resolve(model, [rule], get_catalog())
    message = str(caught.value)
    assert "\n" not in message and all(fragment in message for fragment in fragments), message


def test_a_rule_is_checked_when_it_is_made():
    with pytest.raises(ValueError, match="not a regular expression"):
        ModuleRule("regex", "block(")
    with pytest.raises(ValueError, match="or neither"):
        ModuleRule("name", "block", activation=MINMAX)
    with pytest.raises(ValueError, match="points at no rule"):
        Preset("p", "fbgemm", "static", "d", activation=MINMAX, weight=WEIGHT, module_plan=(("block", 0),))


def float_weights_under(state, path: str) -> list[str]:
    """The float weight tensors a module's path leads to in an int8 state dict (FX flattens nothing here, pt2e
    keeps the path in its constants' names)."""
    return [key for key, value in state.items() if key.startswith(f"{path}.") and key.endswith("weight")
            and isinstance(value, torch.Tensor) and value.dtype == torch.float32]


# One case per backend: a layer kept in float, another with other observers, on a built-in model.
CASES = [
    pytest.param("mobilenet_v2", "fbgemm-histogram", "eager", "features.1.conv.0.0", "features.2.conv.1",
                 id="eager"),
    pytest.param("resnet18", "fbgemm-histogram", "fx", "layer1.0.conv1", "layer2.0.conv2", id="fx"),
    pytest.param("tv_mobilenet_v2", "x86-pt2e", "pt2e", "features.1.conv.0.0", "features.2.conv.1", id="pt2e"),
]


@pytest.mark.parametrize(("arch", "preset_name", "backend_name", "kept", "other"), CASES)
def test_every_backend_applies_the_rules_and_rebuilds_them_bit_for_bit(arch, preset_name, backend_name, kept, other):
    catalog = get_catalog()
    spec, backend = catalog.model(arch), catalog.backend(backend_name)
    base, _ = backend.adapt(catalog.preset(preset_name))
    float_model = spec.build(NUM_CLASSES)
    names = rules.module_names(float_model)
    minmax = Preset("minmax", base.engine, "static", "per-tensor min-max", activation=MINMAX, weight=WEIGHT)
    ruled = rules.with_rules(base, [rules.rule_for(kept, None, names, base),
                                    rules.rule_for(other, minmax, names, base)], float_model, catalog)
    ruled, _ = backend.adapt(ruled)
    patterns = list(catalog.fusion_patterns.values())
    images = random_images(BATCH, seed=3)
    with backend.engine(base.engine):
        plain_state = backend.state_dict(quantized_model(spec, base, backend, patterns))
        model = quantized_model(spec, ruled, backend, patterns)
        state = backend.state_dict(model)
        assert float_weights_under(state, kept), f"{kept} was quantized"
        assert not float_weights_under(plain_state, kept), "the module is float without a rule: proves nothing"
        assert not float_weights_under(state, other), f"{other} was left in float"

        reloaded = pipeline.skeleton(spec, ruled, backend, NUM_CLASSES, IMAGE_SIZE, patterns)
        backend.load_state_dict(reloaded, codec.decode(codec.encode(state)))
        with torch.no_grad():
            expected = model(images)
            assert expected.std() > 0
            assert torch.equal(reloaded(images), expected)


def test_a_plan_naming_a_module_the_model_lacks_is_refused_on_load():
    catalog = get_catalog()
    spec, backend = catalog.model("mobilenet_v2"), catalog.backend("eager")
    preset = Preset("p", "fbgemm", "static", "d", activation=MINMAX, weight=WEIGHT,
                    module_rules=(ModuleRule("name", "features.99"),), module_plan=(("features.99", 0),))
    with pytest.raises(IncompatibleError, match="'features.99', which model 'mobilenet_v2' does not have"):
        pipeline.skeleton(spec, preset, backend, NUM_CLASSES, IMAGE_SIZE, list(catalog.fusion_patterns.values()))


def test_quantize_records_the_rules_as_data_and_show_prints_them(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path))
    result = zoo("quantize", "mobilenet_v2", "--preset", "fbgemm-histogram", *SMALL,
                 "--float-module", "features.1.conv.0.0", "--module-preset", r"re:features\.1[0-9]=fbgemm-minmax",
                 "--name", "ruled", "--json")
    assert result.exit_code == 0, result.output
    card = json.loads(result.stdout)
    assert card["module_rules"] == [
        {"modules": "features.1.conv.0.0", "setting": "float", "decided": 1},
        {"modules": r"re:features\.1[0-9]", "setting": "fbgemm-minmax",
         "decided": sum(1 for name in rules.module_names(get_catalog().model("mobilenet_v2").build(10))
                        if name[:11] in {f"features.1{d}" for d in range(10)})},
    ]
    config = json.loads(next(tmp_path.rglob("config.json")).read_text())
    preset = config["preset"]
    assert [rule["match"] for rule in preset["module_rules"]] == ["name", "regex"]
    assert preset["module_rules"][0]["activation"] is None and preset["module_rules"][1]["preset"] == "fbgemm-minmax"
    assert preset["module_plan"]["features.1.conv.0.0"] == 0 and preset["module_plan"]["features.10.conv.0.0"] == 1
    shown = zoo("show", "ruled")
    assert "module rule: features.1.conv.0.0 -> float (1 module)" in shown.output
    assert zoo("eval", "ruled").exit_code == 0


def test_a_model_without_rules_stores_none():
    from zoo_registry.config import preset_to_dict

    assert "module_rules" not in preset_to_dict(get_catalog().preset("fbgemm-histogram"))
