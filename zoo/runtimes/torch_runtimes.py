"""The runtimes inside PyTorch: eager, TorchScript (scripted and frozen) and torch.compile/inductor."""

from __future__ import annotations

import logging
import shutil
import warnings

import torch

from zoo.core.errors import IncompatibleError
from zoo.runtimes import Runtime, Subject

# Backends whose int8 models are torch.ao modules (quantized::* ops on torch's quantized engines).
TORCH_AO = ("eager", "fx")


class Eager(Runtime):
    name = "eager"
    description = "the nn.Module as built"

    def supports(self, subject: Subject) -> bool:
        return True

    def prepare(self, model, subject: Subject, example, threads: int, engine):
        with engine(), torch.inference_mode():
            model(example)
        return model


class TorchScript(Runtime):
    name = "torchscript"
    description = "torch.jit.script (else trace) and torch.jit.freeze, under the model's engine"

    def supports(self, subject: Subject) -> bool:
        return subject.is_float or subject.backend in TORCH_AO

    def prepare(self, model, subject: Subject, example, threads: int, engine):
        with engine(), warnings.catch_warnings(), torch.inference_mode(False):
            # TorchScript is deprecated upstream, yet it is what removes eager mode's per-module Python overhead.
            warnings.simplefilter("ignore")
            model.eval()
            program = script_or_trace(model, example)
            try:
                frozen = torch.jit.freeze(program)
            except Exception as exc:
                raise IncompatibleError(f"runtime 'torchscript' cannot freeze this model ({_first_line(exc)})") from None
            with torch.inference_mode():
                for _ in range(2):  # the profiling executor optimizes on the second call
                    frozen(example)
        return frozen


class Inductor(Runtime):
    name = "inductor"
    description = "torch.compile with inductor; for pt2e models, torchao's int8 fusions"
    install = "a C compiler (gcc) for torch.compile"

    def missing(self) -> str | None:
        if not (shutil.which("gcc") or shutil.which("cc") or shutil.which("clang")):
            return "torch.compile needs a C compiler (gcc, cc or clang) on PATH"
        return None

    def supports(self, subject: Subject) -> bool:
        return subject.is_float or subject.backend == "pt2e"

    def prepare(self, model, subject: Subject, example, threads: int, engine):
        if subject.backend == "pt2e":
            import torchao.quantization.pt2e.inductor_passes.x86  # noqa: F401  registers the int8 lowerings
        import torch._inductor.config as inductor_config

        # torch.compile looks for CUDA when it builds its C++ kernels and logs that none is found: on a CPU, nothing
        # a user must act on.
        logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # Freezing folds the weights into constants, which is what lets inductor pick int8 kernels.
            with inductor_config.patch(freezing=True):
                model.eval()  # not chained: an exported graph's eval() returns None
                compiled = torch.compile(model)
                try:
                    with torch.inference_mode():
                        for _ in range(2):
                            compiled(example)
                except Exception as exc:
                    raise IncompatibleError(f"runtime 'inductor' cannot compile this model "
                                            f"({type(exc).__name__}: {_first_line(exc)})") from None
        return compiled


def script_or_trace(model, example):
    """``torch.jit.script(model)``, or ``torch.jit.trace`` where scripting fails; IncompatibleError if neither works."""
    try:
        return torch.jit.script(model)
    except Exception:
        try:
            with torch.no_grad():
                return torch.jit.trace(model, example)
        except Exception as exc:
            raise IncompatibleError(f"TorchScript can neither script nor trace this model ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
