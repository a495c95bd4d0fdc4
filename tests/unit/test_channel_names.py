"""segment.channel by name (issue #26): resolved against each movie's channel names, on tiny real files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from pydantic import ValidationError

from cellpipe.config import ConfigError, SegmentSettings, load_config
from cellpipe.ingest import channel_index
from cellpipe.io.movies import inspect_movie, write_ome_tiff
from cellpipe.preflight import check_samples
from cellpipe.simulate import make_nuclei_movie

NAMES = ["Brightfield", "H2B-GFP", "mCherry"]


def three_channel_movie(path: Path, nuclei_in: int = 1) -> np.ndarray:
    """A (3, 3, 48, 64) OME-TIFF with channels named :data:`NAMES`: nuclei only in channel ``nuclei_in``,
    the other two flat; returns the nuclei (T, Y, X)."""
    nuclei = make_nuclei_movie(n_frames=3, shape=(48, 64), seed=0).image
    movie = np.full((3, 3, 48, 64), 100, np.uint16)
    movie[:, nuclei_in] = nuclei
    write_ome_tiff(path, movie, pixel_size_um=0.5, frame_interval_min=2.0, channel_names=NAMES)
    return nuclei


def test_a_channel_is_an_index_or_a_name() -> None:
    assert channel_index(2, NAMES) == 2
    assert channel_index("H2B-GFP", NAMES) == 1
    assert channel_index("h2b-gfp", NAMES) is None  # exact: case counts
    assert SegmentSettings(channel="H2B-GFP").channel == "H2B-GFP"
    assert SegmentSettings(channel=1).channel == 1
    for bad in (-1, "", "  "):
        with pytest.raises(ValidationError):
            SegmentSettings(channel=bad)


def test_imagej_slice_labels_name_the_channels_when_every_frame_repeats_them(tmp_path: Path) -> None:
    data = np.zeros((2, 3, 16, 16), np.uint16)
    tifffile.imwrite(tmp_path / "named.tif", data, imagej=True, metadata={"axes": "TCYX", "Labels": NAMES * 2})
    assert inspect_movie(tmp_path / "named.tif").channel_names == tuple(NAMES)
    per_frame = [f"t{t} c{c}" for t in range(2) for c in range(3)]  # labels that describe planes, not channels
    tifffile.imwrite(tmp_path / "planes.tif", data, imagej=True, metadata={"axes": "TCYX", "Labels": per_frame})
    assert inspect_movie(tmp_path / "planes.tif").channel_names == ()


def test_the_start_up_check_resolves_a_name_or_names_what_the_file_has(tmp_path: Path) -> None:
    three_channel_movie(tmp_path / "m.ome.tif")
    sheet = tmp_path / "samples.tsv"
    sheet.write_text(f"sample\tmovie\nwell_A1\t{tmp_path / 'm.ome.tif'}\n")
    check_samples(sheet, load_config({"segment": {"channel": "H2B-GFP"}}))
    with pytest.raises(ConfigError) as err:
        check_samples(sheet, load_config({"segment": {"channel": "DAPI"}}))
    line = str(err.value)
    assert "\n" not in line
    assert "sample 'well_A1'" in line and "m.ome.tif" in line and "segment.channel 'DAPI'" in line
    assert "the file's channel names): 'Brightfield', 'H2B-GFP', 'mCherry'" in line
    # the sample sheet's channel_names replace the file's, for the lookup too
    sheet.write_text(f"sample\tmovie\tchannel_names\nwell_A1\t{tmp_path / 'm.ome.tif'}\tBF,DAPI,RFP\n")
    check_samples(sheet, load_config({"segment": {"channel": "DAPI"}}))
    with pytest.raises(ConfigError, match=r"'H2B-GFP' is not a channel .*sample sheet's channel_names\): 'BF', 'DAPI', 'RFP'"):
        check_samples(sheet, load_config({"segment": {"channel": "H2B-GFP"}}))
