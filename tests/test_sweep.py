"""zoo sweep: the grid, what the driver accepts from a worker, and a real Ray cluster of two worker nodes.

The Ray cluster (ray.cluster_utils.Cluster: a head with no CPUs and two one-CPU worker nodes on this machine) is
started once for the whole test run, and the grid is 2 architectures × 2 presets on 32 test images with random
weights, so the Ray checks cost one 4-cell sweep, its re-run, and one sweep whose cells kill their workers.
"""

from __future__ import annotations

import dataclasses
import json
import os

import pytest

from tests import fake_plugins
from tests.test_storage_faults import one_line_error, zoo
from zoo.host.plugins import host
from zoo_registry import artifact
from zoo_registry.store import Registry

TINY = ["--weights", "random", "--eval-limit", "32", "--calibration-images", "16", "--latency-runs", "3",
        "--runtimes", "eager"]
GRID = ["--arch", "mobilenet_v2,resnet18", "--preset", "fbgemm-minmax,x86-histogram"]
NAMES = sorted(f"{a}-{p}-fashion-mnist" for a in ("mobilenet_v2", "resnet18") for p in ("fbgemm-minmax", "x86-histogram"))

# A model whose build kills the worker process that runs it, as the kernel's OOM killer or a lost node would;
# only where the test's Ray job environment says so, never in the driver.
KILLER = """
    import os
    from zoo import ModelSpec, hookimpl

    def build(num_classes):
        if os.environ.get("ZOO_TEST_KILL_WORKER") == "1":
            os._exit(9)
        raise RuntimeError("sweep_killer was built outside a Ray worker")

    @hookimpl
    def register_models(register):
        register(ModelSpec("sweep_killer", build, description="kills its worker"))
"""


def versions(root) -> list[tuple[str, str]]:
    return sorted((e.name, e.version) for e in Registry(root).list())


@pytest.mark.parametrize("args, fragments", [
    (["--arch", "mobilenet_v2,resnet81", "--preset", "fbgemm-minmax"], ["unknown model 'resnet81'", "resnet18"]),
    (["--arch", "mobilenet_v2", "--preset", "fbgemm-minmax,fbgemm-minmux"],
     ["unknown preset 'fbgemm-minmux'", "fbgemm-minmax"]),
    (["--arch", "mobilenet_v2", "--preset", "fbgemm-minmax", "--dataset", "fashion_mnist"],
     ["unknown dataset 'fashion_mnist'", "fashion-mnist"]),
    (["--arch", ",", "--preset", "fbgemm-minmax"], ["arch needs at least one name"]),
    (["--arch", "mobilenet_v2", "--preset", "fbgemm-minmax", "--executor", "dask"],
     ["'dask' is not one of 'inprocess', 'ray'"]),
    (["--arch", "mobilenet_v2", "--preset", "fbgemm-minmax", "--address", "head:6379"],
     ["--address is for --executor ray"]),
    (["--arch", "mobilenet_v2", "--preset", "fbgemm-minmax", "--cpus-per-cell", "0"], ["--cpus-per-cell", "0"]),
])
def test_bad_values_are_one_line_naming_the_value_and_nothing_runs(tmp_path, args, fragments):
    result = zoo("--registry", str(tmp_path), "sweep", *args, *TINY)
    one_line_error(result, *fragments)
    assert versions(tmp_path) == []


