"""The test Hub server, driven by the REAL huggingface_hub client in subprocesses (no mocks)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import textwrap
import threading
import urllib.error
import urllib.request

import pytest

from tests.hub_fixtures import HUB_TOKEN, HUB_USER, hub_env, hub_server, run_client_json  # noqa: F401
from tests.hubserver import HubServer, git_blob_sha1
from tests.netguard import netguard  # noqa: F401

REPO = f"{HUB_USER}/tiny-model"

# Every client snippet starts with this; `out` prints the JSON value the test reads back.
_PRELUDE = """
import json, os
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
api = HfApi()

def out(value):
    print(json.dumps(value))

def outcome(fn):
    try:
        return {"ok": fn()}
    except Exception as exc:
        response = getattr(exc, "response", None)
        return {
            "error": [cls.__name__ for cls in type(exc).__mro__],
            "status": getattr(response, "status_code", None),
            "message": str(exc),
        }

def read(path):
    with open(path, "rb") as f:
        return f.read().decode("latin-1")

def sha256_of(path):
    import hashlib
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()
"""


def client(code: str, env: dict, **kwargs) -> object:
    return run_client_json(_PRELUDE + textwrap.dedent(code), env, **kwargs)


def _folder(tmp_path, weights: bytes) -> str:
    folder = tmp_path / "to-upload"
    folder.mkdir()
    (folder / "README.md").write_text("---\nlicense: bsd-3-clause\n---\n# tiny model\n")
    (folder / "config.json").write_text(json.dumps({"arch": "tiny", "width": 8}))
    (folder / "card.json").write_text(json.dumps({"task": "classification"}))
    (folder / "model.safetensors").write_bytes(weights)
    return str(folder)


def _http(server: HubServer, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    """A raw request that bypasses any proxy settings; returns (status, headers, body)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(server.url + path, data=body, method=method, headers=headers or {})
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


@pytest.fixture
def weights() -> bytes:
    return os.urandom(1 << 20)  # ~1 MB, random so no two tests share content by accident


# --------------------------------------------------------------------------------------------------------
# Repositories and uploads
# --------------------------------------------------------------------------------------------------------


def test_create_repo_public_private_and_exist_ok(hub_server, hub_env):
    result = client(
        f"""
        public = api.create_repo("{REPO}")
        private = api.create_repo("{HUB_USER}/secret", private=True)
        out({{
            "public_url": str(public), "repo_id": public.repo_id,
            "again": outcome(lambda: str(api.create_repo("{REPO}"))),
            "again_exist_ok": outcome(lambda: str(api.create_repo("{REPO}", exist_ok=True))),
            "exists": api.repo_exists("{REPO}"),
            "private_exists_owner": api.repo_exists("{HUB_USER}/secret"),
            "private_exists_anonymous": api.repo_exists("{HUB_USER}/secret", token=False),
            "private_flag": api.model_info("{HUB_USER}/secret").private,
            "missing_exists": api.repo_exists("{HUB_USER}/nope"),
        }})
        """,
        hub_env,
    )
    assert result["public_url"] == f"{hub_server.url}/{REPO}"
    assert result["repo_id"] == REPO
    assert result["again"]["status"] == 409 and "HfHubHTTPError" in result["again"]["error"]
    assert result["again_exist_ok"] == {"ok": result["public_url"]}
    assert result["exists"] and result["private_exists_owner"] and result["private_flag"] is True
    assert result["private_exists_anonymous"] is False and result["missing_exists"] is False
    # A new repo holds the Hub's initial commit with the default .gitattributes.
    assert hub_server.list_files(REPO) == [".gitattributes"]
    assert "*.safetensors filter=lfs" in hub_server.read_file(REPO, ".gitattributes").decode()


