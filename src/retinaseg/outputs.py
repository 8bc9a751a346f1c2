"""Writing result files atomically: every file of an image appears, or none."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image


def temp_beside(path: Path) -> Path:
    """A new temporary file next to ``path``, with the permissions a plain
    ``open()`` would give (``mkstemp``'s 0600 would hide results from others)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return Path(tmp)


def write_all_or_nothing(files: dict[Path, bytes | np.ndarray | dict]) -> None:
    """Write several files so that a failure leaves none of them behind.

    Each is written to a temporary file beside its target first; only when all
    are written are they renamed into place.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for path, content in files.items():
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = temp_beside(path)
            staged.append((tmp, path))
            _write_one(tmp, path.suffix, content)
        for tmp, path in staged:
            os.replace(tmp, path)
    finally:
        for tmp, _ in staged:
            if tmp.exists():
                tmp.unlink()


def _write_one(tmp: Path, suffix: str, content) -> None:
    if isinstance(content, np.ndarray):
        Image.fromarray(content).save(tmp, format="PNG")
    elif isinstance(content, dict):
        tmp.write_text(json.dumps(content, indent=2) + "\n")
    elif isinstance(content, str):
        tmp.write_text(content)
    else:
        tmp.write_bytes(content)


def probability_png(prob: np.ndarray) -> np.ndarray:
    """Probabilities as 0-255 grey levels (one float32 working copy, in place)."""
    levels = np.clip(prob, 0.0, 1.0, dtype=np.float32)
    levels *= 255.0
    levels += 0.5
    return levels.astype(np.uint8)


def mask_png(mask: np.ndarray) -> np.ndarray:
    return mask.astype(np.uint8) * 255
