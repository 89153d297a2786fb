"""The table `zoo quantize` prints: float versus int8 on the same images."""

from __future__ import annotations

from zoo import tables

METHOD_NAMES = {"static": "static PTQ", "qat": "QAT", "dynamic": "dynamic"}


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
    """A header, the float/int8 table, and the lines that say how it was measured."""
    base, int8 = result["baseline"], result["metrics"]
    ds = result["dataset"]
    parent = result["parent"]
    lines = [
        f"{result['arch']} · {result['preset']} ({METHOD_NAMES[result['method']]}, backend {result['backend']}, "
        f"engine {result['engine']}) · {ds['name']} {ds['split']} split, {ds['images']} images at "
        f"{ds['image_size']}x{ds['image_size']}",
        f"float weights: {parent['name']} — {parent['source']}"
        + (f", made by `{parent['recipe']}`" if parent.get("recipe") else ""),
        f"int8: {_how_made(result)}",
        "",
    ]
    rows = [["float", tables.percent(base["top1"]), tables.percent(base["top5"]), tables.megabytes(base["size_bytes"]),
             *_ms(base["latency"])]]
    if "fused_baseline" in result:
        fused = result["fused_baseline"]
        rows.append(["fused float", tables.percent(fused["top1"]), tables.percent(fused["top5"]), "", "", ""])
    rows.append(["int8", tables.percent(int8["top1"]), tables.percent(int8["top5"]), tables.megabytes(int8["size_bytes"]),
                 *_ms(int8["latency"])])
    speedup = base["latency"]["p50_ms"] / int8["latency"]["p50_ms"] if int8["latency"]["p50_ms"] else float("nan")
    rows.append(["change", f"{int8['top1'] - base['top1']:+.2f} pt", f"{int8['top5'] - base['top5']:+.2f} pt",
                 f"{base['size_bytes'] / int8['size_bytes']:.2f}x smaller", f"{speedup:.2f}x faster", ""])
    lines.append(tables.render(["model", "top-1", "top-5", "size", "latency p50", "p90"], rows,
                               align_right=(1, 2, 3, 4, 5)))
    lat = int8["latency"]
    lines += [
        "",
        f"latency: median and p90 of {lat['runs']} runs after warm-up, batch {lat['batch_size']}, "
        f"{lat['threads']} thread(s), eager PyTorch, float and int8 interleaved; CPU: {lat['cpu']}",
        f"wall time: {result['wall_s']} s",
    ]
    return "\n".join(lines)
