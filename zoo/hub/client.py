"""Registry models to and from the Hugging Face Hub, with the real huggingface_hub client.

A push uploads a version's four artifact files as one commit whose message
names the version digest; pushing a version the repository already holds
makes no commit. A pull downloads those four files into the Hub cache (so a
second pull, or one with HF_HUB_OFFLINE=1, is served from it), checks every
file against card.json and the architecture against the installed plugins,
and only then records the version in the registry: a failed pull leaves the
registry as it was.

The token is whatever huggingface_hub finds (HF_TOKEN, then the stored login);
zoo never reads, prints or writes it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from zoo.core.errors import IntegrityError
from zoo.core.printable import printable, without_credentials
from zoo.core.progress import QUIET, Progress
from zoo.hub import ref as hubref
from zoo.hub.errors import HubError, hub_errors
from zoo_registry import artifact, checked, names
from zoo_registry.checked import record_checked  # noqa: F401 (kept importable from here)
from zoo_registry.schema import Card, Config
from zoo_registry.store import Entry, Registry


@dataclass(frozen=True)
class Pushed:
    name: str
    version: str
    repo_id: str
    revision: str
    commit: str
    url: str
    changed: bool  # False: the revision already held exactly these files

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Pulled:
    entry: Entry
    card: Card
    source: str  # REPO@COMMIT, or the plugin's weights

    def as_dict(self) -> dict:
        return {"entry": self.entry.as_dict(), "source": self.source}


@contextlib.contextmanager
def _client(progress: Progress) -> Iterator[None]:
    """Bound the client's waits (``hub_network``); quiet its progress bars when ``progress`` shows nothing, and its
    warnings always (zoo reports outcomes)."""
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars, logging

    from zoo.hub.network import bound_requests

    bound_requests()

    level = logging.get_verbosity()
    bars_were_off = are_progress_bars_disabled()
    logging.set_verbosity_error()
    if not progress.shown:
        disable_progress_bars()
    try:
        yield
    finally:
        logging.set_verbosity(level)
        if not bars_were_off:
            enable_progress_bars()


def _artifact_bytes(registry: Registry, entry: Entry) -> dict[str, bytes]:
    """The four files of a registry version, as verified bytes: what is uploaded is what was checked."""
    directory = registry.directory(entry.name, entry.version)
    card_bytes = (directory / artifact.CARD_FILE).read_bytes()
    card = artifact.parse_json(card_bytes, directory / artifact.CARD_FILE)
    contents = artifact.verify(directory, card, entry.ref)
    return {**contents, artifact.CARD_FILE: card_bytes}


def _push_repo(api, name: str, repo: str | None) -> str:
    if repo:
        return hubref.check_repo_id(repo)
    namespace = hubref.namespace_from_env()
    if namespace is None:
        with hub_errors("your Hub account"):
            namespace = api.whoami()["name"]
    return hubref.check_repo_id(f"{namespace}/{name}")


def push(registry: Registry, reference: str, repo: str | None = None, private: bool = False,
         revision: str | None = None, progress: Progress = QUIET) -> Pushed:
    """Upload registry version ``reference`` to ``repo`` (default NAMESPACE/NAME) as one commit.

    Raises:
        HubAuthError, HubNotFoundError, HubUnreachableError, HubError: what the Hub refused or why it was not
            reached, in one line; a refused push leaves the repository as it was.
    """
    from huggingface_hub import CommitOperationAdd, HfApi

    entry = registry.resolve(reference)
    files = _artifact_bytes(registry, entry)
    card, _ = _checked(files, entry.ref)
    if revision is not None:
        hubref.check_revision(revision, f"--revision {revision}")
    branch = revision or "main"
    api = HfApi()
    with _client(progress):
        repo_id = _push_repo(api, entry.name, repo)
        with hub_errors(repo_id, revision):
            # Before anything is created: a card the Hub would refuse leaves no empty repository behind.
            _check_metadata(files[artifact.README_FILE], repo_id)
            api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
            # create_repo leaves an existing repository as it is: never put a model meant to be private in a public one.
            if private and not api.model_info(repo_id).private:
                raise HubError(f"{repo_id} exists and is public; --private does not change that: make it private "
                               "on the Hub first, or push to another --repo")
            if branch != "main":
                api.create_branch(repo_id, branch=branch, exist_ok=True)
            before = api.model_info(repo_id, revision=branch).sha
            operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=files[name]) for name in artifact.FILES]
            info = api.create_commit(
                repo_id, operations, revision=branch,
                commit_message=f"zoo push {entry.name}@{entry.version}",
                commit_description=_describe(card),
            )
    changed = info.oid != before
    # The commit URL is the server's text, printed as is: no escape sequences, no credentials.
    url = printable(without_credentials(str(info.commit_url)))
    # Unchanged, the client returns the revision's head, which already holds this version.
    return Pushed(entry.name, entry.version, repo_id, branch, info.oid, url, changed)


def _check_metadata(readme: bytes, repo_id: str) -> None:
    """Ask the Hub to validate the model card's metadata, as it will when the README.md is committed.

    Raises:
        HubMetadataError: naming the first field the Hub refused.
    """
    import json

    from huggingface_hub import ModelCard

    from zoo.hub.errors import metadata_refused

    try:
        ModelCard(readme.decode("utf-8")).validate(repo_type="model")
    except ValueError as exc:
        text = str(exc)
        try:
            messages = [error.get("message", "") for error in json.loads(text).get("errors", [])]
        except (ValueError, AttributeError):
            messages = [line.strip("- ") for line in text.splitlines() if line.strip()]
        raise metadata_refused(repo_id, printable(messages[0] if messages else text)) from None


def _describe(card: Card) -> str:
    metrics, dataset = card.metrics, card.dataset
    how = f"{card.preset} ({card.engine})" if card.kind == "int8" else "float"
    return (f"{card.arch} {how}: top-1 {metrics.top1:.2f} %, top-5 {metrics.top5:.2f} % on "
            f"{dataset.images} {dataset.name} {dataset.split} images.")


def read_snapshot(folder: Path, label: str) -> dict[str, bytes]:
    """The artifact files of a downloaded snapshot, each checked against the card before anything is kept."""
    card_path = folder / artifact.CARD_FILE
    if not card_path.is_file():
        raise IntegrityError(f"{label} holds no {artifact.CARD_FILE}: it is not a zoo model")
    card_bytes = card_path.read_bytes()
    card = artifact.parse_json(card_bytes, Path(label) / artifact.CARD_FILE)
    listed = card.get("files")
    if not isinstance(listed, dict):
        raise IntegrityError(f"{label}: {artifact.CARD_FILE} lists no files")
    for file_name in listed:
        # The card is the only source of file names; one naming ../x must not get near the file system.
        if not artifact.safe_file_name(file_name) or file_name == artifact.CARD_FILE:
            raise IntegrityError(f"{label}: {artifact.CARD_FILE} names a file outside the artifact: {file_name!r}")
    for file_name in listed:
        if not (folder / file_name).is_file():
            raise IntegrityError(f"{label}: {artifact.CARD_FILE} names {file_name}, which the repository does not hold")
    names.check_name(card.get("name", ""))
    contents = artifact.verify(folder, card, label)
    return {**contents, artifact.CARD_FILE: card_bytes}


def evict_snapshot(folder: Path) -> None:
    """Remove the artifact files of a cached snapshot and the blobs they link to, so the next download refetches
    them. Only names zoo asked the client for are touched, and only inside the Hub cache's own layout."""
    blobs = folder.parent.parent / "blobs"
    for file_name in artifact.FILES:
        path = folder / file_name
        if not path.is_symlink() and not path.is_file():
            continue
        target = path.resolve()
        path.unlink(missing_ok=True)
        if target.parent == blobs.resolve():
            target.unlink(missing_ok=True)


