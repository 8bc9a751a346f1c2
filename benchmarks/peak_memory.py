"""Peak memory of whole ``retinaseg segment`` processes on large photographs.

    python benchmarks/peak_memory.py [--sizes 4000x4000 9000x9000 11000x11000]
                                     [--models general unet-drive ...] [--jobs2-size 4000x4000]
                                     [--baseline COMMIT --baseline-sizes 9000x9000] [--allow-dirty]

Each photo is the scikit-image fundus sample (1411x1411, a real photograph)
enlarged to the size asked (bicubic) and saved as a JPEG (quality 90), made in a
temporary folder. ``retinaseg segment PHOTO --model M`` runs on it in its own
process for each model (default: every shipped one) and that process's peak
resident set size comes from ``wait4``. 100 MP is the largest photo accepted
(``retinaseg.data.io.MAX_PIXELS``, 10000x10000): an 11000x11000 photo is refused
from its header, and its row shows what the refusal costs. ``--jobs2-size`` also
runs ``--jobs 2`` on two such photos and reports each process's peak (the
parent's from ``wait4``, each worker's ``VmHWM`` read from ``/proc`` every 0.1 s,
so a peak in a worker's last 0.1 s could be missed). ``--baseline COMMIT`` also
runs the source tree of an earlier commit (``git archive``) on ``--baseline-sizes``.
Writes ``benchmarks/results/peak_memory.{json,md}``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import add_dirty_option, clean_provenance, provenance_markdown, write_result

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SIZES = ("4000x4000", "9000x9000", "11000x11000")
SHIPPED = ("general", "unet-drive", "convlstm-unet-drive", "column-bilstm-hrf")


def make_photo(size: str, folder: Path) -> Path:
    """The skimage fundus enlarged to ``size`` (WxH), as a JPEG, made in another
    process: ``wait4``'s peak of a child counts the parent's RSS at the fork, so this
    process stays small."""
    path = folder / f"fundus_{size}.jpg"
    if not path.is_file():
        subprocess.run([sys.executable, __file__, "--make-photo", size, str(path)], check=True)
    return path


def _write_photo(size: str, path: Path) -> None:
    from PIL import Image
    from skimage import data

    width, height = (int(v) for v in size.split("x"))
    Image.fromarray(data.retina()).resize((width, height), Image.Resampling.BICUBIC).save(
        path, quality=90)
    return path


def run_segment(src: Path, photo: Path, out: Path, model: str = "unet-drive",
                *extra: str) -> dict:
    """Exit status, seconds and peak RSS (MiB) of one ``retinaseg segment`` process,
    and with workers (``--jobs``) each worker's peak."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    command = [sys.executable, "-m", "retinaseg", "segment", str(photo), "--model", model,
               "--out", str(out), *extra]
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peaks: dict[int, int] = {}
    watcher = threading.Thread(target=_watch_workers, args=(child, peaks), daemon=True)
    watcher.start()
    stderr = child.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)  # so Popen does not wait again
    watcher.join()
    row = {"exit_status": child.returncode,
           "seconds": round(time.perf_counter() - started, 1),
           "peak_rss_mib": round(usage.ru_maxrss / 1024),
           "stderr_last_line": stderr.strip().splitlines()[-1] if stderr.strip() else ""}
    if peaks:
        row["worker_peaks_mib"] = sorted(round(kib / 1024) for kib in peaks.values())
    return row


def _watch_workers(child: subprocess.Popen, peaks: dict) -> None:
    """Each descendant's VmHWM (its own peak RSS, KiB) until ``child`` ends."""
    while child.returncode is None and Path(f"/proc/{child.pid}").exists():
        for pid in _descendants(child.pid):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    peaks[pid] = max(peaks.get(pid, 0), int(line.split()[1]))
        time.sleep(0.1)


def _descendants(root: int) -> list[int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1]
                                              .split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        children = [p for p, parent in parents.items() if parent == pid]
        found += children
        frontier += children
    return found


