"""cellpipe.io.cache: where the per-user cache lives, and entries written whole, read, dropped or skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from cellpipe.io import cache


def test_cache_folder_follows_cellpipe_then_xdg_then_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CELLPIPE_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.cache_dir() == tmp_path / "home" / ".cache" / "cellpipe"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "cellpipe"
    monkeypatch.setenv("CELLPIPE_CACHE_DIR", str(tmp_path / "own"))
    assert cache.cached_path("onnx", "a.onnx") == tmp_path / "own" / "onnx" / "a.onnx"


def test_entries_are_written_whole_read_and_dropped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CELLPIPE_CACHE_DIR", str(tmp_path))
    assert cache.read_cached("onnx", "a.onnx") is None
    assert cache.write_cached("onnx", "a.onnx", b"first") == tmp_path / "onnx" / "a.onnx"
    assert cache.write_cached("onnx", "a.onnx", b"second") == tmp_path / "onnx" / "a.onnx"
    assert cache.read_cached("onnx", "a.onnx") == b"second"
    assert sorted(p.name for p in (tmp_path / "onnx").iterdir()) == ["a.onnx"]  # no temporary left
    cache.drop_cached("onnx", "a.onnx")
    cache.drop_cached("onnx", "a.onnx")
    assert cache.read_cached("onnx", "a.onnx") is None


def test_an_unwritable_cache_is_skipped_with_a_log_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder would be")
    monkeypatch.setenv("CELLPIPE_CACHE_DIR", str(blocker))
    with caplog.at_level("INFO", logger="cellpipe.io.cache"):
        assert cache.write_cached("onnx", "a.onnx", b"data") is None
        assert cache.read_cached("onnx", "a.onnx") is None
    assert f"cache entry {blocker / 'onnx' / 'a.onnx'} not written" in caplog.text
    assert blocker.read_text() == "a file where the cache folder would be"
