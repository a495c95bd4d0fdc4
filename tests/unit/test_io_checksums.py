"""Tests of cellpipe.io.checksums: file and folder checksums."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from cellpipe.io import checksums
from cellpipe.io.checksums import cached_file_sha256, file_sha256


def test_cached_file_sha256_hashes_a_file_once_until_its_size_or_time_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = tmp_path / "weights.pt"
    weights.write_bytes(b"first")
    reads: list[str] = []

    def counted(path: checksums.PathLike) -> str:
        reads.append(os.fspath(path))
        return file_sha256(path)

    monkeypatch.setattr(checksums, "file_sha256", counted)
    checksums._cached_sha256.cache_clear()
    assert cached_file_sha256(weights) == hashlib.sha256(b"first").hexdigest()
    assert cached_file_sha256(tmp_path / "." / "weights.pt") == hashlib.sha256(b"first").hexdigest()
    assert reads == [str(weights.resolve())]  # the same file by another path: not read again
    weights.write_bytes(b"second, longer")
    assert cached_file_sha256(weights) == hashlib.sha256(b"second, longer").hexdigest()
    assert len(reads) == 2
