"""Run any bioimage.io model package like a zoo model: ``predict`` and ``segment``.

The package's own preprocessing, network and postprocessing run through
``bioimageio.core``; nucseg-zoo adds tiling and the shared postprocessing to instance
labels. Borders and tiles follow the one convention of :mod:`nucseg_zoo.tiling`: the
preprocessed image is padded by the output halo on every side (with the package's
declared padding mode, else symmetric — bioimageio.core's default) and cut into blocks of
a valid input size whose inner parts tile the image. Images up to ``tile`` px run as one
block, as ``bioimageio.core.predict`` runs a whole image (padding by the halo). What the
package's rdf says (axes, sizes, output kind, parameters) is read by
:mod:`nucseg_zoo.zoo.bioimageio_rdf`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from nucseg_zoo.devices import check_device
from nucseg_zoo.images import segmentation_input
from nucseg_zoo.normalization import percentile_range
from nucseg_zoo.postprocessing import KindParams, override_params
from nucseg_zoo.tiling import predict_blocks
from nucseg_zoo.zoo.bioimageio_rdf import (
    dataset_measures,
    input_plan,
    measure_name,
    output_tensor,
    package_params,
    padding_mode,
    read_output_kind,
)


TEST_INPUT_REFERENCE = "the package's test input"
"""The ``reference`` of the dataset statistics a package runs with unless another reference set
is fitted (:meth:`BioimageioModel.fit_dataset_statistics`)."""


def _plain(value) -> float | list:
    """A measure value as JSON-able data."""
    if hasattr(value, "data"):
        value = value.data
    array = np.asarray(value, dtype=float)
    return float(array) if array.ndim == 0 else array.tolist()


class BioimageioModel:
    """A bioimage.io model package, ready to run (not a description).

    Same interface as :class:`~nucseg_zoo.zoo.model.ZooModel`: ``predict(image)`` gives
    the output ``(C, H, W)``, ``segment(image)`` instance labels through the adapter of the
    package's output kind (:attr:`output_kind`, declared in the rdf or chosen with
    ``output_kind``; see :func:`~nucseg_zoo.zoo.bioimageio_rdf.read_output_kind`) with the
    package's parameters for it (``config.nucseg_zoo.postprocessing``, or ``config.stardist``'s
    thresholds and grid for StarDist's export; else the kind's defaults).
    ``postprocessing_overrides`` replaces named parameters (e.g. ``{"prob_thresh": 0.6}``);
    the parameters used are :attr:`postprocessing`.

    Raises:
        ValueError: the model cannot take a single-channel 2-D image, ``output_kind`` is
            unknown or does not fit the output's channels, or the parameters are refused.
        nucseg_zoo.zoo.bioimageio_rdf.UndeclaredOutputKindError: the rdf does not declare
            the output kind, the output does not tell it apart, and ``output_kind`` is None.
    """

    def __init__(self, descr, *, device: str = "cpu", weight_format: str | None = None, tile: int = 1024,
                 output_kind: str | None = None, postprocessing_overrides: dict[str, Any] | None = None):
        from bioimageio.core import create_prediction_pipeline

        self.device = check_device(device)
        self.descr = descr
        self.input_tensor, self.axis_plans = input_plan(descr)
        self.output_tensor = output_tensor(descr, self.input_tensor)
        self._kind, self.output_kind_reason = read_output_kind(descr, self.output_tensor, output_kind)
        self.output_kind: str = self._kind.name
        """Name of the output kind (:func:`nucseg_zoo.postprocessing.get_output_kind`)."""
        self.postprocessing: KindParams = override_params(package_params(descr, self._kind), postprocessing_overrides)
        self.tile = tile
        self._weight_format = weight_format
        self._pad_mode, self._pad_kwargs = padding_mode(self.input_tensor)
        self.dataset_measures = dataset_measures(descr)
        self.dataset_statistics: dict[str, Any] | None = None
        """The dataset statistics every image is preprocessed with (``reference``, ``n_images``,
        then measure → value), or None when the preprocessing needs none."""
        if self.dataset_measures:
            self.fit_dataset_statistics(self._test_images(), reference=TEST_INPUT_REFERENCE)
        else:
            self._pipeline = create_prediction_pipeline(descr, devices=[self.device], weights_format=weight_format)

    @property
    def needs_dataset_statistics(self) -> bool:
        """Whether the preprocessing uses statistics over a whole dataset (e.g. ``scale_range`` or
        ``zero_mean_unit_variance`` whose ``axes`` include the batch axis)."""
        return bool(self.dataset_measures)

    def fit_dataset_statistics(self, images: Iterable, *, reference: str = "the images given") -> dict[str, Any]:
        """Fix the preprocessing's dataset statistics to those of a reference set of images.

        A package whose preprocessing has dataset scope is preprocessed with statistics of a
        fixed reference, never of the images being segmented, so that an image's result never
        depends on which other images are run with it, before it or after it. By default
        (at construction) the reference is the package's own test input
        (:data:`TEST_INPUT_REFERENCE`): a sample of the data it was made for, with which its
        test output was made. Fit another reference, e.g. a few representative fields of a
        screen, with this method; the statistics then stay fixed for every image.

        Args:
            images: the reference set, iterable twice (a list, a dataset split, or a
                re-iterable reader of files): 2-D arrays as :meth:`predict` takes them.
            reference: what the set is, as recorded in :attr:`dataset_statistics`.

        Returns:
            The statistics as plain data (``reference``, ``n_images``, then measure → value),
            also kept in :attr:`dataset_statistics` for provenance; ``{}`` for a package that
            needs none.

        Raises:
            ValueError: ``images`` is empty or holds an invalid image.
        """
        from bioimageio.core import create_prediction_pipeline
        from bioimageio.core.stat_calculators import StatsCalculator

        if not self.needs_dataset_statistics:
            self.dataset_statistics = None
            return {}
        samples = lambda: (self._input_sample(segmentation_input(image), id=str(i))  # noqa: E731
                           for i, image in enumerate(images))
        calculator = StatsCalculator(self.dataset_measures)
        count = 0
        for sample in samples():
            calculator.update(sample)
            count += 1
        if count == 0:
            raise ValueError("fit_dataset_statistics needs at least one image")
        statistics = {measure_name(m): _plain(v) for m, v in calculator.finalize().items()}
        # the library's own path for fixed dataset statistics: computed over the reference
        # before the first prediction, never updated afterwards
        self._pipeline = create_prediction_pipeline(
            self.descr, devices=[self.device], weights_format=self._weight_format,
            dataset_for_initial_statistics=samples(), keep_updating_initial_dataset_statistics=False)
        self.dataset_statistics = {"reference": reference, "n_images": count, **statistics}
        return self.dataset_statistics

    def _test_images(self) -> list[np.ndarray]:
        """The package's test input as 2-D ``(H, W)`` images (one per batch entry)."""
        from bioimageio.core.digest_spec import get_test_inputs

        tensor = get_test_inputs(self.descr).members[self.input_tensor.id]
        data = tensor.data
        ids = {a.type: str(a.id) for a in self.input_tensor.axes}
        if "channel" in ids:
            data = data.isel({ids["channel"]: 0})
        batch = data.transpose(ids["batch"], "y", "x") if "batch" in ids else data.transpose("y", "x").expand_dims("b")
        return [np.asarray(plane) for plane in batch.to_numpy()]

    @classmethod
    def from_source(cls, source, *, device: str = "cpu", weight_format: str | None = None,
                    tile: int = 1024, output_kind: str | None = None,
                    postprocessing_overrides: dict[str, Any] | None = None) -> "BioimageioModel":
        """Load and validate a package (``.zip``, ``rdf.yaml``, or their URL) with bioimageio.core.

        Args:
            source: path or URL of the package or its rdf.
            device: "cpu", "cuda", "cuda:N" or "mps", checked before the package is loaded.
            weight_format: a weight format to use (default: bioimageio.core's choice).
            tile: images up to this many px per side (plus halo) run as one block.
            output_kind: a registered output kind (:func:`nucseg_zoo.postprocessing.list_output_kinds`);
                default: the one the rdf declares or its output tells apart.
            postprocessing_overrides: parameters to replace (see the class docstring).

        Raises:
            ValueError: the validator rejects the package (its reasons are listed), or as the
                class says; ``device`` is not a device name.
            nucseg_zoo.zoo.bioimageio_rdf.UndeclaredOutputKindError: see the class docstring.
            nucseg_zoo.devices.DeviceUnavailableError: this machine cannot run on ``device``.
        """
        from nucseg_zoo.packaging.validate import load_valid_description

        device = check_device(device)
        return cls(load_valid_description(source), device=device, weight_format=weight_format, tile=tile,
                   output_kind=output_kind, postprocessing_overrides=postprocessing_overrides)

    def __repr__(self) -> str:
        return f"BioimageioModel(id={self.id!r}, name={self.name!r}, device={self.device!r})"

    @property
    def id(self) -> str:
        return str(self.descr.id or self.descr.name)

    @property
    def name(self) -> str:
        return self.descr.name

    @property
    def channel_names(self) -> tuple[str, ...]:
        """Names of the output channels of :meth:`predict` (empty without a channel axis)."""
        axis = next((a for a in self.output_tensor.axes if a.type == "channel"), None)
        return tuple(str(name) for name in axis.channel_names) if axis is not None else ()

    def _input_sample(self, image: np.ndarray, *, id: str = "image"):
        """A ``(H, W)`` array as a Sample in the input tensor's declared axes (singleton batch/channel)."""
        from bioimageio.core import Sample, Tensor

        dims = tuple(str(axis.id) for axis in self.input_tensor.axes)
        spatial = [str(axis.id) for axis in self.input_tensor.axes if axis.type not in ("batch", "channel")]
        array = image if spatial == ["y", "x"] else image.T
        for position, axis in enumerate(self.input_tensor.axes):
            if axis.type in ("batch", "channel"):
                array = np.expand_dims(array, position)
        return Sample(members={self.input_tensor.id: Tensor.from_numpy(array, dims=dims)}, stat={}, id=id)

    def _run_block(self, block: np.ndarray) -> np.ndarray:
        """The network (no pre/postprocessing) on one ``(h, w)`` block → ``(C, h, w)``."""
        out = self._pipeline.predict_sample_without_blocking(
            self._input_sample(block, id="block"), skip_preprocessing=True, skip_postprocessing=True,
            skip_input_padding=True, skip_output_cropping=True)
        return self._channels_first(out.members[self.output_tensor.id].data)

    def _preprocess(self, sample, image: np.ndarray) -> None:
        """The package's preprocessing of ``sample`` (the 2-D ``image``) in place: statistics over
        the whole image, then each step; a ``scale_range`` over per-image percentiles takes them
        from :func:`nucseg_zoo.normalization.percentile_range`, as the zoo path does (it differs
        from plain percentiles only for an image without range at them)."""
        from bioimageio.core.proc_ops import ScaleRange
        from bioimageio.core.stat_measures import SampleQuantile

        self._pipeline._apply_samplewise_preprocessing(sample)  # bioimageio.core's own two halves
        for op in self._pipeline._blockwise_preprocessing:
            if isinstance(op, ScaleRange) and isinstance(op.lower, SampleQuantile) \
                    and isinstance(op.upper, SampleQuantile):
                low, high = (np.asarray(sample.stat[m].data, np.float64) for m in (op.lower, op.upper))
                if low.size == 1 and low.item() == high.item():  # no range: the zoo path's fallback
                    _, fallback = percentile_range(image, 100 * op.lower.q, 100 * op.upper.q)
                    sample.stat[op.upper] = sample.stat[op.upper] * 0 + fallback
        self._pipeline._apply_blockwise_preprocessing(sample)

    def _channels_first(self, data) -> np.ndarray:
        """An output ``xarray.DataArray`` in the output tensor's dims → ``(C, H, W)`` numpy."""
        axis_ids = {a.type: str(a.id) for a in self.output_tensor.axes}
        if "batch" in axis_ids:
            data = data.isel({axis_ids["batch"]: 0})
        if "channel" not in axis_ids:
            return data.transpose("y", "x").to_numpy()[None]
        return data.transpose(axis_ids["channel"], "y", "x").to_numpy()

    def _output_sample(self, output: np.ndarray, stat):
        """A ``(C, H, W)`` array as a Sample in the output tensor's declared axes."""
        import xarray as xr
        from bioimageio.core import Sample, Tensor

        axis_ids = {a.type: str(a.id) for a in self.output_tensor.axes}
        data = xr.DataArray(output, dims=(axis_ids.get("channel", "_channel"), "y", "x"))
        if "channel" not in axis_ids:
            data = data.isel(_channel=0)
        if "batch" in axis_ids:
            data = data.expand_dims(axis_ids["batch"])
        data = data.transpose(*(str(a.id) for a in self.output_tensor.axes))
        return Sample(members={self.output_tensor.id: Tensor.from_xarray(data)}, stat=stat, id="image")

    def predict(self, image) -> np.ndarray:
        """The model's output for a 2-D image: ``(C, H, W)`` (``C`` = 1 without a channel axis).

        ``image``: 2-D uint8/uint16/float numpy array or ``("y", "x")`` DataArray, any size
        of at least 2 × 2 px (:data:`nucseg_zoo.tiling.MIN_SIDE`). Per-image preprocessing
        statistics (e.g. percentiles) come from the whole image, dataset-scope ones from the fixed
        reference of :attr:`dataset_statistics` (never from other images run); the image is padded
        by the halo and large images are tiled (:mod:`nucseg_zoo.tiling`).
        """
        image = segmentation_input(image)
        sample = self._input_sample(image)
        self._preprocess(sample, image)
        data = sample.members[self.input_tensor.id].data
        preprocessed = data.transpose("y", "x", ...).to_numpy().reshape(image.shape)
        plans = (self.axis_plans["y"], self.axis_plans["x"])
        stitched = predict_blocks(preprocessed, plans, self._run_block, tile=self.tile, mode=self._pad_mode,
                                  pad_kwargs=self._pad_kwargs)
        output = self._output_sample(stitched, sample.stat)
        self._pipeline.apply_postprocessing(output)
        return self._channels_first(output.members[self.output_tensor.id].data)

    def segment(self, image, params: KindParams | None = None, *, diameter: float | None = None) -> np.ndarray:
        """Instance labels ``(H, W)`` int32 through the output kind's adapter (``params``: the
        kind's parameters, default :attr:`postprocessing`).

        Raises:
            ValueError: a ``diameter``: a package states no training nucleus size to rescale to
                (zoo models do: :meth:`nucseg_zoo.zoo.model.ZooModel.segment`).
        """
        if diameter is not None:
            raise ValueError("diameter applies to zoo models and baselines, whose training nucleus size is known; a "
                             "bioimage.io package states none: leave diameter out, or resize the image so that its "
                             "nuclei have the size the model was trained on")
        return self._kind.to_labels(self.predict(image), params or self.postprocessing)
