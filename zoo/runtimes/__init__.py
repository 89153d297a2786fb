"""Runtimes: the ways zoo executes a model it made.

A backend makes an int8 model; a runtime runs it (or its float parent). Which
runtime is fastest depends on the CPU, the input size and the batch, so zoo
measures the ones that apply, side by side, and records which it used:

    eager         the nn.Module as built (torch's quantized engine for torch.ao models)
    torchscript   torch.jit.script (else trace), then torch.jit.freeze, under the model's engine
    inductor      torch.compile (torchao's int8 fusions for pt2e models); compiling takes tens of seconds
    onnxruntime   the model exported to ONNX (QDQ for int8), run by ONNX Runtime       pip install 'zoo[onnx]'
    openvino      the same ONNX model, run by OpenVINO                                 pip install 'zoo[openvino]'

Every runtime takes float32 tensors of shape (batch, channels, height, width)
and returns float32 logits of shape (batch, classes). Importing this module
does not import torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from zoo.core.errors import IncompatibleError, UnknownNameError
from zoo.core.progress import QUIET, Progress

# Runtimes `zoo quantize` measures unless told otherwise: those that get ready in seconds.
QUICK = ("eager", "torchscript", "onnxruntime", "openvino")


@dataclass(frozen=True)
class Subject:
    """What a runtime is asked to run: a float model (backend None) or an int8 model of a backend and method."""

    backend: str | None = None
    method: str | None = None
    engine: str | None = None

    @property
    def is_float(self) -> bool:
        return self.backend is None

    def describe(self) -> str:
        return "float" if self.is_float else f"int8 ({self.backend}, {self.method})"


class Runtime:
    """One way to execute a model. Subclasses set ``name``, ``description`` and ``install``."""

    name = ""
    description = ""
    install = ""

    def missing(self) -> str | None:
        """None when the runtime can run on this machine; else what is missing and how to install it."""
        return None

    def supports(self, subject: Subject) -> bool:
        raise NotImplementedError

    def prepare(self, model, subject: Subject, example, threads: int, engine) -> Callable:
        """A callable running ``model`` in this runtime, ready and warmed up on ``example``.

        ``engine`` is the backend's engine context (a context manager factory:
        ``engine()``), inside which torch-based runtimes build and run
        quantized models. ``threads`` is the intra-op thread count the runtime
        uses. Raises ``IncompatibleError`` naming the runtime when it cannot
        run this model.
        """
        raise NotImplementedError


def _runtimes() -> dict[str, Runtime]:
    from zoo.runtimes.onnx import OnnxRuntime, OpenVino
    from zoo.runtimes.torch_runtimes import Eager, Inductor, TorchScript

    return {runtime.name: runtime for runtime in (Eager(), TorchScript(), Inductor(), OnnxRuntime(), OpenVino())}


NAMES = ("eager", "torchscript", "inductor", "onnxruntime", "openvino")


def get(name: str) -> Runtime:
    """The runtime called ``name``; raises UnknownNameError, or IncompatibleError saying what to install."""
    runtimes = _runtimes()
    if name not in runtimes:
        raise UnknownNameError("runtime", name, runtimes)
    runtime = runtimes[name]
    problem = runtime.missing()
    if problem:
        raise IncompatibleError(f"runtime '{name}' is not available here: {problem}")
    return runtime


def select(names: list[str] | tuple[str, ...], subject: Subject) -> tuple[list[Runtime], dict[str, str]]:
    """The runtimes of ``names`` that can run ``subject`` here, and why each other one was left out."""
    runtimes = _runtimes()
    chosen, skipped = [], {}
    for name in names:
        if name not in runtimes:
            raise UnknownNameError("runtime", name, runtimes)
        runtime = runtimes[name]
        problem = runtime.missing()
        if problem:
            skipped[name] = problem
        elif not runtime.supports(subject):
            skipped[name] = f"does not run {subject.describe()} models"
        else:
            chosen.append(runtime)
    return chosen, skipped


def require(names, subject: Subject) -> None:
    """Refuse, before any work, a list of runtimes none of which can run ``subject`` here."""
    chosen, skipped = select(names, subject)
    if not chosen:
        reasons = "; ".join(f"{name}: {why}" for name, why in skipped.items())
        raise IncompatibleError(f"none of the runtimes asked for can run the {subject.describe()} model here "
                                f"({reasons}); add eager, which runs every model")


def parse(text: str) -> tuple[str, ...]:
    """``--runtimes`` as given: 'quick' (the default set), 'all', or a comma list of names."""
    if text == "quick":
        return QUICK
    if text == "all":
        return NAMES
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    for name in names:
        if name not in NAMES:
            raise UnknownNameError("runtime", name, [*NAMES, "quick", "all"])
    if not names:
        raise UnknownNameError("runtime", text, [*NAMES, "quick", "all"])
    return names


def ready(model, subject: Subject, names, example, threads: int, engine, progress: Progress = QUIET
          ) -> tuple[dict[str, Callable], dict[str, str]]:
    """Callables running ``model`` in each runtime of ``names`` that can run it here, and why the others cannot.

    A runtime that fails while preparing (an exporter or compiler that cannot
    handle this model) is reported in the second mapping, not raised.
    """
    chosen, skipped = select(names, subject)
    runners = {}
    with progress.steps(chosen, f"preparing runtimes for the {subject.describe()} model") as runtimes:
        for runtime in runtimes:
            try:
                runners[runtime.name] = runtime.prepare(model, subject, example, threads, engine)
            except IncompatibleError as exc:
                skipped[runtime.name] = str(exc)
    return runners, skipped