def test_upload_folder_sends_weights_through_lfs(hub_server, hub_env, tmp_path, weights):
    folder = _folder(tmp_path, weights)
    result = client(
        f"""
        api.create_repo("{REPO}")
        info = api.upload_folder(repo_id="{REPO}", folder_path={folder!r}, commit_message="first upload")
        out({{"oid": info.oid, "url": info.commit_url}})
        """,
        hub_env,
    )
    assert result["oid"] == hub_server.head(REPO)
    assert result["url"] == f"{hub_server.url}/{REPO}/commit/{result['oid']}"
    assert hub_server.list_files(REPO) == [
        ".gitattributes", "README.md", "card.json", "config.json", "model.safetensors"
    ]
    assert hub_server.read_file(REPO, "model.safetensors") == weights
    assert hub_server.read_file(REPO, "config.json") == (tmp_path / "to-upload" / "config.json").read_bytes()
    # *.safetensors matches the repo's .gitattributes: LFS. The JSON and Markdown files go inline.
    assert hub_server.file_entry(REPO, "model.safetensors").lfs
    assert not any(hub_server.file_entry(REPO, p).lfs for p in ("README.md", "config.json", "card.json"))
    puts = hub_server.requests_matching("PUT", "/lfs-upload/")
    assert len(puts) == 1 and not puts[0]["sent_authorization"]  # pre-signed, as S3: the client sends no token
    [commit] = hub_server.requests_matching("POST", f"/api/models/{REPO}/commit/main")
    assert commit["headers"]["Content-Type"] == "application/x-ndjson"


def test_upload_of_identical_content_makes_no_commit(hub_server, hub_env, tmp_path, weights):
    folder = _folder(tmp_path, weights)
    hub_server.create_repo(REPO)
    oids = client(
        f"""
        upload = lambda: api.upload_folder(repo_id="{REPO}", folder_path={folder!r}).oid
        first, second = upload(), upload()
        with open(os.path.join({folder!r}, "config.json"), "w") as f:
            f.write('{{"arch": "tiny", "width": 16}}')
        out([first, second, upload()])
        """,
        hub_env,
    )
    first, second, third = oids
    # The client drops files whose preupload oid equals its local oid and, with nothing left, returns the
    # head without calling /commit (the server would record an empty commit if asked).
    assert second == first and third != first and third == hub_server.head(REPO)
    assert hub_server.commit_count(REPO) == 3  # initial commit, first upload, changed config
    assert len(hub_server.requests_matching("POST", "/commit/")) == 2
    # Weights went up once: for the later uploads the LFS batch answered "already present".
    assert len(hub_server.requests_matching("PUT", "/lfs-upload/")) == 1
    assert hub_server.read_file(REPO, "config.json", revision=first) == b'{"arch": "tiny", "width": 8}'
    assert hub_server.read_file(REPO, "config.json") == b'{"arch": "tiny", "width": 16}'


def test_commit_to_branch_tags_refs_commits_and_parent_check(hub_server, hub_env):
    first = hub_server.put_files(REPO, {"config.json": b'{"v": 1}'}, message="v1")
    result = client(
        f"""
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete
        api.create_branch("{REPO}", branch="dev")
        adds = [CommitOperationAdd("extra.txt", b"dev only"), CommitOperationAdd("sub/a.txt", b"a")]
        api.create_commit("{REPO}", adds, commit_message="on dev", revision="dev")
        api.create_commit("{REPO}", [CommitOperationDelete("sub/")], commit_message="drop sub", revision="dev")
        api.create_tag("{REPO}", tag="v1", revision="{first}")
        refs = api.list_repo_refs("{REPO}")
        stale = outcome(lambda: api.create_commit(
            "{REPO}", [CommitOperationDelete("config.json")], commit_message="x", parent_commit="0" * 40))
        out({{
            "branches": sorted((b.name, b.target_commit) for b in refs.branches),
            "tags": [(t.name, t.target_commit) for t in refs.tags],
            "dev_files": sorted(api.list_repo_files("{REPO}", revision="dev")),
            "main_files": sorted(api.list_repo_files("{REPO}")),
            "dev_commits": [c.title for c in api.list_repo_commits("{REPO}", revision="dev")],
            "branch_again": outcome(lambda: api.create_branch("{REPO}", branch="dev")),
            "stale": stale,
            "delete_missing": outcome(lambda: api.delete_file("nope.txt", "{REPO}")),
        }})
        """,
        hub_env,
    )
    dev = hub_server.head(REPO, "dev")
    assert result["branches"] == sorted([["dev", dev], ["main", first]])
    assert result["tags"] == [["v1", first]]
    assert result["dev_files"] == [".gitattributes", "config.json", "extra.txt"]
    assert result["main_files"] == [".gitattributes", "config.json"]
    assert result["dev_commits"] == ["drop sub", "on dev", "v1", "initial commit"]
    assert "RemoteEntryNotFoundError" in result["delete_missing"]["error"]
    assert result["branch_again"]["status"] == 409
    assert result["stale"]["status"] == 412 and hub_server.head(REPO) == first


