"""Compute cost of the architectures on this CPU: a training step and a DRIVE-sized forward.

    python benchmarks/model_cost.py [--threads 2]

For each model and width: parameters, seconds per training step (batch 8 of
256x256 crops, forward + backward + SGD step) and seconds per inference
forward of a 592x576 input (a DRIVE image padded to stride 16), in fp32 and
with bf16 autocast, with weights in channels_last as inference uses them.
Median of several repeats after a warm-up. Needs no data: inputs are random,
which costs the same as real images. Keep the machine otherwise idle.
Writes benchmarks/results/model_cost.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from retinaseg.models import create_model
from retinaseg.models.blocks import fuse_batchnorm
from retinaseg.io.tables import markdown_table
from retinaseg.utils import add_dirty_option, clean_provenance, provenance_markdown, write_result

ROOT = Path(__file__).resolve().parents[1]
MODELS = [("unet", {"base_channels": 16, "depth": 4}),
          ("unet", {"base_channels": 32, "depth": 4}),
          ("convlstm-unet", {"base_channels": 16, "depth": 3}),
          ("convlstm-unet", {"base_channels": 32, "depth": 3}),
          # two small U-Nets in a row, LWNet's kind of model (tens of thousands to a
          # million parameters): is "lighter" faster on a CPU?
          ("wnet", {"base_channels": 8, "depth": 3}),
          ("wnet", {"base_channels": 8, "depth": 4})]


def median_seconds(action, repeats: int) -> float:
    action()  # warm-up: oneDNN picks its kernels on the first call
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def training_step_seconds(model, bf16: bool, repeats: int) -> float:
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    x = torch.randn(8, 1, 256, 256).contiguous(memory_format=torch.channels_last)
    target = (torch.rand(8, 1, 256, 256) > 0.9).float()

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(x)
        loss = F.binary_cross_entropy_with_logits(logits.float(), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return median_seconds(step, repeats)


def inference_seconds(model, bf16: bool, repeats: int) -> float:
    model.eval()
    fuse_batchnorm(model)
    x = torch.randn(1, 1, 592, 576).contiguous(memory_format=torch.channels_last)

    def forward():
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            model(x)

    return median_seconds(forward, repeats)


def measure(name: str, kwargs: dict, repeats: int) -> dict:
    row = {"model": name, **kwargs}
    for bf16 in (False, True):
        torch.manual_seed(0)
        model = create_model(name, in_channels=1, **kwargs).to(memory_format=torch.channels_last)
        row["parameters"] = sum(p.numel() for p in model.parameters())
        tag = "bf16" if bf16 else "fp32"
        row[f"train_step_s_{tag}"] = training_step_seconds(model, bf16, repeats)
        row[f"inference_s_{tag}"] = inference_seconds(model, bf16, repeats)
    return row


def markdown(result: dict) -> str:
    base = result["rows"][0]
    lines = ["# Compute cost on this CPU\n",
             provenance_markdown(result) + f"- torch threads: {result['threads']}\n",
             "Training step: batch 8 of 256x256 crops, forward + backward + SGD. Inference: "
             "one 592x576 input (DRIVE padded to stride), batch norm folded, channels_last. "
             f"Median of {result['repeats']} after a warm-up. 'x' = relative to the first row "
             "(fp32).\n",
             markdown_table(["model", "widths", "parameters", "train step fp32 (s)", "x",
                             "train step bf16 (s)", "inference fp32 (s)", "x",
                             "inference bf16 (s)"],
                            [cost_cells(r, base) for r in result["rows"]])]
    return "\n".join(lines) + "\n"


def cost_cells(r: dict, base: dict) -> list[str]:
    return [r["model"], f"base {r['base_channels']}, depth {r['depth']}", f"{r['parameters']:,}",
            f"{r['train_step_s_fp32']:.3f}",
            f"{r['train_step_s_fp32'] / base['train_step_s_fp32']:.1f}",
            f"{r['train_step_s_bf16']:.3f}", f"{r['inference_s_fp32']:.3f}",
            f"{r['inference_s_fp32'] / base['inference_s_fp32']:.1f}",
            f"{r['inference_s_bf16']:.3f}"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--repeats", type=int, default=5)
    add_dirty_option(parser)
    args = parser.parse_args(argv)
    header = clean_provenance(ROOT, args.allow_dirty)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for name, kwargs in MODELS:
        rows.append(measure(name, kwargs, args.repeats))
        print(json.dumps(rows[-1]), flush=True)
    result = {**header, "threads": torch.get_num_threads(),
              "repeats": args.repeats, "rows": rows}
    write_result(ROOT / "benchmarks" / "results" / "model_cost", result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