def baseline_tree(commit: str, folder: Path) -> Path:
    """The ``src/`` of an earlier commit, unpacked under ``folder``."""
    archive = subprocess.run(["git", "archive", commit, "src"], cwd=REPO, capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder / "src"


def measure(label: str, src: Path, sizes, models, folder: Path, skip=()) -> list[dict]:
    rows = []
    for size in sizes:
        photo = make_photo(size, folder)
        for model in models:
            if f"{model}@{size}" in skip:
                continue
            out = folder / f"out-{label}-{size}-{model}"
            row = {"code": label, "model": model, "size": size, "jobs": 1,
                   "jpeg_mib": round(photo.stat().st_size / 2**20, 1),
                   **run_segment(src, photo, out, model)}
            print(row, flush=True)
            rows.append(row)
            shutil.rmtree(out, ignore_errors=True)
        photo.unlink()
    return rows


def measure_jobs2(src: Path, size: str, model: str, folder: Path) -> dict:
    """``--jobs 2`` on two photos of ``size``: the parent's peak and each worker's."""
    photos = folder / f"two-{size}"
    photos.mkdir()
    first = make_photo(size, folder)
    shutil.copy(first, photos / "a.jpg")
    os.replace(first, photos / "b.jpg")
    out = folder / f"out-jobs2-{size}"
    row = {"code": "this commit", "model": model, "size": f"2 x {size}", "jobs": 2,
           "jpeg_mib": round((photos / "a.jpg").stat().st_size / 2**20, 1),
           **run_segment(src, photos, out, model, "--jobs", "2")}
    print(row, flush=True)
    shutil.rmtree(photos)
    shutil.rmtree(out, ignore_errors=True)
    return row


def table(rows: list[dict]) -> str:
    lines = ["| code | model | photo (JPEG) | jobs | exit | seconds | peak RSS (MiB) | "
             "workers' peaks (MiB) |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['code']} | {r.get('model', 'unet-drive')} | {r['size']} "
              f"({r['jpeg_mib']} MiB) | {r.get('jobs', 1)} | {r['exit_status']} | "
              f"{r['seconds']} | {r['peak_rss_mib']} | "
              f"{', '.join(map(str, r.get('worker_peaks_mib', []))) or '-'} |" for r in rows]
    refused = [r for r in rows if r["exit_status"] not in (0, None)]
    lines += [""] + [f"- {r['size']} with {r.get('model')}: exit {r['exit_status']}, "
                     f"`{r['stderr_last_line']}`" for r in refused]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--make-photo"]:
        _write_photo(argv[1], Path(argv[2]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--models", nargs="+", default=list(SHIPPED))
    parser.add_argument("--jobs2-size", default="4000x4000",
                        help="the photo size of the --jobs 2 run ('none': skip it)")
    parser.add_argument("--jobs2-model", default="unet-drive")
    parser.add_argument("--skip", nargs="*", default=[], metavar="MODEL@SIZE",
                        help="leave these runs out (stated in the result), e.g. for time")
    parser.add_argument("--baseline", help="an earlier commit to measure too")
    parser.add_argument("--baseline-sizes", nargs="+", default=["9000x9000"])
    add_dirty_option(parser)
    args = parser.parse_args(argv)
    result = clean_provenance(REPO, args.allow_dirty)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = measure("this commit", REPO / "src", args.sizes, args.models, folder, args.skip)
        if args.jobs2_size != "none":
            rows.append(measure_jobs2(REPO / "src", args.jobs2_size, args.jobs2_model, folder))
        if args.baseline:
            src = baseline_tree(args.baseline, folder)
            rows += measure(f"baseline {args.baseline[:7]}", src, args.baseline_sizes,
                            ["unet-drive"], folder)
    result["rows"] = rows
    result["skipped"] = list(args.skip)
    result["omp_num_threads"] = os.environ.get("OMP_NUM_THREADS", "unset")
    text = ("# Peak memory of `retinaseg segment` on large photographs\n\n"
            f"{provenance_markdown(result)}- OMP_NUM_THREADS: {result['omp_num_threads']}\n\n"
            "Each row is one whole `retinaseg segment PHOTO --model M` process (default "
            "`--save mask`); peak RSS is that process's maximum resident set size (with "
            "`--jobs 2`, the parent's, and each worker's VmHWM beside it). Photos over 100 MP "
            "(`MAX_PIXELS`) are refused from the file's header before any pixel is decoded. "
            "Seconds are whole-process wall times on a machine shared with other jobs; the "
            "memory figures do not depend on that load."
            + (f" Left out for time: {', '.join(args.skip)}." if args.skip else "")
            + "\n\n" + table(rows))
    write_result(REPO / "benchmarks/results/peak_memory", result, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
