"""A small Hugging Face Hub-compatible HTTP server for tests (standard library only).

The REAL ``huggingface_hub`` client can push to and pull from it over 127.0.0.1. Every request
shape and response field below was taken from the client's source, ``huggingface_hub`` 2.4.0
(``hf_api.py``, ``_commit_api.py``, ``lfs.py``, ``file_download.py``, ``_snapshot_download.py``,
``utils/_http.py``, ``utils/_pagination.py``); comments name the client function that reads a field.

Implemented (model repositories only, ids must be ``namespace/name``):

* ``GET  /api/whoami-v2``                                  whoami
* ``POST /api/repos/create``                               create_repo (409 if it exists)
* ``POST /api/validate-yaml``                              create_commit/upload_folder with a README.md
* ``GET  /api/models/{repo}[/revision/{rev}]``             model_info / repo_info / repo_exists
* ``GET  /api/models/{repo}/tree/{rev}[/{path}]``          list_repo_tree / list_repo_files / snapshot_download
* ``GET  /api/models/{repo}/commits/{rev}``                list_repo_commits
* ``GET  /api/models/{repo}/refs``                         list_repo_refs
* ``POST|DELETE /api/models/{repo}/branch/{branch}``       create_branch / delete_branch
* ``POST /api/models/{repo}/tag/{rev}``                    create_tag
* ``POST /api/models/{repo}/preupload/{rev}``              upload mode ("regular" or "lfs") per file
* ``POST /{repo}.git/info/lfs/objects/batch``              LFS batch API, "basic" transfer only
* ``PUT  /lfs-upload/{repo}/{oid}?...&sig=``               pre-signed LFS upload (sha256 and size verified)
* ``POST /{repo}.git/info/lfs/objects/verify``             LFS verify action
* ``POST /api/models/{repo}/commit/{rev}``                 NDJSON commit: file, lfsFile, deletedFile, deletedFolder
* ``HEAD|GET /{repo}/resolve/{rev}/{path}``                hf_hub_download (Range requests supported)
* ``HEAD|GET /cdn-lfs/{oid}?sig=``                         only with ``lfs_cdn_host``: signed "CDN" for LFS files
* ``GET  /api/agent-harnesses``                            fetched by the client when telemetry is not disabled

Behaviour that mirrors the real Hub:

* A new repo has an initial commit holding the Hub's default ``.gitattributes``. Preupload answers "lfs" for a
  path matching a ``filter=lfs`` pattern of the target revision's ``.gitattributes`` (``*.safetensors``,
  ``*.bin``, ...), for files of 10 MB or more, and for binary samples (a NUL byte); "regular" otherwise. It also
  returns the file's current oid, which is how the client skips unchanged files.
* Each commit gets a 40-hex sha; branches and tags point at commits; the full history is kept so any old commit
  sha still resolves. A commit that changes nothing is still recorded as a new commit (git and the Hub allow
  empty commits); the client itself never sends one: ``create_commit`` drops unchanged files (preupload oid ==
  local oid) and, if nothing is left, returns the current head without calling ``/commit``.
* LFS objects are content-addressed on disk but authorised per repository: a commit may only reference an
  LFS oid that was uploaded to that repository (otherwise one could read a private file by knowing its hash).
* Errors carry ``X-Error-Code`` (RepoNotFound, RevisionNotFound, EntryNotFound) and ``X-Error-Message``, which
  ``utils/_http.py::hf_raise_for_status`` turns into RepositoryNotFoundError, RevisionNotFoundError and
  RemoteEntryNotFoundError. A private repo read without a token gives 401 + RepoNotFound, by another user 404 +
  RepoNotFound. An unknown token gives 401 "Invalid credentials in Authorization header" on any request.
* Downloads send ``X-Repo-Commit``, ``ETag`` (git blob sha1), ``Content-Length`` and, for LFS files,
  ``X-Linked-Etag`` (sha256) and ``X-Linked-Size``. With ``lfs_cdn_host`` set (e.g. "localhost"), LFS files
  are answered with a 302 to a pre-signed URL on that host, like the Hub's redirect to its CDN: the client
  then downloads without sending its token.

Deliberately NOT implemented: Xet storage (clients must set ``HF_HUB_DISABLE_XET=1``; Xet needs a CAS
service), multipart LFS uploads (the server only offers "basic"), pull requests (``create_pr`` gives 501),
datasets/spaces, single-segment legacy repo ids, organisations, gated repos, ``expand`` on tree listings,
``paths-info``, card data parsing beyond the model card metadata rules of ``tests/hub_metadata.py`` (checked at
validate-yaml and again at commit), short
commit shas as revisions (accepted only as ``parentCommit``), and full gitignore semantics (``shouldIgnore``
uses fnmatch on the path and its basename).

Every request is appended to ``HubServer.requests`` (method, path with query, headers without Authorization,
status, the authenticated user and whether an Authorization header was sent) so tests can check, e.g., that a
second download did not GET the file again.

The client reads ``HF_ENDPOINT`` when ``huggingface_hub`` is imported, so run it in a subprocess with
``HubServer.client_env()`` in its environment, or put those variables in ``os.environ`` before the first import
of ``huggingface_hub`` in the process.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import hmac
import http.server
import json
import mimetypes
import os
import re
import secrets
import tempfile
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, BinaryIO, Iterable, Iterator
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from tests import hub_metadata

HUGGINGFACE_HUB_VERSION_CHECKED = "2.4.0"

# The Hub's default .gitattributes for a new model repo: it is what makes *.safetensors & co. go through LFS.
DEFAULT_GITATTRIBUTES = "".join(
    f"{pattern} filter=lfs diff=lfs merge=lfs -text\n"
    for pattern in (
        "*.7z", "*.arrow", "*.bin", "*.bz2", "*.ckpt", "*.ftz", "*.gz", "*.h5", "*.joblib", "*.lfs.*",
        "*.mlmodel", "*.model", "*.msgpack", "*.npy", "*.npz", "*.onnx", "*.ot", "*.parquet", "*.pb",
        "*.pickle", "*.pkl", "*.pt", "*.pth", "*.rar", "*.safetensors", "saved_model/**/*", "*.tar.*",
        "*.tar", "*.tflite", "*.tgz", "*.wasm", "*.xz", "*.zip", "*.zst", "*tfevents*",
    )
)

# The Hub refuses regular (non-LFS) files from this size on; preupload therefore answers "lfs" for them.
REGULAR_FILE_MAX_SIZE = 10 * 1024 * 1024
TREE_PAGE_SIZE = 1000  # the Hub's page size for /tree (see HfApi._iter_repo_tree_pages)
COMMITS_PAGE_SIZE = 50
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_INVALID_CREDENTIALS = "Invalid credentials in Authorization header"


class HubError(Exception):
    """An HTTP error answer, shaped like the Hub's (status, X-Error-Code, X-Error-Message, JSON body)."""

    def __init__(
        self, status: int, message: str, error_code: str | None = None, headers: dict | None = None,
        extra: dict | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_code = error_code
        self.headers = headers or {}
        self.extra = extra or {}  # more fields for the JSON body


def _repo_not_found(status: int = 404) -> HubError:
    return HubError(status, "Repository not found", "RepoNotFound")


def git_blob_sha1(data: bytes) -> str:
    """Git's object id of a blob: what the Hub calls the file's oid / ETag for regular files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def _now_iso() -> str:
    # parse_datetime in the client expects exactly '%Y-%m-%dT%H:%M:%S.%fZ'.
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _is_binary(sample: bytes) -> bool:
    return b"\0" in sample


def _lfs_patterns(gitattributes: bytes | None) -> list[str]:
    patterns = []
    for line in (gitattributes or b"").decode("utf-8", "replace").splitlines():
        parts = line.split()
        if len(parts) >= 2 and not parts[0].startswith("#") and "filter=lfs" in parts[1:]:
            patterns.append(parts[0])
    return patterns


def _matches_git_pattern(path: str, pattern: str) -> bool:
    # git: a pattern without a slash matches the basename at any depth, one with a slash the whole path.
    if "/" not in pattern.strip("/"):
        return fnmatch.fnmatchcase(path.rsplit("/", 1)[-1], pattern)
    return fnmatch.fnmatchcase(path, pattern.lstrip("/"))


# ----------------------------------------------------------------------------------------------------------
# Repository model
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileEntry:
    """One file of a commit's tree. Content lives in the object store under its sha256."""

    sha256: str
    size: int
    lfs: bool
    blob_id: str  # git oid: sha1 of the blob, or of the LFS pointer for LFS files

    @property
    def pointer_size(self) -> int:
        return len(lfs_pointer(self.sha256, self.size))


@dataclass
class Commit:
    id: str
    parent: str | None
    tree: dict[str, FileEntry]
    title: str
    message: str
    author: str
    date: str


@dataclass
class Repo:
    repo_id: str
    owner: str
    private: bool
    created_at: str
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    lfs_objects: set[str] = field(default_factory=set)

    def resolve(self, revision: str) -> Commit:
        """Branch, tag, refs/heads/x, refs/tags/x or a full commit sha of this repo's history."""
        for prefix, refs in (("refs/heads/", self.branches), ("refs/tags/", self.tags)):
            if revision.startswith(prefix) and revision[len(prefix):] in refs:
                return self.commits[refs[revision[len(prefix):]]]
        if revision in self.branches:
            return self.commits[self.branches[revision]]
        if revision in self.tags:
            return self.commits[self.tags[revision]]
        if revision in self.commits:
            return self.commits[revision]
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    def history(self, commit: Commit) -> list[Commit]:
        chain = [commit]
        while chain[-1].parent is not None:
            chain.append(self.commits[chain[-1].parent])
        return chain


class ObjectStore:
    """Content-addressed file storage (by sha256) in ``root``; writes are atomic renames."""

    def __init__(self, root: str):
        self.root = root
        os.makedirs(root, exist_ok=True)

    def path(self, sha256: str) -> str:
        return os.path.join(self.root, sha256[:2], sha256)

    def has(self, sha256: str) -> bool:
        return os.path.isfile(self.path(sha256))

    def put_bytes(self, data: bytes) -> str:
        sha256 = hashlib.sha256(data).hexdigest()
        if not self.has(sha256):
            fd, tmp = tempfile.mkstemp(dir=self.root)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            self._commit_tmp(tmp, sha256)
        return sha256

    def put_stream(self, chunks: Iterable[bytes]) -> tuple[str, int, str]:
        """Store a stream in a temporary file; returns (sha256, size, tmp_path). Call ``adopt`` to keep it."""
        digest, size = hashlib.sha256(), 0
        fd, tmp = tempfile.mkstemp(dir=self.root)
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                f.write(chunk)
        return digest.hexdigest(), size, tmp

    def adopt(self, tmp: str, sha256: str) -> None:
        self._commit_tmp(tmp, sha256)

    def _commit_tmp(self, tmp: str, sha256: str) -> None:
        os.makedirs(os.path.dirname(self.path(sha256)), exist_ok=True)
        os.replace(tmp, self.path(sha256))

    def read(self, sha256: str) -> bytes:
        with open(self.path(sha256), "rb") as f:
            return f.read()

    def open(self, sha256: str) -> BinaryIO:
        return open(self.path(sha256), "rb")


# ----------------------------------------------------------------------------------------------------------
# Hub state: every mutation happens under one lock and is persisted to <storage>/state.json
# ----------------------------------------------------------------------------------------------------------


class HubState:
    def __init__(self, storage_dir: str):
        self.storage_dir = storage_dir
        self.objects = ObjectStore(os.path.join(storage_dir, "objects"))
        self.repos: dict[str, Repo] = {}
        self.lock = threading.RLock()
        self._commit_counter = 0
        self._load()

    # -- persistence ------------------------------------------------------------------------------------

    @property
    def _state_path(self) -> str:
        return os.path.join(self.storage_dir, "state.json")

    def _load(self) -> None:
        if not os.path.exists(self._state_path):
            return
        with open(self._state_path) as f:
            raw = json.load(f)
        self._commit_counter = raw["commit_counter"]
        for data in raw["repos"]:
            commits = {
                cid: Commit(**{**c, "tree": {p: FileEntry(**e) for p, e in c["tree"].items()}})
                for cid, c in data.pop("commits").items()
            }
            lfs_objects = set(data.pop("lfs_objects"))
            repo = Repo(**data, commits=commits, lfs_objects=lfs_objects)
            self.repos[repo.repo_id.lower()] = repo

    def _save(self) -> None:
        repos = []
        for repo in self.repos.values():
            data = asdict(repo)
            data["lfs_objects"] = sorted(repo.lfs_objects)
            repos.append(data)
        tmp = self._state_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"commit_counter": self._commit_counter, "repos": repos}, f)
        os.replace(tmp, self._state_path)

    # -- repos ------------------------------------------------------------------------------------------

    def get_repo(self, repo_id: str) -> Repo:
        # Hub repo ids are case-insensitive on lookup.
        repo = self.repos.get(repo_id.lower())
        if repo is None:
            raise _repo_not_found()
        return repo

    def create_repo(self, repo_id: str, owner: str, private: bool) -> Repo:
        with self.lock:
            if repo_id.lower() in self.repos:
                raise HubError(409, "You already created this model repo")
            repo = Repo(repo_id=repo_id, owner=owner, private=private, created_at=_now_iso())
            self.repos[repo_id.lower()] = repo
            gitattributes = DEFAULT_GITATTRIBUTES.encode()
            tree = {".gitattributes": self._regular_entry(gitattributes)}
            self._add_commit(repo, "main", None, tree, "initial commit", "", "system")
            self._save()
            return repo

    # -- commits ----------------------------------------------------------------------------------------

    def _regular_entry(self, data: bytes) -> FileEntry:
        return FileEntry(sha256=self.objects.put_bytes(data), size=len(data), lfs=False, blob_id=git_blob_sha1(data))

    @staticmethod
    def lfs_entry(sha256: str, size: int) -> FileEntry:
        return FileEntry(sha256=sha256, size=size, lfs=True, blob_id=git_blob_sha1(lfs_pointer(sha256, size)))

    @staticmethod
    def _tree_id(tree: dict[str, FileEntry]) -> str:
        listing = "".join(f"{path}\0{entry.blob_id}\n" for path, entry in sorted(tree.items()))
        return hashlib.sha1(listing.encode()).hexdigest()

    def _add_commit(
        self, repo: Repo, branch: str, parent: str | None, tree: dict[str, FileEntry], title: str, message: str,
        author: str,
    ) -> Commit:
        # The counter makes two commits with identical content, parent and message still get distinct ids,
        # as git's timestamp does.
        self._commit_counter += 1
        header = f"tree {self._tree_id(tree)}\nparent {parent}\nauthor {author} {self._commit_counter}\n\n"
        commit_id = hashlib.sha1((header + title + "\n\n" + message).encode()).hexdigest()
        commit = Commit(commit_id, parent, dict(tree), title, message, author, _now_iso())
        repo.commits[commit_id] = commit
        repo.branches[branch] = commit_id
        return commit

    def upload_mode(self, repo: Repo, commit: Commit, path: str, size: int, sample: bytes) -> str:
        gitattributes = commit.tree.get(".gitattributes")
        patterns = _lfs_patterns(self.objects.read(gitattributes.sha256) if gitattributes else None)
        if any(_matches_git_pattern(path, p) for p in patterns) or size >= REGULAR_FILE_MAX_SIZE:
            return "lfs"
        return "lfs" if _is_binary(sample) else "regular"

    def commit(
        self, repo: Repo, branch: str, operations: list[dict], title: str, message: str, author: str,
        parent_commit: str | None = None,
    ) -> Commit:
        with self.lock:
            if branch not in repo.branches:
                raise HubError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
            head = repo.commits[repo.branches[branch]]
            if parent_commit is not None and not head.id.startswith(parent_commit):
                # What the Hub answers when parentCommit is not the branch head any more.
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            tree = dict(head.tree)
            for op in operations:
                self._apply(repo, tree, op)
            commit = self._add_commit(repo, branch, head.id, tree, title, message, author)
            self._save()
            return commit

    def _apply(self, repo: Repo, tree: dict[str, FileEntry], op: dict) -> None:
        key, value = op["key"], op["value"]
        # A folder deletion may keep the trailing slash of CommitOperationDelete("dir/") (is_folder="auto").
        path = value.get("path", "").rstrip("/") if key == "deletedFolder" else value.get("path", "")
        _check_path(path)
        if key == "file":
            tree[path] = self._regular_file(path, value)
        elif key == "lfsFile":
            tree[path] = self._lfs_file(repo, path, value)
        elif key == "deletedFile":
            if tree.pop(path, None) is None:
                raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
        elif key == "deletedFolder":
            prefix = path + "/"
            doomed = [p for p in tree if p.startswith(prefix)]
            if not doomed:
                raise HubError(404, f"A folder with this name doesn't exist: {path}", "EntryNotFound")
            for p in doomed:
                del tree[p]
        else:
            raise HubError(400, f"Unknown commit operation key: {key}")

    def _regular_file(self, path: str, value: dict) -> FileEntry:
        if value.get("encoding") != "base64":
            raise HubError(400, f"Unsupported encoding for {path}: {value.get('encoding')}")
        data = base64.b64decode(value["content"])
        # The Hub rejects binary and large blobs outside LFS; preupload tells the client to use LFS for them.
        # Same sample size as preupload (the client sends 512 bytes) so both always agree.
        if _is_binary(data[:512]) or len(data) >= REGULAR_FILE_MAX_SIZE:
            raise HubError(400, f"Your push was rejected because {path} is binary or too large: use LFS")
        return self._regular_entry(data)

    def _lfs_file(self, repo: Repo, path: str, value: dict) -> FileEntry:
        oid = value.get("oid", "")
        if value.get("algo", "sha256") != "sha256" or oid not in repo.lfs_objects:
            raise HubError(400, f"LFS object {oid} for {path} was not uploaded to this repository")
        size = os.path.getsize(self.objects.path(oid))
        if value.get("size") is not None and value["size"] != size:
            raise HubError(400, f"LFS object {oid} has size {size}, commit says {value['size']}")
        return self.lfs_entry(oid, size)

    # -- refs -------------------------------------------------------------------------------------------

    def create_ref(self, repo: Repo, kind: str, name: str, starting_point: str) -> None:
        refs = repo.branches if kind == "branch" else repo.tags
        with self.lock:
            if name in refs:
                raise HubError(409, "Reference already exists")
            refs[name] = repo.resolve(starting_point).id
            self._save()

    def delete_branch(self, repo: Repo, name: str) -> None:
        with self.lock:
            if name not in repo.branches:
                raise HubError(404, f"Invalid rev id: {name}", "RevisionNotFound")
            if name == "main":
                raise HubError(403, "Cannot delete the default branch")
            del repo.branches[name]
            self._save()

    def add_lfs_object(self, repo: Repo, tmp: str, sha256: str) -> None:
        self.objects.adopt(tmp, sha256)
        with self.lock:
            repo.lfs_objects.add(sha256)
            self._save()


