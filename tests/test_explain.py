"""zoo explain: SQNR per quantized layer against the float model, ranked by what each layer loses."""

from __future__ import annotations

import math

import pytest
import torch

import zoo
from zoo.core.errors import IncompatibleError
from zoo.jobs.explain import explain, sqnr_db

SMALL = dict(eval_limit=64, calibration_images=64, runtimes="eager", latency_runs=2)


def test_sqnr_on_constructed_signals():
    signal = torch.ones(100)
    assert sqnr_db(signal, signal) == math.inf
    assert sqnr_db(signal, signal + 0.1) == pytest.approx(20.0)  # 100 / (100 · 0.01) = 100: 20 dB
    assert sqnr_db(signal, signal * 0) == pytest.approx(0.0)
    assert sqnr_db(torch.zeros(3), torch.ones(3)) == -math.inf


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    return zoo.Context.from_environment(registry=str(tmp_path_factory.mktemp("explain") / "registry"))


@pytest.mark.slow
def test_it_names_the_depthwise_convolution_behind_min_max_collapse(session):
    # The tutorial's lesson: per-tensor min-max weights break MobileNetV2's first depthwise convolution; per-channel
    # histogram calibration does not. The shipped Fashion-MNIST weights, the same calibration images for both.
    minmax = zoo.quantize("mobilenet_v2", "fbgemm-minmax", name="mnv2-minmax", context=session, **SMALL)
    histogram = zoo.quantize("mobilenet_v2", "fbgemm-histogram", name="mnv2-histogram", context=session, **SMALL)
    collapsed = explain(minmax.reference, context=session)
    assert collapsed["images"] == 64 and len(collapsed["layers"]) > 40
    worst = collapsed["layers"][0]
    assert worst["layer"] == "features.1.conv.0.0" and worst["drop_db"] > 20, worst
    kept = {row["layer"]: row for row in explain(histogram.reference, context=session)["layers"]}
    assert kept["features.1.conv.0.0"]["drop_db"] < worst["drop_db"] - 10
    assert explain(histogram.reference, context=session)["output_sqnr_db"] > collapsed["output_sqnr_db"]


def test_what_it_cannot_explain_is_one_line(session, tmp_path):
    trained = zoo.train("mobilenet_v2", epochs=1, train_limit=32, eval_limit=16, batch_size=16, name="mnv2-float",
                        context=session)
    with pytest.raises(IncompatibleError, match="is a float model"):
        explain(trained.reference, context=session)
    fx = zoo.quantize("mobilenet_v2", "fbgemm-minmax", backend="fx", weights="random", name="mnv2-fx",
                      context=session, **SMALL)
    with pytest.raises(IncompatibleError, match="made by backend 'fx': zoo explain reads layers by name"):
        explain(fx.reference, context=session)
