"""``retinaseg measure``: vessel measurements of binary masks."""
from __future__ import annotations

import sys
from pathlib import Path

from .options import DEFAULT_FOV_DEGREES, DEFAULT_OUT, progress_bar


def add_parsers(verbs) -> None:
    """Add this module's verbs to the ``retinaseg`` sub-parsers."""
    me = verbs.add_parser("measure", help="vessel measurements (density, length, width, "
                                          "fractal dimension, tortuosity, branch points) "
                                          "of binary vessel masks")
    me.add_argument("masks", nargs="+", metavar="MASKS",
                    help="binary vessel masks (e.g. *_mask.png from 'retinaseg segment', or "
                         "manual annotations), or folders of them")
    me.add_argument("--fov", metavar="FILE_OR_DIR",
                    help="FOV mask for every mask, or a folder holding each mask's FOV (same "
                         "stem, or stem_fov / stem_mask); default: the whole image")
    me.add_argument("--mm-per-pixel", type=float, metavar="X",
                    help="pixel size on the retina; else mm are assumed from the FOV's width "
                         "(--fov-degrees), and without a FOV there are no mm")
    me.add_argument("--fov-degrees", type=float, default=DEFAULT_FOV_DEGREES, metavar="D",
                    help=f"the camera's field angle, for the mm assumption (default "
                         f"{DEFAULT_FOV_DEGREES:g}; 0.288 mm per degree)")
    me.add_argument("--min-object-px", type=int, metavar="N",
                    help="drop 8-connected objects under N pixels first; 0 keeps all (e.g. "
                         "for manual annotations). Default: the speck rule 'segment' uses, "
                         "30 px at a FOV 540 px wide, scaled with the FOV")
    me.add_argument("--av", metavar="FILE_OR_DIR",
                    help="RITE-coded artery/vein labels (a file, or a folder found as for "
                         "--fov) for CRAE, CRVE and AVR; a NAME_mask.png with "
                         "NAME_artery_mask.png and NAME_vein_mask.png beside it needs none")
    me.add_argument("--photos", metavar="FILE_OR_DIR",
                    help="the photos (NAME.* in a folder), to find the optic disc in for the "
                         "calibres; without them the calibre columns are empty, with the reason")
    me.add_argument("--out", default=DEFAULT_OUT,
                    help=f"writes OUT/measurements.csv and .jsonl (default {DEFAULT_OUT})")
    me.set_defaults(run=cmd_measure)


def cmd_measure(args) -> int:
    from ..io.atomic import check_output_folder, write_all_or_nothing
    from ..measure.files import (
        MeasureOptions,
        collect_masks,
        measure_file,
        table_csv,
        table_jsonl,
    )

    paths = collect_masks(args.masks)
    check_output_folder(args.out)
    options = MeasureOptions(Path(args.fov) if args.fov else None, args.mm_per_pixel,
                             args.fov_degrees, args.min_object_px,
                             av=Path(args.av) if args.av else None,
                             photos=Path(args.photos) if args.photos else None)
    options.check()
    progress = progress_bar("measure")
    rows = [measure_file(path, options) for path in progress(paths)]
    out = Path(args.out)
    written = {out / "measurements.csv": table_csv(rows),
               out / "measurements.jsonl": table_jsonl(rows)}
    write_all_or_nothing(written)
    for path in written:
        print(path)
    return _measure_summary(rows)


def _measure_summary(rows: list[dict]) -> int:
    """Stderr: how many were measured, in which units, and each failure on its line."""
    failed = [row for row in rows if row["status"] != "ok"]
    print(f"measured {len(rows) - len(failed)} of {len(rows)} masks", file=sys.stderr)
    sources = [row["scale_source"] for row in rows if row["status"] == "ok"]
    for source in sorted(set(sources)):
        print(f"  {sources.count(source)} with mm {SCALE_SOURCES[source]}", file=sys.stderr)
    if failed:
        print(f"{len(failed)} failed:", file=sys.stderr)
        for row in failed:
            print(f"  {row['error']}", file=sys.stderr)
    return 1 if failed else 0


SCALE_SOURCES = {
    "given": "from --mm-per-pixel",
    "assumed": "assumed: the FOV's width spans --fov-degrees at 0.288 mm/degree "
               "(the scale_note column has each one's figures)",
    "none": "none (no FOV and no --mm-per-pixel): pixels only",
}
