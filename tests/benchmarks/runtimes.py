"""zoo against the runtimes people use by hand, side by side in one process.

    python -m tests.benchmarks.runtimes                      # the full grid (about an hour on 2 cores)
    python -m tests.benchmarks.runtimes --models mobilenet_v2 --sizes 32 --batches 1 --threads 1

For each model (mobilenet_v2: the float weights zoo ships for Fashion-MNIST;
resnet18: random weights with BatchNorm statistics settled on the calibration
images, since no trained float weights are shipped), each input size, batch
size and thread count, every variant below is built from the same float model
and the same calibration images (Fashion-MNIST training images resized to the
input size), then all are timed in one process, interleaved round by round in random
order, each timed call warm (see zoo.runtimes.latency.measure):

    torch fp32 eager / TorchScript (frozen) / torch.compile
    ONNX Runtime fp32, and ONNX Runtime int8 made by onnxruntime.quantization (QDQ, u8 activations, per-channel)
    OpenVINO fp32, and NNCF int8 (if nncf is installed)
    torch.ao eager int8 (get_default_qconfig('x86'), by hand), torchao pt2e + inductor int8 (by hand)
    zoo int8: `zoo quantize ARCH --preset fbgemm-histogram` in each runtime zoo offers; zoo's default is the
    fastest of them, which is what zoo itself picks

Each table gives p50 and p90 in milliseconds, the ratio of each row's p50 to
zoo's default, and top-1 agreement with torch fp32 eager on the test images
(within one output step, see zoo.evaluation.agreement). A line warns when other
processes took CPU during timing. Figures are this machine's, at the time it ran.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import os
import tempfile
import time
import warnings
from pathlib import Path

import torch

from zoo import data
from zoo.cli import tables
from zoo.evaluation import agreement
from zoo.host.plugins import get_catalog
from zoo.quantization import pipeline
from zoo.runtimes import Subject
from zoo.runtimes import onnx as zoo_onnx
from zoo.runtimes.latency import cpu_name, measure
from zoo.runtimes.torch_runtimes import Eager, Inductor, TorchScript

CALIBRATION_IMAGES = 64
AGREEMENT_IMAGES = 256


def images(split: str, count: int, size: int) -> torch.Tensor:
    catalog = get_catalog()
    spec = catalog.dataset("fashion-mnist")
    subset = data.first(data.load_split(spec, data.resolve(spec, None, size, 3), split), count)
    return torch.stack([image for image, _ in subset])


def float_model(arch: str, calibration: torch.Tensor):
    from zoo.testing import settle_batch_norm

    spec = get_catalog().model(arch)
    torch.manual_seed(0)
    model = spec.build(10)
    if arch == "mobilenet_v2":
        from safetensors.torch import load_file

        import zoo_plugins

        model.load_state_dict(load_file(Path(zoo_plugins.__file__).parent / "weights" /
                                        "mobilenet_v2-fashion-mnist.safetensors"))
        return spec, model.eval(), "zoo's shipped Fashion-MNIST weights"
    return spec, settle_batch_norm(model, calibration), "random weights, BatchNorm settled on the calibration images"


def zoo_int8(spec, model, size: int, calibration: torch.Tensor, preset_name: str):
    """The int8 model `zoo quantize ARCH --preset PRESET` makes, on these calibration images."""
    catalog = get_catalog()
    preset = catalog.preset(preset_name)
    backend_name = catalog.preset_backends(preset)[0]
    backend = catalog.backend(backend_name)
    preset, _ = backend.adapt(preset)
    engine = functools.partial(backend.engine, preset.engine)
    with engine():
        int8, _ = pipeline.quantize_static(model, spec, preset, backend, size, catalog.fusion_patterns.values(),
                                           [(calibration, None)], catalog)
    return int8, Subject(backend_name, preset.method, preset.engine), engine


def torch_ao_by_hand(spec, model, calibration):
    """torch.ao eager mode as its tutorial does it: fuse, the x86 default qconfig, prepare, calibrate, convert."""
    import torch.ao.quantization as tq

    from zoo.quantization.backends.torch_ao import engine

    int8 = pipeline.fuse(copy.deepcopy(model).eval(), spec, get_catalog().fusion_patterns.values()).eval()
    int8.qconfig = tq.get_default_qconfig("x86")
    with warnings.catch_warnings(), engine("x86"):
        warnings.simplefilter("ignore")
        tq.prepare(int8, inplace=True)
        with torch.no_grad():
            int8(calibration)
        tq.convert(int8, inplace=True)
    return under(functools.partial(engine, "x86"), int8)


def under(engine, run):
    """``run`` called under ``engine()``: torch.ao's quantized engine is process-wide, and rows differ in it."""

    def call(x):
        with engine():
            return run(x)

    return call