def _check_path(path: str) -> None:
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts) or parts[0] == ".git":
        raise HubError(400, f"Invalid path in repo: {path!r}")


# ----------------------------------------------------------------------------------------------------------
# HTTP layer
# ----------------------------------------------------------------------------------------------------------

_REPO = r"(?P<repo>[^/]+/[^/]+)"
_API = r"/api/models/" + _REPO
_ROUTES: list[tuple[str, re.Pattern, str]] = [
    (method, re.compile(pattern), name)
    for method, pattern, name in (
        ("GET", r"^/api/whoami-v2$", "whoami"),
        ("GET", r"^/api/agent-harnesses$", "agent_harnesses"),
        ("POST", r"^/api/repos/create$", "create_repo"),
        ("POST", r"^/api/validate-yaml$", "validate_yaml"),
        ("GET", _API + r"$", "model_info"),
        ("GET", _API + r"/revision/(?P<rev>[^/]+)$", "model_info"),
        ("GET", _API + r"/tree/(?P<rev>[^/]+)(?:/(?P<path>.+))?$", "tree"),
        ("GET", _API + r"/commits/(?P<rev>[^/]+)$", "commits"),
        ("GET", _API + r"/refs$", "refs"),
        ("POST", _API + r"/branch/(?P<branch>[^/]+)$", "create_branch"),
        ("DELETE", _API + r"/branch/(?P<branch>[^/]+)$", "delete_branch"),
        ("POST", _API + r"/tag/(?P<rev>[^/]+)$", "create_tag"),
        ("POST", _API + r"/preupload/(?P<rev>[^/]+)$", "preupload"),
        ("POST", _API + r"/commit/(?P<rev>[^/]+)$", "commit"),
        ("POST", r"^/" + _REPO + r"\.git/info/lfs/objects/batch$", "lfs_batch"),
        ("POST", r"^/" + _REPO + r"\.git/info/lfs/objects/verify$", "lfs_verify"),
        ("PUT", r"^/lfs-upload/" + _REPO + r"/(?P<oid>[0-9a-f]{64})$", "lfs_upload"),
        ("GET", r"^/" + _REPO + r"/resolve/(?P<rev>[^/]+)/(?P<path>.+)$", "resolve"),
        ("HEAD", r"^/" + _REPO + r"/resolve/(?P<rev>[^/]+)/(?P<path>.+)$", "resolve"),
        ("GET", r"^/cdn-lfs/(?P<oid>[0-9a-f]{64})$", "cdn_lfs"),
        ("HEAD", r"^/cdn-lfs/(?P<oid>[0-9a-f]{64})$", "cdn_lfs"),
    )
]
_STREAMING_ROUTES = {"lfs_upload"}  # read their own request body
_PRESIGNED_ROUTES = {"lfs_upload", "cdn_lfs"}  # authorised by a signature in the URL, not by a token


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    file: BinaryIO | None = None  # streamed instead of body; Content-Length must be set
    file_range: tuple[int, int] | None = None  # (start, length) inside `file`


