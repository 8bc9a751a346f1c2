"""Convert the shipped weights from torch.save files to safetensors, and prove nothing changed.

    python benchmarks/convert_weights.py --from-commit 51a0f91

Reads each registered model's ``src/retinaseg/weights/<name>.pt`` as it was at
the given commit (``git show``; or ``--from-dir`` with the files), only through
``torch.load(weights_only=True)``, and writes ``weights/<name>.safetensors`` with
the package's own exporter. Then checks, per model: the same tensor names,
dtypes and bit-identical fp16 values, the same meta (a field the old file
predates reads as its default) and the same training config, and that exporting
the written file again reproduces it byte for byte (so its pinned hash is
stable). Writes benchmarks/results/convert_weights.{json,md} with the new
SHA-256 of each file, to pin in ``src/retinaseg/pretrained.py``.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch

from retinaseg.hub.checkpoint import read_checkpoint, sha256_of
from retinaseg.hub.pretrained import PRETRAINED, export_weights, unpinned
from retinaseg.utils import git_commit, provenance, provenance_markdown, write_result

ROOT = Path(__file__).resolve().parents[1]
LEGACY_DIR = "src/retinaseg/weights"


def legacy_file(name: str, args, scratch: Path) -> Path:
    if args.from_dir:
        return Path(args.from_dir) / f"{name}.pt"
    blob = subprocess.run(["git", "show", f"{args.from_commit}:{LEGACY_DIR}/{name}.pt"],
                          cwd=ROOT, capture_output=True, check=True).stdout
    path = scratch / f"{name}.pt"
    path.write_bytes(blob)
    return path


def same_tensors(old: dict, new: dict) -> bool:
    return old.keys() == new.keys() and all(
        old[k].dtype == new[k].dtype and old[k].shape == new[k].shape and torch.equal(old[k], new[k])
        for k in old)


def stored_meta_fields(legacy: Path) -> set[str]:
    """The meta fields the old file itself holds (older files predate some)."""
    return set(torch.load(legacy, map_location="cpu", weights_only=True)["meta"])


def convert(name: str, legacy: Path) -> dict:
    old = read_checkpoint(legacy)  # weights_only=True: the old files hold only tensors
    target = export_weights(legacy, name)
    first = target.read_bytes()
    new = read_checkpoint(target)
    with tempfile.TemporaryDirectory() as scratch:  # export the export: same bytes?
        again = Path(scratch) / "again.safetensors"
        again.write_bytes(first)
        reexported = export_weights(again, name).read_bytes()
    return {"name": name, "legacy_sha256": sha256_of(legacy), "sha256": sha256_of(target),
            "bytes": len(first), "tensors": len(new.state_dict),
            "same_tensors": same_tensors(old.state_dict, new.state_dict),
            "same_meta": asdict(old.meta) == asdict(new.meta),
            "meta_defaults_written": sorted(set(asdict(new.meta)) - stored_meta_fields(legacy)),
            "same_config": old.config == new.config,
            "reexport_identical": reexported == first,
            "to_pin": unpinned(name, target)}


def markdown(result: dict) -> str:
    lines = ["# Shipped weights: torch.save to safetensors", "", provenance_markdown(result),
             f"- source: the `.pt` files at commit `{result['source']}`", "",
             "| model | SHA-256 | bytes | tensors | same fp16 tensors | same meta | same config "
             "| re-export identical |", "|---|---|---|---|---|---|---|---|"]
    yes = lambda flag: "yes" if flag else "NO"  # noqa: E731
    for row in result["models"]:
        lines.append(f"| {row['name']} | `{row['sha256']}` | {row['bytes']:,} | {row['tensors']} "
                     f"| {yes(row['same_tensors'])} | {yes(row['same_meta'])} "
                     f"| {yes(row['same_config'])} | {yes(row['reexport_identical'])} |")
    added = [f"{row['name']} ({', '.join(row['meta_defaults_written'])})"
             for row in result["models"] if row["meta_defaults_written"]]
    if added:
        lines += ["", "Same meta: the same ModelMeta as the old file reads as. Fields an old "
                      "file predates are written out with the default it was read with: "
                      + "; ".join(added) + "."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-commit", help="commit whose weights/*.pt to convert")
    source.add_argument("--from-dir", help="folder holding <name>.pt for every shipped model")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/convert_weights"))
    args = parser.parse_args(argv)
    commit = git_commit(ROOT)
    with tempfile.TemporaryDirectory() as scratch:
        rows = [convert(name, legacy_file(name, args, Path(scratch))) for name in PRETRAINED]
    result = {**provenance(ROOT, commit), "source": args.from_commit or args.from_dir,
              "models": rows}
    write_result(args.out, result, markdown(result))
    for row in rows:
        if row["to_pin"]:
            print(row["to_pin"], file=sys.stderr)
    checks = ("same_tensors", "same_meta", "same_config", "reexport_identical")
    return 0 if all(row[k] for row in rows for k in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
