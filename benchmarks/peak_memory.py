"""Peak memory of ``retinaseg segment`` on large photographs, each in a fresh process.

    python benchmarks/peak_memory.py [--sizes 3504x2336 9000x9000 10000x10000]
                                     [--baseline COMMIT --baseline-sizes 9000x9000]

Each photo is the scikit-image fundus sample (1411x1411) enlarged to the size
asked (bicubic) and saved as a JPEG (quality 90); ``retinaseg segment PHOTO``
runs on it with the default model in its own process, and that process's peak
resident set size comes from ``wait4``. 10000x10000 is the largest photo
accepted (``retinaseg.data.io.MAX_PIXELS``). ``--baseline COMMIT`` also runs
the source tree of an earlier commit (``git archive``) on ``--baseline-sizes``,
for a before/after comparison. Writes ``benchmarks/results/peak_memory.{json,md}``.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import provenance, provenance_markdown, write_result

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SIZES = ("3504x2336", "9000x9000", "10000x10000")


def make_photo(size: str, folder: Path) -> Path:
    """The skimage fundus enlarged to ``size`` (WxH), as a JPEG."""
    from PIL import Image
    from skimage import data

    width, height = (int(v) for v in size.split("x"))
    path = folder / f"fundus_{size}.jpg"
    Image.fromarray(data.retina()).resize((width, height), Image.Resampling.BICUBIC).save(
        path, quality=90)
    return path


def run_segment(src: Path, photo: Path, out: Path) -> dict:
    """Exit status, seconds and peak RSS (MiB) of one ``retinaseg segment`` process."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    command = [sys.executable, "-m", "retinaseg", "segment", str(photo), "--out", str(out)]
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = child.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)  # so Popen does not wait again
    return {"exit_status": child.returncode, "seconds": round(time.perf_counter() - started, 1),
            "peak_rss_mib": round(usage.ru_maxrss / 1024),
            "stderr_last_line": stderr.strip().splitlines()[-1] if stderr.strip() else ""}


def baseline_tree(commit: str, folder: Path) -> Path:
    """The ``src/`` of an earlier commit, unpacked under ``folder``."""
    archive = subprocess.run(["git", "archive", commit, "src"], cwd=REPO, capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder / "src"


def measure(label: str, src: Path, sizes, folder: Path) -> list[dict]:
    rows = []
    for size in sizes:
        photo = make_photo(size, folder)
        row = {"code": label, "size": size, "jpeg_mib": round(photo.stat().st_size / 2**20, 1),
               **run_segment(src, photo, folder / f"out-{label}-{size}")}
        print(row, flush=True)
        rows.append(row)
        photo.unlink()
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| code | photo (JPEG) | exit | seconds | peak RSS (MiB) |", "|---|---|---|---|---|"]
    lines += [f"| {r['code']} | {r['size']} ({r['jpeg_mib']} MiB) | {r['exit_status']} | "
              f"{r['seconds']} | {r['peak_rss_mib']} |" for r in rows]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--baseline", help="an earlier commit to measure too")
    parser.add_argument("--baseline-sizes", nargs="+", default=["9000x9000"])
    args = parser.parse_args(argv)
    result = provenance(REPO)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = measure("this commit", REPO / "src", args.sizes, folder)
        if args.baseline:
            src = baseline_tree(args.baseline, folder)
            rows += measure(f"baseline {args.baseline[:7]}", src, args.baseline_sizes, folder)
    result["rows"] = rows
    result["omp_num_threads"] = os.environ.get("OMP_NUM_THREADS", "unset")
    text = ("# Peak memory of `retinaseg segment` on large photographs\n\n"
            f"{provenance_markdown(result)}- OMP_NUM_THREADS: {result['omp_num_threads']}\n\n"
            "Each row is one `retinaseg segment PHOTO` process (default model `unet-drive`); "
            "peak RSS is that process's maximum resident set size. Seconds are whole-process "
            "wall times on a machine shared with other jobs; the memory figures do not depend "
            "on that load.\n\n" + table(rows))
    write_result(REPO / "benchmarks/results/peak_memory", result, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
