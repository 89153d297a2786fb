"""`zoo push` and `zoo pull` with the REAL huggingface_hub client against tests/hubserver.py.

The CLI runs in subprocesses: the client reads HF_ENDPOINT when it is first
imported, and each test has its own server. The source model is one tiny
quantize run (random weights, a few Fashion-MNIST images) shared by the module.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import zoo
from tests.hub_fixtures import HUB_TOKEN, HUB_USER, hub_env, hub_server  # noqa: F401
from zoo.hub import ref as hubref
from zoo_registry import artifact
from zoo_registry.names import BadReferenceError
from zoo_registry.store import Registry

NAME = "tiny-mnv2"
REPO = f"{HUB_USER}/{NAME}"
EVAL_IMAGES = 32


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Registry:
    """A registry holding one real int8 model, recorded as NAME; tests only read it."""
    from zoo.jobs.quantize import LatencyOptions, QuantizeOptions, run_quantize
    from zoo.jobs.record import record_quantized

    registry = Registry(tmp_path_factory.mktemp("source") / "registry")
    produced = run_quantize(QuantizeOptions(arch="mobilenet_v2", preset="fbgemm-minmax", weights="random",
                                            eval_limit=EVAL_IMAGES, calibration_images=16,
                                            latency=LatencyOptions(runs=2, warmup=1, runtimes=("eager",))))
    record_quantized(registry, produced, NAME)
    return registry


@pytest.fixture
def dest(tmp_path) -> Path:
    """Where pulls land: a registry that starts empty."""
    return tmp_path / "dest-registry"


def zoo_cli(env: dict, registry: Path | Registry, *args: str, timeout: float = 180,
            cwd: Path | None = None) -> subprocess.CompletedProcess:
    root = registry.root if isinstance(registry, Registry) else registry
    return subprocess.run([sys.executable, "-m", "zoo", "--registry", str(root), *args], env=env,
                          capture_output=True, text=True, timeout=timeout, cwd=cwd)


def ok_json(result: subprocess.CompletedProcess):
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def artifact_files(registry: Registry, name: str = NAME) -> dict[str, bytes]:
    entry = registry.resolve(name)
    directory = registry.directory(entry.name, entry.version)
    return {file_name: (directory / file_name).read_bytes() for file_name in artifact.FILES}


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.stderr and HUB_TOKEN not in result.stderr + result.stdout
    return lines[0]


def assert_unchanged(dest: Path) -> None:
    """Nothing recorded, and no version directory left behind."""
    assert Registry(dest).list() == []
    assert not (dest / "models").exists() or not any((dest / "models").rglob("*"))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------------------------------------
# Push
# --------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_push_pull_round_trip_gives_the_same_model(hub_server, hub_env, source, dest, tmp_path):
    outputs = []
    pushed = zoo_cli(hub_env, source, "push", NAME, "--repo", REPO, "--json")
    outputs.append(pushed)
    info = ok_json(pushed)
    entry = source.resolve(NAME)
    assert info["changed"] and info["repo_id"] == REPO and info["commit"] == hub_server.head(REPO)
    assert info["version"] == entry.version and info["url"].endswith(f"/{REPO}/commit/{info['commit']}")
    # One commit of exactly the four files, its message naming the version digest.
    assert hub_server.commit_count(REPO) == 2  # the repository's initial commit, then the push
    commit = hub_server.state.get_repo(REPO).commits[info["commit"]]
    assert commit.title == f"zoo push {NAME}@{entry.version}"
    assert hub_server.list_files(REPO) == [".gitattributes", *sorted(artifact.FILES)]
    files = artifact_files(source)
    assert {f: hub_server.read_file(REPO, f) for f in artifact.FILES} == files
    assert hub_server.file_entry(REPO, artifact.MODEL_FILE).lfs

    pulled = zoo_cli(hub_env, dest, "pull", REPO, "--json")
    outputs.append(pulled)
    card = ok_json(pulled)
    assert card == json.loads(files[artifact.CARD_FILE])
    assert artifact_files(Registry(dest)) == files
    assert [e.ref for e in Registry(dest).list()] == [entry.ref]

    # The pulled model is the pushed one: same outputs, bit for bit, and the card's accuracy on its images.
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    with torch.inference_mode():
        assert torch.equal(zoo.load(NAME, registry=str(dest))(x), zoo.load(NAME, registry=str(source.root))(x))
    evaluated = zoo_cli(hub_env, dest, "eval", NAME, "--json")
    outputs.append(evaluated)
    outcome = ok_json(evaluated)
    assert outcome["matches"] and outcome["images"] == EVAL_IMAGES
    assert {k: outcome["measured"][k] for k in ("top1", "top5")} == outcome["card"]

    # The token went to the server and nowhere else: not in any output, registry file or cache file.
    for result in outputs:
        assert HUB_TOKEN not in result.stdout + result.stderr
    for root in (dest, tmp_path / "hf-home"):
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                assert HUB_TOKEN.encode() not in path.read_bytes(), path


def test_pushing_the_same_version_again_makes_no_commit(hub_server, hub_env, source):
    first = ok_json(zoo_cli(hub_env, source, "push", NAME, "--repo", REPO, "--json"))
    again = zoo_cli(hub_env, source, "push", NAME, "--repo", REPO)
    assert again.returncode == 0, again.stderr
    assert "already holds" in again.stdout and "nothing to push" in again.stdout
    assert hub_server.head(REPO) == first["commit"] and hub_server.commit_count(REPO) == 2
    assert len(hub_server.requests_matching("POST", "/commit/")) == 1
    assert len(hub_server.requests_matching("PUT", "/lfs-upload/")) == 1


def test_push_goes_to_the_namespace_setting_else_the_token_owner(hub_server, hub_env, source):
    ok_json(zoo_cli(hub_env, source, "push", NAME, "--json"))
    assert hub_server.list_files(f"{HUB_USER}/{NAME}")[1:] == sorted(artifact.FILES)
    elsewhere = {**hub_env, hubref.NAMESPACE_ENV: "zoo-models"}
    # The test token may not write to zoo-models: the Hub's refusal comes back as one line.
    assert_one_line_error(zoo_cli(elsewhere, source, "push", NAME), "HTTP 403", "zoo-models/tiny-mnv2")


def test_push_private_and_to_a_branch(hub_server, hub_env, source, dest):
    ok_json(zoo_cli(hub_env, source, "push", NAME, "--repo", f"{HUB_USER}/secret", "--private", "--json"))
    assert hub_server.state.get_repo(f"{HUB_USER}/secret").private
    anonymous = {k: v for k, v in hub_env.items() if k != "HF_TOKEN"}
    assert_one_line_error(zoo_cli(anonymous, dest, "pull", f"{HUB_USER}/secret"), "not found", "private")
    assert_unchanged(dest)

    # --private never uploads into a repository that exists and is public.
    hub_server.create_repo(f"{HUB_USER}/public")
    assert_one_line_error(zoo_cli(hub_env, source, "push", NAME, "--repo", f"{HUB_USER}/public", "--private"),
                          "is public")
    assert hub_server.list_files(f"{HUB_USER}/public") == [".gitattributes"]

    info = ok_json(zoo_cli(hub_env, source, "push", NAME, "--repo", REPO, "--revision", "dev", "--json"))
    assert info["revision"] == "dev" and hub_server.head(REPO, "dev") == info["commit"]
    assert hub_server.list_files(REPO) == [".gitattributes"]  # main untouched
    card = ok_json(zoo_cli(hub_env, dest, "pull", f"{REPO}@dev", "--json"))
    assert card["version"] == source.resolve(NAME).version


# --------------------------------------------------------------------------------------------------------
# Pull
# --------------------------------------------------------------------------------------------------------


def test_pull_by_short_name_through_the_default_namespace(hub_server, hub_env, source, dest):
    hub_server.put_files(f"zoo-models/{NAME}", artifact_files(source))
    result = zoo_cli(hub_env, dest, "pull", NAME)
    assert result.returncode == 0, result.stderr
    assert f"pulled {source.resolve(NAME).ref} from zoo-models/{NAME}@" in result.stderr
    assert result.stdout.startswith(f"{NAME}@") and "model.safetensors" in result.stdout

    hub_server.put_files(f"{HUB_USER}/{NAME}", artifact_files(source))
    hub_server.clear_requests()
    ok_json(zoo_cli({**hub_env, hubref.NAMESPACE_ENV: HUB_USER}, dest, "pull", NAME, "--json"))
    assert hub_server.requests_matching("GET", f"/api/models/{HUB_USER}/{NAME}")


def second_version(source: Registry) -> dict[str, bytes]:
    """Another version of NAME: the same weights under a card with one more field."""
    config, card, model_bytes = source.open(source.resolve(NAME))
    return artifact.render(model_bytes, config, {**card.content(), "note": "second version"}, NAME)


@pytest.mark.slow
def test_pull_at_a_revision(hub_server, hub_env, source, dest):
    first = hub_server.put_files(REPO, artifact_files(source), message="v1")
    hub_server.create_branch(REPO, "stable", first)
    newer = second_version(source)
    hub_server.put_files(REPO, newer, message="v2")
    versions = {
        "main": json.loads(newer[artifact.CARD_FILE])["version"],
        "stable": source.resolve(NAME).version,
        first: source.resolve(NAME).version,
    }
    for revision, version in versions.items():
        # Each revision is another version of NAME: the registry takes it as the latest only when told to.
        card = ok_json(zoo_cli(hub_env, dest, "pull", f"{REPO}@{revision}", "--add-version", "--json"))
        assert card["version"] == version, revision
    assert sorted(e.version for e in Registry(dest).list()) == sorted(set(versions.values()))


@pytest.mark.slow
def test_a_second_pull_is_served_from_the_cache_and_works_offline(hub_server, hub_env, source, dest, tmp_path):
    hub_server.put_files(REPO, artifact_files(source))
    ok_json(zoo_cli(hub_env, dest, "pull", REPO, "--json"))
    assert len(hub_server.requests_matching("GET", "/resolve/")) == len(artifact.FILES)
    hub_server.clear_requests()
    again = tmp_path / "again"
    ok_json(zoo_cli(hub_env, again, "pull", REPO, "--json"))
    # Only the revision is looked up; no file is fetched again.
    assert hub_server.requests_matching("GET", "/resolve/") == [] and hub_server.requests_matching("HEAD") == []
    assert len(hub_server.requests) == 1
    hub_server.clear_requests()
    offline = tmp_path / "offline"
    card = ok_json(zoo_cli({**hub_env, "HF_HUB_OFFLINE": "1"}, offline, "pull", REPO, "--json"))
    assert card["version"] == source.resolve(NAME).version and hub_server.requests == []
    assert artifact_files(Registry(offline)) == artifact_files(source)


# --------------------------------------------------------------------------------------------------------
# Errors: one line, exit 2, nothing recorded
# --------------------------------------------------------------------------------------------------------


def test_missing_repository_and_revision(hub_server, hub_env, source, dest):
    assert_one_line_error(zoo_cli(hub_env, dest, "pull", f"{HUB_USER}/nothing"), f"{HUB_USER}/nothing", "not found")
    hub_server.put_files(REPO, artifact_files(source))
    assert_one_line_error(zoo_cli(hub_env, dest, "pull", f"{REPO}@nobranch"), "no revision 'nobranch'")
    assert_unchanged(dest)


def test_a_refused_token(hub_server, hub_env, source, dest):
    hub_server.put_files(REPO, artifact_files(source))
    bad = {**hub_env, "HF_TOKEN": "hf_not_a_valid_token"}
    assert_one_line_error(zoo_cli(bad, dest, "pull", REPO), "refused the token (HTTP 401)", "HF_TOKEN")
    assert_one_line_error(zoo_cli(bad, source, "push", NAME, "--repo", f"{HUB_USER}/other"), "HTTP 401")
    assert_unchanged(dest)
    assert f"{HUB_USER}/other".lower() not in hub_server.state.repos


def test_no_network(hub_env, source, dest):
    unreachable = {**hub_env, "HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}"}
    started = time.monotonic()
    assert_one_line_error(zoo_cli(unreachable, dest, "pull", REPO), "cannot reach the Hub", "not in the Hub cache")
    assert_one_line_error(zoo_cli(unreachable, source, "push", NAME, "--repo", REPO), "cannot reach the Hub")
    assert_one_line_error(zoo_cli({**hub_env, "HF_HUB_OFFLINE": "1"}, dest, "pull", REPO),
                          "HF_HUB_OFFLINE is set", "not in the Hub cache")
    assert time.monotonic() - started < 60  # refused at once, not retried for minutes
    assert_unchanged(dest)


def _card_with(files: dict[str, bytes], change) -> dict[str, bytes]:
    card = json.loads(files[artifact.CARD_FILE])
    change(card)
    return {**files, artifact.CARD_FILE: artifact.pretty_json(card)}


def _tampered(files):
    model = bytearray(files[artifact.MODEL_FILE])
    model[-1] ^= 1
    return {**files, artifact.MODEL_FILE: bytes(model)}


def _escaping(files):
    return _card_with(files, lambda card: card["files"].update({"../../escaped.txt": {"sha256": "0" * 64, "size": 1}}))


def _without_readme(files):
    return {k: v for k, v in files.items() if k != artifact.README_FILE}


def _edited_figure(files):
    return _card_with(files, lambda card: card["metrics"].update(top1=99.0))


@pytest.mark.parametrize("damage, fragments", [
    (_tampered, ("model.safetensors was altered", "sha256")),
    (_escaping, ("names a file outside the artifact", "../../escaped.txt")),
    (_without_readme, ("card.json names README.md, which the repository does not hold",)),
    (_edited_figure, ("card.json was altered",)),
    (lambda files: {artifact.CONFIG_FILE: files[artifact.CONFIG_FILE]}, ("holds no card.json: it is not a zoo model",)),
], ids=["sha256-mismatch", "escaping-name", "absent-file", "edited-card", "not-a-zoo-model"])
def test_a_damaged_repository_is_refused(hub_server, hub_env, source, dest, tmp_path, damage, fragments):
    hub_server.put_files(REPO, damage(artifact_files(source)))
    assert_one_line_error(zoo_cli(hub_env, dest, "pull", REPO), *fragments)
    assert_unchanged(dest)
    assert not list(tmp_path.rglob("escaped.txt"))


def test_a_model_whose_plugin_is_not_installed_names_the_plugin(hub_server, hub_env, source, dest):
    from tests.conftest import BUILTIN_PLUGINS

    hub_server.put_files(REPO, artifact_files(source))
    without = {**hub_env, "ZOO_PLUGINS": ",".join(p for p in BUILTIN_PLUGINS if p != "mobilenet_v2")}
    assert_one_line_error(zoo_cli(without, dest, "pull", REPO),
                          "model architecture 'mobilenet_v2' is provided by plugin 'mobilenet_v2'", "pip install zoo")
    assert_unchanged(dest)


@pytest.mark.parametrize("reference, message", [
    ("Bad_Name", "invalid model name 'Bad_Name'"),
    ("alice/", "invalid Hub repository name ''"),
    ("alice/a--b", "invalid Hub repository name 'a--b'"),
    ("a/b/c", "write NAMESPACE/REPO"),
    (f"{REPO}@", "invalid Hub revision ''"),
    (f"{REPO}@../main", "invalid Hub revision '../main'"),
    ("resnet18-int8@main", "published by plugin 'torchvision_models'"),
])
def test_malformed_references_are_refused_before_any_request(hub_server, hub_env, dest, reference, message):
    assert_one_line_error(zoo_cli(hub_env, dest, "pull", reference), message)
    assert hub_server.requests == []
    assert_unchanged(dest)


def test_references_resolve_through_the_default_namespace(monkeypatch):
    monkeypatch.delenv(hubref.NAMESPACE_ENV, raising=False)
    assert hubref.resolve(*hubref.split("mnv2")) == hubref.HubRef("zoo-models/mnv2")
    assert hubref.resolve(*hubref.split("alice/Mnv2.x@refs/pr/1")) == hubref.HubRef("alice/Mnv2.x", "refs/pr/1")
    monkeypatch.setenv(hubref.NAMESPACE_ENV, "acme")
    assert str(hubref.resolve(*hubref.split("mnv2@v2"))) == "acme/mnv2@v2"
    monkeypatch.setenv(hubref.NAMESPACE_ENV, "no/slash")
    with pytest.raises(BadReferenceError, match="ZOO_HUB_NAMESPACE"):
        hubref.resolve("mnv2", None)


# --------------------------------------------------------------------------------------------------------
# Names that plugins publish
# --------------------------------------------------------------------------------------------------------


PUBLISHED_PLUGIN = """
    import functools

    from zoo import KnownWeights, ModelSpec, checkpoints, hookimpl
    from zoo_plugins.torchvision_models import build, fuse

    URL = {url!r}


    def load():
        return checkpoints.load_state_dict(URL, "test {builder} int8 weights")


    @hookimpl
    def register_models(register):
        register(ModelSpec("test_{builder}", functools.partial(build, {builder!r}), fuse=fuse, input_size=224,
                           description="torchvision's quantizable {builder}, weights published by a test",
                           weights=(KnownWeights("test-{engine}", dataset="imagenet-1k", num_classes=1000,
                                                 image_size=224, load=load, source="a test's own checkpoint",
                                                 quantized=True, engine={engine!r}, preset={preset!r},
                                                 stage={stage!r},
                                                 metrics={{"imagenet-1k": {{"top1": 12.5, "top5": 34.5,
                                                                           "images": 100}}}},
                                                 published_as="test-{builder}-int8"),)))
