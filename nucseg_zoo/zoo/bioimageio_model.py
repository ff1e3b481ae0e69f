"""Run any bioimage.io model package like a zoo model: ``predict`` and ``segment``.

The package's own preprocessing, network and postprocessing run through
``bioimageio.core``; nucseg-zoo adds tiling and the shared postprocessing to instance
labels. Borders and tiles follow the one convention of :mod:`nucseg_zoo.tiling`: the
preprocessed image is padded by the output halo on every side (with the package's
declared padding mode, else symmetric — bioimageio.core's default) and cut into blocks of
a valid input size whose inner parts tile the image. Images up to ``tile`` px run as one
block, as ``bioimageio.core.predict`` runs a whole image (padding by the halo).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import numpy as np

from nucseg_zoo.devices import check_device
from nucseg_zoo.postprocessing import OUTPUT_CHANNELS, OUTPUT_KINDS, PostprocessingParams, override_params, to_labels
from nucseg_zoo.star_convex import MIN_RAYS, StarDistParams
from nucseg_zoo.images import as_image
from nucseg_zoo.tiling import BORDER_MODE, AxisPlan, predict_blocks

logger = logging.getLogger(__name__)

_SPATIAL = ("y", "x")
_INTEGER_TYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool")


def _padding_mode(input_descr) -> tuple[str, dict[str, Any]]:
    pad = getattr(input_descr, "pad", None)
    if pad is None:
        return BORDER_MODE, {}
    if pad.mode == "constant":
        return "constant", {"constant_values": pad.value}
    return pad.mode, {}


def _fail(descr, problem: str) -> ValueError:
    return ValueError(f"bioimage.io model {descr.name!r} cannot take a single-channel 2-D image: {problem}")


def _input_plan(descr) -> tuple[Any, dict[str, AxisPlan]]:
    """The single input tensor and the size plan of its y/x axes; ValueError otherwise."""
    from bioimageio.core.digest_spec import get_input_halo
    from bioimageio.spec.model import v0_5

    inputs = [t for t in descr.inputs if not t.optional]
    if len(inputs) != 1:
        raise _fail(descr, f"it needs {len(inputs)} input tensors ({', '.join(str(t.id) for t in inputs)})")
    tensor = inputs[0]
    halos = get_input_halo(descr).get(tensor.id, {})
    plans: dict[str, AxisPlan] = {}
    for axis in tensor.axes:
        if axis.type == "batch":
            continue
        if axis.type == "channel":
            if axis.size != 1:
                raise _fail(descr, f"input '{tensor.id}' has {axis.size} channels ({', '.join(axis.channel_names)})")
            continue
        if axis.type != "space" or str(axis.id) not in _SPATIAL:
            raise _fail(descr, f"input '{tensor.id}' has a {axis.type} axis '{axis.id}'")
        size = axis.size
        halo = halos.get(axis.id)
        halo = 0 if halo is None else max(halo.left, halo.right)
        if isinstance(size, int):
            plans[str(axis.id)] = AxisPlan(min=size, step=0, halo=halo)
        elif isinstance(size, v0_5.ParameterizedSize):
            plans[str(axis.id)] = AxisPlan(min=size.min, step=size.step, halo=halo)
        else:
            raise _fail(descr, f"input axis '{axis.id}' has an unsupported size {size!r}")
    if set(plans) != set(_SPATIAL):
        raise _fail(descr, f"input '{tensor.id}' has spatial axes {sorted(plans)}, expected y and x")
    return tensor, plans


def _output_tensor(descr, input_tensor):
    """The first output; its y/x must have the input's size (same scale, no offset)."""
    from bioimageio.spec.model import v0_5

    output = descr.outputs[0]
    if len(descr.outputs) > 1:
        logger.info("%s has %d outputs; using the first, '%s'", descr.name, len(descr.outputs), output.id)
    scales = {str(a.id): a.scale for a in input_tensor.axes if a.type == "space"}
    spatial = []
    for axis in output.axes:
        if axis.type in ("batch", "channel"):
            continue
        size = axis.size
        if (axis.type != "space" or str(axis.id) not in _SPATIAL or not isinstance(size, v0_5.SizeReference)
                or size.tensor_id != input_tensor.id or str(size.axis_id) != str(axis.id) or size.offset
                or axis.scale != scales.get(str(axis.id))):
            raise ValueError(f"bioimage.io model {descr.name!r}: output '{output.id}' axis '{axis.id}' does not "
                             f"have the input's size; only same-size y/x outputs are supported")
        spatial.append(str(axis.id))
    if sorted(spatial) != sorted(_SPATIAL):
        raise ValueError(f"bioimage.io model {descr.name!r}: output '{output.id}' has spatial axes {spatial}")
    return output


