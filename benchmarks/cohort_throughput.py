"""Cohort throughput: `retinaseg segment` on a mixed folder, serial and --jobs 2,
against the bare model forward time; peak memory; a kill-and-resume run.

    python benchmarks/cohort_throughput.py --data-root ../shared/data [--count 200]

The folder holds ``--count`` links, cycling through DRIVE (40), CHASE_DB1 (28)
and HRF (45) photos in turn, so every size is spread over the run. Each job is a
whole `retinaseg segment` process (model loading and worker start-up included),
timed from launch to exit, with the process tree's memory sampled every 0.1 s.
The bare forward time is the model alone (``predict_tensor``, TTA included) on
the same images already at working scale: no reading, FOV, resizing or writing.
The cost of each --save picture is measured on an HRF photo (3504x2336).
The kill-and-resume run is killed (SIGKILL) once a third of the rows are in, then
rerun; its table must equal the serial run's, minus timings, with no row lost or
duplicated. So must the --jobs 2 table: the script exits 1, after writing its
result with the rows that differ, where it does not.
Writes benchmarks/results/cohort_throughput.{json,md}.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from retinaseg.hub.pretrained import DEFAULT_MODEL  # noqa: E402  (torch-free)
SOURCES = [("DRIVE", "DRIVE/test/images/*.tif"), ("DRIVE", "DRIVE/training/images/*.tif"),
           ("CHASE_DB1", "CHASEDB1/Image_*[LR].jpg"), ("HRF", "HRF/images/*.*")]


def mixed_folder(data_root: Path, folder: Path, count: int) -> dict[str, str]:
    """``count`` links in ``folder``, interleaving the datasets; returns link -> dataset."""
    pools: dict[str, list[Path]] = {}
    data_root = data_root.resolve()  # a relative link would point inside ``folder``
    for dataset, pattern in SOURCES:
        pools.setdefault(dataset, []).extend(sorted(data_root.glob(pattern)))
    folder.mkdir(parents=True)
    names, order = {}, list(pools)
    for i in range(count):
        dataset = order[i % len(order)]
        source = pools[dataset][(i // len(order)) % len(pools[dataset])]
        link = folder / f"{i:03d}_{source.name}"
        link.symlink_to(source)
        names[os.path.abspath(link)] = dataset
    return names


def run_job(args: list[str], kill_after_rows: int = 0, table: Path | None = None) -> dict:
    """One `retinaseg segment` process: wall seconds, peak memory, load average."""
    import psutil

    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    job = subprocess.Popen([sys.executable, "-m", "retinaseg.cli", "segment", *args], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak_total, peak_one, killed = 0, 0, False
    while job.poll() is None:
        total, largest = _tree_rss(psutil.Process(job.pid))
        peak_total, peak_one = max(peak_total, total), max(peak_one, largest)
        if kill_after_rows and table.is_file() and _lines(table) >= kill_after_rows:
            job.send_signal(signal.SIGKILL)
            killed = True
        time.sleep(0.1)
    seconds = time.perf_counter() - started
    stderr = job.stderr.read()
    if job.returncode != 0 and not killed:
        raise RuntimeError(f"segment failed ({job.returncode}): {stderr[-2000:]}")
    return {"seconds": round(seconds, 2), "peak_rss_total_mib": round(peak_total / 2**20),
            "peak_rss_largest_process_mib": round(peak_one / 2**20),
            "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2),
            "returncode": job.returncode, "stderr_tail": stderr.strip().splitlines()[-2:]}


def _tree_rss(process) -> tuple[int, int]:
    import psutil

    sizes = []
    try:
        for each in [process, *process.children(recursive=True)]:
            sizes.append(each.memory_info().rss)
    except psutil.Error:
        pass
    return sum(sizes), max(sizes, default=0)


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n")


def read_rows(out: Path) -> list[dict]:
    with open(out / "results.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def untimed(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def table_differences(reference: list[dict], rows: list[dict]) -> list[dict]:
    """Each file whose row differs from the reference's, timings aside, and how.

    The tables list files in the input order whatever finished first, so an order
    that differs is a difference too.
    """
    theirs = {row["file"]: row for row in untimed(rows)}
    differences = []
    for row in untimed(reference):
        other = theirs.pop(row["file"], None)
        if other is None:
            differences.append({"file": row["file"], "problem": "missing"})
        elif other != row:
            differences.append({"file": row["file"], "columns": {
                key: [row.get(key), other.get(key)] for key in sorted(row.keys() | other.keys())
                if row.get(key) != other.get(key)}})
    differences += [{"file": name, "problem": "not in the reference"} for name in theirs]
    if not differences and [r["file"] for r in reference] != [r["file"] for r in rows]:
        differences.append({"file": "(every row)", "problem": "rows in another order"})
    return differences


def forward_seconds(folder: Path, model: str) -> dict:
    """(child process) The model alone on each image at working scale, TTA included."""
    import torch

    from retinaseg.data.fov import estimate_fov
    from retinaseg.data.io import read_image
    from retinaseg.data.preprocess import preprocess
    from retinaseg.pipeline.predict import model_tta, predict_tensor, working_copy
    from retinaseg.hub.pretrained import load_model

    bundle = load_model(model)
    tta, cache, total = model_tta(bundle, None), {}, 0.0
    for link in sorted(folder.iterdir()):
        source = link.resolve()
        if source not in cache:
            image = read_image(source)
            work_image, work_fov = working_copy(bundle, image, estimate_fov(image))
            x = torch.from_numpy(preprocess(work_image, work_fov, bundle.meta.preprocess))
            started = time.perf_counter()
            predict_tensor(bundle.module, x, tta)
            cache[source] = time.perf_counter() - started
        total += cache[source]
    return {"images": len(list(folder.iterdir())), "unique_images": len(cache),
            "forward_seconds": round(total, 2), "torch_threads": torch.get_num_threads()}


def picture_costs(data_root: Path, model: str, repeats: int = 3) -> dict:
    """(child process) Seconds to encode and write each --save picture of an HRF photo,
    beside the seconds to segment it (read to probabilities)."""
    from retinaseg.cohort.worker import JobSpec, write_pictures
    from retinaseg.data.io import read_image
    from retinaseg.hub.pretrained import load_model
    from retinaseg.pipeline.segment import segment_image

    photo = data_root / "HRF/images/01_h.jpg"
    bundle = load_model(model)
    costs = {}
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        image = read_image(photo)
        prob, mask, fov = segment_image(bundle, image)
        costs["read_and_segment"] = round(time.perf_counter() - started, 3)
        for kind in ("mask", "prob", "overlay"):
            spec = JobSpec(model, out, save=(kind,))
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                write_pictures(spec, "x", image, prob, mask, fov)
                times.append(time.perf_counter() - started)
            costs[kind] = round(statistics.median(times), 3)
            costs[f"{kind}_kib"] = round(os.path.getsize(Path(out) / f"x_{kind}.png") / 1024)
    return {"photo": photo.name, "size": f"{image.shape[1]}x{image.shape[0]}", **costs}


def _child(function: str, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    child = subprocess.run([sys.executable, __file__, "--child", function, *args], env=env,
                           capture_output=True, text=True)
    if child.returncode != 0:
        raise RuntimeError(f"{function} child failed ({child.returncode}): {child.stderr[-2000:]}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def uncertainty_by_dataset(rows: list[dict], datasets: dict[str, str]) -> dict:
    values: dict[str, list[float]] = {}
    for row in rows:
        values.setdefault(datasets[row["file"]], []).append(float(row["uncertain_fraction"]))
    return {name: {"min": min(v), "median": statistics.median(v), "max": max(v)}
            for name, v in values.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--save", default="mask")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)  # internal
    args = parser.parse_args(argv)
    if args.child:
        name, *rest = args.child
        if name == "forward":
            print(json.dumps(forward_seconds(Path(rest[0]), rest[1])))
        else:
            print(json.dumps(picture_costs(Path(rest[0]), rest[1])))
        return 0
    result = measure(Path(args.data_root), args.count, args.model, args.save)
    write(result)
    if result["jobs2_differences"]:  # written first, so the evidence is kept
        print(f"--jobs 2 changed {len(result['jobs2_differences'])} row(s) of the serial table; "
              "see benchmarks/results/cohort_throughput.json", file=sys.stderr)
        return 1
    return 0


def measure(data_root: Path, count: int, model: str, save: str) -> dict:
    from retinaseg.utils import provenance

    where = provenance(ROOT)  # before the runs: the commit they ran, not a later one
    work = Path(tempfile.mkdtemp(prefix="cohort-bench-"))
    try:
        folder = work / "photos"
        datasets = mixed_folder(data_root, folder, count)
        common = [str(folder), "--model", model, "--save", save]
        forward = _child("forward", str(folder), model)
        serial = run_job(common + ["--out", str(work / "serial")])
        pool = run_job(common + ["--jobs", "2", "--out", str(work / "jobs2")])
        kill = kill_and_resume(common, work / "resumed", count, read_rows(work / "serial"))
        costs = _child("pictures", str(data_root), model)
        reference = read_rows(work / "serial")
        jobs2_differences = table_differences(reference, read_rows(work / "jobs2"))
        counts = {name: list(datasets.values()).count(name) for name in set(datasets.values())}
        return {**where, "count": count, "by_dataset": counts, "model": model,
                "save": save, "forward": forward, "serial": serial, "jobs2": pool,
                "kill_and_resume": kill, "jobs2_differences": jobs2_differences,
                "pictures": costs,
                "uncertain_fraction": uncertainty_by_dataset(reference, datasets),
                "failed_rows": sum(r["status"] != "ok" for r in reference)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def kill_and_resume(common: list[str], out: Path, count: int, reference: list[dict]) -> dict:
    killed = run_job(common + ["--out", str(out)], kill_after_rows=1 + count // 3,
                     table=out / "results.csv")
    rows_at_kill = len(read_rows(out))
    resumed = run_job(common + ["--out", str(out)])
    rows = read_rows(out)
    files = [row["file"] for row in rows]
    return {"killed_returncode": killed["returncode"], "rows_at_kill": rows_at_kill,
            "resumed_seconds": resumed["seconds"], "resumed_stderr": resumed["stderr_tail"],
            "rows_after_resume": len(rows), "unique_files": len(set(files)),
            "equals_serial_table_minus_seconds": untimed(rows) == untimed(reference)}


def write(result: dict) -> None:
    from retinaseg.utils import provenance_markdown, write_result

    forward = result["forward"]
    lines = [f"# Cohort throughput: {result['count']} photos, `retinaseg segment --save "
             f"{result['save']}` with {result['model']}", "", provenance_markdown(result),
             f"Photos: {', '.join(f'{n} {c}' for n, c in sorted(result['by_dataset'].items()))} "
             "(links to /work/shared/data photos, repeated). Whole-process times, model load and "
             "worker start-up included.", "",
             "| run | seconds | images/s | / bare forward | peak RSS, all processes (MiB) | "
             "largest process (MiB) | load avg before / after |", "|---|---|---|---|---|---|---|"]
    bare = forward["images"] / forward["forward_seconds"]
    lines.append(f"| bare model forward (no I/O) | {forward['forward_seconds']} | {bare:.2f} | "
                 "1.00 | | | |")
    for name, run in (("serial", result["serial"]), ("--jobs 2", result["jobs2"])):
        rate = result["count"] / run["seconds"]
        lines.append(f"| {name} | {run['seconds']} | {rate:.2f} | {rate / bare:.2f} | "
                     f"{run['peak_rss_total_mib']} | {run['peak_rss_largest_process_mib']} | "
                     f"{run['load_before']} / {run['load_after']} |")
    kill, costs = result["kill_and_resume"], result["pictures"]
    lines += ["", "## Kill and resume", "",
              f"Killed with SIGKILL at {kill['rows_at_kill']} rows of {result['count']}; the rerun "
              f"took {kill['resumed_seconds']} s and left {kill['rows_after_resume']} rows for "
              f"{kill['unique_files']} distinct files; equal to the serial table minus timings: "
              f"{kill['equals_serial_table_minus_seconds']}.", "",
              f"The --jobs 2 table against the serial one, timings aside: "
              f"{_differences_line(result['jobs2_differences'])}", "",
              f"## Cost of each picture on HRF {costs['photo']} ({costs['size']})", "",
              f"Reading and segmenting it: {costs['read_and_segment']} s.", "",
              "| --save | seconds to encode + write | PNG size (KiB) |", "|---|---|---|"]
    lines += [f"| {kind} | {costs[kind]} | {costs[kind + '_kib']} |"
              for kind in ("mask", "prob", "overlay")]
    lines += ["", "## uncertain_fraction by dataset (share of FOV pixels near the threshold)", "",
              "| dataset | min | median | max |", "|---|---|---|---|"]
    lines += [f"| {name} | {v['min']:.4f} | {v['median']:.4f} | {v['max']:.4f} |"
              for name, v in sorted(result["uncertain_fraction"].items())]
    write_result(ROOT / "benchmarks/results/cohort_throughput", result, "\n".join(lines) + "\n")


def _differences_line(differences: list[dict]) -> str:
    if not differences:
        return "identical."
    return f"{len(differences)} row(s) differ: " + "; ".join(
        f"{Path(d['file']).name} ({d.get('problem') or ', '.join(d['columns'])})"
        for d in differences[:10]) + "."


if __name__ == "__main__":
    sys.exit(main())