def check_new_latest(registry: Registry, card: Card, source: str) -> None:
    """Refuse to make a version from ``source`` the latest of a name this registry holds in other versions."""
    from zoo.core.errors import NameInUseError

    held = registry.list(name=card.name)
    if not held or any(e.version == card.version for e in held):
        return
    latest = next(e for e in held if e.latest)
    raise NameInUseError(f"this registry already holds '{card.name}' ({len(held)} version(s), latest "
                   f"{latest.version[:12]} of {latest.created[:10]}); {source} would become its latest version: "
                   f"pass --add-version to record it so, or `zoo rm {card.name}` first")


def pull_hub(registry: Registry, ref: hubref.HubRef, catalog=None, add_version: bool = False,
             progress: Progress = QUIET) -> Pulled:
    """Download the artifact at ``ref`` into the Hub cache, check it, and only then record it in ``registry``.

    Raises:
        IntegrityError: a file does not match its card (after one fresh download of a bad cached copy).
        NameInUseError: the pull would become the latest version of a local name (without ``add_version``).
        HubError (or a subclass): the Hub refused or was not reached.
    """
    from huggingface_hub import snapshot_download

    def download(force: bool) -> Path:
        with _client(progress), hub_errors(ref.repo_id, ref.revision):
            return Path(snapshot_download(ref.repo_id, repo_type="model", revision=ref.revision,
                                          allow_patterns=list(artifact.FILES), force_download=force))

    folder = download(force=False)
    # The cache keeps each snapshot under its commit sha: that names exactly what was pulled.
    source = f"{ref.repo_id}@{folder.name}"
    try:
        files = read_snapshot(folder, source)
    except IntegrityError as cached:
        # The client trusts its cache, so one broken download would fail every later pull: drop the snapshot's
        # files and fetch them once more; only if the Hub serves the same again is the repository at fault.
        evict_snapshot(folder)
        try:
            folder = download(force=True)
        except HubError as exc:
            raise IntegrityError(f"{cached} (the cached files were removed; fetching them again failed: {exc})") \
                from None
        try:
            files = read_snapshot(folder, source)
        except IntegrityError as again:
            evict_snapshot(folder)
            raise IntegrityError(f"{again} (fetched twice from the Hub)") from None
    if not add_version:
        check_new_latest(registry, _checked(files, source)[0], source)
    entry = record_checked(registry, files, source, catalog)
    return Pulled(entry, registry.open(entry)[1], source)


def _checked(files: dict[str, bytes], source: str) -> tuple[Card, Config]:
    """The typed card and config of an artifact's files, each through its schema and both against each other."""
    return checked.check(files, source)
