"""Top-1/top-5 accuracy over a data loader, and how far two models' predictions agree."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from zoo.core.progress import QUIET, Progress


@torch.inference_mode()
def accuracy(model, loader: DataLoader, label: str = "evaluating", keep_logits: bool = False, *,
             progress: Progress = QUIET) -> dict:
    """Percent of images whose label is the top prediction (top1) or among the top five (top5).

    ``model`` is an nn.Module (put in eval mode) or any callable from a float32 image batch to logits. With
    ``keep_logits``, the result also holds ``logits``: every image's outputs, a float32 tensor (images, classes).
    """
    if isinstance(model, nn.Module):
        model.eval()
    correct1 = correct5 = seen = 0
    kept = []
    with progress.steps(loader, label) as batches:
        for images, targets in batches:
            logits = model(images)
            if keep_logits:
                kept.append(logits.float())
            k = min(5, logits.shape[1])
            top = logits.topk(k, dim=1).indices
            hits = top.eq(targets.view(-1, 1))
            correct1 += hits[:, 0].sum().item()
            correct5 += hits.any(dim=1).sum().item()
            seen += targets.numel()
    result: dict[str, Any] = ({"top1": 0.0, "top5": 0.0, "images": 0} if seen == 0 else
              {"top1": round(100.0 * correct1 / seen, 2), "top5": round(100.0 * correct5 / seen, 2), "images": seen})
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
