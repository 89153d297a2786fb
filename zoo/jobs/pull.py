"""The pull job: a name a plugin publishes (torchvision's int8 weights) or a Hub repository, into the registry."""

from __future__ import annotations

from zoo.context import Context, default_context
from zoo.core.errors import HubError
from zoo.hub import ref as hubref
from zoo.hub.client import Pulled, pull_hub
from zoo.jobs import published


def pull(reference: str, context: Context | None = None, latency_runs: int = 50, add_version: bool = False) -> Pulled:
    """Record REF in the registry: a name a plugin publishes, else a Hub repository (see ``hubref``).

    ``add_version``: a Hub model whose name this registry already holds, in other versions, becomes that name's
    latest version only when this is true; otherwise a NameInUseError says so and nothing is recorded.
    """
    ctx = default_context(context)
    target, revision = hubref.split(reference)
    if "/" not in target:
        found = published.find(target, ctx.catalog)
        if found is not None:
            if revision is not None:
                raise HubError(f"'{target}' is published by plugin '{found.plugin}' ({found.weights.source}), which "
                               f"has no revisions; for a copy on the Hub write NAMESPACE/{target}@{revision}")
            return published.pull(found, ctx, latency_runs=latency_runs)
    return pull_hub(ctx.registry, hubref.resolve(target, revision), ctx.catalog, add_version=add_version,
                    progress=ctx.progress)
