"""Training loops: float training or fine-tuning, and quantization-aware training."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader

from zoo.core.progress import QUIET, Progress


@dataclass(frozen=True)
class FloatRecipe:
    """SGD with Nesterov momentum under a one-cycle learning-rate schedule."""

    epochs: int = 4
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 4e-5
    label_smoothing: float = 0.0


@dataclass(frozen=True)
class QatRecipe:
    """The tutorial's QAT loop: plain SGD at a small rate, then freeze BN statistics and observers.

    ``freeze_bn_after`` and ``freeze_observers_after`` count completed epochs.
    """

    epochs: int = 8
    batches_per_epoch: int | None = 20
    batch_size: int = 30
    lr: float = 1e-4
    momentum: float = 0.0
    freeze_bn_after: int = 4
    freeze_observers_after: int = 5


def _epoch(model: nn.Module, batches, optimizer, criterion, label: str, length: int, progress: Progress,
           scheduler=None) -> dict:
    model.train()
    total_loss = correct = seen = 0
    with progress.steps(batches, label, length=length) as steps:
        for images, targets in steps:
            logits = model(images)
            loss = criterion(logits, targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            total_loss += loss.item() * targets.numel()
            correct += (logits.argmax(1) == targets).sum().item()
            seen += targets.numel()
    return {"loss": round(total_loss / max(seen, 1), 4), "train_top1": round(100.0 * correct / max(seen, 1), 2),
            "images": seen}


def train_float(model: nn.Module, loader: DataLoader, recipe: FloatRecipe, *, progress: Progress = QUIET
                ) -> list[dict]:
    criterion = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                                weight_decay=recipe.weight_decay, nesterov=recipe.momentum > 0)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.lr,
                                                    total_steps=recipe.epochs * len(loader))
    history = []
    for epoch in range(1, recipe.epochs + 1):
        stats = _epoch(model, loader, optimizer, criterion, f"epoch {epoch}/{recipe.epochs}", len(loader), progress,
                       scheduler)
        history.append({"epoch": epoch, **stats})
    return history


def train_qat(model: nn.Module, loader: DataLoader, recipe: QatRecipe, backend, *, progress: Progress = QUIET
              ) -> list[dict]:
    """Train a model that ``backend`` prepared for QAT, in place; returns per-epoch loss and what was frozen."""
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum)
    length = min(len(loader), recipe.batches_per_epoch or len(loader))
    history = []
    for epoch in range(1, recipe.epochs + 1):
        batches = itertools.islice(loader, length)
        stats = _epoch(model, batches, optimizer, criterion, f"QAT epoch {epoch}/{recipe.epochs}", length, progress)
        if epoch >= recipe.freeze_observers_after:
            backend.freeze_observers(model)
        if epoch >= recipe.freeze_bn_after:
            backend.freeze_bn_stats(model)
        history.append({"epoch": epoch, **stats,
                        "observers_frozen": epoch >= recipe.freeze_observers_after,
                        "bn_frozen": epoch >= recipe.freeze_bn_after})
    return history