def pt2e_by_hand(model, calibration, example):
    """torchao's pt2e tutorial: export, X86InductorQuantizer defaults (7-bit without VNNI), calibrate, convert."""
    import torchao.quantization.pt2e as pt2e
    import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as x86q
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    from zoo.quantization.backends.pt2e import cpu_has_vnni

    exported = torch.export.export(copy.deepcopy(model).eval(), (torch.cat([example[:1]] * 2),),
                                   dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=4096)},)).module()
    quantizer = x86q.X86InductorQuantizer().set_global(
        x86q.get_default_x86_inductor_quantization_config(reduce_range=not cpu_has_vnni()))
    prepared = prepare_pt2e(exported, quantizer)
    with torch.no_grad():
        prepared(calibration)
    return pt2e.allow_exported_model_train_eval(convert_pt2e(prepared))


def onnxruntime_int8(fp32_onnx: bytes, calibration: torch.Tensor) -> bytes:
    """ONNX Runtime's own static quantization of the fp32 export: QDQ, u8 activations, s8 per-channel weights."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{zoo_onnx.INPUT: image[None].numpy()} for image in calibration])

        def get_next(self):
            return next(self.batches, None)

    with tempfile.TemporaryDirectory() as folder:
        fp32, pre, int8 = (Path(folder) / name for name in ("fp32.onnx", "pre.onnx", "int8.onnx"))
        fp32.write_bytes(fp32_onnx)
        quant_pre_process(str(fp32), str(pre))
        quantize_static(str(pre), str(int8), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        return int8.read_bytes()


def _ort_session(model: bytes, threads: int):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads, options.log_severity_level = threads, 1, 3
    session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    return lambda x: torch.from_numpy(session.run(None, {zoo_onnx.INPUT: x.numpy()})[0])


def openvino(model_or_onnx, threads: int):
    zoo_onnx._no_openvino_telemetry()
    import openvino as ov

    core = ov.Core()
    if isinstance(model_or_onnx, bytes):
        with tempfile.NamedTemporaryFile(suffix=".onnx") as f:
            f.write(model_or_onnx)
            f.flush()
            model_or_onnx = core.read_model(f.name)
    compiled = core.compile_model(model_or_onnx, "CPU", {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"})
    request = compiled.create_infer_request()
    return lambda x: torch.from_numpy(request.infer({0: x.numpy()})[0].copy())


def nncf_int8(fp32_onnx: bytes, calibration: torch.Tensor):
    """NNCF's post-training quantization of the fp32 model read into OpenVINO (its defaults)."""
    zoo_onnx._no_openvino_telemetry()  # NNCF's telemetry goes through the same package
    import nncf
    import openvino as ov

    with tempfile.NamedTemporaryFile(suffix=".onnx") as f:
        f.write(fp32_onnx)
        f.flush()
        model = ov.Core().read_model(f.name)
    dataset = nncf.Dataset([image[None].numpy() for image in calibration])
    return nncf.quantize(model, dataset, subset_size=len(calibration))


def variants(arch: str, size: int, threads: int, batch: torch.Tensor, built: dict) -> tuple[dict, dict, dict]:
    """(runners, how each was made, which are zoo's) for one model, size and thread count."""
    spec, model, fp32_onnx, zoo_model, subject, engine, calibration = (
        built[k] for k in ("spec", "model", "fp32_onnx", "zoo", "subject", "engine", "calibration"))
    none = contextlib.nullcontext
    runners, skipped = {}, {}

    def add(name: str, make):
        try:
            runners[name] = make()
        except Exception as exc:  # a peer that cannot be built here is reported, not fatal
            skipped[name] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ''}"

    add("torch fp32 eager", lambda: model)
    add("torch fp32 TorchScript (frozen)", lambda: TorchScript().prepare(model, Subject(), batch, threads, none))
    add("torch fp32 torch.compile", lambda: Inductor().prepare(model, Subject(), batch, threads, none))
    add("ONNX Runtime fp32", lambda: _ort_session(fp32_onnx, threads))
    add("ONNX Runtime int8 (onnxruntime.quantization)", lambda: _ort_session(
        built.setdefault("ort_int8", onnxruntime_int8(fp32_onnx, calibration)), threads))
    add("OpenVINO fp32", lambda: openvino(fp32_onnx, threads))
    add("OpenVINO NNCF int8", lambda: openvino(built.setdefault("nncf", nncf_int8(fp32_onnx, calibration)), threads))
    add("torch.ao eager int8 (x86, by hand)", lambda: built.setdefault("ao", torch_ao_by_hand(spec, model, calibration)))
    add("torchao pt2e + inductor int8 (by hand)", lambda: Inductor().prepare(
        built.setdefault("pt2e", pt2e_by_hand(model, calibration, batch)), Subject("pt2e", "static"), batch,
        threads, none))
    zoo_rows = {}
    for runtime in (Eager(), TorchScript(), zoo_onnx.OnnxRuntime(), zoo_onnx.OpenVino()):
        if runtime.missing() or not runtime.supports(subject):
            continue
        name = f"zoo int8 · {runtime.name}"
        # torch's own runtimes read the process-wide quantized engine at every call; the others do not need it.
        wrap = (lambda run: under(engine, run)) if runtime.name in ("eager", "torchscript") else (lambda run: run)
        add(name, lambda runtime=runtime, wrap=wrap: wrap(runtime.prepare(zoo_model, subject, batch, threads, engine)))
        if name in runners:
            zoo_rows[name] = runtime.name
    return runners, skipped, zoo_rows


