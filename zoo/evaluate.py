"""Top-1/top-5 accuracy over a data loader."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader

from zoo.progress import bar


@torch.inference_mode()
def accuracy(model: nn.Module, loader: DataLoader, label: str = "evaluating") -> dict:
    """Percent of images whose label is the top prediction (top1) or among the top five (top5)."""
    model.eval()
    correct1 = correct5 = seen = 0
    with bar(loader, label) as batches:
        for images, targets in batches:
            logits = model(images)
            k = min(5, logits.shape[1])
            top = logits.topk(k, dim=1).indices
            hits = top.eq(targets.view(-1, 1))
            correct1 += hits[:, 0].sum().item()
            correct5 += hits.any(dim=1).sum().item()
            seen += targets.numel()
    if seen == 0:
        return {"top1": 0.0, "top5": 0.0, "images": 0}
    return {"top1": round(100.0 * correct1 / seen, 2), "top5": round(100.0 * correct5 / seen, 2), "images": seen}