def test_dry_run_lists_every_cell_under_its_predictable_name_and_runs_nothing(tmp_path):
    result = zoo("--registry", str(tmp_path), "sweep", *GRID, *TINY, "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    cells = json.loads(result.stdout)["cells"]
    assert sorted(c["name"] for c in cells) == NAMES
    assert {c["status"] for c in cells} == {"planned"} and len({c["key"] for c in cells}) == 4
    assert versions(tmp_path) == []


def test_a_cell_that_cannot_run_is_one_failed_cell_and_the_others_are_planned(tmp_path):
    # resnet50 has no Fashion-MNIST weights, and x86-pt2e does not go through eager: known before anything runs.
    result = zoo("--registry", str(tmp_path), "sweep", "--arch", "mobilenet_v2,resnet50", "--preset",
                 "fbgemm-minmax,x86-pt2e", "--backend", "eager", "--eval-limit", "32", "--dry-run", "--json")
    assert result.exit_code == 2, result.output
    cells = {(c["arch"], c["preset"]): c for c in json.loads(result.stdout)["cells"]}
    assert cells["mobilenet_v2", "fbgemm-minmax"]["status"] == "planned"
    assert "no float weights for 'resnet50'" in cells["resnet50", "fbgemm-minmax"]["error"]
    assert "does not work with backend 'eager'" in cells["mobilenet_v2", "x86-pt2e"]["error"]
    assert [c["status"] for c in cells.values()].count("failed") == 3
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 3 and all(line.startswith("Error: cell ") and " cannot run: " in line for line in errors)
    assert versions(tmp_path) == []


def test_a_cells_key_changes_with_what_decides_its_result_and_nothing_else():
    from zoo.jobs.quantize import QuantizeOptions
    from zoo.jobs.sweep import cell_key

    base = QuantizeOptions("mobilenet_v2", "fbgemm-minmax", eval_limit=32, command="zoo sweep ...")
    key = cell_key(base, "random", None)
    assert cell_key(dataclasses.replace(base, command="something else"), "random", None) == key
    for changed in (dataclasses.replace(base, eval_limit=33), dataclasses.replace(base, seed=1),
                    dataclasses.replace(base, preset="x86-histogram"), dataclasses.replace(base, qat={"lr": 0.1})):
        assert cell_key(changed, "random", None) != key
    assert cell_key(base, "fashion-mnist", "ab" * 32) != key


@pytest.mark.slow
def test_the_driver_records_only_the_cell_it_asked_for_intact_and_skips_it_on_a_rerun(tmp_path):
    """What a worker returns is outside input: tampered, misnamed or misplaced files are refused, one line each."""
    from zoo.context import Context
    from zoo.jobs import sweep
    from zoo.jobs.quantize import LatencyOptions, QuantizeOptions

    ctx = Context.from_environment(registry=tmp_path / "registry")
    base = QuantizeOptions("mobilenet_v2", "fbgemm-minmax", weights="random", eval_limit=32, calibration_images=16,
                           latency=LatencyOptions(runs=3, warmup=1, runtimes=("eager",)))
    cell, other = sweep.plan(sweep.grid(base, ["mobilenet_v2"], ["fbgemm-minmax", "x86-histogram"],
                                        ["fashion-mnist"]), ctx)
    result = sweep.run_cell(cell, threads=1, node="node-a")
    assert result["status"] == "ok", result
    files = result["files"]
    tampered = dict(files, **{artifact.CARD_FILE: files[artifact.CARD_FILE].replace(b'"top1": ', b'"top1": 1')})
    answers = {
        "misplaced": (other, result),
        "tampered": (cell, {**result, "files": tampered}),
        "escaping": (cell, {**result, "files": {**files, "../escaped": b"x"}}),
        "garbage": (cell, {"status": "ok", "files": "not files"}),
    }
    for case, (asked, answer) in answers.items():
        [outcome] = sweep.sweep([asked], lambda cells, answer=answer: [(cells[0], answer)], ctx)
        assert outcome.status == "failed" and outcome.error and "\n" not in outcome.error, case
    assert versions(ctx.registry_root) == []
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "registry" / "escaped").exists()
    assert list((tmp_path / "registry" / "staging").iterdir()) == []

    [outcome] = sweep.sweep([cell], lambda cells: [(cells[0], result)], ctx)
    assert outcome.status == "recorded" and outcome.node == "node-a"
    card = ctx.registry.open(outcome.entry)[1]
    assert card.sweep.key == cell.key and card.metrics.latency.node == card.baseline.latency.node == "node-a"

    def must_not_run(cells):
        raise AssertionError("a recorded cell ran again")

    [again] = sweep.sweep([cell], must_not_run, ctx)
    assert again.status == "skipped" and again.entry == outcome.entry


