"""The cover image of a package: input | class probabilities | instance labels (PNG, 2:1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

PANEL_HEIGHT = 240
PANEL_WIDTH = 160  # three panels side by side give bioimage.io's recommended 2:1 aspect ratio


def _window(shape: tuple[int, int]) -> tuple[slice, slice]:
    height, width = shape
    if height < PANEL_HEIGHT or width < PANEL_WIDTH:
        raise ValueError(f"cover needs an image of at least {PANEL_HEIGHT} x {PANEL_WIDTH} px, got {shape}")
    y0, x0 = (height - PANEL_HEIGHT) // 2, (width - PANEL_WIDTH) // 2
    return slice(y0, y0 + PANEL_HEIGHT), slice(x0, x0 + PANEL_WIDTH)


def _to_uint8(rgb: np.ndarray) -> np.ndarray:
    return (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def cover_image(normalized: np.ndarray, probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``(240, 480, 3)`` uint8 RGB cover from the centre of a 2-D image.

    Args:
        normalized: ``(H, W)`` normalised input (0 = background level, 1 = bright nuclei).
        probabilities: ``(3, H, W)`` background / interior / boundary probabilities;
            shown with interior in green and boundary in magenta.
        labels: ``(H, W)`` instance labels, shown in colours (background black).
    """
    from skimage.color import label2rgb

    window = _window(normalized.shape)
    gray = np.repeat(normalized[window][..., None], 3, axis=-1)
    interior, boundary = probabilities[1][window], probabilities[2][window]
    classes = np.stack([boundary, interior, boundary], axis=-1)
    instances = label2rgb(labels[window], bg_label=0, bg_color=(0, 0, 0))
    return _to_uint8(np.concatenate([gray, classes, instances], axis=1))


def write_cover(path: Path, normalized: np.ndarray, probabilities: np.ndarray, labels: np.ndarray) -> Path:
    """Write :func:`cover_image` as a PNG to ``path``."""
    import imageio.v3 as iio

    iio.imwrite(path, cover_image(normalized, probabilities, labels), extension=".png")
    return path