"""


def publish(tmp_path, builder: str, engine: str, preset: str, stage: str, state: dict):
    """A test plugin publishing ``state`` as the int8 weights of torchvision's quantizable ``builder``, at a URL
    whose file name carries the checkpoint's own sha256 prefix (torch.hub's convention), already in torch.hub's
    cache; returns (the environment that has the plugin, the checkpoint's path)."""
    import hashlib
    import io

    from tests import fake_plugins
    from tests.conftest import BUILTIN_PLUGINS

    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    name = f"test_{builder}_{engine}_{hashlib.sha256(data).hexdigest()[:8]}.pth"
    path = Path(os.environ["TORCH_HOME"]) / "hub" / "checkpoints" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    site = tmp_path / "site"
    site.mkdir()
    fake_plugins.install(site, "zoo-published-test", "0.1.0",
                         {"published_test": PUBLISHED_PLUGIN.format(url=f"https://models.invalid/{name}",
                                                                     builder=builder, engine=engine, preset=preset,
                                                                     stage=stage)},
                         {"published_test": "published_test"})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
           "ZOO_PLUGINS": ",".join([*BUILTIN_PLUGINS, "published_test"])}
    return env, path


@pytest.fixture
def published_resnet18(tmp_path):
    """torchvision's quantized ResNet18 made here (its own quantize_model on a dummy input), published by a test
    plugin (``publish``); returns (the model, the environment that has the plugin, the checkpoint's path)."""
    from torchvision.models.quantization import resnet18

    previous = torch.backends.quantized.engine
    torch.backends.quantized.engine = "fbgemm"
    with torch.random.fork_rng():
        torch.manual_seed(3)
        model = resnet18(weights=None, quantize=True).eval()
    env, path = publish(tmp_path, "resnet18", "fbgemm", "fbgemm-histogram", "converted", model.state_dict())
    yield model, env, path
    torch.backends.quantized.engine = previous
    path.unlink(missing_ok=True)


