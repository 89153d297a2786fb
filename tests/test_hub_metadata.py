"""Model cards the Hub accepts: the test Hub checks README.md metadata as huggingface.co does (tests/hub_metadata.py),
every kind of card zoo makes passes it, and a refusal is one line with nothing pushed."""

from __future__ import annotations

import json
import textwrap

import pytest
import yaml
from safetensors.torch import save_file

from tests.hub_fixtures import HUB_USER, hub_env, hub_server, run_python  # noqa: F401
from tests.test_hub import assert_one_line_error, ok_json, published_resnet18, zoo_cli  # noqa: F401
from zoo_registry import artifact

TINY = ["--weights", "random", "--eval-limit", "16", "--calibration-images", "16", "--latency-runs", "2",
        "--runtimes", "eager"]


def front_matter(readme: str) -> dict:
    return yaml.safe_load(readme.split("---\n")[1])


VALID = """---
license: bsd-3-clause
datasets:
- zalando-datasets/fashion_mnist
model-index:
- name: m
  results:
  - task: {type: image-classification}
    dataset: {name: fashion-mnist, type: zalando-datasets/fashion_mnist, split: test}
    metrics: [{type: accuracy, value: 90.1}]
---
# m
"""


@pytest.mark.parametrize("change, message", [
    (("license: bsd-3-clause", "license: BSD-3-Clause"), '"license" must be one of [apache-2.0, mit,'),
    (("license: bsd-3-clause", "license: gpl-2.0-or-later"), '"license" must be one of'),
    (("license: bsd-3-clause", "license: bsd-3-clause\nbase_model: fashion-mnist"),
     '"base_model" fashion-mnist is not a model repository on the Hub'),
    (("- zalando-datasets/fashion_mnist", "- Fashion MNIST"), '"datasets[0]" must be a valid dataset id'),
    ((", type: zalando-datasets/fashion_mnist", ""), '"model-index[0].results[0].dataset.type" is required'),
    (("split: test", "split: 1"), '"model-index[0].results[0].dataset.split" must be a string'),
    (("[{type: accuracy, value: 90.1}]", "[{value: 90.1}]"), '"model-index[0].results[0].metrics[0].type" is required'),
    (("- name: m\n  results:\n", "- results:\n"), '"model-index[0].name" is required'),
], ids=["license-case", "license-spdx", "base-model-not-a-repo", "dataset-id", "dataset-type", "split-type",
        "metric-type", "model-name"])
def test_the_test_hub_refuses_metadata_as_the_hub_does(hub_env, change, message):
    """At /api/validate-yaml, which huggingface_hub calls before it commits a README.md (HfApi._validate_yaml)
    and which zoo push calls through ModelCard.validate before it creates anything."""
    readme = VALID.replace(*change)
    assert readme != VALID
    code = textwrap.dedent("""
        import json, sys
        from huggingface_hub import constants
        from huggingface_hub.utils import get_session
        outcome = []
        for text in json.loads(sys.argv[1]):
            response = get_session().post(f"{constants.ENDPOINT}/api/validate-yaml",
                                          json={"content": text, "repoType": "model"})
            outcome.append([response.status_code, response.json()])
        print(json.dumps(outcome))
    """)
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", code, json.dumps([VALID, readme])], env=hub_env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    (ok_status, ok_body), (status, body) = json.loads(done.stdout)
    assert (ok_status, ok_body) == (200, {"errors": [], "warnings": []})
    assert status == 400 and message in body["errors"][0]["message"], body


@pytest.fixture
def registry(tmp_path):
    return tmp_path / "registry"


def pushed_readme(hub_server, env, registry, name: str) -> dict:
    info = ok_json(zoo_cli(env, registry, "push", name, "--repo", f"{HUB_USER}/{name}", "--json"))
    return front_matter(hub_server.read_file(info["repo_id"], artifact.README_FILE).decode())


