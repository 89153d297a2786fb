"""The table `zoo quantize` prints: float versus int8 on the same images."""

from __future__ import annotations

from zoo.cli import tables

METHOD_NAMES = {"static": "static PTQ", "qat": "QAT", "dynamic": "dynamic"}


def how_agreed(agreed: dict) -> str:
    """The rule ``zoo.evaluation.agreement`` applied, in words."""
    if agreed.get("step"):
        return f"ties within one output step ({agreed['step']:.3g}) counted as agreeing"
    return "outputs not quantized: plain top-class agreement"


def _ms(latency: dict) -> tuple[str, str]:
    return f"{latency['p50_ms']:.2f} ms", f"{latency['p90_ms']:.2f} ms"


def _how_made(result: dict) -> str:
    if "published" in result:
        return f"pre-quantized weights {result['published']['source']}; {result['published']['figures']}"
    if "calibration" in result:
        c = result["calibration"]
        return f"calibrated on {c['images']} {c['split']} images"
    if "qat" in result:
        r = result["qat"]["recipe"]
        return (f"QAT: {r['epochs']} epochs x {r['batches_per_epoch']} batches of {r['batch_size']}, lr {r['lr']}, "
                f"BN frozen after epoch {r['freeze_bn_after']}, observers after epoch {r['freeze_observers_after']}")
    return "weights quantized ahead, activations at run time"


def comparison(result: dict) -> str:
    """A header, the float/int8 table, the runtimes compared, and the lines that say how it was measured."""
    base, int8 = result["baseline"], result["metrics"]
    ds = result["dataset"]
    parent = result["parent"]
    lines = [
        f"{result['arch']} · {result['preset']} ({METHOD_NAMES[result['method']]}, "
        f"backend {result.get('backend') or result.get('mode')}, "
        f"engine {result['engine']}) · {ds['name']} {ds['split']} split, {ds['images']} images at "
        f"{ds['image_size']}x{ds['image_size']}",
        f"float weights: {parent['name']} — {parent['source']}"
        + (f", made by `{parent['recipe']}`" if parent.get("recipe") else ""),
        f"int8: {_how_made(result)}",
        *(f"note: {note}" for note in result.get("preset_notes", ())),
        "",
    ]
    base_lat, int8_lat = base["latency"], int8["latency"]
    rows = [["float", tables.percent(base["top1"]), tables.percent(base["top5"]), tables.megabytes(base["size_bytes"]),
             base_lat.get("runtime", "eager"), *_ms(base_lat)]]
    if "fused_baseline" in result:
        fused = result["fused_baseline"]
        rows.append(["fused float", tables.percent(fused["top1"]), tables.percent(fused["top5"]), "", "", "", ""])
    rows.append(["int8", tables.percent(int8["top1"]), tables.percent(int8["top5"]), tables.megabytes(int8["size_bytes"]),
                 int8_lat.get("runtime", "eager"), *_ms(int8_lat)])
    rows.append(["change", f"{int8['top1'] - base['top1']:+.2f} pt", f"{int8['top5'] - base['top5']:+.2f} pt",
                 size_change(base["size_bytes"], int8["size_bytes"]), "", _speed_change(result), ""])
    lines.append(tables.render(["model", "top-1", "top-5", "size", "runtime", "latency p50", "p90"], rows,
                               align_right=(1, 2, 3, 5, 6)))
    lines += _runtime_lines(result)
    if int8.get("ties") is not None and base.get("ties") is not None:
        lines.append(f"ties for the top class: float {base['ties']:.2f} %, int8 {int8['ties']:.2f} % of images; top-1 "
                     "and top-5 count a k-way tie as the fraction of tied classes that fit")
    lines += [
        "",
        f"latency: median and p90 of {int8_lat['runs']} runs after warm-up, batch {int8_lat['batch_size']}, "
        f"{int8_lat['threads']} thread(s), runtimes interleaved in random order, each timed call warm; CPU: {int8_lat['cpu']}",
        *_load_lines(result.get("load")),
        f"wall time: {result['wall_s']} s",
    ]
    return "\n".join(lines)


def size_change(float_bytes: int, int8_bytes: int) -> str:
    """"3.47x smaller", or "1.28x larger" when the int8 file outweighs the float one (a tiny model, whose
    quantization parameters cost more than the bytes they save)."""
    if int8_bytes <= float_bytes:
        return f"{float_bytes / int8_bytes:.2f}x smaller"
    return f"{int8_bytes / float_bytes:.2f}x larger"


def _speed_change(result: dict) -> str:
    speedup = result.get("speedup")
    if speedup is None:
        base, int8 = result["baseline"]["latency"]["p50_ms"], result["metrics"]["latency"]["p50_ms"]
        speedup = base / int8 if int8 else float("nan")
    return f"{speedup:.2f}x faster" if speedup >= 1 else f"{1 / speedup:.2f}x slower"


def _runtime_lines(result: dict) -> list[str]:
    """Every runtime's p50 for float and int8, which was fastest, and what could not be measured."""
    runtimes = result.get("runtimes")
    if not runtimes:
        return []
    names = list(dict.fromkeys([*runtimes.get("float", {}), *runtimes.get("int8", {})]))
    fastest = runtimes.get("fastest", {})

    def cell(side: str, name: str) -> str:
        timing = runtimes.get(side, {}).get(name)
        if timing is None:
            return "-"
        return f"{timing['p50_ms']:.2f} ms" + (" *" if fastest.get(side) == name else "")

    rows = [[name, cell("float", name), cell("int8", name)] for name in names]
    lines = ["", "p50 by runtime (* fastest):", tables.render(["runtime", "float", "int8"], rows, align_right=(1, 2))]
    for side in ("float", "int8"):
        for name, why in runtimes.get("skipped", {}).get(side, {}).items():
            lines.append(f"{side} not timed in {name}: {why}")
    speedup = result.get("speedup")
    if speedup is not None and speedup < 1:
        lines.append(f"int8 is slower than float on this CPU: its fastest runtime ({fastest.get('int8')}) takes "
                     f"{1 / speedup:.2f}x as long as float in {fastest.get('float')}; the int8 model is "
                     f"{size_change(result['baseline']['size_bytes'], result['metrics']['size_bytes'])}")
    elif speedup is not None:
        lines.append(f"speed-up: int8 in {fastest.get('int8')} against float in {fastest.get('float')}, "
                     "the fastest of each")
    checked = result["metrics"].get("in_runtime")
    if checked:
        agreed = checked["agreement_with_eager"]
        lines.append(f"int8 in {checked['runtime']}: top-1 {checked['top1']:.2f} %, top-5 {checked['top5']:.2f} %; "
                     f"top class agrees with eager on {agreed['top1']:.2f} % of the images ({how_agreed(agreed)}), "
                     f"largest logit difference {agreed['max_abs_diff']:.3g}")
    return lines


def _load_lines(load: dict | None) -> list[str]:
    if not load or load.get("other_cpus") is None:
        return []
    if load["busy"]:
        return [f"WARNING: the machine was busy while timing: other processes used {load['other_cpus']:.2f} of "
                f"{load['cpus']} CPUs on average; these latencies are not what an idle machine gives"]
    return [f"other processes used {load['other_cpus']:.2f} of {load['cpus']} CPUs while timing"]
