"""A cheaper `general` graph? onnxruntime int8 (static, QDQ) and fp16 against fp32.

    python benchmarks/quantise.py --data-root ../shared/data [--calibration 4] [--runs 5]

- **int8**: ``onnxruntime.quantization.quantize_static`` in the QDQ format (uint8
  activations, int8 weights per channel, MinMax calibration). Calibrated on the
  network inputs of the first ``--calibration`` TRAINING photos of each of DRIVE,
  CHASE_DB1 and HRF (the working geometry and preprocessing the pipeline feeds the
  network); no test photo is seen before scoring.
- **fp16**: ``onnxruntime.transformers.float16.convert_float_to_float16``, inputs and
  outputs kept fp32 (the file's signature is unchanged).

Each graph carries fp32's meta (metadata_props) and is scored through the package's
own pipeline (``retinaseg.evaluate`` on onnxruntime, the model's own TTA, cut and
post-processing) on the test splits of DRIVE, CHASE_DB1, HRF and LES-AV: pooled F1
inside the FOV. Network time: the session alone on DRIVE test photo 01's input, the
package's session options (graph optimisation ALL, ``--threads`` intra-op threads),
median of ``--runs`` after a warm-up. A graph is worth keeping only if F1 drops by at
most 0.002 on every test set and it is faster. Writes benchmarks/results/quantise.{md,json};
``--save-int8 PATH`` also keeps the int8 graph, which ``retinaseg segment --model PATH``
runs (it carries the model's meta).
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from common import add_dirty_option, clean_provenance, provenance_markdown, write_result

ROOT = Path(__file__).resolve().parents[1]
MODEL = "general"
CALIBRATION_SETS = ("drive", "chase_db1", "hrf")  # their TRAINING splits only
TEST_SETS = ("drive", "chase_db1", "hrf", "les_av")
MAX_F1_DROP = 0.002


def network_inputs(model, dataset: str, split: str, count: int, data_root: str) -> list:
    """The ``(1, C, h, w)`` inputs the pipeline gives the network for ``count`` photos."""
    from retinaseg.data import load_dataset
    from retinaseg.data.fov import estimate_fov
    from retinaseg.data.io import read_photo
    from retinaseg.pipeline.working import working_input

    inputs = []
    for item in load_dataset(dataset, split, data_root).files[:count]:
        image = read_photo(item.image).rgb
        inputs.append(working_input(model, image, estimate_fov(image))[None])
    return inputs


class Calibration:
    """onnxruntime's CalibrationDataReader over a list of network inputs."""

    def __init__(self, inputs: list, input_name: str):
        self._feeds = iter([{input_name: x} for x in inputs])

    def get_next(self):
        return next(self._feeds, None)

    def rewind(self):  # not needed by MinMax; part of the reader's interface
        pass


def with_meta(path: Path, reference) -> None:
    """Copy fp32's metadata_props (the model's meta) onto the graph at ``path``."""
    import onnx

    model = onnx.load(str(path))
    del model.metadata_props[:]
    for prop in reference.metadata_props:
        model.metadata_props.add(key=prop.key, value=prop.value)
    onnx.save(model, str(path))


def int8_graph(fp32: Path, out: Path, calibration: list) -> Path:
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    quantize_static(str(fp32), str(out), Calibration(calibration, "image"),
                    quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, per_channel=True,
                    calibrate_method=CalibrationMethod.MinMax)
    with_meta(out, onnx.load(str(fp32)))
    return out


def fp16_graph(fp32: Path, out: Path) -> Path:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    reference = onnx.load(str(fp32))
    onnx.save(convert_float_to_float16(onnx.load(str(fp32)), keep_io_types=True), str(out))
    with_meta(out, reference)
    return out