# --------------------------------------------------------------------------------------------------------
# Downloads
# --------------------------------------------------------------------------------------------------------


@pytest.fixture
def two_versions(hub_server, weights):
    """main has two commits; branch "stable" stays on the first. Returns (first_sha, second_sha)."""
    first = hub_server.put_files(
        REPO, {"config.json": b'{"v": 1}', "model.safetensors": weights, "nested/notes.txt": b"one"}, message="v1"
    )
    hub_server.create_branch(REPO, "stable", first)
    second = hub_server.put_files(REPO, {"config.json": b'{"v": 2}'}, message="v2")
    return first, second


def test_downloads_of_main_commit_sha_and_branch(hub_server, hub_env, two_versions, weights):
    first, second = two_versions
    result = client(
        f"""
        def files(folder):
            return {{os.path.relpath(os.path.join(d, f), folder): read(os.path.join(d, f))
                     for d, _, names in os.walk(folder) for f in names}}
        out({{
            "main": read(hf_hub_download("{REPO}", "config.json")),
            "sha": read(hf_hub_download("{REPO}", "config.json", revision="{first}")),
            "branch": read(hf_hub_download("{REPO}", "config.json", revision="stable")),
            "weights": sha256_of(hf_hub_download("{REPO}", "model.safetensors", revision="stable")),
            "snap_main": files(snapshot_download("{REPO}")),
            "snap_sha_path": snapshot_download("{REPO}", revision="{first}"),
            "snap_branch": files(snapshot_download("{REPO}", revision="stable")),
            "local_dir": files(snapshot_download("{REPO}", local_dir=os.path.join(os.environ["HF_HOME"], "out"))),
        }})
        """,
        hub_env,
    )
    assert result["main"] == '{"v": 2}' and result["sha"] == '{"v": 1}' and result["branch"] == '{"v": 1}'
    assert result["weights"] == hashlib.sha256(weights).hexdigest()
    assert result["snap_main"]["config.json"] == '{"v": 2}'
    assert result["snap_main"]["nested/notes.txt"] == "one"
    assert sorted(result["snap_main"]) == [".gitattributes", "config.json", "model.safetensors", "nested/notes.txt"]
    assert result["snap_sha_path"].endswith(f"snapshots/{first}")
    assert result["snap_branch"]["config.json"] == '{"v": 1}'
    local = {k: v for k, v in result["local_dir"].items() if not k.startswith(".cache")}
    assert local == result["snap_main"]
    assert not any(r["status"] >= 400 for r in hub_server.requests)


def test_second_download_is_served_from_cache(hub_server, hub_env, two_versions):
    code = f"""
        out([hf_hub_download("{REPO}", "model.safetensors"), snapshot_download("{REPO}")])
        """
    first_paths = client(code, hub_env)
    assert hub_server.requests_matching("GET", "/resolve/main/model.safetensors")
    hub_server.clear_requests()

    assert client(code, hub_env) == first_paths
    # Only metadata calls the second time: a HEAD for the branch's file, repo info for the snapshot.
    assert [r for r in hub_server.requests if r["method"] == "GET" and "/resolve/" in r["path"]] == []
    assert {r["method"] for r in hub_server.requests_matching(path_contains="/resolve/")} == {"HEAD"}
    # The token is sent in headers only: it never lands in the cache.
    cache = os.path.join(hub_env["HF_HOME"], "hub")
    for folder, _, names in os.walk(cache):
        for name in names:
            with open(os.path.join(folder, name), "rb") as f:
                assert HUB_TOKEN.encode() not in f.read()


def test_offline_download_from_prefilled_cache(hub_server, hub_env, two_versions):
    first, _ = two_versions
    code = f"""
        out([read(hf_hub_download("{REPO}", "config.json")),
             read(hf_hub_download("{REPO}", "config.json", revision="{first}")),
             sorted(os.listdir(snapshot_download("{REPO}")))])
        """
    online = client(code, hub_env)
    hub_server.clear_requests()
    offline = client(
        code.replace("out([", f"""out([outcome(lambda: hf_hub_download("{REPO}", "never-downloaded.txt")), """),
        {**hub_env, "HF_HUB_OFFLINE": "1"},
    )
    assert online == ['{"v": 2}', '{"v": 1}', [".gitattributes", "config.json", "model.safetensors", "nested"]]
    assert offline[1:] == online
    assert "LocalEntryNotFoundError" in offline[0]["error"]
    assert hub_server.requests == []