def _dataset_measures(descr) -> set:
    """The dataset-scope measures the preprocessing needs; ValueError for dataset-scope postprocessing."""
    from bioimageio.core.proc_setup import get_requried_measures  # (sic: the library's spelling)

    required = get_requried_measures(descr)
    post = {m for m in required.post if m.scope == "dataset"}
    if post:
        raise ValueError(f"bioimage.io model {descr.name!r}: its postprocessing uses statistics over a whole "
                         f"dataset ({', '.join(sorted(_measure_name(m) for m in post))}), which would make each "
                         "image's result depend on the other images; not supported")
    return {m for m in required.pre if m.scope == "dataset"}


def _measure_name(measure) -> str:
    """``"image: dataset mean over (batch, y, x)"``-style name of a bioimage.io measure."""
    axes = "all axes" if measure.axes is None else ", ".join(str(a) for a in measure.axes)
    q = getattr(measure, "q", None)
    what = f"quantile {q:g}" if q is not None else measure.name
    return f"{measure.member_id}: {measure.scope} {what} over {axes}"


def _plain(value) -> float | list:
    """A measure value as JSON-able data."""
    if hasattr(value, "data"):
        value = value.data
    array = np.asarray(value, dtype=float)
    return float(array) if array.ndim == 0 else array.tolist()


def check_single_channel_2d(descr) -> None:
    """Raise ``ValueError`` unless the model takes one single-channel 2-D image and returns
    a same-size output (what the harness and :class:`BioimageioModel` can run)."""
    tensor, _ = _input_plan(descr)
    _output_tensor(descr, tensor)


def _config(descr, key: str) -> dict[str, Any]:
    """``config.<key>`` of the rdf as a dict (empty when absent): a field the spec declares
    (``stardist`` in 0.5) or an extra entry (``nucseg_zoo``)."""
    config = descr.config
    value = getattr(config, key, None) or (getattr(config, "model_extra", None) or {}).get(key)
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    return dict(value) if isinstance(value, dict) else {}


def _nucseg_config(descr) -> dict[str, Any]:
    return _config(descr, "nucseg_zoo")


def _channels(output) -> int:
    return next((a.size for a in output.axes if a.type == "channel"), 1)


def infer_output_kind(descr, output) -> str:
    """Output convention of a model: ``config.nucseg_zoo.output_kind`` if given; ``stardist``
    for a package with ``config.stardist`` (StarDist's bioimage.io export); else from the
    output tensor (integer data → instance_labels; 3 / 2 / 1 float channels → three_class /
    foreground_boundary / foreground; 4 or more → stardist, probability + rays)."""
    return explain_output_kind(descr, output)[0]


