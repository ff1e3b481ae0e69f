"""Teacher probabilities for knowledge distillation (recipes with ``distillation``)."""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from nucseg_zoo.datasets.samples import DatasetSplit


def teacher_probabilities(distillation: dict, samples: DatasetSplit, *, precision: str, device: str = "cpu",
                          progress: bool = True) -> list[np.ndarray]:
    """The teacher zoo model's per-class probabilities ``(C, H, W)`` float32 for every sample.

    The teacher runs whole images through its own normalisation and the zoo's border
    convention (:meth:`nucseg_zoo.zoo.model.ZooModel.predict`), so crops of these maps see
    the same context as the teacher saw; ``precision`` is the training's ("fp32", "bf16", "fp16").

    Raises:
        ValueError: the teacher's weights are not the ones the recipe names (sha256).
    """
    from nucseg_zoo.zoo.entry import read_entry
    from nucseg_zoo.zoo.model import ZooModel

    entry = read_entry(distillation["teacher"])
    if entry.weights_sha256 != distillation["sha256"]:
        raise ValueError(f"teacher {entry.id!r} has weights sha256 {entry.weights_sha256}, "
                         f"the recipe distils from {distillation['sha256']}")
    teacher = ZooModel(entry, device=device, precision=precision)
    return [teacher.predict(sample.image)
            for sample in tqdm(samples, desc=f"teacher {entry.id}", disable=not progress)]