@pytest.fixture(scope="session")
def ray_cluster(zoo_environment, tmp_path_factory):
    """Two one-CPU worker nodes and a head with none, for the whole test run; yields (site, trap registry).

    The job's workers load the built-in plugins and sweep_killer (installed in ``site``), and their default
    registry is ``trap``: a worker that wrote a registry of its own accord would write there.
    """
    from tests.conftest import BUILTIN_PLUGINS

    site = tmp_path_factory.mktemp("sweep-site")
    fake_plugins.install(site, "zoo-sweep-killer", "1.0", {"zoo_sweep_killer": KILLER},
                         {"sweep_killer": "zoo_sweep_killer"})
    trap = tmp_path_factory.mktemp("worker-registry")
    # Loopback addresses only (Ray's own switch for single-machine clusters): the tests' network guard refuses
    # this machine's other addresses, in this process and in every Ray process started from it.
    quiet = {"RAY_DISABLE_IMPORT_WARNING": "1", "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0", "RAY_USAGE_STATS_ENABLED": "0",
             "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    saved = {k: os.environ.get(k) for k in quiet}
    os.environ.update(quiet)
    import ray  # after the settings above: Ray reads them when imported
    from ray.cluster_utils import Cluster

    node = {"num_cpus": 1, "object_store_memory": 100 * 1024 * 1024}
    cluster = Cluster(initialize_head=True, head_node_args={**node, "num_cpus": 0, "include_dashboard": False})
    for _ in range(2):
        cluster.add_node(**node)
    pythonpath = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": {
        "PYTHONPATH": pythonpath, "ZOO_PLUGINS": ",".join([*BUILTIN_PLUGINS, "sweep_killer"]),
        "ZOO_REGISTRY": str(trap), "ZOO_TEST_KILL_WORKER": "1"}})
    try:
        yield site, trap
    finally:
        ray.shutdown()
        cluster.shutdown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_sweep_on_ray_records_each_cell_once_from_the_driver_and_a_rerun_skips_them(ray_cluster, tmp_path,
                                                                                       monkeypatch):
    site, trap = ray_cluster
    registry = tmp_path / "registry"
    result = zoo("--registry", str(registry), "sweep", *GRID, *TINY, "--executor", "ray", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["recorded"], report["skipped"], report["failed"]) == (4, 0, 0)
    recorded = versions(registry)
    assert [name for name, _ in recorded] == NAMES  # each cell once
    nodes = set()
    for entry in Registry(registry).list():
        card = Registry(registry).open(entry)[1]
        latency = card.metrics.latency
        assert latency.node and latency.node.startswith("127.0.0.1 (") and card.baseline.latency.node == latency.node
        assert card.sweep.arch == card.arch and card.sweep.preset == card.preset
        nodes.add(latency.node)
    assert nodes <= {c["node"] for c in report["cells"]}
    assert not any(trap.iterdir()), "a worker wrote a registry of its own"

    # Run again: every cell is found by its key and skipped; nothing new is written.
    result = zoo("--registry", str(registry), "sweep", *GRID, *TINY, "--executor", "ray", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["skipped"] == 4 and versions(registry) == recorded

    # Cells whose worker process dies mid-run: retried by Ray, then reported, one line each; the others go on.
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("ZOO_PLUGINS", f"{os.environ['ZOO_PLUGINS']},sweep_killer")
    host.reset()
    result = zoo("--registry", str(registry), "sweep", "--arch", "sweep_killer,mobilenet_v2", "--preset",
                 "fbgemm-minmax,x86-histogram", *TINY, "--executor", "ray")
    assert result.exit_code == 2, result.output
    errors = result.stderr.strip().splitlines()
    errors = [line for line in errors if line.startswith("Error: ")]
    assert len(errors) == 2 and all("sweep_killer ×" in e and "worker process running it died" in e for e in errors)
    assert "4 cell(s): 0 recorded, 2 already recorded and skipped, 2 failed" in result.stdout
    assert versions(registry) == recorded
    assert list((registry / "staging").iterdir()) == [] and not (registry / "models" / "sweep_killer").exists()
    assert not any(trap.iterdir())


def test_sweep_help_imports_neither_torch_nor_ray_and_names_the_executors_the_jobs_have():
    import subprocess
    import sys

    from zoo.cli.sweep import EXECUTORS
    from zoo.jobs.sweep import EXECUTORS as JOB_EXECUTORS

    assert EXECUTORS == JOB_EXECUTORS
    code = ("import sys; from zoo.cli import main\n"
            "try:\n    main(['sweep', '--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules and 'ray' not in sys.modules, 'zoo sweep --help imported them'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
    assert done.returncode == 0, done.stderr
    assert "--executor [inprocess|ray]" in done.stdout and "--calibration-images" in done.stdout
