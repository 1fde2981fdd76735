"""sha256 pins: a model file that changed is refused before it is unpickled."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, expected: str | None) -> None:
    """Raise if `path` does not hash to `expected` (folders hash every file, sorted by name)."""
    if expected is None:
        return
    actual = tree_sha256(path) if path.is_dir() else file_sha256(path)
    if actual != expected.lower():
        raise ValueError(
            f"sha256 mismatch for {path}: manifest pins {expected.lower()}, "
            f"file has {actual}; refusing to load it"
        )


def tree_sha256(folder: Path) -> str:
    digest = hashlib.sha256()
    for item in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(item.relative_to(folder).as_posix().encode())
        digest.update(file_sha256(item).encode())
    return digest.hexdigest()
