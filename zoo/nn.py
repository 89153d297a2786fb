"""Building blocks for quantizable models, for plugins that define architectures.

``QuantStub``/``DeQuantStub`` mark where tensors enter and leave the int8
domain, ``FloatFunctional`` carries tensor arithmetic (a residual add) so it
can be observed and quantized, and ``fuse_modules`` fuses named submodule
groups in place. They come from zoo's quantization backend so that plugins do
not depend on where torch keeps them.
"""

from zoo.quantization.backends.torch_ao import DeQuantStub, FloatFunctional, QuantStub, fuse_modules

__all__ = ["DeQuantStub", "FloatFunctional", "QuantStub", "fuse_modules"]
