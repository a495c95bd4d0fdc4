"""PyTorch state-dict files: their parameter names read without importing torch, and the state dict itself.

The Snakefile checks the Cellpose model file at every start of snakemake, so that a file that is not
a Cellpose model is refused before any job runs, not inside ``segment_frames`` after ingest and
normalize.  ``import torch`` alone costs 2.6 s on this project's machines (more on a
cluster's shared file system), so the names are read from the file's pickle instead: ``torch.save``
writes a zip archive whose ``<name>/data.pkl`` holds the dict with its keys as plain strings and the
tensors only as references to other members; :mod:`pickletools` lists the strings without building
any object (nothing is executed).  About 6 ms for the shipped 26 MB model; a 1.2 GB Cellpose-SAM
file costs no more, as only its small ``data.pkl`` is read.  Files of torch's legacy format
(before 1.6: consecutive pickles, the first being a magic number) are read the same way.
"""

from __future__ import annotations

import os
import pickletools
import zipfile
from pathlib import Path
from typing import IO, Any

from cellpipe.io.atomic import atomic_path

# The first pickle of torch's legacy (non-zip) format: torch.serialization.MAGIC_NUMBER.
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
# Opcodes that push a string; the keys of the state dict are among them.
_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING", "STRING"}


class NotATorchFile(ValueError):
    """The file is not one ``torch.save`` wrote; the message says what it is instead."""


def _strings(stream: IO[bytes]) -> list[str]:
    """The strings of one pickle read from ``stream`` (which is left after its STOP)."""
    return [str(arg) for op, arg, _ in pickletools.genops(stream) if op.name in _STRING_OPS]


def state_dict_strings(path: str | os.PathLike[str]) -> list[str]:
    """Every string of the pickled object of a ``torch.save`` file, in order (the state dict's keys among them).

    Parameters
    ----------
    path : str or os.PathLike
        The file: torch's zip format or its legacy format (consecutive pickles).

    Returns
    -------
    list of str
        The strings, as :mod:`pickletools` lists them; nothing is unpickled.

    Raises
    ------
    NotATorchFile
        Saying what the file is when torch did not write it, or that it is damaged (cut short, a bad
        pickle).
    """
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
                if not pickles:
                    raise NotATorchFile("not a PyTorch file (a zip archive without data.pkl)")
                with archive.open(pickles[0]) as stream:
                    return _strings(stream)
        with open(path, "rb") as handle:
            start = handle.read(4)
            if start == b"PK\x03\x04":  # a zip archive without its directory at the end: cut short
                raise NotATorchFile("a damaged PyTorch file (a zip archive cut short, e.g. an interrupted copy)")
            if start[:1] != b"\x80":  # every pickle torch writes starts with PROTO
                raise NotATorchFile("not a PyTorch file (neither a zip archive nor a pickle)")
            handle.seek(0)
            magic = [arg for op, arg, _ in pickletools.genops(handle) if op.name in ("LONG1", "LONG4", "LONG")]
            if magic != [_LEGACY_MAGIC]:
                raise NotATorchFile("not a PyTorch file (a pickle without torch's magic number)")
            for _ in range(2):  # protocol version, system information
                _strings(handle)
            return _strings(handle)
    except NotATorchFile:
        raise
    except (ValueError, EOFError, zipfile.BadZipFile) as err:  # pickletools' errors are ValueErrors
        raise NotATorchFile(f"a damaged PyTorch file ({type(err).__name__}: {' '.join(str(err).split())})") from None


def load_state_dict(path: str | os.PathLike[str], *, mmap: bool = False) -> Any:
    """The object a ``torch.save`` file holds (for a model file, its state dict), on the CPU.

    Only tensors and plain containers are unpickled (``weights_only``), so a file cannot run code.

    Parameters
    ----------
    path : str or os.PathLike
        The file: torch's zip format or its legacy format.
    mmap : bool
        Map the tensors' storage from the file instead of reading it, so that only the pages used
        are read (a 1.2 GB Cellpose-SAM file whose parameter names alone are wanted costs little).
        Files of the legacy format cannot be mapped and are read whole.

    Returns
    -------
    Any
        What was saved, usually a dict of parameter name to tensor.

    Raises
    ------
    Exception
        Whatever ``torch.load`` raises for a file it cannot read (callers name the file).
    """
    import torch

    if mmap:
        try:
            return torch.load(path, map_location="cpu", mmap=True, weights_only=True)
        except RuntimeError:  # files in torch's legacy (non-zip) format cannot be memory-mapped
            pass
    return torch.load(path, map_location="cpu", weights_only=True)


def write_network(net: Any, path: str | os.PathLike[str]) -> None:
    """Write a Cellpose network's state dict with its own ``save_model``, atomically, making the folder.

    Parameters
    ----------
    net : cellpose.resnet_torch.CPnet
        The network; ``net.save_model(file)`` writes ``torch.save(net.state_dict(), file)``, the
        file Cellpose's own tools load.
    path : str or os.PathLike
        Output file (``weights.pth``); written under a temporary name and renamed when complete.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        net.save_model(str(tmp))
