"""How long `zoo list` and a name lookup take over a registry of many entries.

A benchmark, not a test: it prints a table. Entries are written through the
registry's own write path (small synthetic artifacts, so that 10,000 fit in
a few hundred MB), then timed in-process and through the real CLI.

    python -m tests.benchmarks.registry_index [--entries 10000] [--names 1000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from zoo.cli import tables
from zoo_registry.store import Registry

ARCHES = ("mobilenet_v2", "resnet18", "tv_mobilenet_v2")
PRESETS = ("fbgemm-minmax", "fbgemm-histogram", "qnnpack-histogram", "x86-histogram", "fbgemm-qat")


def fill(registry: Registry, entries: int, names: int) -> float:
    from tests import synthetic
    from zoo.host.plugins import get_catalog

    presets = [get_catalog().preset(name) for name in PRESETS]
    started = time.perf_counter()
    for i in range(entries):
        registry.write(synthetic.files(f"model-{i % names}", f"weights {i}".encode(),
                                       f"2026-01-01T00:00:00.{i:06d}+00:00", 90 + (i % 100) / 100,
                                       preset=presets[i % len(presets)], arch=ARCHES[i % len(ARCHES)]))
        if (i + 1) % 1000 == 0:
            print(f"  wrote {i + 1}/{entries}", file=sys.stderr)
    return time.perf_counter() - started


def timed(function, repeat: int = 5) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10000)
    parser.add_argument("--names", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        registry = Registry(Path(tmp) / "registry")
        print(f"writing {args.entries} versions under {args.names} names ...", file=sys.stderr)
        write_s = fill(registry, args.entries, args.names)
        env = {**os.environ, "ZOO_REGISTRY": str(registry.root), "ZOO_PLUGINS": ""}

        probe = f"model-{args.names // 2}"

        def cli(*command: str) -> None:
            subprocess.run([sys.executable, "-m", "zoo", *command], env=env, check=True, stdout=subprocess.DEVNULL)

        rows = [
            ["Registry.list() (all versions)", f"{len(registry.list())}", f"{timed(registry.list):.1f}"],
            ["Registry.list(latest_only=True)", f"{len(registry.list(latest_only=True))}",
             f"{timed(lambda: registry.list(latest_only=True)):.1f}"],
            ["Registry.list(arch=resnet18, preset=fbgemm-qat)",
             f"{len(registry.list(arch='resnet18', preset='fbgemm-qat'))}",
             f"{timed(lambda: registry.list(arch='resnet18', preset='fbgemm-qat')):.1f}"],
            [f"Registry.resolve('{probe}') (latest)", "1", f"{timed(lambda: registry.resolve(probe)):.2f}"],
            [f"Registry.resolve('{probe}@<8 hex>')", "1",
             f"{timed(lambda: registry.resolve(probe + '@' + registry.resolve(probe).version[:8])):.2f}"],
            ["`zoo list` (process, all versions)", "", f"{timed(lambda: cli('list'), 3):.0f}"],
            ["`zoo list --json` (process)", "", f"{timed(lambda: cli('list', '--json'), 3):.0f}"],
            [f"`zoo list --name {probe}` (process)", "", f"{timed(lambda: cli('list', '--name', probe), 3):.0f}"],
        ]
        print(f"registry of {args.entries} versions, {args.names} names; writing them took {write_s:.1f} s "
              f"({write_s / args.entries * 1000:.1f} ms each)")
        print(tables.render(["operation", "rows", "median ms"], rows, align_right=(1, 2)))


if __name__ == "__main__":
    main()