@pytest.mark.slow
def test_pull_published_weights_through_their_plugin(published_resnet18, dest):
    model, env, _ = published_resnet18
    card = ok_json(zoo_cli(env, dest, "pull", "test-resnet18-int8", "--latency-runs", "2", "--json"))
    assert (card["name"], card["arch"], card["engine"], card["preset"]) == (
        "test-resnet18-int8", "test_resnet18", "fbgemm", "fbgemm-histogram")
    assert (card["metrics"]["top1"], card["metrics"]["top5"]) == (12.5, 34.5)  # the plugin's own figures
    assert card["dataset"] == {"name": "imagenet-1k", "hub_id": "ILSVRC/imagenet-1k", "split": "test", "images": 100,
                               "image_size": 224, "num_classes": 1000}
    assert card["published"]["source"] == "a test's own checkpoint"
    assert "not measured by zoo" in card["published"]["figures"]
    assert card["metrics"]["size_bytes"] == card["files"]["model.safetensors"]["size"]
    assert card["metrics"]["latency"]["runs"] == 2 and card["metrics"]["latency"]["engine"] == "fbgemm"

    # Recorded like any registry model: it reloads without pickle and computes what torchvision's model does.
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    code = ("import sys, torch, zoo\nx = torch.load(sys.argv[1])\n"
            "torch.save(zoo.load('test-resnet18-int8', registry=sys.argv[2])(x), sys.argv[3])")
    torch.save(x, dest.parent / "x.pt")
    done = subprocess.run([sys.executable, "-c", code, str(dest.parent / "x.pt"), str(dest),
                           str(dest.parent / "y.pt")], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with torch.inference_mode():
        assert torch.equal(torch.load(dest.parent / "y.pt"), model(x))
    # The same weights again add no version.
    again = ok_json(zoo_cli(env, dest, "pull", "test-resnet18-int8", "--json"))
    assert again["version"] == card["version"] and len(Registry(dest).list()) == 1
    shown = zoo_cli(env, dest, "show", "test-resnet18-int8")
    assert shown.returncode == 0 and "int8 test_resnet18 on imagenet-1k: top-1 12.50 %" in shown.stdout


@pytest.mark.slow
def test_weights_published_before_convert_are_converted_on_pull(tmp_path, dest):
    """torchvision publishes MobileNetV3's int8 weights as its QAT-prepared state: zoo loads them into the model
    prepared the same way, converts it, and records a model that computes what torchvision's converted one does."""
    from types import SimpleNamespace

    from tests.torchvision_reference import torchvision_int8

    previous = torch.backends.quantized.engine
    torch.backends.quantized.engine = "qnnpack"
    try:
        model, state = torchvision_int8("mobilenet_v3_large", {}, SimpleNamespace(stage="prepared", engine="qnnpack"),
                                        64)
        env, path = publish(tmp_path, "mobilenet_v3_large", "qnnpack", "qnnpack-qat", "prepared", state)
        card = ok_json(zoo_cli(env, dest, "pull", "test-mobilenet_v3_large-int8", "--latency-runs", "2", "--json"))
        assert (card["preset"], card["method"], card["engine"]) == ("qnnpack-qat", "qat", "qnnpack")
        x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
        code = ("import sys, torch, zoo\nx = torch.load(sys.argv[1])\n"
                "torch.save(zoo.load('test-mobilenet_v3_large-int8', registry=sys.argv[2])(x), sys.argv[3])")
        torch.save(x, tmp_path / "x.pt")
        done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "x.pt"), str(dest), str(tmp_path / "y.pt")],
                              env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        with torch.inference_mode():
            expected = model(x)
        assert torch.unique(expected).numel() > 10
        assert torch.equal(torch.load(tmp_path / "y.pt"), expected)
    finally:
        torch.backends.quantized.engine = previous


