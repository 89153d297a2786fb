"""Top-k with defined ties: a k-way tie at the top-k boundary counts as the fraction of the tied classes that fit."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from zoo.evaluation import accuracy, top_k_credit, top_tied


def test_a_tie_for_the_top_class_counts_as_the_fraction_of_tied_classes():
    logits = torch.tensor([[1.0, 1.0, 0.0],    # target 0 shares the top with class 1: 1/2
                           [2.0, 1.0, 1.0],    # target 1 below the top: 0
                           [0.0, 0.0, 0.0],    # a 3-way tie, target 2 among them: 1/3
                           [0.0, 5.0, 1.0]])   # a clean hit: 1
    targets = torch.tensor([0, 1, 2, 1])
    assert top_k_credit(logits, targets, 1).tolist() == pytest.approx([0.5, 0.0, 1 / 3, 1.0])
    assert top_tied(logits).tolist() == [True, False, True, False]
    # Top-2: row 1 has one class above the boundary and two tied at it, one place left: 1/2.
    assert top_k_credit(logits, targets, 2).tolist() == pytest.approx([1.0, 0.5, 2 / 3, 1.0])
    # More places than classes: everything is a hit.
    assert top_k_credit(logits, targets, 5).tolist() == [1.0, 1.0, 1.0, 1.0]


def test_the_rule_favours_no_class():
    """Permuting the classes (and the targets with them) gives the same credit, whatever the order."""
    generator = torch.Generator().manual_seed(0)
    logits = torch.randint(0, 4, (64, 6), generator=generator).float()  # quantized-like: many ties
    targets = torch.randint(0, 6, (64,), generator=generator)
    expected = top_k_credit(logits, targets, 1)
    for order in itertools.islice(itertools.permutations(range(6)), 0, 720, 97):
        permutation = torch.tensor(order)
        inverse = torch.argsort(permutation)
        assert torch.allclose(top_k_credit(logits[:, permutation], inverse[targets], 1), expected)
    # Plain argmax takes the first of tied classes: it moves with the order, the rule does not.
    argmax_hits = (logits.argmax(1) == targets).double().mean().item()
    reversed_hits = (logits.flip(1).argmax(1) == 5 - targets).double().mean().item()
    assert argmax_hits != reversed_hits


def test_accuracy_reports_the_tie_rate_and_equals_plain_top_k_without_ties():
    logits = torch.tensor([[3.0, 3.0, 1.0], [0.0, 2.0, 1.0], [1.0, 0.5, 0.2], [0.1, 0.2, 0.9]])
    targets = torch.tensor([1, 1, 2, 2])
    loader = DataLoader(TensorDataset(logits, targets), batch_size=3)
    result = accuracy(lambda x: x, loader)
    assert result == {"top1": 62.5, "top5": 100.0, "ties": 25.0, "images": 4}
    untied = DataLoader(TensorDataset(logits[1:], targets[1:]), batch_size=2)
    plain = (logits[1:].argmax(1) == targets[1:]).double().mean().item() * 100
    assert accuracy(lambda x: x, untied)["top1"] == round(plain, 2)

