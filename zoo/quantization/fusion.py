"""Eager-mode fusion from registered fusion patterns, for models without a fuse function of their own.

A pattern matches a chain of submodules along the data flow: each module's
output feeds only the next one, and each module is called exactly once (a
ReLU shared by two branches must not be folded into one of them). The data
flow comes from a torch.fx trace; a model that cannot be traced falls back to
consecutive children of ``nn.Sequential`` containers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from torch import fx, nn

from zoo.core.errors import IncompatibleError
from zoo.core.specs import FusionPattern
from zoo.quantization.backends.torch_ao import fuse_modules


def _resolved(patterns: Iterable[FusionPattern], catalog=None) -> list[tuple[str, tuple[type, ...]]]:
    from zoo.host.plugins import get_catalog

    catalog = catalog or get_catalog()
    resolved = [(p.name, tuple(catalog.module_type(t) for t in p.types)) for p in patterns]
    # Longest first, so Conv-BN-ReLU wins over Conv-BN on the same modules.
    return sorted(resolved, key=lambda item: -len(item[1]))


def _chains_from_graph(model: nn.Module, graph: fx.Graph, patterns) -> list[tuple[str, list[str]]]:
    modules = dict(model.named_modules())
    calls = Counter(node.target for node in graph.nodes if node.op == "call_module")
    taken: set[str] = set()
    found = []

    def follow(node: fx.Node, types: Sequence[type]) -> list[str] | None:
        chain: list[str] = []
        for position, module_type in enumerate(types):
            if node.op != "call_module" or type(modules[node.target]) is not module_type:
                return None
            if node.target in taken or calls[node.target] != 1:
                return None
            chain.append(str(node.target))
            if position + 1 < len(types):
                if len(node.users) != 1:
                    return None
                node = next(iter(node.users))
        return chain

    for name, types in patterns:
        for node in graph.nodes:
            chain = follow(node, types)
            if chain:
                found.append((name, chain))
                taken.update(chain)
    return found


def _chains_from_sequentials(model: nn.Module, patterns) -> list[tuple[str, list[str]]]:
    taken: set[str] = set()
    found = []
    for prefix, container in model.named_modules():
        if not isinstance(container, nn.Sequential):
            continue
        children = list(container.named_children())
        for name, types in patterns:
            for start in range(len(children) - len(types) + 1):
                window = children[start:start + len(types)]
                qualified = [f"{prefix}.{child}" if prefix else child for child, _ in window]
                if any(q in taken for q in qualified):
                    continue
                if all(type(module) is t for (_, module), t in zip(window, types)):
                    found.append((name, qualified))
                    taken.update(qualified)
    return found


def find_chains(model: nn.Module, patterns: Iterable[FusionPattern], catalog=None) -> list[tuple[str, list[str]]]:
    """(pattern name, submodule names) for every chain of ``model`` that a pattern fuses.

    Module types named by string resolve through ``catalog``'s allowed module types (default: the installed plugins').
    """
    resolved = _resolved(patterns, catalog)
    try:
        graph = fx.Tracer().trace(model)
    except Exception:  # untraceable control flow: the containers still tell what follows what
        return _chains_from_sequentials(model, resolved)
    return _chains_from_graph(model, graph, resolved)


def apply_patterns(model: nn.Module, patterns: Iterable[FusionPattern], is_qat: bool = False,
                   catalog=None) -> list[list[str]]:
    """Fuse every chain the patterns find, in place; returns the fused groups."""
    chains = find_chains(model, patterns, catalog)
    for name, group in chains:
        try:
            fuse_modules(model, [group], is_qat=is_qat)
        except Exception as exc:
            raise IncompatibleError(f"fusion pattern '{name}' cannot fuse {group}: {exc}") from None
    return [group for _, group in chains]