def test_lfs_through_cdn_redirect_is_downloaded_without_token(tmp_path, hub_env, weights):
    # hub_env's server is not used here: a second server redirects LFS downloads to another host.
    with HubServer(str(tmp_path / "cdn-store"), {HUB_TOKEN: HUB_USER}, lfs_cdn_host="localhost") as server:
        server.put_files(REPO, {"model.safetensors": weights, "config.json": b"{}"})
        env = {**hub_env, "HF_ENDPOINT": server.url}
        digest = client(
            f"""
            out(sha256_of(hf_hub_download("{REPO}", "model.safetensors")))
            """,
            env,
        )
        assert digest == hashlib.sha256(weights).hexdigest()
        [head] = server.requests_matching("HEAD", "/resolve/main/model.safetensors")
        [cdn] = server.requests_matching("GET", "/cdn-lfs/")
        assert head["status"] == 302 and head["sent_authorization"]
        assert cdn["status"] == 200 and not cdn["sent_authorization"]


# --------------------------------------------------------------------------------------------------------
# Metadata and errors
# --------------------------------------------------------------------------------------------------------


def test_model_info_siblings_and_tree_pagination(tmp_path, hub_env, weights):
    with HubServer(str(tmp_path / "paged"), {HUB_TOKEN: HUB_USER}, tree_page_size=2) as server:
        files = {"config.json": b"{}", "model.safetensors": weights, "a/b/c.txt": b"deep", "z.md": b"# z"}
        sha = server.put_files(REPO, files)
        result = client(
            f"""
            info = api.model_info("{REPO}", files_metadata=True)
            top = api.list_repo_tree("{REPO}")
            out({{
                "sha": info.sha, "id": info.id, "private": info.private,
                "siblings": {{s.rfilename: [s.size, s.blob_id, s.lfs and s.lfs.sha256] for s in info.siblings}},
                "plain": [s.rfilename for s in api.model_info("{REPO}", revision="{sha}").siblings],
                "files": api.list_repo_files("{REPO}"),
                "top": sorted((type(e).__name__, e.path) for e in top),
                "whoami": api.whoami()["name"],
            }})
            """,
            {**hub_env, "HF_ENDPOINT": server.url},
        )
        assert result["sha"] == sha and result["id"] == REPO and result["private"] is False
        siblings = result["siblings"]
        assert sorted(siblings) == sorted([".gitattributes", *files])
        assert siblings["config.json"] == [2, git_blob_sha1(b"{}"), None]
        assert siblings["model.safetensors"][::2] == [len(weights), hashlib.sha256(weights).hexdigest()]
        assert result["plain"] == sorted(siblings)
        assert sorted(result["files"]) == sorted(siblings)
        assert result["top"] == sorted(
            [["RepoFile", ".gitattributes"], ["RepoFile", "config.json"], ["RepoFile", "model.safetensors"],
             ["RepoFile", "z.md"], ["RepoFolder", "a"]]
        )
        assert result["whoami"] == HUB_USER
        # 5 files + 2 folders at 2 entries a page: the client followed the Link headers.
        assert len(server.requests_matching("GET", "/tree/main?recursive=true")) == 4


def test_errors_surface_as_client_exception_classes(hub_server, hub_env, two_versions):
    hub_server.put_files(f"{HUB_USER}/private", {"config.json": b"{}"}, private=True)
    result = client(
        f"""
        out({{
            "no_repo": outcome(lambda: hf_hub_download("{HUB_USER}/missing", "config.json")),
            "no_repo_info": outcome(lambda: api.model_info("{HUB_USER}/missing")),
            "no_revision": outcome(lambda: hf_hub_download("{REPO}", "config.json", revision="nope")),
            "no_revision_info": outcome(lambda: api.model_info("{REPO}", revision="nope")),
            "no_entry": outcome(lambda: hf_hub_download("{REPO}", "missing.bin")),
            "private_anonymous": outcome(lambda: hf_hub_download("{HUB_USER}/private", "config.json", token=False)),
            "private_other_user": outcome(lambda: api.model_info("{HUB_USER}/private", token="hf_other")),
            "bad_token": outcome(lambda: hf_hub_download("{REPO}", "config.json", token="hf_invalid")),
            "bad_token_whoami": outcome(lambda: api.whoami(token="hf_invalid")),
            "snapshot_no_repo": outcome(lambda: snapshot_download("{HUB_USER}/missing")),
        }})
        """,
        hub_env,
    )
    repo_nf, rev_nf = "RepositoryNotFoundError", "RevisionNotFoundError"
    assert repo_nf in result["no_repo"]["error"] and result["no_repo"]["status"] == 404
    assert repo_nf in result["no_repo_info"]["error"]
    assert repo_nf in result["snapshot_no_repo"]["error"]
    assert rev_nf in result["no_revision"]["error"] and result["no_revision"]["status"] == 404
    assert rev_nf in result["no_revision_info"]["error"]
    assert {"RemoteEntryNotFoundError", "EntryNotFoundError"} <= set(result["no_entry"]["error"])
    assert result["no_entry"]["status"] == 404
    assert repo_nf in result["private_anonymous"]["error"] and result["private_anonymous"]["status"] == 401
    for case in ("bad_token", "bad_token_whoami"):
        assert result[case]["status"] == 401 and "HfHubHTTPError" in result[case]["error"]
        assert repo_nf not in result[case]["error"]
    # "hf_other" is not a token this server knows: invalid credentials, not "repo not found".
    assert result["private_other_user"]["status"] == 401 and repo_nf not in result["private_other_user"]["error"]