def _json(data: Any, status: int = 200, content_type: str = "application/json") -> Response:
    return Response(status, json.dumps(data).encode(), {"Content-Type": content_type})


class _Handler(http.server.BaseHTTPRequestHandler):
    # HTTP/1.1 keep-alive, as httpx2 reuses connections; every response therefore sets Content-Length.
    protocol_version = "HTTP/1.1"
    server_version = "zoo-test-hub/1.0"
    timeout = 60
    # Headers and body go out in separate writes; with Nagle + delayed ACK each response would stall ~40 ms.
    disable_nagle_algorithm = True
    server: "_HTTPServer"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence stderr logging
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # -- request plumbing -------------------------------------------------------------------------------

    def _dispatch(self, method: str) -> None:
        hub = self.server.hub
        split = urlsplit(self.path)
        user: str | None = None
        body_consumed = False
        try:
            name, params = self._route(method, split.path)
            if hub.inject_error is not None and hub.inject_error[0] in split.path:
                raise HubError(hub.inject_error[1], hub.inject_error[2])
            if name not in _STREAMING_ROUTES:
                self.body = self._read_body()
                body_consumed = True
            user = hub._authenticate(self.headers.get("Authorization"), presigned=name in _PRESIGNED_ROUTES)
            self.query = {k: v[-1] for k, v in parse_qs(split.query).items()}
            self.query_lists = parse_qs(split.query)
            response = getattr(hub, "_route_" + name)(self, user, **params)
        except HubError as err:
            response = _error_response(err)
            if not body_consumed:
                self.close_connection = True  # an unread request body would corrupt the next request
        except Exception as err:  # a server bug: report it, as the Hub would, with a 500
            response = _json({"error": f"test hub internal error: {type(err).__name__}: {err}"}, 500)
            self.close_connection = True
        hub._record(method, self.path, self.headers, response.status, user)
        self._send(method, response)

    def _route(self, method: str, path: str) -> tuple[str, dict[str, str]]:
        allowed = False
        for route_method, pattern, name in _ROUTES:
            match = pattern.match(path)
            if match:
                if route_method == method:
                    return name, {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
                allowed = True
        raise HubError(405 if allowed else 404, f"{method} {path} is not served by the test hub")

    def _read_body(self) -> bytes:
        return b"".join(self.iter_body())

    def iter_body(self) -> Iterator[bytes]:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            yield from self._iter_chunked()
            return
        remaining = int(self.headers.get("Content-Length") or 0)
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                raise HubError(400, "Request body ended early")
            remaining -= len(chunk)
            yield chunk

    def _iter_chunked(self) -> Iterator[bytes]:
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                return
            yield self.rfile.read(size)
            self.rfile.readline()  # CRLF after each chunk

    def json_body(self) -> Any:
        try:
            return json.loads(self.body or b"{}")
        except ValueError:
            raise HubError(400, "Request body is not valid JSON") from None

    def _stall(self) -> None:
        hub = self.server.hub
        hub.stalled.set()
        hub._stopping.wait(timeout=600)
        self.close_connection = True

    def _stalls(self) -> bool:
        hub = self.server.hub
        return hub.stall_path is not None and hub.stall_path in self.path

    def _send(self, method: str, response: Response) -> None:
        if self._stalls() and self.server.hub.stall_after is None:
            self._stall()
            return
        length = response.file_range[1] if response.file_range else len(response.body)
        self.send_response(response.status)
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(length))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if method != "HEAD":
            self._write_body(response)
        if response.file is not None:
            response.file.close()

    def _write_body(self, response: Response) -> None:
        if response.file is None:
            self.wfile.write(response.body)
            return
        start, length = response.file_range
        if self._stalls():
            response.file.seek(start)
            self.wfile.write(response.file.read(min(length, self.server.hub.stall_after)))
            self.wfile.flush()
            self._stall()
            return
        response.file.seek(start)
        while length > 0:
            chunk = response.file.read(min(length, 1 << 20))
            if not chunk:
                break
            self.wfile.write(chunk)
            length -= len(chunk)


