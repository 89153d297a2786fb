"""Runtimes: zoo times float and int8 in each, quotes the speed-up against the fastest float one, runs a
registry model in any of them (zoo.load, zoo bench) and exports ONNX that computes what zoo.load computes.

The models are small (MobileNetV2 at 32x32 with the float weights zoo ships, a few Fashion-MNIST images);
the real runtimes run: ONNX Runtime, OpenVINO, TorchScript. Random weights would not do: a deep network's
outputs then hardly depend on its input, and any two models would agree.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import zoo
from zoo import runtimes
from zoo.cli import main
from zoo.core.errors import IncompatibleError
from zoo.evaluation import agreement
from zoo.jobs.quantize import LatencyOptions, QuantizeOptions, run_quantize
from zoo.jobs.record import record_quantized
from zoo_registry.store import Registry

pytestmark = pytest.mark.usefixtures("one_thread")

QUICK = ("eager", "torchscript", "onnxruntime", "openvino")


def quantized(preset: str, weights: str | None = None, **latency):
    return run_quantize(QuantizeOptions(arch="mobilenet_v2", preset=preset, weights=weights, eval_limit=64,
                                        calibration_images=32,
                                        latency=LatencyOptions(runs=3, warmup=1, **latency)))


@pytest.fixture(scope="module")
def eager_int8(tmp_path_factory):
    """A torch.ao eager fbgemm model, timed in the quick runtimes and recorded; (produced, registry)."""
    produced = quantized("fbgemm-histogram", runtimes=QUICK)
    registry = Registry(tmp_path_factory.mktemp("runtimes") / "registry")
    record_quantized(registry, produced, "mnv2-eager")
    return produced, registry


def test_quantize_times_every_runtime_and_quotes_the_fastest(eager_int8):
    result = eager_int8[0].result
    table = result["runtimes"]
    assert set(table["float"]) == set(QUICK) and set(table["int8"]) == set(QUICK)
    assert table["skipped"] == {"float": {}, "int8": {}}
    for side, figures in (("float", result["baseline"]), ("int8", result["metrics"])):
        fastest = min(table[side], key=lambda name: table[side][name]["p50_ms"])
        assert table["fastest"][side] == fastest == figures["latency"]["runtime"]
        assert figures["latency"]["p50_ms"] == table[side][fastest]["p50_ms"]
    assert result["speedup"] == round(result["baseline"]["latency"]["p50_ms"] / result["metrics"]["latency"]["p50_ms"],
                                      3)
    assert set(result["load"]) >= {"other_cpus", "cpus", "busy"}
    if result["runtimes"]["fastest"]["int8"] != "eager":
        checked = result["metrics"]["in_runtime"]
        assert checked["runtime"] == result["runtimes"]["fastest"]["int8"]
        # Another runtime's int8 kernels may round one borderline image the other way; not two.
        agreed = checked["agreement_with_eager"]
        assert agreed["top1"] >= 100 * (1 - 1 / agreed["images"]) - 1e-6, agreed


@pytest.fixture(scope="module")
def pt2e_int8(tmp_path_factory):
    """A torchao pt2e model, timed in eager, TorchScript (which cannot run it) and ONNX Runtime, and recorded."""
    produced = quantized("x86-pt2e", runtimes=("eager", "torchscript", "onnxruntime"))
    registry = Registry(tmp_path_factory.mktemp("runtimes-pt2e") / "registry")
    record_quantized(registry, produced, "mnv2-pt2e")
    return produced, registry


def test_a_pt2e_model_runs_where_it_can_and_says_where_not(pt2e_int8):
    result = pt2e_int8[0].result
    assert set(result["runtimes"]["int8"]) == {"eager", "onnxruntime"}
    assert result["runtimes"]["skipped"]["int8"] == {"torchscript": "does not run int8 (pt2e, static) models"}
    assert result["backend"] == "pt2e" and result["engine"] == "x86_inductor"


def test_the_report_names_each_figures_runtime_and_says_when_int8_is_slower(eager_int8):
    from zoo.cli.report import comparison
    from zoo_registry.schema import Load

    _, registry = eager_int8
    card = registry.open(registry.resolve("mnv2-eager"))[1]
    text = comparison(card)
    assert "p50 by runtime (* fastest):" in text
    int8_row = next(line.split() for line in text.splitlines() if line.startswith("int8 "))
    assert card.metrics.latency is not None
    assert int8_row[7] == card.metrics.latency.runtime  # int8, top-1 %, top-5 %, size MB, runtime
    slower = card.model_copy(update={"speedup": 0.5})
    assert "int8 is slower than float on this CPU" in comparison(slower)
    busy = card.model_copy(update={"load": Load(other_cpus=1.5, cpus=2, busy=True)})
    assert "WARNING: the machine was busy while timing: other processes used 1.50 of 2 CPUs" in comparison(busy)


def fashion_mnist_images(count: int) -> torch.Tensor:
    from zoo import data
    from zoo.host.plugins import get_catalog

    spec = get_catalog().dataset("fashion-mnist")
    split = data.first(data.load_split(spec, data.resolve(spec, None, 32, 3), "test"), count)
    return torch.stack([image for image, _ in split])


# torch.ao's fbgemm kernels round a depthwise convolution differently from ONNX's QuantizeLinear/DequantizeLinear
# definition (up to 3 output steps in 3 % of values, measured on this model), and the differences add up through
# 17 blocks: ONNX Runtime and OpenVINO agree with eager on about 98 % of the top classes. pt2e models, whose eager
# graph computes the QDQ definition itself, agree on 99.8 % and more.
@pytest.mark.parametrize("model, runtime, at_least", [
    ("pt2e", "onnxruntime", 99.0), ("pt2e", "openvino", 99.0),
    ("eager", "onnxruntime", 95.0), ("eager", "openvino", 95.0), ("eager", "torchscript", 100.0),
])
def test_zoo_load_in_a_runtime_computes_what_eager_computes(eager_int8, pt2e_int8, model, runtime, at_least):
    _, registry = {"eager": eager_int8, "pt2e": pt2e_int8}[model]
    name = f"mnv2-{model}"
    images = fashion_mnist_images(200)
    eager = zoo.load(name, registry=str(registry.root))
    there = zoo.load(name, registry=str(registry.root), runtime=runtime, threads=1)
    assert there.runtime == runtime and there.module is not None
    with torch.inference_mode():
        agreed = agreement(eager(images), torch.cat([there(batch) for batch in images.split(50)]))
    assert agreed["top1"] >= at_least, agreed


def test_zoo_load_fastest_uses_the_cards_fastest_runtime(eager_int8):
    _, registry = eager_int8
    fastest = eager_int8[0].result["runtimes"]["fastest"]["int8"]
    loaded = zoo.load("mnv2-eager", registry=str(registry.root), runtime="fastest")
    assert (getattr(loaded, "runtime", "eager")) == fastest


def test_an_unknown_or_unfit_runtime_is_refused(eager_int8):
    _, registry = eager_int8
    with pytest.raises(zoo.UnknownNameError,
                       match="unknown runtime 'tensorrt'; valid choices: eager, fastest, inductor"):
        zoo.load("mnv2-eager", registry=str(registry.root), runtime="tensorrt")
    with pytest.raises(IncompatibleError, match="runtime 'inductor' does not run int8 \\(eager, static\\) models"):
        zoo.load("mnv2-eager", registry=str(registry.root), runtime="inductor")


def test_zoo_bench_times_every_runtime_and_marks_the_fastest(eager_int8, monkeypatch):
    _, registry = eager_int8
    monkeypatch.setenv("ZOO_REGISTRY", str(registry.root))
    result = CliRunner().invoke(main, ["bench", "mnv2-eager", "--batch-sizes", "1,4", "--runs", "3",
                                       "--runtimes", "quick", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["benchmarks"]
    for batch in (1, 4):
        timed = [r for r in rows if r["batch_size"] == batch and "skipped" not in r]
        assert {r["runtime"] for r in timed} == set(QUICK)
        assert [r["runtime"] for r in timed if r["fastest"]] == [min(timed, key=lambda r: r["p50_ms"])["runtime"]]
    table = CliRunner().invoke(main, ["bench", "mnv2-eager", "--runs", "2", "--runtimes", "eager,onnxruntime"])
    assert table.exit_code == 0 and "fastest" in table.stdout and "CPU: " in table.stdout


def test_onnx_export_agrees_with_zoo_load_and_runs_in_onnxruntime(pt2e_int8, tmp_path, monkeypatch):
    import onnxruntime

    _, registry = pt2e_int8
    monkeypatch.setenv("ZOO_REGISTRY", str(registry.root))
    target = tmp_path / "mnv2.onnx"
    result = CliRunner().invoke(main, ["export", "mnv2-pt2e", "--format", "onnx", "-o", str(target),
                                       "--check-images", "64"])
    assert result.exit_code == 0, result.output
    assert "on 64 fashion-mnist test images its top class agrees with zoo.load on" in result.stdout
    session = onnxruntime.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    assert {node.op_type for node in __import__("onnx").load(str(target)).graph.node} >= {"QuantizeLinear",
                                                                                           "DequantizeLinear"}
    images = fashion_mnist_images(64)
    with torch.inference_mode():
        expected = zoo.load("mnv2-pt2e", registry=str(registry.root))(images)
    got = torch.from_numpy(session.run(None, {"images": images.numpy()})[0])
    assert agreement(expected, got)["top1"] >= 99.0


def test_an_export_that_disagrees_is_refused_and_nothing_written(eager_int8, tmp_path, monkeypatch):
    from zoo.runtimes import onnx as zoo_onnx

    _, registry = eager_int8
    monkeypatch.setenv("ZOO_REGISTRY", str(registry.root))
    other = quantized("fbgemm-minmax", weights="random", runtimes=("eager",))  # same shape, other answers
    real = zoo_onnx.to_onnx
    monkeypatch.setattr(zoo_onnx, "to_onnx", lambda model, subject, example, engine: real(
        other.model, subject, example, engine))
    target = tmp_path / "wrong.onnx"
    result = CliRunner().invoke(main, ["export", "mnv2-eager", "--format", "onnx", "-o", str(target),
                                       "--check-images", "64"])
    assert result.exit_code == 2, result.output
    assert "the ONNX export of mnv2-eager disagrees with zoo.load" in result.stderr
    assert "nothing was written" in result.stderr
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_a_runtime_that_is_not_installed_names_the_extra(tmp_path):
    broken = tmp_path / "site" / "onnxruntime"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('No module named onnxruntime')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(broken.parent),
                                                                     os.environ.get("PYTHONPATH")]))}
    code = ("import zoo.runtimes as r\n"
            "try:\n    r.get('onnxruntime')\nexcept Exception as e:\n    print(e)\n"
            "print(r.select(['onnxruntime', 'eager'], r.Subject())[1])")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0] == ("runtime 'onnxruntime' is not available here: onnxruntime is not installed: "
                        "pip install 'zoo[onnx]'")
    assert "pip install 'zoo[onnx]'" in lines[1]


def test_the_load_meter_sees_another_process_working():
    from zoo.runtimes.latency import LoadMeter

    if not Path("/proc/stat").exists():
        pytest.skip("needs /proc/stat")
    burner = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 3\nwhile time.time() < end: pass"])
    try:
        meter = LoadMeter().start()
        import time

        time.sleep(1.5)
        load = meter.stop()
    finally:
        burner.wait()
    assert load["other_cpus"] > 0.5 and load["busy"] is True


def test_runtime_names_parse_strictly():
    assert runtimes.parse("quick") == runtimes.QUICK
    assert runtimes.parse("all") == runtimes.NAMES
    assert runtimes.parse("eager, onnxruntime") == ("eager", "onnxruntime")
    with pytest.raises(zoo.UnknownNameError, match="unknown runtime 'onnx'"):
        runtimes.parse("eager,onnx")


def test_agreement_allows_one_output_step_and_nothing_more():
    reference = torch.tensor([[4.0, 3.5, 0.0], [1.0, 2.0, 3.0], [2.0, 2.0, 2.0]])
    # Image 0: the top two differ by one step (0.5) and the other model rounds them the other way: agreeing.
    # Image 1: the other model's top class is two steps below the reference's: disagreeing.
    other = torch.tensor([[3.5, 4.0, 0.0], [1.0, 3.0, 2.0], [2.0, 2.0, 2.0]])
    assert agreement(reference, other) == {"top1": 66.67, "argmax": 33.33, "max_abs_diff": 1.0, "step": 0.5,
                                           "images": 3}
    # Constant outputs (a network whose outputs ignore its input) agree only where the reference ties everything.
    distinct = torch.tensor([[0.0, 3.0, 1.0], [1.0, 2.0, 3.0], [2.0, 2.0, 2.0]])
    assert agreement(distinct, torch.zeros(3, 3))["top1"] == 33.33


def test_runtimes_none_of_which_can_run_the_model_are_refused_before_any_work(pt2e_int8, monkeypatch):
    _, registry = pt2e_int8
    monkeypatch.setenv("ZOO_REGISTRY", str(registry.root))
    bench = CliRunner().invoke(main, ["bench", "mnv2-pt2e", "--runtimes", "torchscript"])
    assert bench.exit_code == 2, bench.output
    assert bench.stderr.strip() == ("Error: none of the runtimes asked for can run the int8 (pt2e, static) model here "
                                    "(torchscript: does not run int8 (pt2e, static) models); add eager, which runs "
                                    "every model")
    quantize = CliRunner().invoke(main, ["quantize", "mobilenet_v2", "--preset", "x86-pt2e", "--runtimes",
                                         "torchscript", "--eval-limit", "8"])
    assert quantize.exit_code == 2 and "none of the runtimes asked for can run the int8 (pt2e, static)" in \
        quantize.stderr
