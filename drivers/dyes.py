"""Colour separation shared by the printer families: RGB to Y, M, C dye levels.

Yellow dye absorbs blue light, magenta green, cyan red; each family maps the
inverted 8-bit channel to its own number of levels with a 256-entry table.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image

Levels = NDArray[np.uint8]


def dye_planes(rgb: Image.Image, table: list[int]) -> tuple[Levels, Levels, Levels]:
    """Y, M and C levels of an image (converted to RGB if needed), through ``table``."""
    if rgb.mode != "RGB":
        rgb = rgb.convert("RGB")
    red, green, blue = rgb.split()
    return (
        np.asarray(blue.point(table)),
        np.asarray(green.point(table)),
        np.asarray(red.point(table)),
    )
