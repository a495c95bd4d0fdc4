"""WriteBehind: frames written in a background thread, bounded, errors surfacing, nothing racing the clean-up."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import zarr

from cellpipe.io.write_behind import WriteBehind


class GatedArray:
    """An array whose writes wait until ``gate`` is set; records which thread wrote each index."""

    def __init__(self, n: int, fail_at: int | None = None) -> None:
        self.data = np.zeros((n, 4), np.uint32)
        self.gate = threading.Event()
        self.started = threading.Event()
        self.writers: dict[int, str] = {}
        self.fail_at = fail_at

    def __setitem__(self, index: int, value: np.ndarray) -> None:
        self.started.set()
        self.gate.wait(10)
        if index == self.fail_at:
            raise OSError(f"disk full at frame {index}")
        self.data[index] = value
        self.writers[index] = threading.current_thread().name


def test_frames_land_in_a_zarr_array_in_another_thread(tmp_path):
    out = zarr.create_array(tmp_path / "labels.zarr", shape=(5, 8, 8), chunks=(1, 8, 8), dtype="uint32")
    frames = [np.full((8, 8), t + 1, np.uint32) for t in range(5)]
    with WriteBehind(out, max_pending=2) as writer:
        for t, frame in enumerate(frames):
            writer[t] = frame
    np.testing.assert_array_equal(out[:], np.stack(frames))


def test_the_caller_goes_on_while_a_write_runs_and_waits_past_max_pending():
    out = GatedArray(3)
    third_handed_over = threading.Event()
    with WriteBehind(out, max_pending=2) as writer:
        writer[0] = np.full(4, 1, np.uint32)  # runs, held at the gate
        writer[1] = np.full(4, 2, np.uint32)  # waits behind it
        assert out.started.wait(5) and not out.writers  # both handed over, neither written yet

        def third() -> None:
            writer[2] = np.full(4, 3, np.uint32)
            third_handed_over.set()

        helper = threading.Thread(target=third)
        helper.start()
        assert not third_handed_over.wait(0.3)  # two pending: the third assignment waits
        out.gate.set()
        helper.join(5)
        assert third_handed_over.is_set()
    np.testing.assert_array_equal(out.data[:, 0], [1, 2, 3])
    assert set(out.writers.values()) != {threading.current_thread().name}
    assert all(name.startswith("cellpipe-write-behind") for name in out.writers.values())


def test_a_failed_write_raises_in_the_caller():
    out = GatedArray(4, fail_at=1)
    out.gate.set()
    with pytest.raises(OSError, match="disk full at frame 1"):
        with WriteBehind(out, max_pending=1) as writer:
            for t in range(4):
                writer[t] = np.full(4, t + 1, np.uint32)
    assert 0 in out.writers and 1 not in out.writers
    assert 3 not in out.writers  # max_pending 1: the error surfaced before frame 3 was handed over


def test_a_caller_error_drops_queued_writes_and_waits_for_the_running_one():
    out = GatedArray(3)
    timer = threading.Timer(0.3, out.gate.set)
    with pytest.raises(RuntimeError, match="network failed"):
        with WriteBehind(out, max_pending=3) as writer:
            writer[0] = np.full(4, 1, np.uint32)
            writer[1] = np.full(4, 2, np.uint32)
            assert out.started.wait(5)
            timer.start()
            raise RuntimeError("network failed")
    # when the block has ended the running write is finished and the queued one never ran
    assert out.writers.keys() == {0}
    np.testing.assert_array_equal(out.data[:, 0], [1, 0, 0])
    timer.join()


def test_max_pending_below_one_is_refused():
    with pytest.raises(ValueError, match="max_pending must be at least 1"):
        WriteBehind(np.zeros(3), max_pending=0)
