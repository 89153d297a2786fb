"""Cross-layer equalization (Nagel et al., "Data-Free Quantization", 2019) of a fused float model.

Where a convolution feeds the next one through nothing but a ReLU (which
commutes with a positive per-channel scale), channel ``c`` of the first
layer's weights and bias can be divided by ``s_c`` and the second layer's
input channel ``c`` multiplied by it without changing the model's function.
Choosing ``s_c = sqrt(r1_c / r2_c)`` from the two layers' weight ranges
gives both the same range per channel, so per-tensor weight quantization
wastes less of its 8 bits on a few wide channels; MobileNet's depthwise layers
are the case it was made for. torch.ao's own ``_equalize`` does not handle a
depthwise second layer, which is why zoo has its own.

Pairs are found on the fused model's FX trace, which sees through fused
ConvReLU2d modules: a Conv2d whose output goes only to another Conv2d, through
nothing but a plain ReLU (ReLU6 clips, so it does not commute with scaling)
and the Identity modules fusion leaves where batch norms were.
"""

from __future__ import annotations

import torch
from torch import nn

# Rounds of equalizing every pair, as the paper iterates until the scales settle.
ROUNDS = 8
# Channels whose weights are all zero keep a scale of 1.
EPSILON = 1e-8


def _is_relu(node, modules) -> bool:
    if node.op == "call_module":
        return type(modules[node.target]) is nn.ReLU
    return node.op == "call_function" and node.target in (torch.relu, torch.nn.functional.relu)


def _past_identities(node, modules):
    """The first node from ``node`` on that is not an nn.Identity (what fusion leaves of a folded batch norm)."""
    while node is not None and node.op == "call_module" and type(modules[node.target]) is nn.Identity:
        node = _only_user(node)
    return node


def _only_user(node):
    return next(iter(node.users)) if len(node.users) == 1 else None


def pairs(model: nn.Module) -> list[tuple[str, str]]:
    """(first, second) Conv2d paths of every pair that can be equalized; [] where FX cannot trace the model.

    A fused ConvReLU2d is traced through, so its convolution and ReLU are seen apart.
    """
    import torch.fx

    try:
        graph = torch.fx.symbolic_trace(model).graph
    except Exception:  # a model FX cannot trace gets no equalization, not an error: the preset says "where it can"
        return []
    modules = dict(model.named_modules())

    def conv(node) -> nn.Conv2d | None:
        module = modules.get(node.target) if node is not None and node.op == "call_module" else None
        return module if type(module) is nn.Conv2d else None

    found = []
    for node in graph.nodes:
        first = conv(node)
        after = _past_identities(_only_user(node), modules) if first is not None else None
        if after is not None and _is_relu(after, modules):
            after = _past_identities(_only_user(after), modules)
        second = conv(after)
        if first is not None and second is not None and after is not None and len(after.all_input_nodes) == 1 \
                and _fits(first, second):
            found.append((node.target, after.target))
    return found


def _fits(first: nn.Conv2d, second: nn.Conv2d) -> bool:
    if first.groups != 1 and first.groups != first.out_channels:
        return False
    depthwise = second.groups == second.in_channels == second.out_channels
    return first.out_channels == second.in_channels and (second.groups == 1 or depthwise)


@torch.no_grad()
def equalize(model: nn.Module) -> int:
    """Equalize every pair of ``model`` (a fused float model, changed in place); returns how many pairs."""
    found = pairs(model)
    modules = dict(model.named_modules())
    for _ in range(ROUNDS):
        for first, second in found:
            _equalize_pair(modules[first], modules[second])
    return len(found)


def _equalize_pair(first: nn.Conv2d, second: nn.Conv2d) -> None:
    out_range = first.weight.abs().flatten(1).amax(dim=1)
    depthwise = second.groups == second.in_channels and second.groups != 1
    in_weight = second.weight if depthwise else second.weight.transpose(0, 1)
    in_range = in_weight.abs().flatten(1).amax(dim=1)
    scale = torch.where((out_range > EPSILON) & (in_range > EPSILON),
                        torch.sqrt(out_range / in_range.clamp_min(EPSILON)), torch.ones_like(out_range))
    first.weight.div_(scale.view(-1, *([1] * (first.weight.dim() - 1))))
    if first.bias is not None:
        first.bias.div_(scale)
    shape = [1] * second.weight.dim()
    shape[0 if depthwise else 1] = -1
    second.weight.mul_(scale.view(shape))
