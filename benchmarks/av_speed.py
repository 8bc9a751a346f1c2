"""What artery/vein outputs and the calibre biomarkers add to a photo's time.

    python benchmarks/av_speed.py --av-model benchmarks/av_runs/general-av/model.safetensors \\
        --data-root ../shared/data --photos 5 --out benchmarks/results/av_speed

The issue's bar: A/V and biomarkers add at most 1x the vessel model's time per photo.
On the first ``--photos`` DRIVE test photos, one process, the same backend and threads
for both models, each stage timed alone (median over ``--runs`` passes per photo after
one warm-up pass, then the median over the photos):

- **vessel model**: ``general``'s network pass (``segment_at_scale``: network, TTA,
  resize back, cut), the time a vessel-only photo costs in the network;
- **A/V model, network**: the same call on the A/V model with the pixel decision (its
  extra output channels cost here, inside the same pass);
- **vote**: the segment decision (pipeline/av_vote) on that pass's maps;
- **biomarkers**: the cohort table's A/V columns (cohort/worker.av_columns: the disc,
  zones B and C, vessel widths, CRAE, CRVE, AVR, and the artery/vein measures).

Added = (A/V network - vessel network) + vote + biomarkers, against the vessel network.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def time_photo(vessel_model, av_model, sample, runs: int) -> dict:
    """The four stages of the module doc for one photo, in seconds."""
    from speed_stages import median_seconds

    from retinaseg.cohort.worker import av_columns
    from retinaseg.measure.scale import DATASET, dataset_fov_degrees, photo_scale
    from retinaseg.pipeline.av_vote import vote_by_segment
    from retinaseg.pipeline.segment import ARTERY, VEIN, segment_at_scale
    from retinaseg.pipeline.settings import resolve_settings

    image, fov = sample.image, sample.fov
    vessel_settings = resolve_settings(vessel_model)
    av_settings = resolve_settings(av_model, av_decision="pixel")
    vessel = median_seconds(lambda: segment_at_scale(vessel_model, image, fov,
                                                     vessel_settings), runs)
    done = segment_at_scale(av_model, image, fov, av_settings)
    av_network = median_seconds(lambda: segment_at_scale(av_model, image, fov, av_settings),
                                runs)
    artery, vein = done.others[ARTERY], done.others[VEIN]
    vote = median_seconds(lambda: vote_by_segment(artery, vein, done.mask, fov), runs)
    voted_artery, voted_vein = vote_by_segment(artery, vein, done.mask, fov)
    masks = {"vessel": done.mask, "artery": done.mask & (voted_artery >= voted_vein),
             "vein": done.mask & (voted_artery < voted_vein)}
    scale = photo_scale(fov, [(DATASET, None, dataset_fov_degrees("drive"))])
    biomarkers = median_seconds(lambda: av_columns(image, fov, masks, scale), runs)
    return {"id": sample.id, "vessel_network": vessel, "av_network": av_network,
            "vote": vote, "biomarkers": biomarkers}


def summary(photos: list[dict]) -> dict:
    stages = ("vessel_network", "av_network", "vote", "biomarkers")
    median = {k: statistics.median(p[k] for p in photos) for k in stages}
    added = median["av_network"] - median["vessel_network"] + median["vote"] + median["biomarkers"]
    return {**median, "added": added, "added_over_vessel": added / median["vessel_network"]}


def markdown(result: dict) -> str:
    from common import provenance_markdown

    s = result["summary"]
    rows = [("vessel model's network pass (`general`)", s["vessel_network"]),
            ("A/V model's network pass (pixel decision)", s["av_network"]),
            ("the segment vote", s["vote"]), ("the A/V biomarker columns", s["biomarkers"]),
            ("added: A/V pass - vessel pass + vote + biomarkers", s["added"])]
    lines = ["# What artery/vein outputs and the calibre biomarkers add", "",
             provenance_markdown(result), "",
             f"- photos: DRIVE test {', '.join(p['id'] for p in result['photos'])}; backend "
             f"{result['backend']}, {result['threads']} threads; each stage the median of "
             f"{result['runs']} passes per photo, the median over the photos",
             f"- A/V model: `{result['av_model']}`; vessel model: `{result['vessel_model']}`",
             f"- the machine: {result['machine_load']}",
             "", "| stage | ms per photo |", "|---|---:|",
             *(f"| {name} | {seconds * 1000:.0f} |" for name, seconds in rows), "",
             f"**Added / the vessel model's pass: {s['added_over_vessel']:.2f}** (target: at most 1).",
             ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    from common import add_dirty_option, clean_provenance, shown_path, write_result

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--av-model", required=True)
    parser.add_argument("--vessel-model", default="general")
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--photos", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backend", default="torch", choices=("torch", "onnxruntime"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "av_speed"))
    parser.add_argument("--otherwise-idle", action="store_true",
                        help="say in the result that other work on the machine was paused")
    add_dirty_option(parser)
    args = parser.parse_args(argv)
    provenance = clean_provenance(ROOT, args.allow_dirty)

    from retinaseg.data import load_dataset
    from retinaseg.hub.load import load_model

    vessel_model = load_model(args.vessel_model, "cpu", backend=args.backend, threads=args.threads)
    av_model = load_model(args.av_model, "cpu", backend=args.backend, threads=args.threads)
    data = load_dataset("drive", "test", args.data_root)[:args.photos]
    load_before = os.getloadavg()
    photos = [time_photo(vessel_model, av_model, sample, args.runs) for sample in data]
    result = {**provenance, "av_model": shown_path(args.av_model, ROOT),
              "vessel_model": args.vessel_model, "backend": args.backend,
              "threads": args.threads, "runs": args.runs, "photos": photos,
              "machine_load": ("otherwise idle: other work on it was paused for the run"
                               if args.otherwise_idle else "shared with other work"),
              "load_average_before_after": [load_before, os.getloadavg()],
              "summary": summary(photos)}
    write_result(args.out, result, markdown(result))
    print(f"added / vessel pass: {result['summary']['added_over_vessel']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
