"""How long `zoo models` takes as a process with every built-in plugin (torchvision's zoo, tv:*, timm:*) loaded.

A benchmark, not a test: it prints a table. Each row is the median of several
whole-process runs (starting Python and importing zoo included), side by side
with `python -c pass` and `zoo --help` as baselines, and says whether torch was
imported (it must not be, for listings).

    python -m tests.benchmarks.listing [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from zoo.cli import tables
from zoo.runtimes.latency import cpu_name

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "zoo --help": [sys.executable, "-m", "zoo", "--help"],
    "zoo models": [sys.executable, "-m", "zoo", "models"],
    "zoo models --json": [sys.executable, "-m", "zoo", "models", "--json"],
    "zoo models 'timm:resnet*'": [sys.executable, "-m", "zoo", "models", "timm:resnet*"],
}
TORCH_CHECK = ("import sys; from zoo.cli import main\ntry:\n    main(['models'])\nexcept SystemExit:\n    pass\n"
               "print('torch' in sys.modules, file=sys.stderr)")


def median_ms(command: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=os.environ)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    listed = json.loads(subprocess.run([sys.executable, "-m", "zoo", "models", "--json"], check=True,
                                       capture_output=True, text=True).stdout)
    imported = subprocess.run([sys.executable, "-c", TORCH_CHECK], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True).stderr.strip().splitlines()[-1]
    rows = [[label, f"{median_ms(command, runs):.0f}"] for label, command in COMMANDS.items()]
    print(f"{len(listed)} architectures listed; torch imported by `zoo models`: {imported}; "
          f"{runs} runs each, median; CPU: {cpu_name()}, {os.cpu_count()} cores")
    print(tables.render(["command (whole process)", "median ms"], rows, align_right=(1,)))


if __name__ == "__main__":
    main()
