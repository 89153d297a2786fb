"""--preset auto: candidates cheapest first, judged on a validation split carved from the training images, the
first within budget (or the best) recorded with the trace, and rebuilt from config.json like any model."""

from __future__ import annotations

import json

import pytest
import torch
from torch.utils.data import TensorDataset

from tests.test_cli import zoo
from zoo import data
from zoo.core.errors import SettingError, UnknownNameError
from zoo.host.plugins import get_catalog
from zoo.jobs import search

TINY = ["--eval-limit", "64", "--calibration-images", "32", "--validation-images", "64", "--latency-runs", "2",
        "--runtimes", "eager"]


def test_candidates_are_one_engines_presets_cheapest_first():
    catalog = get_catalog()
    found = search.candidates("auto", catalog.model("mobilenet_v2"), None, catalog)
    assert (found.engine, found.backend) == ("fbgemm", "eager")
    assert [p.name for p in found.static] == ["fbgemm-minmax", "fbgemm-histogram"]
    assert found.qat is not None and found.qat.name == "fbgemm-qat"
    qnnpack = search.candidates("auto:qnnpack", catalog.model("mobilenet_v2"), "fx", catalog)
    assert (qnnpack.engine, qnnpack.backend) == ("qnnpack", "fx")
    assert [p.name for p in qnnpack.static] == ["qnnpack-minmax", "qnnpack-histogram"]
    # A model that does not go through eager mode takes the presets' next backend.
    assert search.candidates("auto", catalog.model("tv:resnet18"), None, catalog).backend == "fx"
    with pytest.raises(UnknownNameError, match="fbgemm"):
        search.candidates("auto:fbgemmm", catalog.model("mobilenet_v2"), None, catalog)


def test_the_validation_split_is_carved_the_same_way_and_apart_from_the_rest():
    images = TensorDataset(torch.arange(100))
    rest, held_out = data.carve(images, 20, seed=3)
    again, same = data.carve(images, 20, seed=3)
    kept = {int(held_out[i][0]) for i in range(len(held_out))}
    others = {int(rest[i][0]) for i in range(len(rest))}
    assert len(kept) == 20 and len(others) == 80 and not kept & others
    assert kept == {int(same[i][0]) for i in range(len(same))}
    assert kept != {int(data.carve(images, 20, seed=4)[1][i][0]) for i in range(20)}
    with pytest.raises(SettingError, match="100"):
        data.carve(images, 100, seed=0)


@pytest.mark.slow
def test_a_generous_budget_stops_at_the_cheapest_recipe(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path))
    result = zoo("quantize", "mobilenet_v2", "--preset", "auto", "--max-drop", "100", *TINY, "--json")
    assert result.exit_code == 0, result.output
    card = json.loads(result.stdout)
    found = card["search"]
    assert card["preset"] == "fbgemm-minmax" and found["met"] and found["chosen"] == 0
    assert [step["preset"] for step in found["trace"]] == ["fbgemm-minmax"]
    assert found["validation"] == {"split": "train", "images": 64, "float_top1": found["validation"]["float_top1"]}
    assert card["calibration"]["excluding"] == "validation images"


@pytest.mark.slow
def test_a_tight_budget_tries_layers_in_float_then_qat_and_keeps_what_it_chose(tmp_path, monkeypatch):
    from zoo.jobs.quantize import LatencyOptions, QuantizeOptions, quantize

    monkeypatch.setenv("ZOO_HOME", str(tmp_path))
    # qnnpack's presets have per-tensor weights, which MobileNetV2's depthwise layers do not survive; without
    # equalization the search has to go on to layers in float.
    options = QuantizeOptions("mobilenet_v2", "auto:qnnpack", eval_limit=64, calibration_images=32,
                              qat={"epochs": 1, "batches_per_epoch": 2},
                              latency=LatencyOptions(runs=2, warmup=1, runtimes=("eager",)),
                              search=search.SearchOptions(max_drop=0, allow_qat=True, validation_images=64,
                                                          equalize=False))
    _, recorded = quantize(options, name="searched")
    card = recorded.card.to_dict()
    found = card["search"]
    trace, chosen = found["trace"], found["trace"][found["chosen"]]
    float_top1 = found["validation"]["float_top1"]
    for step in trace:
        assert step["drop"] == pytest.approx(float_top1 - step["top1"], abs=0.011)
        assert step["within"] == (step["drop"] <= 0) and not step["equalize"]
    assert [step["preset"] for step in trace[:2]] == ["qnnpack-minmax", "qnnpack-histogram"]
    assert not trace[0]["within"] and not trace[1]["within"] and trace[2]["step"] == "1 layer(s) in float"
    if found["met"]:  # the first within budget ends the search
        assert found["chosen"] == len(trace) - 1 and chosen["within"]
        assert not any(step["within"] for step in trace[:-1])
    else:  # every candidate was tried, and the best kept
        assert [step["step"] for step in trace] == ["preset", "preset", "1 layer(s) in float", "2 layer(s) in float",
                                                    "4 layer(s) in float", "8 layer(s) in float", "QAT"]
        assert chosen["top1"] == max(step["top1"] for step in trace)
        assert found["missed_by"] == pytest.approx(chosen["drop"], abs=0.011)
    for step in trace:
        if step["step"].endswith("in float"):
            assert len(step["float_modules"]) == int(step["step"].split()[0])
    # The card says what the chosen recipe kept in float, and the model rebuilds from config.json with it.
    assert [rule["modules"] for rule in card.get("module_rules", [])] == chosen["float_modules"]
    assert zoo("eval", "searched").exit_code == 0
    shown = zoo("show", "searched").output
    assert "recipe search (--preset auto, engine qnnpack)" in shown and "* chosen" in shown


@pytest.mark.slow
def test_the_search_tries_each_preset_after_equalization_too(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path))
    result = zoo("quantize", "mobilenet_v2", "--preset", "auto:qnnpack", "--max-drop", "100", *TINY, "--json")
    assert result.exit_code == 0, result.output
    assert [step["step"] for step in json.loads(result.stdout)["search"]["trace"]] == ["preset"]
    result = zoo("quantize", "mobilenet_v2", "--preset", "auto:qnnpack", "--max-drop", "0", "--backend", "fx",
                 *TINY, "--json")
    assert result.exit_code == 0, result.output
    trace = json.loads(result.stdout)["search"]["trace"]
    # FX fuses inside its own prepare, where zoo does not equalize, nor rank layers: both steps say so.
    assert [step["step"] for step in trace] == ["preset", "preset", "equalized", "layers in float"]
    assert "skipped" in trace[2] and "skipped" in trace[3]


def test_auto_refuses_hand_written_module_rules(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path))
    result = zoo("quantize", "mobilenet_v2", "--preset", "auto", "--float-module", "features.1", *TINY,
                 "--weights", "random")
    assert result.exit_code == 2 and "chooses which modules stay in float itself" in result.output
    assert not list(tmp_path.rglob("card.json"))