def test_a_published_checkpoint_that_does_not_match_its_name_is_refused(published_resnet18, dest):
    _, env, path = published_resnet18
    path.write_bytes(path.read_bytes()[:-10])  # a truncated download
    assert_one_line_error(zoo_cli(env, dest, "pull", "test-resnet18-int8"), str(path),
                          "is not the published file: its name says sha256")
    assert_unchanged(dest)


@pytest.mark.parametrize("weights, published_as", [
    ("ResNet18_QuantizedWeights.IMAGENET1K_FBGEMM_V1", "resnet18-int8"),
    ("MobileNet_V2_QuantizedWeights.IMAGENET1K_QNNPACK_V1", "tv_mobilenet_v2-int8"),
])
def test_a_placeholder_at_torchvisions_checkpoint_path_is_refused(dest, weights, published_as):
    """Where zoo's own message tells offline users to put the file: a wrong file there records nothing."""
    import torchvision.models.quantization as tvq

    enum, member = weights.split(".")
    url = getattr(getattr(tvq, enum), member).url
    path = Path(os.environ["TORCH_HOME"]) / "hub" / "checkpoints" / url.rsplit("/", 1)[-1]
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"placeholder": torch.zeros(1)}, path)
    try:
        assert_one_line_error(zoo_cli(dict(os.environ), dest, "pull", published_as), f"torchvision weights {weights}",
                              str(path), "is not the published file")
    finally:
        path.unlink()
    assert_unchanged(dest)


@pytest.mark.expect_blocked_network
def test_published_weights_that_cannot_be_downloaded_say_where_to_put_them(dest):
    result = zoo_cli(dict(os.environ), dest, "pull", "tv_mobilenet_v2-int8")
    assert_one_line_error(result, "MobileNet_V2_QuantizedWeights.IMAGENET1K_QNNPACK_V1",
                          "place the file at", os.environ["TORCH_HOME"])
    assert_unchanged(dest)