def agreement_with_fp32(runners: dict, test: torch.Tensor) -> dict[str, float]:
    reference = runners["torch fp32 eager"]
    with torch.inference_mode():
        expected = torch.cat([reference(chunk) for chunk in test.split(16)])
        return {name: agreement(expected, torch.cat([run(chunk) for chunk in test.split(16)]))["top1"]
                for name, run in runners.items()}


def run_configuration(arch: str, size: int, batch_size: int, threads: int, built: dict, runs: int) -> str:
    batch = built["test"][:batch_size]
    runners, skipped, zoo_rows = variants(arch, size, threads, batch, built)
    agreed = agreement_with_fp32(runners, built["test"])
    stats, load = measure(runners, batch, thread_count=threads, warmup=5, runs=runs)
    default = min(zoo_rows, key=lambda name: stats[name]["p50_ms"])
    best_int8 = min((n for n in stats if "int8" in n and not n.startswith("zoo")), key=lambda n: stats[n]["p50_ms"])
    rows = []
    for name, timing in stats.items():
        label = name + ("  <- zoo's default" if name == default else "")
        rows.append([label, f"{timing['p50_ms']:.2f}", f"{timing['p90_ms']:.2f}",
                     f"{timing['p50_ms'] / stats[default]['p50_ms']:.2f}", f"{agreed[name]:.1f} %"])
    lines = [f"{arch} · {size}x{size} · batch {batch_size} · {threads} thread(s) · {built['weights']}",
             tables.render(["variant", "p50 ms", "p90 ms", "x zoo", "top-1 agreement"], rows,
                           align_right=(1, 2, 3, 4))]
    lines.append(f"zoo's default ({zoo_rows[default]}) / best int8 peer ({best_int8}): "
                 f"{stats[default]['p50_ms'] / stats[best_int8]['p50_ms']:.2f}x")
    for name, why in skipped.items():
        lines.append(f"not built: {name}: {why}")
    if load.get("busy"):
        lines.append(f"WARNING: other processes used {load['other_cpus']:.2f} of {load['cpus']} CPUs while timing")
    elif load.get("other_cpus") is not None:
        lines.append(f"other processes used {load['other_cpus']:.2f} of {load['cpus']} CPUs while timing")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mobilenet_v2,resnet18")
    parser.add_argument("--sizes", default="32,224")
    parser.add_argument("--batches", default="1,16")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    os.environ.setdefault("ZOO_NO_PROGRESS", "1")
    warnings.filterwarnings("ignore")
    print(f"CPU: {cpu_name()} ({os.cpu_count()} CPUs); torch {torch.__version__}")
    started = time.monotonic()
    for arch in args.models.split(","):
        for size in map(int, args.sizes.split(",")):
            calibration = images("train", CALIBRATION_IMAGES, size)
            spec, model, weights = float_model(arch, calibration)
            zoo_model, subject, engine = zoo_int8(spec, model, size, calibration, "fbgemm-histogram")
            test = images("test", AGREEMENT_IMAGES, size)
            built = {"spec": spec, "model": model, "weights": weights, "zoo": zoo_model, "subject": subject,
                     "engine": engine, "calibration": calibration, "test": test,
                     "fp32_onnx": zoo_onnx.to_onnx(model, Subject(), test[:1], contextlib.nullcontext)}
            for batch_size in map(int, args.batches.split(",")):
                for threads in map(int, args.threads.split(",")):
                    runs = args.runs if size * size * batch_size < 224 * 224 * 4 else max(10, args.runs // 3)
                    print()
                    print(run_configuration(arch, size, batch_size, threads, built, runs), flush=True)
    print(f"\ntotal {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
