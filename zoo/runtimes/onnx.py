"""ONNX: exporting zoo's models, and the runtimes that run the export (ONNX Runtime, OpenVINO).

An int8 model exports as a QDQ graph: int8 weights with their scales and zero
points, and a QuantizeLinear/DequantizeLinear pair wherever the model
quantizes an activation. ONNX Runtime and OpenVINO fuse those patterns into
integer kernels (QLinearConv, QLinearAdd, ...). torch.ao eager-mode models go
through torch's TorchScript-based exporter, which knows the quantized::*
operators; pt2e models go through torch.export's exporter, which turns
quantize/dequantize calls into QuantizeLinear/DequantizeLinear; float models
take the former. The batch dimension stays dynamic.
"""

from __future__ import annotations

import importlib
import io
import os
import sys
import tempfile
import warnings
import weakref

import torch

from zoo.core.errors import IncompatibleError
from zoo.runtimes import Runtime, Subject

OPSET = 17
# torch.export's exporter implements opset 18 and up; asking it for less makes it convert, which fails on QDQ graphs.
DYNAMO_OPSET = 18
INPUT, OUTPUT = "images", "logits"
# Exported bytes per model and input shape, shared by the runtimes that read them.
_exported: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def exportable(subject: Subject) -> bool:
    """Whether zoo can export models of ``subject`` to ONNX (torch.ao FX and dynamic int8 models cannot be)."""
    if subject.is_float or subject.backend == "pt2e":
        return True
    return subject.backend == "eager" and subject.method in ("static", "qat")


def to_onnx(model, subject: Subject, example: torch.Tensor, engine) -> bytes:
    """The ONNX bytes of ``model`` (opset 17, 18 for pt2e models; input ``images`` of dynamic batch, output
    ``logits``).

    Raises IncompatibleError when the exporter cannot handle the model.
    """
    key = (tuple(example.shape[1:]), subject)
    cached = _exported.get(model, {})
    if key in cached:
        return cached[key]
    if not exportable(subject):
        raise IncompatibleError(f"zoo cannot export {subject.describe()} models to ONNX; export works for float, "
                                "torch.ao eager static/QAT and pt2e models")
    batch = torch.cat([example[:1], example[:1]])  # two images, so no exporter takes the batch for a constant 1
    buffer = io.BytesIO()
    try:
        with engine(), warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            if subject.backend == "pt2e":
                program = torch.onnx.export(model, (batch,), dynamo=True, opset_version=DYNAMO_OPSET, verbose=False,
                                            input_names=[INPUT], output_names=[OUTPUT],
                                            dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=65536)},))
                assert program is not None  # dynamo=True always returns the program
                program.save(buffer)  # type: ignore[arg-type]  # it writes to any binary file object
            else:
                # It writes to any binary file object, whatever its annotation says.
                torch.onnx.export(model, (batch,), buffer, dynamo=False, opset_version=OPSET,  # type: ignore[arg-type]
                                  input_names=[INPUT], output_names=[OUTPUT],
                                  dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}})
    except Exception as exc:
        raise IncompatibleError(f"the ONNX exporter cannot export this {subject.describe()} model "
                                f"({type(exc).__name__}: {_first_line(exc)})") from None
    data = buffer.getvalue()
    _exported.setdefault(model, {})[key] = data
    return data


class OnnxRuntime(Runtime):
    name = "onnxruntime"
    description = "ONNX Runtime (CPU) on zoo's ONNX export; QDQ int8 graphs run as integer kernels"
    install = "pip install 'zoo[onnx]'"

    def missing(self) -> str | None:
        return _missing(("onnxruntime", "onnx", "onnxscript"), self.install)

    def supports(self, subject: Subject) -> bool:
        return exportable(subject)

    def prepare(self, model, subject: Subject, example, threads: int, engine):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        session = onnxruntime.InferenceSession(to_onnx(model, subject, example, engine), options,
                                               providers=["CPUExecutionProvider"])

        def run(images: torch.Tensor) -> torch.Tensor:
            return torch.from_numpy(session.run(None, {INPUT: images.numpy()})[0])

        run(example)
        return run


class OpenVino(Runtime):
    name = "openvino"
    description = "OpenVINO (CPU) on zoo's ONNX export"
    install = "pip install 'zoo[openvino]'"

    def missing(self) -> str | None:
        _no_openvino_telemetry()
        return _missing(("openvino", "onnx", "onnxscript"), self.install)

    def supports(self, subject: Subject) -> bool:
        return exportable(subject)

    def prepare(self, model, subject: Subject, example, threads: int, engine):
        _no_openvino_telemetry()
        import openvino

        data = to_onnx(model, subject, example, engine)
        fd, path = tempfile.mkstemp(suffix=".onnx")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            core = openvino.Core()
            compiled = core.compile_model(core.read_model(path), "CPU",
                                          {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"})
        except Exception as exc:
            raise IncompatibleError(f"runtime 'openvino' cannot compile this model ({_first_line(exc)})") from None
        finally:
            os.unlink(path)
        request = compiled.create_infer_request()

        def run(images: torch.Tensor) -> torch.Tensor:
            return torch.from_numpy(request.infer({0: images.numpy()})[0].copy())

        run(example)
        return run


def _no_openvino_telemetry() -> None:
    """Keep OpenVINO from sending usage data when zoo imports it.

    ``import openvino`` starts OpenVINO's telemetry without asking (its model
    converter initialises it with the opt-in dialog off), which sends events to
    Google Analytics unless the user ran ``opt_in_out --opt_out``. zoo never
    contacts a server it was not asked to: with the telemetry package
    unimportable in this process, OpenVINO falls back to its own no-op stub.
    A process that imported ``openvino_telemetry`` itself keeps it.
    """
    sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]  # None: "cannot import"


def _missing(modules: tuple[str, ...], install: str) -> str | None:
    """The first of ``modules`` that does not import, and how to install it; None when all do."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            return f"{module} is not installed: {install}"
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
