"""The benchmark's targets and its plain-text table.

    print(format_report(run_bench(...)))

A report is the JSON-ready dict `catdog.bench.run_bench` returns; nothing here measures anything.
"""

from __future__ import annotations

from collections import Counter

REACH = 0.97  # a second accuracy threshold, besides the tutorial's own (Model 4's target)
TARGETS = {
    "model4_total_speedup": 30.0,  # reference / catdog wall time, 20 epochs from a cold cache
    "model4_accuracy_drop_points": 0.0,  # points catdog's final val accuracy may be below the reference's
    "model4_seconds_to_97": 60.0,
    "cnn_epoch_speedup": 2.0,  # Models 1-3: reference / catdog seconds per epoch
    "predict_500x375_ms": 30.0,
    "predict_12mp_ms": 100.0,
    "predict_batch32_ms": 1000.0,
    "peak_rss_gb": 2.5,
    "rss_growth_percent": 10.0,
}


def check_targets(report: dict) -> dict:
    """The issue's targets, each with the measured value and whether it was met.

    A model benched in several variants (precisions, feature engines) gets a check per variant,
    named after it, e.g. "model4_total_speedup (float32, LiteRT int8)".
    """
    rows = report.get("models", [])
    variants = Counter(row["model"] for row in rows)
    checks = {}

    def check(name, value, target, at_most=True):
        if value is not None:
            checks[name] = {"value": value, "target": target, "met": bool(value <= target if at_most else value >= target)}

    for row in rows:
        key, ratios = row["model"], row.get("ratios")
        suffix = f" ({_variant(row['catdog'])})" if variants[key] > 1 else ""
        if key == "model4":
            if ratios and row["epochs"] >= 20:
                check(
                    f"model4_total_speedup{suffix}",
                    ratios["total_seconds_speedup"],
                    TARGETS["model4_total_speedup"],
                    at_most=False,
                )
                points = ratios.get("final_val_accuracy_points")
                drop = None if points is None else round(0.0 - points, 2)  # 0.0 - x: never "-0.0"
                check(f"model4_accuracy_drop_points{suffix}", drop, TARGETS["model4_accuracy_drop_points"])
            reach = row["catdog"]["seconds_to_accuracy"].get(f"{REACH:.4f}")
            check(f"model4_seconds_to_97{suffix}", reach, TARGETS["model4_seconds_to_97"])
        elif key in ("model1", "model2", "model3") and ratios:
            check(
                f"{key}_epoch_speedup{suffix}", ratios["seconds_per_epoch_speedup"], TARGETS["cnn_epoch_speedup"], at_most=False
            )
    prediction = report.get("prediction")
    if prediction:
        check("predict_500x375_ms", prediction["one_500x375_jpeg"]["median_ms"], TARGETS["predict_500x375_ms"])
        check("predict_12mp_ms", prediction["one_12mp_jpeg"]["median_ms"], TARGETS["predict_12mp_ms"])
        check("predict_batch32_ms", prediction["batch_of_32_photos"]["median_ms"], TARGETS["predict_batch32_ms"])
    memory = report.get("memory")
    if memory:
        check("peak_rss_gb", memory["peak_rss_gb"], TARGETS["peak_rss_gb"])
        check("rss_growth_percent", memory["growth_percent_first_to_last"], TARGETS["rss_growth_percent"])
    return checks


def _variant(side: dict) -> str:
    return ", ".join(part for part in (side.get("precision"), side.get("feature_engine")) if part)


def _bfloat16_line(machine: dict) -> list[str]:
    """What --precision auto found on this machine, where it measured anything."""
    speedup = machine.get("bfloat16_speedup")
    if speedup is None:
        return []
    chosen = "mixed_bfloat16" if machine.get("bfloat16_pays") else "float32"
    return [
        f"bfloat16 measured {speedup:.2f}x as fast as float32 (a convolution's training kernels): "
        f"--precision auto trains the models registered for it in {chosen}"
    ]


