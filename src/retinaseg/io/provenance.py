"""Where a result was made: the machine, the software versions and the commit."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np


def machine_info() -> dict:
    """Where a measurement was taken: enough to tell two machines apart."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "hostname": platform.node(), "platform": platform.platform(), "cpu": cpu,
        "cores": os.cpu_count(), **_torch_info(),
        "python": sys.version.split()[0], "numpy": np.__version__,
    }


def software_versions() -> dict:
    """Versions of the packages a result depends on, for a report's provenance."""
    from importlib import metadata

    versions = {"python": sys.version.split()[0]}
    for package in ("retinaseg", "torch", "numpy", "scipy", "scikit-image", "pillow",
                    "matplotlib"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions



def _torch_info() -> dict:
    """torch's version and threads, read only where torch is already imported: a
    process that never needed torch (an onnxruntime job) does not pay for it."""
    torch = sys.modules.get("torch")
    if torch is None:
        return {"torch_threads": None, "torch": "not imported"}
    return {"torch_threads": torch.get_num_threads(), "torch": torch.__version__}


def git_commit(path=".", excluded: tuple[str, ...] = ()) -> str:
    """The commit of the working tree at ``path``, marked ``-dirty`` if modified.

    Changes under ``excluded`` (folders relative to ``path``) do not count: the
    benchmarks exclude their own outputs, since rewriting them is what they do.
    """
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True,
                                text=True, check=True).stdout.strip()
        pathspec = [f":!{folder}" for folder in excluded]
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                ".", *pathspec], cwd=path,
                               capture_output=True, text=True).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
