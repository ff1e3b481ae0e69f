"""Ready-to-use segmentation models: ``predict`` (probabilities) and ``segment`` (labels)."""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from nucseg_zoo.devices import check_device
from nucseg_zoo.images import segmentation_input
from nucseg_zoo.inference import predict_batch, predict_tiled
from nucseg_zoo.postprocessing import KindParams, get_output_kind
from nucseg_zoo.precision import DEFAULT_PRECISION, check_precision
from nucseg_zoo.rescaling import scale_factor, segment_rescaled
from nucseg_zoo.zoo.entry import ZooEntry


class ZooModel:
    """A zoo network with its normalisation and tuned postprocessing.

    Unlike ``bioimageio.core.load_model`` (which returns a description), this object is
    ready to run: ``predict`` returns per-class probabilities, ``segment`` instance labels.

    Args:
        entry: the zoo entry (architecture, weights, normalisation, postprocessing).
        device: "cpu", "cuda", "cuda:N" or "mps".
        precision: "fp32" (default, :data:`~nucseg_zoo.precision.DEFAULT_PRECISION`), "bf16" or "fp16".
        tile: images up to this many px per side (plus halos) run as one block.

    Raises:
        ValueError: unknown ``precision`` or device name.
        nucseg_zoo.devices.DeviceUnavailableError: this machine cannot run on ``device``.
    """

    def __init__(self, entry: ZooEntry, *, device: str = "cpu", precision: str = DEFAULT_PRECISION,
                 tile: int = 1024):
        import torch

        self.entry = entry
        self.id = entry.id
        self.device = torch.device(check_device(device))
        self.precision = check_precision(precision)
        self.tile = tile
        self.network = entry.build_network().to(self.device).to(memory_format=torch.channels_last)
        self.postprocessing: KindParams = entry.postprocessing

    def __repr__(self) -> str:
        return f"ZooModel(id={self.id!r}, device={self.device}, precision={self.precision!r})"

    @property
    def channel_names(self) -> tuple[str, ...]:
        """Names of the output channels of :meth:`predict`."""
        return self.entry.channel_names

    def predict(self, image) -> np.ndarray:
        """The network's output ``(C, H, W)`` float32 in the entry's output kind (the zoo's
        three-class networks: probabilities of :attr:`channel_names`, background, interior, boundary).

        ``image``: 2-D integer (uint8, uint16, ...) or float numpy array or ``("y", "x")``
        DataArray, any size (large images are tiled with a halo); see
        :func:`nucseg_zoo.images.segmentation_input` (a saturated artefact is clipped first).
        """
        normalized = self.entry.normalization(segmentation_input(image))
        geometry = self.entry.architecture
        return predict_tiled(self.network, normalized, device=self.device, precision=self.precision,
                             step=geometry.size_step, tile=self.tile, halo=geometry.halo)

    def predict_batch(self, images: list, *, batch_size: int = 8) -> list[np.ndarray]:
        """:meth:`predict` for several images, ``batch_size`` at a time on the device (images of
        one shape that fit in one tile; others alone); results in input order."""
        normalized = [self.entry.normalization(segmentation_input(image)) for image in images]
        geometry = self.entry.architecture
        return predict_batch(self.network, normalized, device=self.device, precision=self.precision,
                             step=geometry.size_step, tile=self.tile, halo=geometry.halo, batch_size=batch_size)

    def postprocessor(self, params: KindParams | None = None) -> Callable[[np.ndarray], np.ndarray]:
        """:meth:`predict`'s output → instance labels ``(H, W)`` int32: the second half of
        :meth:`segment`, as a picklable function that needs no network (e.g. for CPU workers
        while the network runs on a GPU)."""
        return functools.partial(get_output_kind(self.entry.output_kind).to_labels, params=params or self.postprocessing)

    @property
    def training_diameter(self) -> float | None:
        """Median nucleus diameter (px) of the training labels (``entry.yaml``'s
        ``nucleus_diameter``), the scale ``segment(..., diameter=)`` rescales to; None: not recorded."""
        size = self.entry.nucleus_diameter
        return None if size is None else size.median_px

    def segment(self, image, params: KindParams | None = None, *, diameter: float | None = None) -> np.ndarray:
        """Instance labels ``(H, W)`` int32 through the shared postprocessing (tuned params by default).

        Args:
            image: as for :meth:`predict`.
            params: postprocessing parameters (default: the entry's tuned ones).
            diameter: median nucleus diameter of ``image`` in px (4-400): the image is resized
                so that its nuclei have :attr:`training_diameter`, segmented (tiled at any size)
                and the labels are returned on the input's grid (:mod:`nucseg_zoo.rescaling`,
                as Cellpose's ``diameter``). None (default) segments at the image's own scale.

        Raises:
            ValueError: a ``diameter`` that is not a number in 4-400 px, or an entry without a
                recorded training diameter; the image errors of :meth:`predict`.
        """
        to_labels = self.postprocessor(params)
        if diameter is None:
            return to_labels(self.predict(image))
        if self.training_diameter is None:
            raise ValueError(f"zoo model {self.id!r} records no training nucleus diameter (entry.yaml "
                             "nucleus_diameter): run python -m nucseg_zoo.training.diameters, or leave diameter out")
        factor = scale_factor(diameter, self.training_diameter)
        return segment_rescaled(lambda scaled: to_labels(self.predict(scaled)), segmentation_input(image), factor)
