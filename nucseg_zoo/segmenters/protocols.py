"""What an opened source offers, as protocols: callers test capabilities with ``isinstance``.

* :class:`Segmenter` — every source (zoo model, baseline, bioimage.io package, Python callable).
* :class:`ProbabilityModel` — a network that also predicts per-channel probabilities (zoo
  models, bioimage.io packages; what :func:`nucseg_zoo.load_model` returns).
* :class:`BatchedModel` — a probability model that runs batches of images on its device
  and hands the postprocessing to other processes (zoo models).
* :class:`DatasetStatisticsModel` — a model whose preprocessing may use statistics over a
  whole dataset, fixed by a reference set (bioimage.io packages; see
  :mod:`nucseg_zoo.segmenters.statistics`).

The protocols are ``runtime_checkable``: ``isinstance`` checks that the members exist, not
their signatures.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Segmenter(Protocol):
    """Turns one 2-D image into instance labels."""

    def segment(self, image: np.ndarray) -> np.ndarray:
        """``(H, W)`` image (any numeric dtype) → ``(H, W)`` integer labels (0 = background, 1..N = nuclei)."""
        ...


@runtime_checkable
class ProbabilityModel(Segmenter, Protocol):
    """A segmenter whose network output can be had before the postprocessing."""

    @property
    def channel_names(self) -> tuple[str, ...]:
        """Names of the output channels of :meth:`predict`."""
        ...

    def predict(self, image: np.ndarray) -> np.ndarray:
        """``(H, W)`` image → ``(C, H, W)`` float32 network output (probabilities, or the package's output)."""
        ...


@runtime_checkable
class BatchedModel(ProbabilityModel, Protocol):
    """A probability model that predicts several images per network call and whose
    postprocessing runs without the network (e.g. in CPU workers while a GPU predicts)."""

    def predict_batch(self, images: list, *, batch_size: int = 8) -> list[np.ndarray]:
        """:meth:`predict` of each of ``images``, ``batch_size`` at a time; results in input order."""
        ...

    def postprocessor(self, params: Any = None) -> Callable[[np.ndarray], np.ndarray]:
        """A picklable function from :meth:`predict`'s output to ``(H, W)`` int32 labels."""
        ...


@runtime_checkable
class DatasetStatisticsModel(Segmenter, Protocol):
    """A segmenter whose preprocessing may normalise with statistics over a whole dataset: those
    of a fixed reference set of images (by default one the model carries), never of the images
    being segmented, so that no image's result depends on the others."""

    needs_dataset_statistics: bool
    """Whether it does."""
    dataset_statistics: dict[str, Any] | None
    """The statistics it runs with (``reference``, ``n_images``, then measure → value), or None."""

    def fit_dataset_statistics(self, images: Iterable[np.ndarray], *, reference: str = ...) -> dict[str, Any]:
        """Fix the statistics to those of the reference set ``images`` (iterable twice, described
        by ``reference``) and return them."""
        ...