def network_seconds(path: Path, x, runs: int, threads: int) -> float:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    output = session.get_outputs()[0].name
    session.run([output], {"image": x})  # warm-up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        session.run([output], {"image": x})
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def test_f1(path: Path, data_root: str) -> dict[str, float]:
    import retinaseg

    return {name: float(retinaseg.evaluate(str(path), name, "test", data_root, device="cpu",
                                           backend="onnxruntime").pooled["f1"])
            for name in TEST_SETS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--calibration", type=int, default=4,
                        help="training photos per calibration dataset")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--note", default="", help="what else the machine ran, for the result")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "quantise"))
    parser.add_argument("--save-int8", metavar="PATH",
                        help="also keep the int8 graph there (run it with --model PATH)")
    add_dirty_option(parser)
    args = parser.parse_args()
    provenance = clean_provenance(ROOT, args.allow_dirty)
    from retinaseg.hub.load import load_model

    model = load_model(MODEL, "cpu", "onnxruntime")
    fp32 = Path(model.graph)
    calibration = [x for name in CALIBRATION_SETS
                   for x in network_inputs(model, name, "train", args.calibration, args.data_root)]
    timing_input = network_inputs(model, "drive", "test", 1, args.data_root)[0]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        graphs = {"fp32": fp32, "int8 QDQ": int8_graph(fp32, Path(folder) / "int8.onnx",
                                                        calibration),
                  "fp16": fp16_graph(fp32, Path(folder) / "fp16.onnx")}
        for kind, path in graphs.items():
            rows.append({"graph": kind, "size_mib": path.stat().st_size / 2 ** 20,
                         "network_s": network_seconds(path, timing_input, args.runs,
                                                      args.threads),
                         "f1": test_f1(path, args.data_root)})
        if args.save_int8:
            shutil.copyfile(graphs["int8 QDQ"], args.save_int8)
    result = {**provenance, "model": MODEL, "threads": args.threads, "runs": args.runs,
              "calibration_photos": {name: args.calibration for name in CALIBRATION_SETS},
              "note": args.note, "rows": rows, "verdict": verdicts(rows)}
    write_result(Path(args.out), result, markdown(result))


def verdicts(rows: list[dict]) -> dict[str, str]:
    """Per quantised graph: kept, or why not (the issue's bar: F1 and speed both)."""
    fp32 = rows[0]
    out = {}
    for row in rows[1:]:
        worst = max(fp32["f1"][name] - row["f1"][name] for name in TEST_SETS)
        faster = row["network_s"] < fp32["network_s"]
        out[row["graph"]] = ("keep" if worst <= MAX_F1_DROP and faster else
                             f"not kept: largest F1 drop {worst:+.4f} (bar {MAX_F1_DROP}), "
                             f"{row['network_s'] / fp32['network_s']:.2f}x fp32's time")
    return out


def markdown(result: dict) -> str:
    from retinaseg.io.tables import markdown_table

    rows, fp32 = result["rows"], result["rows"][0]
    table = markdown_table(
        ["graph", "MiB", "network ms", "/ fp32", *[f"F1 {n}" for n in TEST_SETS],
         "largest F1 drop"],
        [[r["graph"], f"{r['size_mib']:.1f}", f"{r['network_s'] * 1000:.0f}",
          f"{r['network_s'] / fp32['network_s']:.2f}",
          *[f"{r['f1'][n]:.4f}" for n in TEST_SETS],
          f"{max(fp32['f1'][n] - r['f1'][n] for n in TEST_SETS):+.4f}"] for r in rows],
        align="lrrr" + "r" * (len(TEST_SETS) + 1))
    verdict = "\n".join(f"- {kind}: {text}" for kind, text in result["verdict"].items())
    return (f"# Quantised `general` graphs: int8 (static QDQ) and fp16 against fp32\n\n"
            f"{provenance_markdown(result)}\n"
            f"Calibration (int8): the network inputs of the first "
            f"{result['calibration_photos']['drive']} training photos of each of "
            f"{', '.join(CALIBRATION_SETS)}; no test photo. F1: pooled, inside the FOV, on "
            f"each test split, the package's pipeline with the model's own TTA, cut and "
            f"post-processing on onnxruntime. Network: the session alone on DRIVE test "
            f"photo 01's input, {result['threads']} threads, median of {result['runs']}. "
            f"{result['note']}\n\n{table}\n\n"
            f"Kept only if F1 drops by at most {MAX_F1_DROP} on every test set and the graph "
            f"is faster:\n\n{verdict}\n")


if __name__ == "__main__":
    main()