@pytest.mark.slow
def test_every_kind_of_card_zoo_makes_is_accepted_with_its_licence_and_dataset(hub_server, hub_env, registry,
                                                                               published_resnet18):
    """Static, QAT and dynamic int8, float, and published weights: each pushed through the checking Hub."""
    env = hub_env
    made = {
        "static": ["quantize", "mobilenet_v2", "-p", "fbgemm-minmax", *TINY, "--name", "static"],
        "qat": ["quantize", "mobilenet_v2", "-p", "fbgemm-qat", *TINY, "--qat-epochs", "1", "--qat-batches", "1",
                "--name", "qat"],
        "dynamic": ["quantize", "mobilenet_v2", "-p", "dynamic-int8", *TINY, "--name", "dynamic"],
        "float": ["train", "mobilenet_v2", "--epochs", "1", "--train-limit", "8", "--eval-limit", "8", "--name",
                  "float"],
    }
    for name, args in made.items():
        assert zoo_cli(env, registry, *args).returncode == 0, name
        metadata = pushed_readme(hub_server, env, registry, name)
        assert metadata["license"] == "bsd-3-clause", name  # zoo's plugin's licence: random weights have none
        assert metadata["datasets"] == ["zalando-datasets/fashion_mnist"], name
        assert "base_model" not in metadata, name  # the parent is not a Hub repository
        [result] = metadata["model-index"][0]["results"][:1]
        assert result["dataset"] == {"name": "fashion-mnist", "type": "zalando-datasets/fashion_mnist",
                                     "split": "test"}

    # Published weights carry their publisher's terms (the test plugin's weights name none: the plugin's).
    _, published_env, _ = published_resnet18
    published_env = {**env, "PYTHONPATH": published_env["PYTHONPATH"], "ZOO_PLUGINS": published_env["ZOO_PLUGINS"]}
    assert zoo_cli(published_env, registry, "pull", "test-resnet18-int8", "--latency-runs", "2").returncode == 0
    metadata = pushed_readme(hub_server, published_env, registry, "test-resnet18-int8")
    assert metadata["license"] == "unknown"  # the test plugin's package declares no licence
    assert metadata["datasets"] == ["ILSVRC/imagenet-1k"] and "base_model" not in metadata


@pytest.mark.slow
def test_base_model_names_the_parents_hub_repository_and_the_hub_checks_it(hub_server, hub_env, registry,
                                                                           tmp_path):
    """Float weights that came from a Hub repository (their card says which) make it the int8 card's base_model;
    one that does not exist on the Hub is refused in one line, and nothing is pushed."""
    from zoo.host.plugins import get_catalog

    model = get_catalog().model("mobilenet_v2").build(10)
    weights = tmp_path / "parent.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    parent = f"{HUB_USER}/mnv2-float"
    weights.with_suffix(".json").write_text(json.dumps({
        "dataset": {"name": "fashion-mnist", "num_classes": 10, "image_size": 32}, "license": "apache-2.0",
        "hub_repo": parent}))
    args = [a if a != "random" else str(weights) for a in TINY]
    assert zoo_cli(hub_env, registry, "quantize", "mobilenet_v2", "-p", "fbgemm-minmax", *args,
                   "--name", "child").returncode == 0

    refused = zoo_cli(hub_env, registry, "push", "child", "--repo", f"{HUB_USER}/child")
    line = assert_one_line_error(refused, "refused the model card", '"base_model" testuser/mnv2-float is not a model '
                                 "repository", "nothing was pushed")
    assert f"{HUB_USER}/child" in line
    assert f"{HUB_USER}/child".lower() not in hub_server.state.repos  # not even an empty repository

    hub_server.state.create_repo(parent, HUB_USER, private=False)
    metadata = front_matter(hub_server.read_file(
        ok_json(zoo_cli(hub_env, registry, "push", "child", "--repo", f"{HUB_USER}/child", "--json"))["repo_id"],
        artifact.README_FILE).decode())
    assert metadata["base_model"] == parent
    assert metadata["license"] == "apache-2.0"  # the parent weights' terms


def test_a_commit_with_refused_metadata_is_refused_even_without_validate_yaml(hub_server, hub_env):
    """The Hub checks again at commit: a client that skipped validate-yaml gets a 400 naming the field."""
    code = textwrap.dedent("""
        from huggingface_hub import HfApi, CommitOperationAdd
        from huggingface_hub.errors import HfHubHTTPError
        api = HfApi()
        api.create_repo("testuser/raw")
        api._validate_yaml = lambda *a, **k: None
        try:
            api.create_commit("testuser/raw", [CommitOperationAdd("README.md", b"---\\nlicense: nope\\n---\\n")],
                              commit_message="x")
            print("accepted")
        except HfHubHTTPError as exc:
            print(exc.response.status_code, exc.server_message)
    """)
    done = run_python(code, hub_env)
    assert done.stdout.startswith('400 Invalid metadata in README.md: "license" must be one of'), done.stdout
    assert hub_server.commit_count("testuser/raw") == 1  # only the repository's initial commit