def _error_response(err: HubError) -> Response:
    response = _json({**err.extra, "error": err.message}, err.status)
    response.headers["X-Error-Message"] = err.message.encode("ascii", "replace").decode()
    if err.error_code:
        response.headers["X-Error-Code"] = err.error_code
    response.headers.update(err.headers)
    return response


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    hub: "HubServer"


class HubServer:
    """A Hub-compatible server on 127.0.0.1, for the real huggingface_hub client.

    Args:
        storage_dir: where objects and state.json live (state is reloaded if the directory is reused).
        tokens: valid tokens -> user name, e.g. ``{"hf_test_token": "testuser"}``. Mutable while running.
        lfs_cdn_host: if set (e.g. "localhost"), LFS files are served through a 302 to a pre-signed URL on that
            host, like the Hub's CDN redirect; the client then sends no token for the download.
        tree_page_size: entries per /tree page (the Hub uses 1000); small values exercise pagination.
    """

    def __init__(
        self, storage_dir: str, tokens: dict[str, str] | None = None, *, lfs_cdn_host: str | None = None,
        tree_page_size: int = TREE_PAGE_SIZE, commits_page_size: int = COMMITS_PAGE_SIZE,
    ):
        self.state = HubState(storage_dir)
        self.tokens: dict[str, str] = dict(tokens or {})
        self.requests: list[dict[str, Any]] = []
        self.lfs_cdn_host = lfs_cdn_host
        self.tree_page_size = tree_page_size
        self.commits_page_size = commits_page_size
        self._secret = secrets.token_bytes(32)  # signs pre-signed upload and CDN URLs
        self._requests_lock = threading.Lock()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        # Fault injection: a response whose path contains ``stall_path`` stops after ``stall_after`` bytes of body
        # (None: before its headers) and then sends nothing until the server stops, as a Hub that stops
        # answering mid-transfer does.
        self.stall_path: str | None = None
        self.stall_after: int | None = None
        self.stalled = threading.Event()
        # Fault injection: requests whose path contains the first item are answered with (status, message).
        self.inject_error: tuple[str, int, str] | None = None
        self._stopping = threading.Event()

    # -- lifecycle --------------------------------------------------------------------------------------

    def start(self) -> "HubServer":
        self._httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.hub = self
        # A short poll interval keeps stop() (which waits for the serve loop to notice) fast.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="test-hub", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)
            self._httpd = None

    def __enter__(self) -> "HubServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("HubServer is not started")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client_env(self, token: str | None = None, hf_home: str | None = None) -> dict[str, str]:
        """Environment for a huggingface_hub client process talking to this server.

        Must be in the environment before ``huggingface_hub`` is imported (constants are read at import).
        """
        env = {
            "HF_ENDPOINT": self.url,
            "HF_HUB_DISABLE_XET": "1",  # Xet needs a CAS service this server does not provide
            "HF_HUB_DISABLE_TELEMETRY": "1",  # else the client fetches /api/agent-harnesses for its user-agent
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "HF_HUB_DISABLE_SYMLINKS_WARNING": "1",
        }
        if token is not None:
            env["HF_TOKEN"] = token
        if hf_home is not None:
            env["HF_HOME"] = hf_home
        return env

    # -- direct test helpers (no HTTP) ------------------------------------------------------------------

    def create_repo(self, repo_id: str, *, private: bool = False, owner: str | None = None) -> None:
        self.state.create_repo(repo_id, owner or repo_id.split("/")[0], private)

    def put_files(
        self, repo_id: str, files: dict[str, bytes], *, revision: str = "main", message: str = "Add files",
        private: bool = False, delete: Iterable[str] = (),
    ) -> str:
        """Commit ``files`` (path -> bytes) directly, creating the repo if needed; returns the commit sha.

        LFS vs regular is decided exactly as preupload decides it for the client.
        """
        with self.state.lock:
            if repo_id.lower() not in self.state.repos:
                self.create_repo(repo_id, private=private)
            repo = self.state.get_repo(repo_id)
            head = repo.resolve(revision)
            operations = [{"key": "deletedFile", "value": {"path": p}} for p in delete]
            for path, data in files.items():
                if self.state.upload_mode(repo, head, path, len(data), data[:512]) == "lfs":
                    repo.lfs_objects.add(self.state.objects.put_bytes(data))
                    value = {"path": path, "algo": "sha256", "oid": hashlib.sha256(data).hexdigest()}
                    operations.append({"key": "lfsFile", "value": value})
                else:
                    value = {"path": path, "encoding": "base64", "content": base64.b64encode(data).decode()}
                    operations.append({"key": "file", "value": value})
            return self.state.commit(repo, revision, operations, message, "", repo.owner).id

    def create_branch(self, repo_id: str, branch: str, revision: str = "main") -> None:
        self.state.create_ref(self.state.get_repo(repo_id), "branch", branch, revision)

    def head(self, repo_id: str, revision: str = "main") -> str:
        return self.state.get_repo(repo_id).resolve(revision).id

    def list_files(self, repo_id: str, revision: str = "main") -> list[str]:
        return sorted(self.state.get_repo(repo_id).resolve(revision).tree)

    def read_file(self, repo_id: str, path: str, revision: str = "main") -> bytes:
        entry = self.state.get_repo(repo_id).resolve(revision).tree[path]
        return self.state.objects.read(entry.sha256)

    def file_entry(self, repo_id: str, path: str, revision: str = "main") -> FileEntry:
        return self.state.get_repo(repo_id).resolve(revision).tree[path]

    def commit_count(self, repo_id: str, revision: str = "main") -> int:
        repo = self.state.get_repo(repo_id)
        return len(repo.history(repo.resolve(revision)))

    def requests_matching(self, method: str | None = None, path_contains: str = "") -> list[dict[str, Any]]:
        with self._requests_lock:
            return [
                r for r in self.requests
                if (method is None or r["method"] == method) and path_contains in r["path"]
            ]

    def clear_requests(self) -> None:
        with self._requests_lock:
            self.requests.clear()

    # -- auth -------------------------------------------------------------------------------------------

    def _record(self, method: str, path: str, headers: Any, status: int, user: str | None) -> None:
        kept = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        entry = {
            "method": method, "path": path, "headers": kept, "status": status, "user": user,
            "sent_authorization": "Authorization" in headers,
        }
        with self._requests_lock:
            self.requests.append(entry)

    def _authenticate(self, authorization: str | None, presigned: bool) -> str | None:
        # Pre-signed URLs carry their own signature; the client sends them no token (lfs.py::_upload_single_part).
        if authorization is None or presigned:
            return None
        scheme, _, token = authorization.partition(" ")
        user = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            raise HubError(401, _INVALID_CREDENTIALS)
        return user

    def _readable_repo(self, repo_id: str, user: str | None) -> Repo:
        repo = self.state.get_repo(repo_id)
        if repo.private and user is None:
            raise _repo_not_found(401)  # what the Hub answers for a private repo without a token
        if repo.private and user != repo.owner:
            raise _repo_not_found(404)
        return repo

    def _writable_repo(self, repo_id: str, user: str | None) -> Repo:
        repo = self._readable_repo(repo_id, user)
        if user is None:
            raise HubError(401, "You must be authenticated to write to a repository")
        if user != repo.owner:
            raise HubError(403, f"You don't have the rights to write to {repo_id}")
        return repo

    def _sign(self, *parts: str) -> str:
        return hmac.new(self._secret, "\0".join(parts).encode(), hashlib.sha256).hexdigest()

    def _check_signature(self, signature: str | None, *parts: str) -> None:
        if not signature or not hmac.compare_digest(signature, self._sign(*parts)):
            raise HubError(403, "Invalid or missing signature")

    # -- routes: account & repos ------------------------------------------------------------------------

    def _route_whoami(self, request: _Handler, user: str | None) -> Response:
        if user is None:
            raise HubError(401, "Invalid username or password.")
        # HfApi.whoami returns this dict; callers read ["name"], the CLI ["orgs"], login ["auth"]["accessToken"].
        return _json({
            "type": "user", "id": hashlib.sha1(user.encode()).hexdigest()[:24], "name": user, "fullname": user,
            "email": f"{user}@example.invalid", "emailVerified": True, "canPay": False, "isPro": False,
            "avatarUrl": "", "orgs": [],
            "auth": {"type": "access_token", "accessToken": {"displayName": "test token", "role": "write"}},
        })

    def _route_agent_harnesses(self, request: _Handler, user: str | None) -> Response:
        return _json({"standardEnvVars": [], "harnesses": {}})  # utils/_detect_agent.py::Registry

    def _route_create_repo(self, request: _Handler, user: str | None) -> Response:
        payload = request.json_body()  # HfApi.create_repo: {"name", "organization", "visibility"?, "type"?}
        if user is None:
            raise HubError(401, "You must be authenticated to create a repository")
        if payload.get("type", "model") != "model":
            raise HubError(400, "The test hub only serves model repositories")
        namespace = payload.get("organization") or user
        repo_id = f"{namespace}/{payload.get('name', '')}"
        if not _REPO_ID.match(repo_id) or "--" in repo_id:
            raise HubError(400, f"Invalid repo name: {repo_id}")
        if namespace != user:
            raise HubError(403, f"You don't have the rights to create a model under the namespace {namespace}")
        url = f"{self.url}/{repo_id}"
        try:
            self.state.create_repo(repo_id, user, payload.get("visibility", "public") == "private")
        except HubError as err:
            # HfApi.create_repo(exist_ok=True) swallows the 409 and still reads d["url"] from its body.
            err.extra["url"] = url
            raise
        return _json({"url": url, "name": repo_id, "id": repo_id})  # HfApi.create_repo: RepoUrl(d["url"])

    def _route_validate_yaml(self, request: _Handler, user: str | None) -> Response:
        content = request.json_body().get("content", "")
        # HfApi._validate_yaml raises ValueError on a 400 with {"errors": [{"message"}]}; ModelCard.validate
        # raises ValueError with the body's text.
        found = self._metadata_errors(content, user)
        if found:
            return _json({"errors": [{"message": message} for message in found], "warnings": []}, 400)
        return _json({"errors": [], "warnings": []})

    def _metadata_errors(self, readme: str, user: str | None) -> list[str]:
        def is_model_repo(repo_id: str) -> bool:
            repo = self.state.repos.get(repo_id.lower())
            return repo is not None and (not repo.private or repo.owner == user)

        return hub_metadata.errors(readme, is_model_repo)

    def _route_model_info(self, request: _Handler, user: str | None, repo: str, rev: str = "main") -> Response:
        repo_obj = self._readable_repo(repo, user)
        commit = repo_obj.resolve(rev)
        with_blobs = request.query.get("blobs", "").lower() in ("1", "true")
        info = self._model_info(repo_obj, commit, with_blobs)
        expand = request.query_lists.get("expand") or request.query_lists.get("expand[]")
        if expand:  # HfApi.model_info(expand=[...]): only the listed properties (plus the id)
            info = {k: v for k, v in info.items() if k in expand or k in ("id", "_id")}
        return _json(info)

    def _model_info(self, repo: Repo, commit: Commit, with_blobs: bool) -> dict[str, Any]:
        # ModelInfo.__init__ reads these keys; snapshot_download needs "sha", model_info users "siblings".
        siblings = []
        for path, entry in sorted(commit.tree.items()):
            sibling: dict[str, Any] = {"rfilename": path}
            if with_blobs:
                sibling.update(size=entry.size, blobId=entry.blob_id)
                if entry.lfs:
                    sibling["lfs"] = {"size": entry.size, "sha256": entry.sha256, "pointerSize": entry.pointer_size}
            siblings.append(sibling)
        return {
            "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24], "id": repo.repo_id,
            "modelId": repo.repo_id, "author": repo.owner, "sha": commit.id, "lastModified": commit.date,
            "createdAt": repo.created_at, "private": repo.private, "gated": False, "disabled": False,
            "downloads": 0, "likes": 0, "tags": [], "siblings": siblings,
            "usedStorage": sum(e.size for e in commit.tree.values()),
        }

    # -- routes: listings -------------------------------------------------------------------------------

    def _route_tree(self, request: _Handler, user: str | None, repo: str, rev: str, path: str = "") -> Response:
        commit = self._readable_repo(repo, user).resolve(rev)
        recursive = request.query.get("recursive", "").lower() in ("1", "true")
        entries = _tree_entries(commit.tree, path.strip("/"), recursive)
        if entries is None:
            raise HubError(404, f"{path} does not exist on {rev}", "EntryNotFound")
        return self._paginated(request, entries, "cursor", self.tree_page_size)

    def _route_commits(self, request: _Handler, user: str | None, repo: str, rev: str) -> Response:
        repo_obj = self._readable_repo(repo, user)
        items = [
            # HfApi.list_repo_commits reads id, authors[].user, date, title, message.
            {"id": c.id, "title": c.title, "message": c.message, "date": c.date, "authors": [{"user": c.author}]}
            for c in repo_obj.history(repo_obj.resolve(rev))
        ]
        return self._paginated(request, items, "p", self.commits_page_size)

    def _paginated(self, request: _Handler, items: list, param: str, page_size: int) -> Response:
        # utils/_pagination.py follows the `Link: <url>; rel="next"` header until there is none.
        try:
            start = int(request.query.get(param, "0"))
        except ValueError:
            raise HubError(400, f"Invalid {param}") from None
        response = _json(items[start:start + page_size])
        if start + page_size < len(items):
            query = {k: v for k, v in request.query.items() if k != param}
            query[param] = str(start + page_size)
            next_url = f"{self.url}{urlsplit(request.path).path}?{urlencode(query)}"
            response.headers["Link"] = f'<{next_url}>; rel="next"'
        return response

    def _route_refs(self, request: _Handler, user: str | None, repo: str) -> Response:
        repo_obj = self._readable_repo(repo, user)

        def refs(kind: str, names: dict[str, str]) -> list[dict[str, str]]:
            return [{"name": n, "ref": f"refs/{kind}/{n}", "targetCommit": c} for n, c in sorted(names.items())]

        with self.state.lock:  # iterating ref dicts another request may be changing
            branches, tags = refs("heads", repo_obj.branches), refs("tags", repo_obj.tags)
        # HfApi.list_repo_refs reads branches, converts, tags and (with include_prs) pullRequests.
        return _json({"branches": branches, "converts": [], "tags": tags, "pullRequests": []})

    # -- routes: refs -----------------------------------------------------------------------------------

    def _route_create_branch(self, request: _Handler, user: str | None, repo: str, branch: str) -> Response:
        repo_obj = self._writable_repo(repo, user)
        _check_ref_name(branch)
        starting_point = request.json_body().get("startingPoint") or "main"  # HfApi.create_branch payload
        self.state.create_ref(repo_obj, "branch", branch, starting_point)
        return _json({})

    def _route_delete_branch(self, request: _Handler, user: str | None, repo: str, branch: str) -> Response:
        self.state.delete_branch(self._writable_repo(repo, user), branch)
        return _json({})

    def _route_create_tag(self, request: _Handler, user: str | None, repo: str, rev: str) -> Response:
        repo_obj = self._writable_repo(repo, user)
        tag = request.json_body().get("tag", "")  # HfApi.create_tag payload: {"tag", "message"?}
        _check_ref_name(tag)
        self.state.create_ref(repo_obj, "tag", tag, rev)
        return _json({})

    # -- routes: upload ---------------------------------------------------------------------------------

    def _route_preupload(self, request: _Handler, user: str | None, repo: str, rev: str) -> Response:
        repo_obj = self._writable_repo(repo, user)
        _refuse_pull_requests(request)
        if rev not in repo_obj.branches:
            raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        commit = repo_obj.resolve(rev)
        # _commit_api._fetch_upload_modes sends {"files": [{"path", "sample", "size"}], "gitIgnore"?}.
        payload = request.json_body()
        ignore = _gitignore_patterns(payload.get("gitIgnore"), commit, self.state.objects)
        files = [self._preupload_file(repo_obj, commit, f, ignore) for f in payload.get("files", [])]
        return _json({"files": files, "commitOid": commit.id})

    def _preupload_file(self, repo: Repo, commit: Commit, spec: dict, ignore: list[str]) -> dict[str, Any]:
        path, size = spec["path"], int(spec["size"])
        mode = self.state.upload_mode(repo, commit, path, size, base64.b64decode(spec.get("sample", "")))
        # The client compares "oid" with its local oid (sha256 for lfs, git sha1 for regular) to skip
        # unchanged files: CommitOperationAdd._local_oid.
        existing = commit.tree.get(path)
        oid = None
        if existing is not None:
            oid = existing.sha256 if existing.lfs else existing.blob_id
        return {
            "path": path, "uploadMode": mode, "oid": oid,
            "shouldIgnore": any(_matches_git_pattern(path, p) for p in ignore),
        }

    def _route_lfs_batch(self, request: _Handler, user: str | None, repo: str) -> Response:
        # Real LFS batch URLs are /{repo}.git/...; lfs.py::post_lfs_batch_info sends the token.
        repo_obj = self._writable_repo(repo, user)
        payload = request.json_body()
        if payload.get("operation") != "upload":
            raise HubError(422, "The test hub only supports the LFS 'upload' operation")
        if "basic" not in payload.get("transfers", ["basic"]):
            raise HubError(422, "The test hub only supports the 'basic' LFS transfer")
        objects = [self._lfs_batch_object(repo_obj, obj) for obj in payload.get("objects", [])]
        return _json({"transfer": "basic", "objects": objects}, content_type="application/vnd.git-lfs+json")

    def _lfs_batch_object(self, repo: Repo, obj: dict) -> dict[str, Any]:
        oid, size = str(obj.get("oid", "")), obj.get("size")
        answer: dict[str, Any] = {"oid": oid, "size": size if isinstance(size, int) else -1}
        if not _SHA256.match(oid) or not isinstance(size, int) or size < 0:
            answer["error"] = {"code": 422, "message": "Invalid oid or size"}
            return answer
        if oid in repo.lfs_objects:
            return answer  # no "actions": the client skips the upload (_commit_api._upload_lfs_files)
        query = urlencode({"size": size, "sig": self._sign("upload", repo.repo_id, oid, str(size))})
        answer["authenticated"] = True
        answer["actions"] = {
            # No token is sent to this href (lfs.py::_upload_single_part), hence the signature, as S3's.
            "upload": {"href": f"{self.url}/lfs-upload/{repo.repo_id}/{oid}?{query}"},
            "verify": {"href": f"{self.url}/{repo.repo_id}.git/info/lfs/objects/verify"},
        }
        return answer

    def _route_lfs_upload(self, request: _Handler, user: str | None, repo: str, oid: str) -> Response:
        size = request.query.get("size", "")
        self._check_signature(request.query.get("sig"), "upload", repo, oid, size)
        repo_obj = self.state.get_repo(repo)
        sha256, actual_size, tmp = self.state.objects.put_stream(request.iter_body())
        if sha256 != oid or str(actual_size) != size:
            os.unlink(tmp)
            raise HubError(400, f"Uploaded content has sha256 {sha256} and size {actual_size}, expected {oid}, {size}")
        self.state.add_lfs_object(repo_obj, tmp, sha256)
        return Response(200)

    def _route_lfs_verify(self, request: _Handler, user: str | None, repo: str) -> Response:
        repo_obj = self._writable_repo(repo, user)
        payload = request.json_body()  # lfs.py::lfs_upload: {"oid", "size"}
        oid = payload.get("oid", "")
        if oid not in repo_obj.lfs_objects or os.path.getsize(self.state.objects.path(oid)) != payload.get("size"):
            raise HubError(404, f"LFS object {oid} not found")
        return _json({"success": True})

    def _route_commit(self, request: _Handler, user: str | None, repo: str, rev: str) -> Response:
        repo_obj = self._writable_repo(repo, user)
        _refuse_pull_requests(request)
        header, operations = _parse_ndjson_commit(request.body)
        # The Hub checks a committed README.md's metadata again, whatever the client validated before.
        for operation in operations:
            value = operation.get("value") or {}
            if operation.get("key") == "file" and value.get("path") == "README.md":
                found = self._metadata_errors(base64.b64decode(value.get("content", "")).decode("utf-8", "replace"),
                                              user)
                if found:
                    raise HubError(400, f"Invalid metadata in README.md: {found[0]}")
        commit = self.state.commit(
            repo_obj, rev, operations, header.get("summary", ""), header.get("description", ""), user,
            parent_commit=header.get("parentCommit"),
        )
        # _commit_api._send_commit reads commitOid and commitUrl (CommitInfo parses the repo from the url).
        return _json({
            "success": True, "commitOid": commit.id, "commitUrl": f"{self.url}/{repo_obj.repo_id}/commit/{commit.id}",
            "hookOutput": "",
        })

    # -- routes: download -------------------------------------------------------------------------------

    def _route_resolve(self, request: _Handler, user: str | None, repo: str, rev: str, path: str) -> Response:
        repo_obj = self._readable_repo(repo, user)
        commit = repo_obj.resolve(rev)
        entry = commit.tree.get(path)
        if entry is None:
            # file_download._get_metadata_or_catch_error caches the absence under .no_exist/<X-Repo-Commit>.
            raise HubError(404, "Entry not found", "EntryNotFound", headers={"X-Repo-Commit": commit.id})
        # file_download.get_hf_file_metadata: commit from X-Repo-Commit, etag from X-Linked-Etag or ETag,
        # size from X-Linked-Size or Content-Length.
        headers = {"X-Repo-Commit": commit.id, "ETag": f'"{entry.blob_id}"', "Accept-Ranges": "bytes"}
        if entry.lfs:
            headers.update({"X-Linked-Etag": f'"{entry.sha256}"', "X-Linked-Size": str(entry.size)})
            if self.lfs_cdn_host:
                return self._cdn_redirect(entry, path, headers)
        return self._file_response(request, entry, path, headers)

    def _cdn_redirect(self, entry: FileEntry, path: str, headers: dict[str, str]) -> Response:
        # A different host is not followed by the client's HEAD (utils/_http.py::_is_same_or_hub_host), which
        # then downloads from Location without its authorization header, as from the Hub's CDN.
        query = urlencode({"filename": path.rsplit("/", 1)[-1], "sig": self._sign("cdn", entry.sha256)})
        location = f"http://{self.lfs_cdn_host}:{self.port}/cdn-lfs/{entry.sha256}?{query}"
        return Response(302, b"", {**headers, "Location": location})

    def _route_cdn_lfs(self, request: _Handler, user: str | None, oid: str) -> Response:
        self._check_signature(request.query.get("sig"), "cdn", oid)
        if not self.state.objects.has(oid):
            raise HubError(404, "Object not found")
        entry = HubState.lfs_entry(oid, os.path.getsize(self.state.objects.path(oid)))
        return self._file_response(request, entry, request.query.get("filename", oid), {"ETag": f'"{oid}"'})

    def _file_response(self, request: _Handler, entry: FileEntry, path: str, headers: dict[str, str]) -> Response:
        name = path.rsplit("/", 1)[-1]
        headers = {
            **headers,
            "Content-Type": mimetypes.guess_type(name)[0] or "application/octet-stream",
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(name)}",
        }
        start, length = _parse_range(request.headers.get("Range"), entry.size)
        status = 200
        if (start, length) != (0, entry.size):
            status = 206
            headers["Content-Range"] = f"bytes {start}-{start + length - 1}/{entry.size}"
        return Response(status, headers=headers, file=self.state.objects.open(entry.sha256), file_range=(start, length))