def explain_output_kind(descr, output) -> tuple[str, str]:
    """:func:`infer_output_kind` and the reason for it (recorded with evaluation results)."""
    declared = _nucseg_config(descr).get("output_kind")
    if declared is not None:
        if declared not in OUTPUT_KINDS:
            raise ValueError(f"config.nucseg_zoo.output_kind {declared!r} is not one of {', '.join(OUTPUT_KINDS)}")
        return declared, "rdf config.nucseg_zoo.output_kind"
    channels = _channels(output)
    if _config(descr, "stardist"):
        return "stardist", (f"rdf config.stardist (StarDist: output '{output.id}' holds the object probability "
                            f"and {channels - 1} ray distances; StarDist's NMS)")
    data = output.data if not isinstance(output.data, (list, tuple)) else output.data[0]
    if str(data.type) in _INTEGER_TYPES:
        return "instance_labels", f"rdf: output '{output.id}' has integer data ({data.type})"
    if channels >= 1 + MIN_RAYS:
        return "stardist", (f"rdf: output '{output.id}' has {channels} float channels, read as StarDist's object "
                            f"probability and {channels - 1} ray distances (no config.stardist: StarDist's default "
                            "thresholds)")
    kinds = {3: "three_class", 2: "foreground_boundary", 1: "foreground"}
    return kinds[channels], f"rdf: output '{output.id}' has {channels} float channel(s)"


