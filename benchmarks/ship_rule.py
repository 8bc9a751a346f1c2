"""Whether a candidate replaces the shipped model: the ship rule, applied to a
validation comparison (benchmarks/validation_compare.py's JSON).

    python benchmarks/ship_rule.py \\
        --compare benchmarks/results/validation_compare_six_rgb_dice_cycle3.json \\
        --reference general --candidate /work/runs/x/model-1792.safetensors

The rule, written down before the candidates were scored (docs/general-model.md):

(a) the candidate's mean F1 over the sources (each weighing the same) is no lower than
    the reference's;
(b) on each source of ``--keep`` (the reference's own training cameras) its F1 is at most
    ``--allowance`` below the reference's: a general model may trade a little in-domain
    for unseen cameras, not much;
(c) its vessel areas, on the whole, are no further from the manual ones: the mean over
    sources of |log(predicted / true area)| is no larger. A log, so that drawing twice
    the vessels is as far off as drawing half.

Reads only the comparison's file; the comparison itself names its photos (validation
photos, never a test photo). Writes benchmarks/results/ship_rule.{md,json} (``--out``).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def model_entry(comparison: dict, name: str) -> dict:
    for entry in comparison["models"]:
        if entry["model"] == name:
            return entry
    known = ", ".join(e["model"] for e in comparison["models"])
    raise SystemExit(f"no model {name!r} in the comparison (it has: {known})")


def summary(entry: dict) -> dict:
    """Mean F1 and mean |log area ratio| over the sources, each weighing the same."""
    sources = entry["sources"].values()
    return {"mean_f1": sum(s["f1"] for s in sources) / len(sources),
            "mean_abs_log_area": sum(abs(math.log(s["area_ratio"])) for s in sources)
            / len(sources)}


def judge(reference: dict, candidate: dict, keep: list[str], allowance: float) -> dict:
    """Each clause of the rule (module doc): its figures and whether it holds."""
    ref, cand = summary(reference), summary(candidate)
    clauses = [{"clause": "(a) mean F1 no lower", "reference": ref["mean_f1"],
                "candidate": cand["mean_f1"], "holds": cand["mean_f1"] >= ref["mean_f1"]}]
    for source in keep:
        r, c = reference["sources"][source]["f1"], candidate["sources"][source]["f1"]
        clauses.append({"clause": f"(b) {source} F1 at most {allowance:g} lower",
                        "reference": r, "candidate": c, "holds": c >= r - allowance})
    clauses.append({"clause": "(c) mean abs(log area ratio) no larger",
                    "reference": ref["mean_abs_log_area"],
                    "candidate": cand["mean_abs_log_area"],
                    "holds": cand["mean_abs_log_area"] <= ref["mean_abs_log_area"]})
    return {"clauses": clauses, "ships": all(c["holds"] for c in clauses)}


def markdown(result: dict) -> str:
    from common import provenance_markdown

    lines = [f"# Ship rule: `{result['candidate']}` against `{result['reference']}`", "",
             provenance_markdown(result),
             f"- comparison: `{result['comparison']}` (commit `{result['comparison_commit']}`); "
             f"its photos: {result['photos']}", "",
             "| clause | reference | candidate | holds |", "|---|---:|---:|---|"]
    lines += [f"| {c['clause']} | {c['reference']:.4f} | {c['candidate']:.4f} | "
              f"{'yes' if c['holds'] else '**no**'} |" for c in result["clauses"]]
    lines += ["", f"**{'Ships' if result['ships'] else 'Does not ship'}.**", ""]
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", type=Path, required=True,
                        help="a validation_compare.py result (.json)")
    parser.add_argument("--reference", default="general", help="the shipped model's row")
    parser.add_argument("--candidate", required=True, help="the candidate's row")
    parser.add_argument("--keep", nargs="+", default=["drive", "chase_db1", "hrf"],
                        help="sources the candidate may lose at most --allowance on")
    parser.add_argument("--allowance", type=float, default=0.01)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/ship_rule")
    from common import add_dirty_option
    add_dirty_option(parser)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import clean_provenance, shown_path, write_result

    args = parse_args(argv)
    result = clean_provenance(ROOT, args.allow_dirty)
    comparison = json.loads(args.compare.read_text())
    verdict = judge(model_entry(comparison, args.reference),
                    model_entry(comparison, args.candidate), args.keep, args.allowance)
    result.update(comparison=shown_path(args.compare, ROOT),
                  comparison_commit=comparison["commit"], photos=comparison["photos"],
                  reference=args.reference, candidate=args.candidate, keep=args.keep,
                  allowance=args.allowance, **verdict)
    write_result(args.out, result, markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