def format_report(report: dict) -> str:
    """The report as a plain-text table."""
    machine = report["machine"]
    lines = [
        f"catdog bench: {machine['cpu']} ({' '.join(machine.get('cpu_flags', [])) or 'no AVX2'}), {machine['cores']} cores, "
        f"{machine['memory_gb']} GB, GPUs: {', '.join(machine['gpus']) or 'none'}; "
        f"TensorFlow {machine['tensorflow']}, Keras {machine['keras']}",
        *_bfloat16_line(machine),
        f"load average before {machine['load_average_before']}, after {machine.get('load_average_after')}; "
        f"data {report['data']['root']} ({report['data']['train']} train, {report['data']['validation']} validation); "
        f"catdog checks the images in {report['data']['catdog_load_seconds']:.1f}s (counted in catdog's totals)",
        "",
        f"{'model':<7} {'side':<10} {'epochs':>6} {'s/epoch':>8} {'1st ep':>7} {'steady':>7} {'total s':>8} {'final val':>9} {'best val':>8} {'to tut. acc':>11} {'to 97%':>7}  notes",
    ]

    def side_line(key, name, side, tutorial):
        reach = side["seconds_to_accuracy"]
        notes = []
        onednn = side.get("tf_enable_onednn_opts")
        notes.append("TensorFlow's default oneDNN setting" if onednn is None else f"TF_ENABLE_ONEDNN_OPTS={onednn}")
        if side.get("precision"):
            notes.append(side["precision"])
        if side.get("feature_engine"):
            notes.append(f"features on {side['feature_engine']}")
        if side.get("fast_path"):
            notes.append(
                f"features {side['feature_seconds']:.1f}s, cached rerun {side.get('second_run_total_seconds', float('nan')):.1f}s"
            )
        return (
            f"{key:<7} {name:<10} {side['epochs']:>6} {_f(side['seconds_per_epoch'], 8, 1)} {_f(side['first_epoch_seconds'], 7, 1)} {_f(side['steady_seconds_per_epoch'], 7, 1)} "
            f"{_f(side['total_seconds'], 8, 1)} {_f(side['final_val_accuracy'], 9, 4)} {_f(side['best_val_accuracy'], 8, 4)} "
            f"{_f(reach.get(f'{tutorial:.4f}') if tutorial is not None else None, 11, 1)} {_f(reach.get(f'{REACH:.4f}'), 7, 1)}  {'; '.join(notes)}"
        )

    previous = None
    for row in report["models"]:
        tutorial = row["tutorial_val_accuracy"]
        if "reference" in row and row["model"] != previous:  # one reference run per model, however many precisions
            lines.append(side_line(row["model"], "reference", row["reference"], tutorial))
        previous = row["model"]
        lines.append(side_line(row["model"], "catdog", row["catdog"], tutorial))
        if "ratios" in row:
            ratios = row["ratios"]
            lines.append(
                f"{row['model']:<7} {'catdog/ref':<10} {'':>6} {_f(ratios['seconds_per_epoch'], 8, 3)} {'':>7} {_f(ratios['steady_seconds_per_epoch'], 7, 3)} "
                f"{_f(ratios['total_seconds'], 8, 3)} {_f(ratios['final_val_accuracy'], 9, 4)} {'':>8} {'':>11} {'':>7}  "
                f"speedup {_f(ratios['seconds_per_epoch_speedup'], 0, 2)}x per epoch, {_f(ratios['total_seconds_speedup'], 0, 2)}x total; "
                f"final val {ratios.get('final_val_accuracy_points', float('nan')):+.2f} points"
            )
    lines += ["", "validation accuracy per epoch (tutorial's reported final value in brackets):"]
    previous = None
    for row in report["models"]:
        for name in ("reference", "catdog"):
            if name in row and not (name == "reference" and row["model"] == previous):
                side = row[name]
                label = (
                    name
                    if name == "reference"
                    else " ".join(filter(None, [name, side.get("precision"), side.get("feature_engine")]))
                )
                lines.append(
                    f"  {row['model']} {label:<9} [{row['tutorial_val_accuracy']}]: "
                    + " ".join(f"{value:.4f}" for value in side["val_accuracy"])
                )
        previous = row["model"]
    prediction = report.get("prediction")
    if prediction:
        lines += [
            "",
            f"prediction, Model 4 loaded ({prediction['model_load_seconds']:.1f}s to load), median end to end (decode, resize, model); load {prediction['load_average']}:",
        ]
        if prediction.get("litert_conversion_seconds") is not None:
            lines.append(
                f"  on LiteRT (converted once in {prediction['litert_conversion_seconds']:.1f}s, cached); TensorFlow's figures in brackets"
            )
        for name, title in (
            ("one_500x375_jpeg", "one 500x375 JPEG"),
            ("one_12mp_jpeg", "one 12-megapixel JPEG"),
            ("batch_of_32_photos", "batch of 32 photos"),
        ):
            entry = prediction[name]
            before = prediction.get("tensorflow", {}).get(name) if prediction.get("engine") != "TensorFlow" else None
            lines.append(
                f"  {title:<24} {entry['median_ms']:>8.1f} ms  (min {entry['min_ms']:.1f}, max {entry['max_ms']:.1f}, {entry['repeats']} runs)"
                + (f"  [TensorFlow {before['median_ms']:.1f} ms]" if before else "")
            )
    memory = report.get("memory")
    if memory:
        lines += [
            "",
            f"memory, Model 4 ({memory['epochs']} epochs) in a fresh process: peak resident {memory['peak_rss_gb']:.2f} GB during the first training "
            f"(cold feature cache); after each of {memory['trainings']} trainings: {', '.join(f'{v:.0f}' for v in memory['rss_mb_after_each'])} MB "
            f"({memory['growth_percent_first_to_last']:+.1f}% first to last)",
        ]
    if report.get("targets"):
        lines += ["", "targets:"]
        for name, check in report["targets"].items():
            lines.append(f"  {'met' if check['met'] else 'MISSED':<6} {name}: {check['value']} (target {check['target']})")
    lines.append(f"\nbenchmark took {report['seconds']:.0f}s")
    return "\n".join(lines)


def _f(value, width, digits) -> str:
    text = "-" if value is None else f"{value:.{digits}f}"
    return f"{text:>{width}}"
