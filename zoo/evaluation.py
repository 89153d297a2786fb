"""Top-1/top-5 accuracy over a data loader, and how far two models' predictions agree.

An int8 classifier's outputs are quantized, so on some images two or more
classes share the top value. How such a tie is broken would decide top-1 (by
a few points on a weak model), so zoo breaks none: a k-way tie at the top-k
boundary counts as the fraction of the tied classes that fit in the top k,
which is the expected hit rate of breaking the tie uniformly at random. It
favours no class (permuting the classes changes nothing) and equals plain
top-k when there is no tie. The tie rate (images whose top class is shared)
is reported beside the figures.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from zoo.core.progress import QUIET, Progress

# Recorded in every card (``top_k_rule``), so a figure says how it was counted.
TOP_K_RULE = "fractional-ties"


def top_k_credit(logits: torch.Tensor, targets: torch.Tensor, k: int) -> torch.Tensor:
    """Each image's credit for having its target among the top ``k`` classes: 1 above the k-th largest value, 0
    below it, and for a target tied with others at the k-th value, (places left in the top k) / (classes tied there).

    ``logits``: (images, classes); ``targets``: (images,) class indices. Returns a float64 tensor (images,) in 0..1.
    """
    k = min(k, logits.shape[1])
    values = logits.double()
    kth = values.topk(k, dim=1).values[:, -1:]
    above = (values > kth).sum(dim=1)
    at = (values == kth).sum(dim=1)
    target = values.gather(1, targets.view(-1, 1)).squeeze(1)
    kth = kth.squeeze(1)
    shared = (k - above).double() / at.double()
    return torch.where(target > kth, 1.0, torch.where(target == kth, shared, 0.0))


def top_tied(logits: torch.Tensor) -> torch.Tensor:
    """Per image (boolean, shape (images,)): whether two or more classes share the largest output."""
    return (logits == logits.max(dim=1, keepdim=True).values).sum(dim=1) > 1


@torch.inference_mode()
def accuracy(model, loader: DataLoader, label: str = "evaluating", keep_logits: bool = False, *,
             progress: Progress = QUIET) -> dict:
    """Top-1 and top-5 accuracy in percent, ties counted by ``top_k_credit`` (the module's rule), and the tie rate.

    ``model`` is an nn.Module (put in eval mode) or any callable from a float32 image batch to logits. Returns
    {top1, top5, ties: percent of images whose top class is shared, images}. With ``keep_logits``, the result
    also holds ``logits``: every image's outputs, a float32 tensor (images, classes).
    """
    if isinstance(model, nn.Module):
        model.eval()
    correct1 = correct5 = 0.0
    seen = tied = 0
    kept = []
    with progress.steps(loader, label) as batches:
        for images, targets in batches:
            logits = model(images)
            if keep_logits:
                kept.append(logits.float())
            correct1 += top_k_credit(logits, targets, 1).sum().item()
            correct5 += top_k_credit(logits, targets, 5).sum().item()
            tied += int(top_tied(logits).sum().item())
            seen += targets.numel()
    result: dict[str, Any] = ({"top1": 0.0, "top5": 0.0, "ties": 0.0, "images": 0} if seen == 0 else
                              {"top1": round(100.0 * correct1 / seen, 2), "top5": round(100.0 * correct5 / seen, 2),
                               "ties": round(100.0 * tied / seen, 2), "images": seen})
    if keep_logits:
        result["logits"] = torch.cat(kept) if kept else torch.empty(0)
    return result


def output_step(logits: torch.Tensor) -> float:
    """The smallest positive gap between two distinct values of ``logits``: one quantization step when the outputs
    are quantized (an int8 model whose last layer is int8), a tiny number for float outputs."""
    values = torch.unique(logits.float())
    if values.numel() < 2:
        return 0.0
    return (values[1:] - values[:-1]).min().item()


def agreement(reference: torch.Tensor, other: torch.Tensor) -> dict:
    """How far two models' outputs on the same images agree.

    An int8 model's logits are often quantized, so two implementations that
    round one requantization differently differ by one output step, which
    makes or breaks a tie for the top class. ``top1`` therefore counts an
    image as agreeing when each model's top class is, in the other model's
    outputs, within one output step (``output_step``) of that model's maximum;
    for float outputs this is plain agreement. ``argmax`` is plain argmax
    equality; ``max_abs_diff`` the largest difference between two logits;
    ``step`` the larger of the two output steps, 0 where the outputs are not
    quantized (their smallest gap is then float noise, below 1e-4 of the
    largest logit). Percentages over the images; both tensors are (images,
    classes).
    """
    if reference.shape != other.shape:
        raise ValueError(f"outputs of shapes {tuple(reference.shape)} and {tuple(other.shape)} cannot be compared")
    if reference.shape[0] == 0:
        return {"top1": 100.0, "argmax": 100.0, "max_abs_diff": 0.0, "step": 0.0, "images": 0}
    reference, other = reference.float(), other.float()
    step = max(output_step(reference), output_step(other))
    quantized = step > 1e-4 * max(reference.abs().max().item(), 1e-12)
    slack = step * (1 + 1e-6) if quantized else 0.0

    def near_top(logits: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        return logits.gather(1, classes.view(-1, 1)).squeeze(1) >= logits.max(dim=1).values - slack

    ref_top, other_top = reference.argmax(dim=1), other.argmax(dim=1)
    agreed = near_top(reference, other_top) & near_top(other, ref_top)
    return {"top1": round(100.0 * agreed.float().mean().item(), 2),
            "argmax": round(100.0 * (ref_top == other_top).float().mean().item(), 2),
            "max_abs_diff": round((reference - other).abs().max().item(), 4),
            "step": round(step, 6) if quantized else 0.0,
            "images": reference.shape[0]}