class BioimageioModel:
    """A bioimage.io model package, ready to run (not a description).

    Same interface as :class:`~nucseg_zoo.zoo.model.ZooModel`: ``predict(image)`` gives
    the output ``(C, H, W)``, ``segment(image)`` instance labels through the shared
    postprocessing (parameters from ``config.nucseg_zoo.postprocessing`` when the package
    has them, else the defaults) or, for a StarDist output, the stardist library's NMS
    (thresholds and grid from ``config.stardist``, see :mod:`nucseg_zoo.star_convex`).
    ``postprocessing_overrides`` replaces named parameters of either kind (e.g.
    ``{"prob_thresh": 0.6}``); the parameters used are :attr:`postprocessing`.
    """

    def __init__(self, descr, *, device: str = "cpu", weight_format: str | None = None, tile: int = 1024,
                 output_kind: str | None = None, postprocessing_overrides: dict[str, Any] | None = None):
        from bioimageio.core import create_prediction_pipeline

        self.device = check_device(device)
        self.descr = descr
        self.input_tensor, self.axis_plans = _input_plan(descr)
        self.output_tensor = _output_tensor(descr, self.input_tensor)
        if output_kind is None:
            self.output_kind, self.output_kind_reason = explain_output_kind(descr, self.output_tensor)
        elif output_kind in OUTPUT_KINDS:
            channels = _channels(self.output_tensor)
            expected = OUTPUT_CHANNELS.get(output_kind)
            if (channels != expected) if expected is not None else channels < 1 + MIN_RAYS:
                wanted = expected if expected is not None else f"1 + n_rays (>= {1 + MIN_RAYS})"
                raise ValueError(f"output kind {output_kind} expects {wanted} output channel(s); "
                                 f"output '{self.output_tensor.id}' of {descr.name!r} has {channels}")
            self.output_kind, self.output_kind_reason = output_kind, "chosen explicitly (--output-kind)"
        else:
            raise ValueError(f"unknown output kind {output_kind!r}; valid: {', '.join(OUTPUT_KINDS)}")
        if self.output_kind == "stardist":
            params = StarDistParams.from_config(_config(descr, "stardist"))
        else:
            stored = _nucseg_config(descr).get("postprocessing")
            params = PostprocessingParams.from_dict(stored) if stored else PostprocessingParams()
        self.postprocessing = override_params(params, postprocessing_overrides)
        self.tile = tile
        self._weight_format = weight_format
        self._pad_mode, self._pad_kwargs = _padding_mode(self.input_tensor)
        self.dataset_measures = _dataset_measures(descr)
        self.dataset_statistics: dict[str, Any] | None = None
        """Dataset statistics fitted by :meth:`fit_dataset_statistics` (measure → value), or None."""
        self._pipeline = create_prediction_pipeline(descr, devices=[self.device], weights_format=weight_format)

    @property
    def needs_dataset_statistics(self) -> bool:
        """Whether the preprocessing uses statistics over a whole dataset (e.g. ``zero_mean_unit_variance``
        whose ``axes`` include the batch axis); then :meth:`fit_dataset_statistics` must run first."""
        return bool(self.dataset_measures)

    def fit_dataset_statistics(self, images: Iterable) -> dict[str, Any]:
        """Compute the preprocessing's dataset statistics over the whole input set.

        Without this, bioimageio.core keeps running statistics across the images it sees,
        so an image's result would depend on the images run before it. Here they are
        computed once over ``images`` (every image counts, in any order) and then held
        fixed, so every image of the set is predicted with the same statistics.

        Args:
            images: the input set, iterable twice (a list, a dataset split, or a re-iterable
                reader of files): 2-D arrays as :meth:`predict` takes them.

        Returns:
            The statistics as plain data (measure → value), also kept in
            :attr:`dataset_statistics` for provenance.

        Raises:
            ValueError: ``images`` is empty or holds an invalid image.
        """
        from bioimageio.core import create_prediction_pipeline
        from bioimageio.core.stat_calculators import StatsCalculator

        if not self.needs_dataset_statistics:
            self.dataset_statistics = {}
            return {}
        samples = lambda: (self._input_sample(as_image(image), id=str(i)) for i, image in enumerate(images))  # noqa: E731
        calculator = StatsCalculator(self.dataset_measures)
        count = 0
        for sample in samples():
            calculator.update(sample)
            count += 1
        if count == 0:
            raise ValueError("fit_dataset_statistics needs at least one image")
        statistics = {_measure_name(m): _plain(v) for m, v in calculator.finalize().items()}
        # the library's own path for fixed dataset statistics: computed over the whole set
        # before the first prediction, never updated afterwards
        self._pipeline = create_prediction_pipeline(
            self.descr, devices=[self.device], weights_format=self._weight_format,
            dataset_for_initial_statistics=samples(), keep_updating_initial_dataset_statistics=False)
        self.dataset_statistics = {"n_images": count, **statistics}
        return self.dataset_statistics

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
            output_kind: the output convention (default: inferred from the rdf).
            postprocessing_overrides: parameters to replace (see the class docstring).

        Raises:
            ValueError: the validator rejects the package (its reasons are listed), or the
                model cannot take a single-channel 2-D image; ``device`` is not a device name.
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
        of at least 2 × 2 px (:data:`nucseg_zoo.tiling.MIN_SIDE`). Preprocessing statistics (e.g. percentiles) come from the
        whole image; the image is padded by the halo and large images are tiled
        (:mod:`nucseg_zoo.tiling`).
        """
        image = as_image(image)
        if self.needs_dataset_statistics and self.dataset_statistics is None:
            measures = ", ".join(sorted(_measure_name(m) for m in self.dataset_measures))
            raise ValueError(f"bioimage.io model {self.name!r} normalises with statistics over a whole dataset "
                             f"({measures}); call fit_dataset_statistics(images) with the whole input set first "
                             "(nucseg-zoo segment and evaluate do), so that no image's result depends on the "
                             "images run before it")
        sample = self._input_sample(image)
        self._pipeline.apply_preprocessing(sample)  # samplewise statistics over the whole image
        data = sample.members[self.input_tensor.id].data
        preprocessed = data.transpose("y", "x", ...).to_numpy().reshape(image.shape)
        plans = (self.axis_plans["y"], self.axis_plans["x"])
        stitched = predict_blocks(preprocessed, plans, self._run_block, tile=self.tile, mode=self._pad_mode,
                                  pad_kwargs=self._pad_kwargs)
        output = self._output_sample(stitched, sample.stat)
        self._pipeline.apply_postprocessing(output)
        return self._channels_first(output.members[self.output_tensor.id].data)

    def segment(self, image, params: PostprocessingParams | StarDistParams | None = None) -> np.ndarray:
        """Instance labels ``(H, W)`` int32 through the shared postprocessing (or StarDist's NMS)."""
        return to_labels(self.predict(image), self.output_kind, params or self.postprocessing)
