"""The parameter names of torch files read without torch, and the start-up check of Cellpose model files (#23)."""

from __future__ import annotations

import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cellpipe.io.torch_files import NotATorchFile, load_state_dict, state_dict_strings, write_network
from cellpipe.segment import check_model_file

SHIPPED = Path(__file__).resolve().parents[2] / "resources" / "models" / "cellpipe_nuclei" / "weights.pth"


def _save(path: Path, state: dict, legacy: bool = False) -> Path:
    import torch

    torch.save(state, path, _use_new_zipfile_serialization=not legacy)
    return path


@pytest.mark.parametrize("legacy", [False, True])
def test_the_keys_of_a_state_dict_are_read_without_torch(tmp_path: Path, legacy: bool) -> None:
    import torch

    path = _save(tmp_path / "m.pth", {"downsample.a.weight": torch.zeros(2), "output.b.bias": torch.ones(1)}, legacy)
    names = state_dict_strings(path)
    assert "downsample.a.weight" in names and "output.b.bias" in names
    assert check_model_file(path, "cellpose3") == path.resolve()


def test_the_shipped_model_is_a_cellpose3_model_and_torch_is_not_imported() -> None:
    code = (
        "import sys\nfrom cellpipe.segment import check_model_file\n"
        f"check_model_file({str(SHIPPED)!r}, 'cellpose3')\nprint('torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False"]


def test_files_torch_did_not_write_are_named_for_what_they_are(tmp_path: Path) -> None:
    text = tmp_path / "notes.pth"
    text.write_text("not a model")
    archive = tmp_path / "images.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("a.txt", "x")
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps({"downsample.a": 1, "output.b": 2}, protocol=2))
    cut = tmp_path / "cut.pth"
    cut.write_bytes(SHIPPED.read_bytes()[:1000])
    for path, what in [
        (text, "not a PyTorch file (neither a zip archive nor a pickle)"),
        (archive, "not a PyTorch file (a zip archive without data.pkl)"),
        (plain, "not a PyTorch file (a pickle without torch's magic number)"),
        (cut, "a damaged PyTorch file"),
    ]:
        with pytest.raises(NotATorchFile, match=rf"^{__import__('re').escape(what)}"):
            state_dict_strings(path)
        with pytest.raises(ValueError, match=rf"^Cellpose model file {__import__('re').escape(str(path))} is "):
            check_model_file(path)


def test_a_torch_file_of_another_network_or_no_cellpose_network_is_refused(tmp_path: Path) -> None:
    import torch

    other = _save(tmp_path / "resnet.pth", {"fc.weight": torch.zeros(2), "conv1.weight": torch.zeros(1)})
    expected = r"resnet.pth is a PyTorch file without Cellpose network weights \(first parameter names: fc.weight, conv1.weight\)"
    with pytest.raises(ValueError, match=expected):
        check_model_file(other)
    sam = _save(tmp_path / "sam.pth", {"encoder.pos_embed": torch.zeros(1), "W2": torch.eye(2)})
    assert check_model_file(sam, "cellpose-sam") == sam.resolve()
    with pytest.raises(ValueError, match=r"sam.pth holds a Cellpose-SAM \(cellpose 4\) model, but the network is 'cellpose3'"):
        check_model_file(sam, "cellpose3")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        check_model_file(tmp_path / "missing.pth")


@pytest.mark.parametrize("legacy", [False, True])
@pytest.mark.parametrize("mmap", [False, True])
def test_a_state_dict_is_loaded_on_the_cpu_mapped_or_not_in_either_format(
    tmp_path: Path, legacy: bool, mmap: bool
) -> None:
    import torch

    path = _save(tmp_path / "m.pth", {"a.weight": torch.arange(3.0), "b.bias": torch.ones(1)}, legacy)
    state = load_state_dict(path, mmap=mmap)
    assert list(state) == ["a.weight", "b.bias"]
    assert state["a.weight"].tolist() == [0.0, 1.0, 2.0] and state["a.weight"].device.type == "cpu"



def test_a_network_is_written_into_a_new_folder_as_its_state_dict(tmp_path: Path) -> None:
    import torch

    net = torch.nn.Linear(2, 1)
    net.save_model = lambda file: torch.save(net.state_dict(), file)  # as cellpose's CPnet.save_model does
    out = tmp_path / "models" / "m" / "weights.pth"
    write_network(net, out)
    assert sorted(p.name for p in out.parent.iterdir()) == ["weights.pth"]
    assert {"weight", "bias"} <= set(state_dict_strings(out))
    torch.testing.assert_close(load_state_dict(out)["weight"], net.weight.detach())
