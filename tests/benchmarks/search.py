"""Issue 14's goal, measured: does `--preset auto --max-drop 0.2` find a PTQ recipe within 0.2 top-1 points of float
on the whole Fashion-MNIST test split, and does QAT reach float?

A benchmark, not a test: it runs real `zoo quantize` jobs (minutes each on 2 cores) into the registry it is
given, records each model under a fixed name, and prints one table with the figures as the cards hold them,
whether or not the goal is met, then each search's trace. resnet18 needs its float weights first:
`zoo train resnet18 --dataset fashion-mnist` (README, "The tutorial's comparison").

    python -m tests.benchmarks.search [--arch mobilenet_v2,resnet18] [--registry DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from zoo.cli import tables

BUDGET = 0.2
# name suffix -> zoo quantize arguments; the first three are the seed's comparison, the last the search.
RUNS = {
    "minmax": ["--preset", "fbgemm-minmax", "--fused-baseline"],
    "histogram": ["--preset", "fbgemm-histogram"],
    "qat": ["--preset", "fbgemm-qat"],
    "auto": ["--preset", "auto", "--max-drop", str(BUDGET)],
}


def quantize(arch: str, suffix: str, registry: list[str]) -> dict:
    command = [sys.executable, "-m", "zoo", *registry, "quantize", arch, *RUNS[suffix], "--name", f"{arch}-{suffix}",
               "--json"]
    print("$", " ".join(command[2:]), file=sys.stderr, flush=True)
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="mobilenet_v2,resnet18")
    parser.add_argument("--registry", help="registry directory (default: zoo's)")
    args = parser.parse_args()
    registry = ["--registry", args.registry] if args.registry else []
    rows, traces = [], []
    for arch in args.arch.split(","):
        for suffix in RUNS:
            card = quantize(arch, suffix, registry)
            base, int8 = card["baseline"], card["metrics"]
            change = round(int8["top1"] - base["top1"], 2)
            goal = ("QAT at or above float" if suffix == "qat" else
                    f"within {BUDGET} pt" if suffix == "auto" else "")
            met = (change >= 0) if suffix == "qat" else (change >= -BUDGET) if suffix == "auto" else None
            rows.append([f"{card['name']}@{card['version'][:8]}", card["preset"],
                         ", ".join(r["modules"] for r in card.get("module_rules", [])) or "-",
                         tables.percent(base["top1"]), tables.percent(int8["top1"]), f"{change:+.2f} pt",
                         f"{base['ties']:.2f} / {int8['ties']:.2f} %", goal + (": met" if met else ": NOT met"
                                                                                if met is not None else "")])
            if "search" in card:
                traces.append((card["name"], card["search"]))
    print(f"Fashion-MNIST test split, {card['dataset']['images']} images; top-1 counts a k-way tie as 1/k; "
          f"CPU: {card['metrics']['latency']['cpu']}")
    print(tables.render(["model", "preset", "in float", "float top-1", "int8 top-1", "change", "ties f/i8",
                         "goal"], rows, align_right=(3, 4, 5)))
    for name, search in traces:
        validation = search["validation"]
        print(f"\n{name}: search on {validation['images']} validation images (train split), float "
              f"{validation['float_top1']:.2f} %; {'met' if search['met'] else 'missed by ' + str(search['missed_by'])}")
        print(tables.render(["step", "preset", "in float", "val top-1", "drop"],
                            [[step["step"], step.get("preset", ""), ", ".join(step.get("float_modules", [])) or "-",
                              tables.percent(step["top1"]) if "top1" in step else step.get("skipped", ""),
                              f"{step['drop']:.2f}" if "drop" in step else ""] for step in search["trace"]],
                            align_right=(3, 4)))


if __name__ == "__main__":
    main()
