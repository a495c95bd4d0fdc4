"""Atomic writes: a temporary sibling renamed when complete; what a killed writer leaves is removed by the
next write of the same output, but never a live writer's temporary or one from another machine."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cellpipe.io import omezarr
from cellpipe.io.atomic import atomic_path, host_tag, process_running, stale_temporaries

KILLED_WRITER = """
import os, signal, sys
import numpy as np
from cellpipe.io import omezarr
with omezarr.new_ome_array(sys.argv[1], (4, 8, 8), "uint32", "tyx", 1.0, 1.0, name="cells") as arr:
    arr[0] = 1
    arr[1] = 2
    os.kill(os.getpid(), signal.SIGKILL)  # killed in the middle of the store, as by the OOM killer or a user
"""


def finished_pid() -> int:
    """The id of a process that ran and ended (no process has it now)."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    pid = int(proc.stdout)
    assert not process_running(pid)
    return pid


def test_temporary_is_a_hidden_sibling_naming_machine_and_process(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "cells.parquet"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.parent.is_dir()
        assert tmp.name.startswith(f".cells.parquet.tmp-{host_tag()}-{os.getpid()}-")
        tmp.write_text("x")
        assert not target.exists()
    assert target.read_text() == "x" and sorted(p.name for p in target.parent.iterdir()) == ["cells.parquet"]


def test_a_killed_writer_leaves_only_its_temporary_and_the_next_write_removes_it(tmp_path: Path) -> None:
    """A process SIGKILLed while filling a Zarr store leaves no store under the final name, only its temporary
    (with the frames it wrote); writing the store again removes that temporary and gives the whole store."""
    store = tmp_path / "image.ome.zarr" / "labels" / "cells"
    proc = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(store)], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    left = sorted(store.parent.iterdir())
    assert not store.exists() and len(left) == 1 and left[0].name.startswith(".cells.tmp-")
    frames = next(d for d in (left[0] / "s0" / "c", left[0] / "s0") if d.is_dir())  # Zarr v3 (NGFF 0.5) or v2 chunks
    assert sorted(p.name for p in frames.iterdir() if p.name.isdigit()) == ["0", "1"]
    assert stale_temporaries(store) == left

    data = np.arange(4 * 8 * 8, dtype=np.uint32).reshape(4, 8, 8)
    omezarr.write_ome_image(store, data, "tyx", 1.0, 1.0, name="cells")
    assert sorted(p.name for p in store.parent.iterdir()) == ["cells"]
    np.testing.assert_array_equal(omezarr.open_ome_image(store).data[:], data)


def test_live_foreign_and_unrelated_temporaries_are_left_alone(tmp_path: Path) -> None:
    """Only temporaries of the same output, made on this machine by a process that no longer runs, are removed:
    a live writer's (e.g. a job still running after snakemake was killed), one from another machine, one of
    another output and a user's own dot-file stay."""
    target = tmp_path / "tracks.parquet"
    here, dead = host_tag(), finished_pid()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        names = {
            "dead": f".tracks.parquet.tmp-{here}-{dead}-0123abcd",
            "live": f".tracks.parquet.tmp-{here}-{sleeper.pid}-0123abcd",
            "mine": f".tracks.parquet.tmp-{here}-{os.getpid()}-0123abcd",
            "other_host": f".tracks.parquet.tmp-{'0' * 6 if here != '0' * 6 else '1' * 6}-{dead}-0123abcd",
            "other_output": f".lineage.parquet.tmp-{here}-{dead}-0123abcd",
            "users": ".tracks.parquet.tmp-notes",
        }
        for name in names.values():
            (tmp_path / name).mkdir()
        assert stale_temporaries(target) == [tmp_path / names["dead"]]
        with atomic_path(target) as tmp:
            tmp.write_text("new")
        kept = sorted(p.name for p in tmp_path.iterdir())
        assert kept == sorted([*(n for k, n in names.items() if k != "dead"), "tracks.parquet"])
    finally:
        sleeper.kill()
        sleeper.wait()


def test_process_running() -> None:
    assert process_running(os.getpid()) and process_running(os.getppid())
    assert not process_running(finished_pid())


