"""Colour separation shared by the printer families: RGB to Y, M, C dye levels.

Yellow dye absorbs blue light, magenta green, cyan red; each family maps the
inverted 8-bit channel to its own number of levels with a 256-entry table.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image

Levels = NDArray[np.uint8]


def portrait_dye_planes(landscape: Image.Image, table: list[int]) -> tuple[Levels, Levels, Levels]:
    """:func:`dye_planes` of the picture turned a quarter counter-clockwise
    (Pillow's ROTATE_90), as the families' panels run along the long edge.

    The table goes through the RGB picture in one pass and the quarter turn
    is a strided numpy copy per plane: about half the time of turning the
    RGB picture, splitting it and mapping each band apart.
    """
    if landscape.mode != "RGB":
        landscape = landscape.convert("RGB")
    levels = np.asarray(landscape.point(table * 3))
    blue, green, red = (np.ascontiguousarray(np.rot90(levels[:, :, k])) for k in (2, 1, 0))
    return blue, green, red
