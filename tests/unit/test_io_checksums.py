"""Tests of cellpipe.io.checksums: file and folder checksums."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from cellpipe.io import checksums
from cellpipe.io.checksums import cached_file_sha256, describe_path, file_sha256, files_under, tree_digest

MOVIE = b"II*\x00movie bytes"


def sha(data: bytes) -> str:
    """The sha256 of ``data``, hex."""
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory (the test runs inside it) with a movie file and a CTC ground-truth folder holding a
    hidden file and Snakemake's timestamp."""
    monkeypatch.chdir(tmp_path)
    files = {
        "data/movie.tif": MOVIE,
        "data/01_GT/TRA/man_track000.tif": b"truth 0",
        "data/01_GT/TRA/man_track.txt": b"1 0 0 0\n",
        "data/01_GT/.hidden": b"metadata",
        "data/01_GT/.snakemake_timestamp": b"",
    }
    for rel, data in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    return tmp_path


def test_file_and_folder_checksums_agree_with_hashlib(workdir: Path) -> None:
    assert file_sha256("data/movie.tif") == sha(MOVIE)
    empty = workdir / "empty.bin"
    empty.write_bytes(b"")
    assert file_sha256(empty) == hashlib.sha256(b"").hexdigest()
    big = workdir / "big.bin"
    payload = np.random.default_rng(0).integers(0, 256, 3 * (1 << 20) + 17, dtype=np.uint8).tobytes()
    big.write_bytes(payload)  # more than one 1 MiB block
    assert file_sha256(big) == sha(payload)

    entry = describe_path("movie", "data/movie.tif")
    assert entry == {"role": "movie", "path": "data/movie.tif", "type": "file", "bytes": 15, "sha256": sha(MOVIE)}
    # a folder: every file (hidden ones too, not Snakemake's timestamp), sorted, each with its sha256
    assert files_under("data/01_GT") == [".hidden", "TRA/man_track.txt", "TRA/man_track000.tif"]
    folder = describe_path("ground_truth", "data/01_GT")
    assert folder["type"] == "directory" and folder["bytes"] == len(b"metadata") + len(b"1 0 0 0\n") + len(b"truth 0")
    assert [f["sha256"] for f in folder["files"]] == [sha(b"metadata"), sha(b"1 0 0 0\n"), sha(b"truth 0")]
    lines = "".join(f"{p}\0{sha(d)}\n" for p, d in [(".hidden", b"metadata"), ("TRA/man_track.txt", b"1 0 0 0\n"),
                                                   ("TRA/man_track000.tif", b"truth 0")])
    assert folder["sha256"] == sha(lines.encode())
    renamed = [dict(f, path="TRA/x.tif") if f["path"] == "TRA/man_track000.tif" else f for f in folder["files"]]
    assert tree_digest(renamed) != folder["sha256"]
    # read relative to another working directory; a missing path says so
    assert describe_path("movie", "movie.tif", workdir / "data")["sha256"] == entry["sha256"]
    with pytest.raises(FileNotFoundError, match="no/such.tif"):
        describe_path("movie", "no/such.tif")


def test_tree_digest_is_the_one_recorded_in_existing_records(tmp_path: Path):
    """Records written before hold this digest of a folder: it must not change. One hashing loop serves
    file_sha256 and copy_as_read (the copy's bytes and checksum are the source's)."""
    from cellpipe.io.checksums import copy_as_read

    listing = [{"path": "b/c.tif", "sha256": "00"}, {"path": "a.txt", "sha256": "ff"}]
    assert tree_digest(listing) == "e53f09830ee033f7b7baf7abe85fec2d2a115177dfc23582c2db70a5fab1a92e"
    source = tmp_path / "src"
    (source / "b").mkdir(parents=True)
    (source / "a.txt").write_bytes(b"a" * 3_000_000)  # more than one 1 MiB block
    (source / "b" / "c.tif").write_bytes(b"c")
    copy, described = copy_as_read(source, tmp_path / "into")
    assert described["sha256"] == describe_path("x", source)["sha256"]
    assert [f["sha256"] for f in described["files"]] == [file_sha256(source / "a.txt"), file_sha256(source / "b" / "c.tif")]
    assert (copy / "a.txt").read_bytes() == (source / "a.txt").read_bytes()
    assert file_sha256(source / "b" / "c.tif") == hashlib.sha256(b"c").hexdigest()




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
