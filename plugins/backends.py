"""zoo's quantization backends: torch.ao eager and FX graph mode, and torchao's pt2e flow.

Registered like any plugin's backend; each is imported only when a model goes
through it, so torchao is needed only for the pt2e presets.
"""

from zoo import BackendSpec, hookimpl

TORCH_AO_ENGINES = ("fbgemm", "x86", "qnnpack", "onednn")


def _eager():
    from zoo.backends.torch_ao import EagerBackend

    return EagerBackend()


def _fx():
    from zoo.backends.torch_ao import FxBackend

    return FxBackend()


def _pt2e():
    from zoo.backends.pt2e import Pt2eBackend

    return Pt2eBackend()


BACKENDS = (
    BackendSpec("eager", _eager, engines=TORCH_AO_ENGINES,
                description="torch.ao eager mode: fuse, QuantStub/DeQuantStub, prepare, convert (deprecated upstream)"),
    BackendSpec("fx", _fx, engines=TORCH_AO_ENGINES,
                description="torch.ao FX graph mode: symbolic trace, prepare_fx, convert_fx (deprecated upstream)"),
    BackendSpec("pt2e", _pt2e, engines=("x86_inductor",), methods=("static", "qat"),
                install="pip install 'zoo[pt2e]' (torchao)",
                description="torchao pt2e: torch.export, prepare_pt2e with a Quantizer, convert_pt2e"),
)


@hookimpl
def register_backends(register):
    for backend in BACKENDS:
        register(backend)
