"""``retinaseg segment``: a cohort of photos in, masks and the results table out."""
from __future__ import annotations

import sys

from ..errors import RetinasegError
from .options import (
    DEFAULT_OUT,
    IMAGE_SUFFIXES,
    cohort_options,
    load_from_args,
    model_options,
    postprocess_options,
    say_backend,
    settings_from_args,
)


def add_parsers(verbs) -> None:
    """Add this module's verbs to the ``retinaseg`` sub-parsers."""
    seg = verbs.add_parser("segment", help="segment your own photographs")
    seg.add_argument("inputs", nargs="*", help="image files or folders of images (accepted: "
                     f"{', '.join(IMAGE_SUFFIXES)}; a folder's other files are skipped, "
                     "listed and given a 'skipped' row)")
    seg.add_argument("--sample", action="store_true",
                     help="also segment the fundus photo scikit-image ships")
    model_options(seg)
    seg.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT}); "
                     "writes OUT/results.csv and OUT/results.jsonl, and a rerun resumes")
    seg.add_argument("--report", action="store_true",
                     help="also write OUT/report.html: one offline page with every photo's "
                          "thumbnail, verdict and measures (sortable, filterable), histograms "
                          "and outliers (same as 'retinaseg report OUT' later)")
    cohort_options(seg)
    postprocess_options(seg)
    seg.add_argument("--no-quality-check", action="store_true",
                     help="segment even photos in which no usable fundus is seen (blank, "
                          "uniform, noise, over- or under-exposed); they fail by default")
    seg.set_defaults(run=cmd_segment)


MAX_LISTED_FAILURES = 20


def cmd_segment(args) -> int:
    from ..cohort import JobSpec, collect_cohort, parse_save, parse_shard, run_cohort
    from ..cohort.inputs import accepted_formats
    from ..cohort.summary import final_line, skipped_line
    from ..io.atomic import check_output_folder
    from ..pipeline.settings import backend_of

    if not args.inputs and not args.sample and not args.manifest:
        raise RetinasegError("nothing to segment: give image files or folders, --manifest, "
                             "or --sample")
    inputs = collect_cohort(args.inputs, args.manifest, args.sample)
    check_output_folder(args.out)
    save, shard_of = parse_save(args.save), args.shard and parse_shard(args.shard)
    bundle = load_from_args(args)  # a bad model fails before anything is written
    # The backend the driver resolved, so the workers neither choose again nor export.
    spec = JobSpec(args.model, args.out, settings_from_args(bundle, args), save,
                   device=args.device, backend=backend_of(bundle), mm_per_pixel=args.mm_per_pixel,
                   fov_degrees=args.fov_degrees, strict_units=args.strict_units)
    skipped = [item for item in inputs if item.skipped]
    if skipped:
        print(skipped_line(skipped, accepted_formats()), file=sys.stderr)
    result = run_cohort(spec, inputs, args.jobs, shard_of, args.dask, bundle=bundle)
    written = [result.table.csv_path, result.table.jsonl_path]
    if args.report:
        from ..cohort.page import write_cohort_page

        written.append(write_cohort_page(args.out))
    for path in written:
        print(path)
    pictures = len(spec.save) * sum(row["status"] == "ok" for row in result.rows)
    say_backend(bundle)  # before the summary, which stays the last line
    print(final_line(result, args.model, args.out, written, pictures), file=sys.stderr)
    failures = result.failures
    if failures:
        print(f"{len(failures)} failed:", file=sys.stderr)
        for row in failures[:MAX_LISTED_FAILURES]:
            print(f"  {row['error']}", file=sys.stderr)
        if len(failures) > MAX_LISTED_FAILURES:
            print(f"  ... the rest in {result.table.csv_path} (status, error)", file=sys.stderr)
        return 1
    return 0