def test_private_repo_hidden_from_other_users_and_writes_need_rights(hub_server, hub_env):
    hub_server.put_files(f"{HUB_USER}/private", {"config.json": b"{}"}, private=True)
    public_head = hub_server.put_files(REPO, {"config.json": b"{}"})
    hub_server.tokens["hf_other"] = "otheruser"
    result = client(
        f"""
        from huggingface_hub import CommitOperationAdd
        def add(repo="{HUB_USER}/private", **kw):
            return api.create_commit(repo, [CommitOperationAdd("x.txt", b"x")], commit_message="x", **kw).oid
        out({{
            "other_reads": outcome(lambda: api.model_info("{HUB_USER}/private", token="hf_other")),
            "other_writes_public": outcome(lambda: add("{REPO}", token="hf_other")),
            "anonymous_writes_public": outcome(lambda: add("{REPO}", token=False)),
            "other_creates_in_my_namespace": outcome(lambda: str(api.create_repo("{HUB_USER}/x", token="hf_other"))),
            "anonymous_create": outcome(lambda: str(api.create_repo("{HUB_USER}/y", token=False))),
            "owner_commit": outcome(add),
            "owner_download": outcome(lambda: read(hf_hub_download("{HUB_USER}/private", "config.json"))),
        }})
        """,
        hub_env,
    )
    assert "RepositoryNotFoundError" in result["other_reads"]["error"] and result["other_reads"]["status"] == 404
    assert result["other_writes_public"]["status"] == 403
    assert result["anonymous_writes_public"]["status"] == 401
    assert hub_server.head(REPO) == public_head
    assert result["other_creates_in_my_namespace"]["status"] == 403
    assert result["anonymous_create"]["status"] == 401
    assert result["owner_commit"] == {"ok": hub_server.head(f"{HUB_USER}/private")}
    assert result["owner_download"] == {"ok": "{}"}


# --------------------------------------------------------------------------------------------------------
# Server-side checks that need raw HTTP (no client subprocess)
# --------------------------------------------------------------------------------------------------------


def _auth(extra: dict | None = None) -> dict:
    return {"Authorization": f"Bearer {HUB_TOKEN}", "Content-Type": "application/json", **(extra or {})}


def _batch(server: HubServer, data: bytes) -> dict:
    payload = {"operation": "upload", "transfers": ["basic"], "objects": [
        {"oid": hashlib.sha256(data).hexdigest(), "size": len(data)}], "hash_algo": "sha256"}
    path = f"/{REPO}.git/info/lfs/objects/batch"
    status, _, body = _http(server, "POST", path, json.dumps(payload).encode(), _auth())
    assert status == 200
    return json.loads(body)["objects"][0]


