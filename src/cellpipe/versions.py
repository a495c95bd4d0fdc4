"""Installed package versions, for provenance (segmentation info, reports)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def package_version(distribution: str) -> str | None:
    """The installed version of a distribution.

    Parameters
    ----------
    distribution : str
        Distribution name as pip knows it (``"cellpose"``, ``"btrack"``).

    Returns
    -------
    str or None
        Its version string, or None when it is not installed.
    """
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None
