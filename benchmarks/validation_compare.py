"""Models side by side on a training recipe's validation photos: the in-domain check
that comes before any test split.

    python benchmarks/validation_compare.py --config configs/general-six-rgb.yaml \\
        --models general /work/runs/general-six-rgb/model.safetensors --data-root ../shared/data

The photos are the config's ``data.val_ids`` (``source:id``, from each source's training
split, never a test photo), grouped by source. Each model runs as ``retinaseg evaluate``
runs it (its own settings and cut, native resolution, the dataset's FOV), pooled over a
source's photos: F1, AUC and predicted / true vessel area (sensitivity / precision);
then the mean over the sources, each source weighing the same. Writes
benchmarks/results/validation_compare.{md,json} (``--out``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def validation_photos(config: Path) -> dict[str, list[str]]:
    """The config's validation ids by source: ``{"drive": ["21", "22"], ...}``."""
    from retinaseg.config.schema import read_yaml

    photos: dict[str, list[str]] = {}
    named = (read_yaml(config).get("data") or {}).get("val_ids")
    if not named:
        raise SystemExit(f"{config}: names no data.val_ids (the photos to compare on)")
    for entry in named:
        source, _, photo = str(entry).partition(":")
        photos.setdefault(source, []).append(photo)
    return photos


def source_photos(source: str, ids: list[str], data_root):
    """The source's training split kept to ``ids`` (each must be there)."""
    from retinaseg.data import load_dataset
    from retinaseg.data.registry import Dataset

    data = load_dataset(source, "train", data_root)
    missing = sorted(set(ids) - set(data.ids))
    if missing:
        raise SystemExit(f"{source} train: no photo {', '.join(missing)}")
    return Dataset(data.name, data.split, [f for f in data.files if f.id in ids])


def score_model(model: str, photos: dict[str, list[str]], data_root) -> dict:
    from retinaseg.evaluation.evaluate import EvalOptions, evaluate_model
    from retinaseg.hub.load import load_model
    from retinaseg.pipeline.settings import resolve_settings

    bundle = load_model(model, "cpu")
    settings = resolve_settings(bundle)
    by_source = {}
    for source, ids in photos.items():
        result = evaluate_model(bundle, source_photos(source, ids, data_root),
                                EvalOptions(settings))
        pooled = result.pooled
        by_source[source] = {"photos": len(ids), "f1": pooled["f1"], "auc_roc": pooled["auc_roc"],
                             "area_ratio": pooled["sensitivity"] / pooled["precision"]}
    mean = {key: sum(s[key] for s in by_source.values()) / len(by_source)
            for key in ("f1", "auc_roc", "area_ratio")}
    return {"model": model, "checkpoint_sha256": bundle.sha256,
            "threshold_rule": str(settings.rule), "sources": by_source, "mean": mean}


def markdown(result: dict) -> str:
    from common import provenance_markdown

    sources = list(result["photos"])
    head = "| model | " + " | ".join(sources) + " | mean over sources |"
    rule = "|---|" + "---:|" * (len(sources) + 1)
    lines = ["# Models on a recipe's validation photos", "", provenance_markdown(result), "",
             f"- photos: `{result['config']}` data.val_ids (training splits, no test photo): "
             + "; ".join(f"{s} {', '.join(ids)}" for s, ids in result["photos"].items()),
             "- each model as `retinaseg evaluate` runs it (its own cut), pooled per source; "
             "cells: F1 / AUC / predicted-to-true vessel area", "", head, rule]
    for m in result["models"]:
        cells = [f"{s['f1']:.4f} / {s['auc_roc']:.4f} / {s['area_ratio']:.2f}"
                 for s in (m["sources"][name] for name in sources)]
        mean = m["mean"]
        cells.append(f"{mean['f1']:.4f} / {mean['auc_roc']:.4f} / {mean['area_ratio']:.2f}")
        lines.append(f"| `{m['model']}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    from common import add_dirty_option, clean_provenance, shown_path, write_result

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "validation_compare"))
    add_dirty_option(parser)
    args = parser.parse_args(argv)
    provenance = clean_provenance(ROOT, args.allow_dirty)
    photos = validation_photos(args.config)
    models = [score_model(model, photos, args.data_root) for model in args.models]
    for m in models:
        m["model"] = shown_path(m["model"], ROOT)
    result = {**provenance, "config": shown_path(args.config, ROOT), "photos": photos,
              "models": models}
    write_result(args.out, result, markdown(result))
    for m in models:
        print(f"{m['model']}: mean F1 {m['mean']['f1']:.4f}, area {m['mean']['area_ratio']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