# ----------------------------------------------------------------------------------------------------------
# Small pure helpers
# ----------------------------------------------------------------------------------------------------------


def _tree_entries(tree: dict[str, FileEntry], base: str, recursive: bool) -> list[dict[str, Any]] | None:
    """The /tree listing under ``base`` (None if it is not a folder), files and folders as the Hub lists them."""
    prefix = base + "/" if base else ""
    files = {p: e for p, e in tree.items() if p.startswith(prefix)}
    if base and not files:
        return None
    folders: dict[str, list[str]] = {}
    entries: list[dict[str, Any]] = []
    for path, entry in sorted(files.items()):
        parts = path[len(prefix):].split("/")
        for depth in range(1, len(parts)):
            folders.setdefault(prefix + "/".join(parts[:depth]), []).append(f"{path}\0{entry.blob_id}")
        if recursive or len(parts) == 1:
            entries.append(_file_entry_json(path, entry))
    for folder, members in folders.items():
        if recursive or "/" not in folder[len(prefix):]:
            oid = hashlib.sha1("\n".join(sorted(members)).encode()).hexdigest()
            entries.append({"type": "directory", "oid": oid, "size": 0, "path": folder})
    return sorted(entries, key=lambda e: e["path"])


def _file_entry_json(path: str, entry: FileEntry) -> dict[str, Any]:
    # RepoFile.__init__ reads path, size, oid and lfs {oid, size, pointerSize}.
    data: dict[str, Any] = {"type": "file", "oid": entry.blob_id, "size": entry.size, "path": path}
    if entry.lfs:
        data["lfs"] = {"oid": entry.sha256, "size": entry.size, "pointerSize": entry.pointer_size}
    return data


