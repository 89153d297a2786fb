"""zoo's quantization backends: torch.ao eager and FX graph mode, and torchao's pt2e flow.

Registered like any plugin's backend; each is imported only when a model goes
through it, so torchao is needed only for the pt2e presets.
"""

from zoo import BackendSpec, hookimpl

TORCH_AO_ENGINES = ("fbgemm", "x86", "qnnpack", "onednn")
# Engines whose int8 kernels add pairs of 8-bit products into 16 bits on CPUs without VNNI: with activations of
# more than 7 bits the sums saturate, silently (a convolution output of 6.07 came out 3.21).
SEVEN_BIT_ENGINES = ("fbgemm", "x86")


def torch_ao_preset_problem(preset):
    if preset.activation is None:
        return None
    low, high = preset.activation.levels
    if preset.engine in SEVEN_BIT_ENGINES and high - low > 127:
        return (f"engine {preset.engine} needs 7-bit activations (quant_min=0, quant_max=127, or reduce_range=True); "
                f"the preset's activations span {low}..{high}")
    return None


def _eager():
    from zoo.backends import EagerBackend

    return EagerBackend()


def _fx():
    from zoo.backends import FxBackend

    return FxBackend()


def _pt2e():
    from zoo.backends import Pt2eBackend

    return Pt2eBackend()


BACKENDS = (
    BackendSpec("eager", _eager, engines=TORCH_AO_ENGINES, check_preset=torch_ao_preset_problem,
                description="torch.ao eager mode: fuse, QuantStub/DeQuantStub, prepare, convert (deprecated upstream)"),
    BackendSpec("fx", _fx, engines=TORCH_AO_ENGINES, check_preset=torch_ao_preset_problem,
                description="torch.ao FX graph mode: symbolic trace, prepare_fx, convert_fx (deprecated upstream)"),
    BackendSpec("pt2e", _pt2e, engines=("x86_inductor",), methods=("static", "qat"),
                install="pip install 'zoo[pt2e]' (torchao)",
                description="torchao pt2e: torch.export, prepare_pt2e with a Quantizer, convert_pt2e"),
)


@hookimpl
def register_backends(register):
    for backend in BACKENDS:
        register(backend)
