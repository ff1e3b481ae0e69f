"""The one border and tiling convention of every model the zoo runs.

A fully convolutional network sees past the image border, so what it predicts there
depends on how the input is padded. Every model — zoo networks through
:func:`nucseg_zoo.inference.predict_tiled`, bioimage.io packages through
:class:`nucseg_zoo.zoo.bioimageio_model.BioimageioModel`, and the packages we write —
follows this convention, so that one model gives one answer:

* the (already normalised) image is padded on every side by the model's **halo** (px of
  context an output pixel needs, at least the receptive-field radius and a multiple of
  the size step) in :data:`BORDER_MODE`, and at the bottom/right further, up to a valid
  input size (``min + n * step``);
* images larger than ``tile`` px (plus halos) are cut into blocks of a valid size whose
  inner parts (block minus halos) tile the image; block origins stay on the pooling grid,
  so for a network with an adequate halo the result does not depend on the block size.

``BORDER_MODE`` is ``"symmetric"`` (mirror with the edge pixel repeated, numpy's name):
bioimageio.core's padding for inputs that declare none, hence what ilastik (tiktorch)
and ``bioimageio.core.predict`` apply to our packages, and ImgLib2's
``extendMirrorDouble`` used by the CSBDeep/deepImageJ tiling.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

BORDER_MODE = "symmetric"

MIN_SIDE = 2
"""Smallest image side (px) a network is run on. Mirrored, an image with a 1-px side is the
same line repeated, with no 2-D structure; the U-Net found nuclei in such stripes of pure
background (measured on 1 × 696 px strips of BBBC039 background), so it is refused."""


@dataclass(frozen=True)
class AxisPlan:
    """Valid input sizes of one spatial axis — ``min + n * step`` (``step`` 0: fixed) — and its halo (px)."""

    min: int
    step: int
    halo: int

    @classmethod
    def for_network(cls, *, step: int, halo: int) -> "AxisPlan":
        """The plan of a network with size step ``step`` (2 ** poolings) and output halo ``halo``.

        The smallest valid size is the smallest multiple of ``step`` with
        ``min - 2 * halo >= 1`` (bioimage.io's constraint for outputs with a halo).

        Raises:
            ValueError: ``halo`` is negative or not a multiple of ``step``.
        """
        if step < 1 or halo < 0 or halo % step:
            raise ValueError(f"halo ({halo}) must be a non-negative multiple of the size step ({step})")
        return cls(min=(2 * halo // step + 1) * step, step=step, halo=halo)

    def block(self, size: int, tile: int) -> int:
        """A valid block size covering ``size`` px plus halos, at most ``tile + 2 * halo`` if possible."""
        if self.step == 0:
            return self.min
        need, cap = size + 2 * self.halo, tile + 2 * self.halo
        n = max(0, math.ceil((need - self.min) / self.step))
        if self.min + n * self.step > cap:
            n = max(0, (cap - self.min) // self.step)
        return self.min + n * self.step


def one_block_padding(shape: tuple[int, int], plans: tuple[AxisPlan, AxisPlan], tile: int
                      ) -> list[tuple[int, int]] | None:
    """``numpy.pad`` widths that make an image of ``shape`` one valid block, or None when
    :func:`predict_blocks` would cut it into several blocks (or it is below :data:`MIN_SIDE`).

    The padding is exactly the one :func:`predict_blocks` applies, so a network run on the
    padded image, cropped by the halo, gives :func:`predict_blocks`' result; images of one
    shape padded this way can run as one batch.
    """
    if min(shape) < MIN_SIDE:
        return None
    widths = []
    for plan, size in zip(plans, shape):
        block = plan.block(size, tile)
        if block - 2 * plan.halo < size:
            return None
        widths.append((plan.halo, block - size - plan.halo))
    return widths


def predict_blocks(
    image: np.ndarray,
    plans: tuple[AxisPlan, AxisPlan],
    run_block: Callable[[np.ndarray], np.ndarray],
    *,
    tile: int = 1024,
    mode: str = BORDER_MODE,
    pad_kwargs: dict[str, Any] | None = None,
) -> np.ndarray:
    """Predict a 2-D image block by block with the halo convention of this module.

    Args:
        image: ``(H, W)`` preprocessed (normalised) image of at least :data:`MIN_SIDE` px per side.
        plans: the y and x :class:`AxisPlan` of the network.
        run_block: the network on one ``(h, w)`` block of a valid size → ``(C, h, w)``.
        tile: images up to this many px per side (plus halos) run as one block.
        mode: ``numpy.pad`` mode of the border (default :data:`BORDER_MODE`).
        pad_kwargs: extra ``numpy.pad`` arguments (e.g. ``constant_values``).

    Returns:
        ``(C, H, W)`` output, the halo of every block discarded.

    Raises:
        ValueError: a side of the image is below :data:`MIN_SIDE`, or a block size leaves
            nothing inside its halo.
    """
    height, width = image.shape
    if min(height, width) < MIN_SIDE:
        raise ValueError(f"the network needs images of at least {MIN_SIDE} × {MIN_SIDE} px, got {height} × {width} "
                         "px (an image with a 1-px side has no 2-D structure to segment)")
    blocks, inner, n_tiles = [], [], []
    for axis, plan, size in zip("yx", plans, (height, width)):
        block = plan.block(size, tile)
        if block - 2 * plan.halo <= 0:
            raise ValueError(f"input size {block} leaves nothing inside the halo ({plan.halo} px) on axis {axis}")
        blocks.append(block)
        inner.append(block - 2 * plan.halo)
        n_tiles.append(math.ceil(size / inner[-1]))
    (hy, hx) = (plans[0].halo, plans[1].halo)
    pad_width = [(hy, n_tiles[0] * inner[0] - height + hy), (hx, n_tiles[1] * inner[1] - width + hx)]
    padded = np.pad(image, pad_width, mode=mode, **(pad_kwargs or {}))
    output = None
    for ty in range(n_tiles[0]):
        for tx in range(n_tiles[1]):
            y0, x0 = ty * inner[0], tx * inner[1]
            block = np.ascontiguousarray(padded[y0:y0 + blocks[0], x0:x0 + blocks[1]])
            result = run_block(block)
            if output is None:
                output = np.empty((result.shape[0], n_tiles[0] * inner[0], n_tiles[1] * inner[1]), result.dtype)
            output[:, y0:y0 + inner[0], x0:x0 + inner[1]] = result[:, hy:hy + inner[0], hx:hx + inner[1]]
    return output[:, :height, :width]
