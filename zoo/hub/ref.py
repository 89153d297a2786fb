"""What `zoo push` and `zoo pull` name on the Hugging Face Hub: repositories, revisions, namespaces.

    resnet18-int8              a name a plugin publishes (`zoo models`), else NAMESPACE/resnet18-int8
    mnv2-fmnist@v2             NAMESPACE/mnv2-fmnist at branch, tag or commit v2
    alice/mnv2-fmnist[@dev]    that repository, always on the Hub

NAMESPACE is $ZOO_HUB_NAMESPACE, else ``zoo-models`` for pulls. A push with no
--repo goes to $ZOO_HUB_NAMESPACE, else to the token owner's own namespace:
few users may write to ``zoo-models``.

Nothing here imports huggingface_hub, so parsing costs nothing and a malformed
reference is refused before any connection is made.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from zoo_registry.names import BadReferenceError, check_name

NAMESPACE_ENV = "ZOO_HUB_NAMESPACE"
DEFAULT_NAMESPACE = "zoo-models"

# The Hub's own rule (huggingface_hub.utils.validate_repo_id), spelled out so the error can say it.
_REPO_PART = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?$")
# Branches, tags and commit shas; "/" is allowed because git allows it in branch names.
_REVISION = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9._/-]{0,199}$")


@dataclass(frozen=True)
class HubRef:
    repo_id: str
    revision: str | None = None  # None: the repository's main branch

    def __str__(self) -> str:
        return f"{self.repo_id}@{self.revision}" if self.revision else self.repo_id


def _check_part(part: str, text: str, what: str) -> None:
    if not _REPO_PART.match(part) or "--" in part or ".." in part:
        raise BadReferenceError(
            f"invalid Hub {what} '{part}' in '{text}': use letters, digits, '-', '_' and '.', starting and ending "
            "with a letter or digit, at most 96 characters (e.g. alice/resnet18-int8)"
        )


def check_repo_id(repo_id: str) -> str:
    namespace, slash, name = repo_id.partition("/")
    if not slash or "/" in name:
        raise BadReferenceError(f"invalid Hub repository '{repo_id}': write NAMESPACE/REPO (e.g. alice/resnet18-int8)")
    _check_part(namespace, repo_id, "namespace")
    _check_part(name, repo_id, "repository name")
    return repo_id


def check_revision(revision: str, text: str) -> str:
    if not _REVISION.match(revision) or ".." in revision or revision.endswith(("/", ".lock")):
        raise BadReferenceError(
            f"invalid Hub revision '{revision}' in '{text}': give a branch, a tag or a commit sha (e.g. @main)"
        )
    return revision


def namespace_from_env() -> str | None:
    value = os.environ.get(NAMESPACE_ENV, "").strip()
    if value:
        _check_part(value, f"${NAMESPACE_ENV}", "namespace")
    return value or None


def pull_namespace() -> str:
    return namespace_from_env() or DEFAULT_NAMESPACE


def split(text: str) -> tuple[str, str | None]:
    """``TARGET[@REVISION]`` → (target, revision or None), the revision checked."""
    target, at, revision = text.strip().partition("@")
    if not target:
        raise BadReferenceError(f"invalid reference '{text}': write NAME, NAMESPACE/REPO, or either with @REVISION")
    if at:
        check_revision(revision, text)
    return target, (revision if at else None)


def resolve(target: str, revision: str | None) -> HubRef:
    """The Hub repository a pull target names: NAMESPACE/REPO as given, a short name in the default namespace."""
    if "/" in target:
        return HubRef(check_repo_id(target), revision)
    check_name(target)
    return HubRef(f"{pull_namespace()}/{target}", revision)