@pytest.mark.parametrize("as_dir", [False, True])
def test_failure_keeps_the_previous_output_and_removes_the_temporary(tmp_path: Path, as_dir: bool) -> None:
    target = tmp_path / "out"
    (target.mkdir() if as_dir else target.write_text("old"))
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        (tmp.mkdir() if as_dir else tmp.write_text("half"))
        raise RuntimeError("failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"] and target.is_dir() == as_dir


# --------------------------------------------------------------------------- a full disk (issue #23, item 16)


def _one_track() -> pd.DataFrame:
    return pd.DataFrame({"label": [1], "first_frame": [0], "last_frame": [0], "parent": [0]})


def _no_space(*_args: object, **_kwargs: object) -> None:
    raise OSError("65536 requested and 10112 written")  # what numpy's tofile (and so tifffile) says


def test_a_short_write_is_reported_as_a_full_disk_naming_the_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tifffile

    from cellpipe.io.atomic import DiskFullError
    from cellpipe.io.ctc import write_ctc_result_frames

    monkeypatch.setattr(tifffile, "imwrite", _no_space)
    res = tmp_path / "ctc"
    with pytest.raises(DiskFullError) as caught:
        write_ctc_result_frames(res, [np.zeros((4, 4), np.uint16)], 1, _one_track())
    message = str(caught.value)
    assert "\n" not in message and "requested and" not in message
    assert message.startswith(f"{res}: not written, the disk is full (") and " MB free on /" in message
    assert caught.value.errno == errno.ENOSPC and isinstance(caught.value, OSError)
    assert list(tmp_path.iterdir()) == []  # no partial folder, no temporary


def test_enospc_from_a_table_writer_is_one_line_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cellpipe.io import tables
    from cellpipe.io.atomic import DiskFullError

    def full(self: object, path: object, **_kwargs: object) -> None:
        Path(path).write_bytes(b"PAR1 partial")  # a partial file, as a real full disk leaves
        raise OSError(errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full)
    target = tmp_path / "tracks.parquet"
    with pytest.raises(DiskFullError, match=r"tracks\.parquet: not written, the disk is full \(\d+ MB free on /"):
        tables.write_parquet(pd.DataFrame({"a": [1]}), target)
    assert list(tmp_path.iterdir()) == []


def test_other_os_errors_are_not_called_a_full_disk(tmp_path: Path) -> None:
    from cellpipe.io.atomic import DiskFullError, is_disk_full

    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not is_disk_full(RuntimeError("no cause"))
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as inner:
            raise RuntimeError("a zarr chunk could not be stored") from inner
    except RuntimeError as outer:
        assert is_disk_full(outer)
    with pytest.raises(PermissionError), atomic_path(tmp_path / "x.json"):
        raise PermissionError(errno.EACCES, "Permission denied")
    with pytest.raises(OSError) as caught, atomic_path(tmp_path / "x.json"):
        raise OSError(errno.EACCES, "Permission denied")
    assert not isinstance(caught.value, DiskFullError)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs mounted at a folder of ``tmp_path`` (needs root; skipped otherwise)."""
    where = tmp_path / "small_disk"
    where.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)


def test_a_real_full_disk_names_the_output_and_the_mount(small_disk: Path) -> None:
    """tifffile, pyarrow and zarr on a 1 MB file system: each fails with the same one line, and nothing is left."""
    import tifffile

    from cellpipe.io import tables
    from cellpipe.io.atomic import DiskFullError

    rng = np.random.default_rng(0)
    with pytest.raises(DiskFullError, match=rf"^{small_disk}/a\.tif: not written, the disk is full \(\d+ MB free on {small_disk}\)$"), \
            atomic_path(small_disk / "a.tif") as tmp:
        tifffile.imwrite(tmp, rng.integers(0, 60000, (1200, 1200), dtype=np.uint16))
    with pytest.raises(DiskFullError, match=r"b\.parquet: not written, the disk is full"):
        tables.write_parquet(pd.DataFrame({"a": rng.random(300_000)}), small_disk / "b.parquet")
    with pytest.raises(DiskFullError, match=r"c\.ome\.zarr: not written, the disk is full"), \
            omezarr.new_ome_array(small_disk / "c.ome.zarr", (4, 600, 600), "float32", "tyx", 1.0, 1.0) as arr:
        for t in range(4):
            arr[t] = rng.random((600, 600), dtype=np.float32)
    assert list(small_disk.iterdir()) == []
