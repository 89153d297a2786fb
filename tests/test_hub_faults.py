"""A Hub that stalls, a cache that holds a broken file, a server that sends escape sequences, an endpoint with
credentials, a pull that would take over a local name: each ends in one line (or recovers), nothing
half-recorded. The real huggingface_hub client runs in subprocesses against tests/hubserver.py."""

from __future__ import annotations

import time

from tests import synthetic
from tests.hub_fixtures import HUB_USER, hub_env, hub_server  # noqa: F401
from tests.test_hub import NAME, REPO, artifact_files, assert_unchanged, dest, ok_json, source, zoo_cli  # noqa: F401
from zoo_registry import artifact
from zoo_registry.store import Registry


def one_line(result, *fragments: str) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def timed_pull(env, dest, *args):
    started = time.monotonic()
    result = zoo_cli(env, dest, "pull", REPO, *args, timeout=120)
    return result, time.monotonic() - started


def test_a_hub_that_stops_answering_an_api_call_ends_in_one_line(hub_server, hub_env, source, dest):
    hub_server.put_files(REPO, artifact_files(source))
    hub_server.stall_path = f"/api/models/{REPO}"
    result, took = timed_pull({**hub_env, "ZOO_HUB_TIMEOUT": "1"}, dest)
    one_line(result, "stopped answering", REPO, "ZOO_HUB_TIMEOUT")
    assert hub_server.stalled.is_set()
    assert took < 30, took
    assert_unchanged(dest)


def test_a_download_that_stalls_mid_transfer_ends_in_one_line(hub_server, hub_env, source, dest):
    hub_server.put_files(REPO, artifact_files(source))
    hub_server.stall_path, hub_server.stall_after = artifact.MODEL_FILE, 1000
    # huggingface_hub's own setting bounds each wait for a file's next bytes; it retries 5 times.
    result, took = timed_pull({**hub_env, "HF_HUB_DOWNLOAD_TIMEOUT": "1"}, dest)
    one_line(result, "stopped answering", "HF_HUB_DOWNLOAD_TIMEOUT")
    assert took < 60, took
    assert_unchanged(dest)
    # The Hub answers again: the same pull completes.
    hub_server.stall_path = None
    assert ok_json(zoo_cli(hub_env, dest, "pull", REPO, "--json"))["version"] == source.resolve(NAME).version


def test_a_push_to_a_hub_that_stops_answering_ends_in_one_line(hub_server, hub_env, source):
    hub_server.stall_path = "/commit/"
    started = time.monotonic()
    result = zoo_cli({**hub_env, "ZOO_HUB_TIMEOUT": "1"}, source, "push", NAME, "--repo", REPO, timeout=120)
    one_line(result, "stopped answering", "again is safe")
    assert time.monotonic() - started < 30
    # The server took the commit, then stopped before answering: it holds all four files or none, never part.
    held = set(hub_server.list_files(REPO)) & set(artifact.FILES)
    assert held in (set(), set(artifact.FILES))
    hub_server.stall_path = None
    ok_json(zoo_cli(hub_env, source, "push", NAME, "--repo", REPO, "--json"))
    assert {f: hub_server.read_file(REPO, f) for f in artifact.FILES} == artifact_files(source)


def test_an_invalid_hub_timeout_is_one_line(hub_env, dest):
    one_line(zoo_cli({**hub_env, "ZOO_HUB_TIMEOUT": "soon"}, dest, "pull", REPO), "ZOO_HUB_TIMEOUT='soon'")


def _cached_blob(hf_home, file_name: str):
    (snapshot,) = list((hf_home / "hub").glob(f"models--*/snapshots/*/{file_name}"))
    return snapshot.resolve()


def test_a_corrupted_file_in_the_hub_cache_is_evicted_and_fetched_again(hub_server, hub_env, source, dest,
                                                                         tmp_path):
    hub_server.put_files(REPO, artifact_files(source))
    ok_json(zoo_cli(hub_env, tmp_path / "first", "pull", REPO, "--json"))
    blob = _cached_blob(tmp_path / "hf-home", artifact.MODEL_FILE)
    good = blob.read_bytes()
    blob.write_bytes(good[:-10] + b"0123456789")  # the disk, or a killed copy, damaged the cached file

    # Offline the file cannot be fetched again: one line, the bad file gone from the cache.
    offline = zoo_cli({**hub_env, "HF_HUB_OFFLINE": "1"}, dest, "pull", REPO)
    one_line(offline, "model.safetensors", "the cached files were removed")
    assert not blob.exists()
    assert_unchanged(dest)

    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(good[:-10] + b"0123456789")
    hub_server.clear_requests()
    card = ok_json(zoo_cli(hub_env, dest, "pull", REPO, "--json"))
    assert card["version"] == source.resolve(NAME).version
    assert hub_server.requests_matching("GET", "/resolve/")  # fetched once more
    assert _cached_blob(tmp_path / "hf-home", artifact.MODEL_FILE).read_bytes() == good


def test_a_repository_serving_a_bad_file_is_refused_after_one_more_fetch(hub_server, hub_env, source, dest):
    files = artifact_files(source)
    hub_server.put_files(REPO, {**files, artifact.MODEL_FILE: files[artifact.MODEL_FILE][:-1] + b"!"})
    one_line(zoo_cli(hub_env, dest, "pull", REPO), "fetched twice from the Hub")
    assert_unchanged(dest)


def test_escape_sequences_from_the_server_never_reach_the_terminal(hub_server, hub_env, dest):
    hub_server.inject_error = (f"/api/models/{REPO}", 500, "down\x1b]0;pwned\x07\x1b[2J for maintenance\u202e")
    line = one_line(zoo_cli(hub_env, dest, "pull", REPO), "HTTP 500", "down?]0;pwned??[2J for maintenance?")
    assert not any(ord(c) < 32 or 0x7f <= ord(c) <= 0x9f or c == "\u202e" for c in line)


def test_credentials_in_the_endpoint_are_not_printed(hub_server, hub_env, dest):
    endpoint = hub_server.url.replace("http://", "http://someone:s3cr3t-value@")
    result = zoo_cli({**hub_env, "HF_ENDPOINT": endpoint}, dest, "pull", f"{HUB_USER}/missing")
    line = one_line(result, hub_server.url)
    assert "s3cr3t" not in result.stdout + result.stderr and "someone" not in line


def test_a_pull_that_would_become_the_latest_of_a_local_name_needs_add_version(hub_server, hub_env, source, dest):
    hub_server.put_files(REPO, artifact_files(source))
    local = Registry(dest)
    local.write(synthetic.files(NAME, b"made here", "2026-01-01T00:00:00+00:00", 50.0))
    made_here = local.resolve(NAME).version
    line = one_line(zoo_cli(hub_env, dest, "pull", REPO), f"already holds '{NAME}'", "--add-version")
    assert made_here[:12] in line
    assert [e.version for e in local.list()] == [made_here]

    card = ok_json(zoo_cli(hub_env, dest, "pull", REPO, "--add-version", "--json"))
    assert local.resolve(NAME).version == card["version"] != made_here
    # Pulling a version the registry already holds needs no option.
    ok_json(zoo_cli(hub_env, dest, "pull", REPO, "--json"))
