"""Writing result files atomically: every file of an image appears, or none.

Every writer here turns an ``OSError`` (disk full, read-only file system, no
permission, a file where a folder should be) into an :class:`OutputError`
naming the path, through :func:`writing`: the CLI reports those as "could
not write" (exit status 3), apart from bad input (2) and bugs (4).
"""
from __future__ import annotations

import errno
import io
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import OutputError

# Why a write fails, in words a user can act on (errno -> problem).
WRITE_PROBLEMS = {
    errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large for this file system or limit",
    errno.EROFS: "read-only file system", errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted", errno.ENOTDIR: "a file is in the way of a folder",
    errno.EISDIR: "is a folder, not a file",
}


def write_problem(exc: OSError) -> str:
    return WRITE_PROBLEMS.get(exc.errno) or exc.strerror or type(exc).__name__


@contextmanager
def writing(path):
    """Map any ``OSError`` raised inside to an :class:`OutputError` naming ``path``:
    the file the user asked for, not the temporary file it was being written to."""
    try:
        yield
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError(path, f"cannot write ({write_problem(exc)})") from None


def check_output_folder(folder) -> Path:
    """Fail now, before any work, unless ``folder`` is (or can become) a writable folder.

    Nothing is created: the nearest existing ancestor must be a folder that
    takes a file, which a probe file created and removed at once shows (the
    only test that sees read-only mounts and full disks alike).
    """
    folder = Path(folder)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        what = "is a file, not a folder" if existing == folder else f"cannot be created: {existing} is a file"
        raise OutputError(folder, what)
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".retinaseg-probe-")
        try:
            os.write(fd, b"x")
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:  # named after the folder, not the probe file
        raise OutputError(existing, f"cannot write ({write_problem(exc)})") from None
    return folder


def check_output_file(path) -> Path:
    """Like :func:`check_output_folder`, for one file to be written at ``path``."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(path, "is a folder; give a file name")
    check_output_folder(path.parent)
    return path


def temp_beside(path: Path) -> Path:
    """A new temporary file next to ``path``, with the permissions a plain
    ``open()`` would give (``mkstemp``'s 0600 would hide results from others)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return Path(tmp)


def atomic_write(path, write) -> None:
    """``write(tmp)`` to a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_beside(path)
        try:
            write(tmp)
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()


def write_all_or_nothing(files: dict[Path, bytes | np.ndarray | dict]) -> None:
    """Write several files so that a failure leaves none of them behind.

    Each is written to a temporary file beside its target first; only when all
    are written are they renamed into place.
    """
    with staged_files(files):
        pass


@contextmanager
def staged_files(files: dict[Path, bytes | np.ndarray | dict | str]):
    """Write every file to a temporary beside it, run the ``with`` body, then
    rename them all into place; if anything fails, none appears.

    The body is the place for a step that must happen with the files, such
    as swapping in a folder of figures that the pages link to.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for path, content in files.items():
            path = Path(path)
            with writing(path):
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = temp_beside(path)
                staged.append((tmp, path))
                _write_one(tmp, path.suffix, content)
        yield
        for tmp, path in staged:
            with writing(path):
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


# zlib level of the continuous-tone pictures (probabilities, overlays): 1 encodes a DRIVE
# probability map in 8 ms instead of 24 for files 12% larger; a binary mask gains
# little from it (benchmarks/results/speed_stages.md), so masks keep Pillow's 6.
FAST_PNG_LEVEL = 1


def png_bytes(array: np.ndarray, compress_level: int = FAST_PNG_LEVEL) -> bytes:
    """``array`` as PNG bytes at ``compress_level``, for :func:`write_all_or_nothing`."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def mask_png(mask: np.ndarray) -> np.ndarray:
    return mask.astype(np.uint8) * 255