def _parse_ndjson_commit(body: bytes) -> tuple[dict, list[dict]]:
    try:
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
    except ValueError:
        raise HubError(400, "Commit payload is not valid NDJSON") from None
    if not lines or lines[0].get("key") != "header":
        raise HubError(400, "The first line of a commit payload must be its header")
    header = lines[0].get("value") or {}
    if not header.get("summary"):
        raise HubError(400, "A commit needs a summary")
    return header, lines[1:]


def _parse_range(value: str | None, size: int) -> tuple[int, int]:
    """(start, length) for a single `bytes=a-b` range; the whole file if there is none."""
    if not value:
        return 0, size
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", value)
    if not match or match.groups() == ("", ""):
        raise HubError(416, f"Unsupported range {value}", headers={"Content-Range": f"bytes */{size}"})
    first, last = match.groups()
    if first == "":
        start = max(size - int(last), 0)
        end = size - 1
    else:
        start, end = int(first), min(int(last) if last else size - 1, size - 1)
    if start >= size or start > end:
        raise HubError(416, f"Range {value} not satisfiable", headers={"Content-Range": f"bytes */{size}"})
    return start, end - start + 1


def _gitignore_patterns(explicit: str | None, commit: Commit, objects: ObjectStore) -> list[str]:
    text = explicit
    if text is None and ".gitignore" in commit.tree:
        text = objects.read(commit.tree[".gitignore"].sha256).decode("utf-8", "replace")
    return [line.strip() for line in (text or "").splitlines() if line.strip() and not line.startswith("#")]


def _check_ref_name(name: str) -> None:
    if not name or name.startswith("refs/") or ".." in name or any(c in name for c in " ~^:?*[\\"):
        raise HubError(400, f"Invalid reference name: {name}")


def _refuse_pull_requests(request: _Handler) -> None:
    if request.query.get("create_pr") in ("1", "true", "True"):
        raise HubError(501, "The test hub does not implement pull requests (create_pr)")


__all__ = ["HubServer", "HubError", "DEFAULT_GITATTRIBUTES", "git_blob_sha1", "lfs_pointer", "FileEntry"]
