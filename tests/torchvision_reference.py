"""torchvision's own int8 models with random weights, as references for what zoo rebuilds and pulls."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch


def warm_batch_norm(model, size: int) -> None:
    """Batch-norm statistics from random images: torchvision's random initialisation leaves running statistics of
    0 and 1, which shrink some architectures' outputs to about 1e-9, all zero once quantized."""
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # a plain average over the batches below
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.rand(4, 3, size, size))  # as torchvision's quantize_model calibrates: torch.rand


def torchvision_int8(builder_name: str, options: Mapping[str, Any], weights, size: int):
    """torchvision's own int8 model of ``builder_name`` (built with ``options``) with random weights: its builder
    and its ``quantize_model``, as ``…(weights=None, quantize=True)`` does, after batch-norm statistics from random
    images. Returns (the int8 model in eval mode, the state dict a publisher would ship: the converted model's, or,
    for ``weights.stage == "prepared"`` (MobileNetV3's QAT state), the prepared one's before convert)."""
    from torchvision.models import quantization
    from torchvision.models.quantization.utils import quantize_model

    builder = getattr(quantization, builder_name)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = builder(weights=None, quantize=False, **options)
        if weights.stage == "converted":
            warm_batch_norm(model, size)
            quantize_model(model, weights.engine)
            return model.eval(), model.state_dict()
        # As torchvision's _mobilenet_v3_model does with quantize=True: QAT-prepare, (train), convert.
        model.fuse_model(is_qat=True)
        model.qconfig = torch.ao.quantization.get_default_qat_qconfig(weights.engine)
        torch.ao.quantization.prepare_qat(model, inplace=True)
        warm_batch_norm(model, size)
        state = {k: v.clone() for k, v in model.state_dict().items()}
        torch.ao.quantization.convert(model.eval(), inplace=True)
        return model.eval(), state
