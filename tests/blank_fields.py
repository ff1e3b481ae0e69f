"""Camera frames without nuclei (zeros, offsets, hot and dead pixels, read and shot noise):
every segmenter — zoo models and baselines alike — must find no object in them."""

from __future__ import annotations

import numpy as np


def blank_fields() -> dict[str, np.ndarray]:
    """Named ``(256, 320)`` frames; the same arrays on every call (seeded)."""
    rng = np.random.default_rng(0)
    offset = np.full((256, 320), 100, np.uint16)
    hot_and_dead = offset.copy()
    hot_and_dead[[10, 100, 200], [20, 150, 300]] = 4095
    hot_and_dead[50, 60] = 0
    noise = (100 + rng.normal(0, 3, (256, 320))).astype(np.uint16)
    noise[128, 160] = 65535
    return {"zeros": np.zeros((256, 320), np.uint16), "offset": offset, "hot and dead pixels": hot_and_dead,
            "camera noise with a hot pixel": noise, "poisson background": rng.poisson(100, (256, 320)).astype(np.uint16),
            "float zeros with a hot pixel": np.where(np.arange(256 * 320).reshape(256, 320) == 7, 1.0, 0.0)}