def test_lfs_upload_checks_sha256_signature_and_repository(hub_server):
    hub_server.create_repo(REPO)
    data = os.urandom(4096)
    href = _batch(hub_server, data)["actions"]["upload"]["href"].removeprefix(hub_server.url)
    assert _http(hub_server, "PUT", href, data[:-1] + b"x")[0] == 400  # wrong content for the oid
    assert _http(hub_server, "PUT", href.split("&sig=")[0] + "&sig=0", data)[0] == 403  # forged signature

    oid = hashlib.sha256(data).hexdigest()
    line = {"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256", "oid": oid, "size": len(data)}}
    commit = b"\n".join(json.dumps(x).encode() for x in [{"key": "header", "value": {"summary": "s"}}, line])
    headers = _auth({"Content-Type": "application/x-ndjson"})
    status, _, body = _http(hub_server, "POST", f"/api/models/{REPO}/commit/main", commit, headers)
    assert status == 400 and b"not uploaded" in body  # an LFS oid must have been uploaded to this repo

    assert _http(hub_server, "PUT", href, data)[0] == 200
    assert "actions" not in _batch(hub_server, data)  # now present: nothing to upload
    status, _, body = _http(hub_server, "POST", f"/api/models/{REPO}/commit/main", commit, headers)
    assert status == 200 and hub_server.read_file(REPO, "w.bin") == data
    assert json.loads(body)["commitOid"] == hub_server.head(REPO)


def _ndjson_commit(server: HubServer, path: str, content: bytes) -> tuple[int, bytes]:
    lines = [
        {"key": "header", "value": {"summary": f"add {path}"}},
        {"key": "file", "value": {"path": path, "encoding": "base64", "content": base64.b64encode(content).decode()}},
    ]
    body = b"\n".join(json.dumps(line).encode() for line in lines)
    headers = _auth({"Content-Type": "application/x-ndjson"})
    status, _, answer = _http(server, "POST", f"/api/models/{REPO}/commit/main", body, headers)
    return status, answer


def test_concurrent_commits_are_all_kept(hub_server):
    hub_server.create_repo(REPO)
    results: list[tuple[int, bytes]] = []

    def commit_files(worker: int) -> None:
        for i in range(5):
            results.append(_ndjson_commit(hub_server, f"w{worker}/f{i}.txt", f"{worker}-{i}".encode()))

    threads = [threading.Thread(target=commit_files, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert [status for status, _ in results] == [200] * 30
    assert len({json.loads(body)["commitOid"] for _, body in results}) == 30
    assert len(hub_server.list_files(REPO)) == 31  # no commit lost another's file
    assert hub_server.commit_count(REPO) == 31


def test_resolve_headers_and_range_requests(hub_server, weights):
    sha = hub_server.put_files(REPO, {"config.json": b'{"v": 1}', "model.safetensors": weights})
    status, headers, body = _http(hub_server, "GET", f"/{REPO}/resolve/main/config.json")
    assert (status, body) == (200, b'{"v": 1}')
    assert headers["X-Repo-Commit"] == sha and headers["ETag"] == f'"{git_blob_sha1(body)}"'
    assert headers["Content-Length"] == str(len(body))
    status, headers, body = _http(hub_server, "HEAD", f"/{REPO}/resolve/{sha}/model.safetensors")
    assert status == 200 and body == b""
    assert headers["X-Linked-Etag"] == f'"{hashlib.sha256(weights).hexdigest()}"'
    assert headers["X-Linked-Size"] == headers["Content-Length"] == str(len(weights))
    status, headers, body = _http(
        hub_server, "GET", f"/{REPO}/resolve/main/model.safetensors", headers={"Range": "bytes=10-19"}
    )
    assert (status, body) == (206, weights[10:20])
    assert headers["Content-Range"] == f"bytes 10-19/{len(weights)}"
    status, headers, _ = _http(hub_server, "GET", f"/{REPO}/resolve/main/nope.txt")
    assert (status, headers["X-Error-Code"], headers["X-Repo-Commit"]) == (404, "EntryNotFound", sha)


def test_state_survives_a_restart(tmp_path, weights):
    storage = str(tmp_path / "persistent")
    with HubServer(storage, {HUB_TOKEN: HUB_USER}) as server:
        sha = server.put_files(REPO, {"model.safetensors": weights}, private=True)
    with HubServer(storage, {HUB_TOKEN: HUB_USER}) as server:
        assert server.head(REPO) == sha
        assert server.read_file(REPO, "model.safetensors") == weights
        status, _, _ = _http(server, "GET", f"/api/models/{REPO}")
        assert status == 401  # still private


def test_request_log_omits_authorization(hub_server):
    hub_server.create_repo(REPO)
    _http(hub_server, "GET", f"/api/models/{REPO}", headers=_auth())
    [entry] = hub_server.requests
    assert entry["user"] == HUB_USER and entry["sent_authorization"]
    assert HUB_TOKEN not in json.dumps(entry)
