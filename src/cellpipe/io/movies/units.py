"""Physical units as the file formats write them (OME, ImageJ, NGFF), converted to µm and minutes.

Every OME length and time unit converts (``UnitsLength``, ``UnitsTime``); ImageJ's free-text calibration units in the
spellings ImageJ writes; a unit that is no length (OME's 'pixel', ImageJ's print units) gives no pixel size.
"""

from __future__ import annotations

import numpy as np

from cellpipe.io.movies.common import MovieError, PathLike

_SI_PREFIXES = {"y": 1e-24, "z": 1e-21, "a": 1e-18, "f": 1e-15, "p": 1e-12, "n": 1e-9, "µ": 1e-6, "m": 1e-3,
                "c": 1e-2, "d": 1e-1, "": 1.0, "da": 1e1, "h": 1e2, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
                "P": 1e15, "E": 1e18, "Z": 1e21, "Y": 1e24}

_INCH_UM = 25400.0

# Micrometres per unit for every length unit of the OME schema (UnitsLength), smallest first: every
# OME unit that is a length converts, and any other name is refused, naming it (_in_unit). OME's 'pixel' and 'reference
# frame' are not lengths: a size in them is no physical pixel size (None).
OME_LENGTH_TO_UM: dict[str, float] = dict(
    sorted(
        {
            **{f"{prefix}m": factor * 1e6 for prefix, factor in _SI_PREFIXES.items()},
            "Å": 1e-4, "thou": _INCH_UM / 1000, "li": _INCH_UM / 12, "pt": _INCH_UM / 72, "in": _INCH_UM,
            "ft": 12 * _INCH_UM, "yd": 36 * _INCH_UM, "mi": 63360 * _INCH_UM, "ua": 1.495978707e17,
            "ly": 9.4607304725808e21, "pc": 3.0856775814913673e22,
        }.items(),
        key=lambda item: item[1],
    )
)

# Minutes per unit for every time unit of the OME schema (UnitsTime), smallest first.
OME_TIME_TO_MIN: dict[str, float] = dict(
    sorted(
        {**{f"{prefix}s": factor / 60 for prefix, factor in _SI_PREFIXES.items()}, "min": 1.0, "h": 60.0, "d": 1440.0}.items(),
        key=lambda item: item[1],
    )
)

# ImageJ stores its calibration units as free text (Image > Properties); these are the spellings
# ImageJ itself writes ('micron', '\\u00B5m' escaped in the description, 'sec', 'hr', 'usec') and the
# usual abbreviations. 'pixel' (ImageJ's uncalibrated default) means no physical size, and so do
# 'inch' and 'cm' (_IMAGEJ_PRINT_UNITS).
IMAGEJ_LENGTH_TO_UM: dict[str, float] = {
    "micron": 1.0, "microns": 1.0, "um": 1.0, "µm": 1.0, "\\u00B5m": 1.0, "micrometer": 1.0, "micrometre": 1.0,
    "nm": 1e-3, "nanometer": 1e-3, "mm": 1e3, "m": 1e6, "Å": 1e-4,
}

_IMAGEJ_PRINT_UNITS = ("inch", "in", "cm")
"""ImageJ units that are a print resolution, not a microscope's calibration: ImageJ takes them from
a TIFF's dots per inch or cm (72 dpi from any image editor would be a 353 µm pixel), so they give
no pixel size (the sheet's pixel_size_um is then needed)."""

IMAGEJ_TIME_TO_MIN: dict[str, float] = {
    "\\u00B5s": 1 / 6e7, "µs": 1 / 6e7, "us": 1 / 6e7, "usec": 1 / 6e7, "ms": 1 / 6e4, "msec": 1 / 6e4,
    "s": 1 / 60, "sec": 1 / 60, "second": 1 / 60, "seconds": 1 / 60, "min": 1.0, "minute": 1.0, "minutes": 1.0,
    "h": 60.0, "hr": 60.0, "hour": 60.0, "hours": 60.0, "d": 1440.0, "day": 1440.0, "days": 1440.0,
}

_NO_LENGTH = ("pixel", "pixels", "reference frame", "")
"""Units (OME, ImageJ) meaning the file gives no physical pixel size."""

_MICRO_SIGNS = ("μ", "u00B5", "u00b5")
"""The Greek small mu (U+03BC), often typed for the micro sign (U+00B5) OME uses, and a lower-case escape."""

_NGFF_PREFIXES = {"yocto": "y", "zepto": "z", "atto": "a", "femto": "f", "pico": "p", "nano": "n", "micro": "µ",
                  "milli": "m", "centi": "c", "deci": "d", "": "", "deca": "da", "hecto": "h", "kilo": "k", "mega": "M",
                  "giga": "G", "tera": "T", "peta": "P", "exa": "E", "zetta": "Z", "yotta": "Y"}

NGFF_UNIT_SYMBOLS: dict[str, str] = {
    **{f"{prefix}meter": f"{symbol}m" for prefix, symbol in _NGFF_PREFIXES.items()},
    **{f"{prefix}second": f"{symbol}s" for prefix, symbol in _NGFF_PREFIXES.items()},
    "angstrom": "Å", "inch": "in", "foot": "ft", "yard": "yd", "mile": "mi", "parsec": "pc",
    "minute": "min", "hour": "h", "day": "d",
}
"""NGFF's unit names (UDUNITS-2, as ome-zarr-py and napari write them) -> the OME symbols of
:data:`OME_LENGTH_TO_UM` and :data:`OME_TIME_TO_MIN`; a symbol written instead ('µm', 'min') converts too."""


def _in_unit(value: float, unit: str, table: dict[str, float], what: str, where: str, path: PathLike) -> float | None:
    """``value`` given in ``unit`` converted with ``table`` (µm or minutes per unit); None for a length in pixels.

    Raises
    ------
    MovieError
        A unit ``table`` does not know, naming it, ``where`` it was found (the OME attribute or
        ImageJ key), the file and the units supported.
    """
    if what.endswith("length unit") and unit.strip().lower() in _NO_LENGTH:
        return None
    if table is IMAGEJ_LENGTH_TO_UM and unit.strip().lower() in _IMAGEJ_PRINT_UNITS:
        return None
    key = unit.strip()
    for sign in _MICRO_SIGNS:
        key = key.replace(sign, "µ").replace("\\µ", "µ")
    key = {"um": "µm", "us": "µs"}.get(key, key) if key not in table else key  # 'u' typed for 'µ'
    factor = table.get(key)
    if factor is None:
        supported = ", ".join(repr(name) for name in table if "\\" not in name)  # not the escaped spellings
        raise MovieError(f"{path}: unknown {what} {unit!r} ({where}); supported: {supported}")
    result = float(value) * factor
    return result if np.isfinite(result) and result > 0 else None
