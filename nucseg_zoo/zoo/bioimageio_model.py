"""Run any bioimage.io model package like a zoo model: ``predict`` and ``segment``.

The package's own preprocessing, network and postprocessing run through
``bioimageio.core``; nucseg-zoo adds tiling (block sizes chosen from the declared
min/step/halo) and the shared postprocessing to instance labels.

Tiling: the preprocessed image is padded by the output halo on every side (with the
package's padding mode, symmetric by default) and cut into blocks of a valid input size
whose inner parts (block minus halo) tile the image; block origins stay on the grid of
the size step, so for a fully convolutional network with an adequate halo the result
does not depend on the block size. Images up to ``tile`` px run as one block, exactly
as ``bioimageio.core.predict`` runs a whole image (padding by the halo).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from nucseg_zoo.postprocessing import OUTPUT_CHANNELS, OUTPUT_KINDS, PostprocessingParams, to_labels
from nucseg_zoo.images import as_image

logger = logging.getLogger(__name__)

_SPATIAL = ("y", "x")
_INTEGER_TYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool")


@dataclass(frozen=True)
class AxisPlan:
    """Valid input sizes of one spatial axis: ``min + n * step`` (``step`` 0: fixed) and its halo."""

    min: int
    step: int
    halo: int

    def block(self, size: int, tile: int) -> int:
        """A valid block size covering ``size`` px plus halos, at most ``tile + 2 * halo`` if possible."""
        if self.step == 0:
            return self.min
        need, cap = size + 2 * self.halo, tile + 2 * self.halo
        n = max(0, math.ceil((need - self.min) / self.step))
        if self.min + n * self.step > cap:
            n = max(0, (cap - self.min) // self.step)
        return self.min + n * self.step


def _padding_mode(input_descr) -> tuple[str, dict[str, Any]]:
    pad = getattr(input_descr, "pad", None)
    if pad is None:
        return "symmetric", {}
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


def check_single_channel_2d(descr) -> None:
    """Raise ``ValueError`` unless the model takes one single-channel 2-D image and returns
    a same-size output (what the harness and :class:`BioimageioModel` can run)."""
    tensor, _ = _input_plan(descr)
    _output_tensor(descr, tensor)


def _nucseg_config(descr) -> dict[str, Any]:
    extra = descr.config.model_extra or {}
    value = extra.get("nucseg_zoo") or {}
    return dict(value) if isinstance(value, dict) else {}


def infer_output_kind(descr, output) -> str:
    """Output convention of a model: ``config.nucseg_zoo.output_kind`` if given, else from
    the output tensor (integer data → instance_labels; 3 / 2 / 1 channels → three_class /
    foreground_boundary / foreground)."""
    return explain_output_kind(descr, output)[0]


def explain_output_kind(descr, output) -> tuple[str, str]:
    """:func:`infer_output_kind` and the reason for it (recorded with evaluation results)."""
    declared = _nucseg_config(descr).get("output_kind")
    if declared is not None:
        if declared not in OUTPUT_KINDS:
            raise ValueError(f"config.nucseg_zoo.output_kind {declared!r} is not one of {', '.join(OUTPUT_KINDS)}")
        return declared, "rdf config.nucseg_zoo.output_kind"
    data = output.data if not isinstance(output.data, (list, tuple)) else output.data[0]
    if str(data.type) in _INTEGER_TYPES:
        return "instance_labels", f"rdf: output '{output.id}' has integer data ({data.type})"
    channels = next((a.size for a in output.axes if a.type == "channel"), 1)
    kinds = {3: "three_class", 2: "foreground_boundary", 1: "foreground"}
    if channels not in kinds:
        raise ValueError(f"cannot infer the output convention of {descr.name!r}: output '{output.id}' has "
                         f"{channels} channels (expected 1, 2 or 3, or config.nucseg_zoo.output_kind); "
                         "choose one with --output-kind")
    return kinds[channels], f"rdf: output '{output.id}' has {channels} float channel(s)"


class BioimageioModel:
    """A bioimage.io model package, ready to run (not a description).

    Same interface as :class:`~nucseg_zoo.zoo.model.ZooModel`: ``predict(image)`` gives
    the output ``(C, H, W)``, ``segment(image)`` instance labels through the shared
    postprocessing (parameters from ``config.nucseg_zoo.postprocessing`` when the package
    has them, else the defaults).
    """

    def __init__(self, descr, *, device: str = "cpu", weight_format: str | None = None, tile: int = 1024,
                 output_kind: str | None = None):
        from bioimageio.core import create_prediction_pipeline

        self.descr = descr
        self.input_tensor, self.axis_plans = _input_plan(descr)
        self.output_tensor = _output_tensor(descr, self.input_tensor)
        if output_kind is None:
            self.output_kind, self.output_kind_reason = explain_output_kind(descr, self.output_tensor)
        elif output_kind in OUTPUT_KINDS:
            channels = next((a.size for a in self.output_tensor.axes if a.type == "channel"), 1)
            if channels != OUTPUT_CHANNELS[output_kind]:
                raise ValueError(f"output kind {output_kind} expects {OUTPUT_CHANNELS[output_kind]} output channel(s); "
                                 f"output '{self.output_tensor.id}' of {descr.name!r} has {channels}")
            self.output_kind, self.output_kind_reason = output_kind, "chosen explicitly (--output-kind)"
        else:
            raise ValueError(f"unknown output kind {output_kind!r}; valid: {', '.join(OUTPUT_KINDS)}")
        params = _nucseg_config(descr).get("postprocessing")
        self.postprocessing = PostprocessingParams.from_dict(params) if params else PostprocessingParams()
        self.device = device
        self.tile = tile
        self._pad_mode, self._pad_kwargs = _padding_mode(self.input_tensor)
        self._pipeline = create_prediction_pipeline(descr, devices=[device], weights_format=weight_format)

    @classmethod
    def from_source(cls, source, *, device: str = "cpu", weight_format: str | None = None,
                    tile: int = 1024, output_kind: str | None = None) -> "BioimageioModel":
        """Load and validate a package (``.zip``, ``rdf.yaml``, or their URL) with bioimageio.core.

        Args:
            source: path or URL of the package or its rdf.
            device: "cpu" or "cuda".
            weight_format: a weight format to use (default: bioimageio.core's choice).
            tile: images up to this many px per side (plus halo) run as one block.
            output_kind: the output convention (default: inferred from the rdf).

        Raises:
            ValueError: the validator rejects the package (its reasons are listed), or the
                model cannot take a single-channel 2-D image.
        """
        from nucseg_zoo.packaging.validate import load_valid_description

        return cls(load_valid_description(source), device=device, weight_format=weight_format, tile=tile,
                   output_kind=output_kind)

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

    def _input_sample(self, image: np.ndarray):
        from bioimageio.core import Sample, Tensor

        dims, array = tuple(str(axis.id) for axis in self.input_tensor.axes), image
        for position, axis in enumerate(self.input_tensor.axes):
            if axis.type in ("batch", "channel"):
                array = np.expand_dims(array, position)
        return Sample(members={self.input_tensor.id: Tensor.from_numpy(array, dims=dims)}, stat={}, id="image")

    def _run_block(self, block: np.ndarray, dims: tuple[str, ...]) -> np.ndarray:
        from bioimageio.core import Sample, Tensor

        sample = Sample(members={self.input_tensor.id: Tensor.from_numpy(block, dims=dims)}, stat={}, id="block")
        out = self._pipeline.predict_sample_without_blocking(
            sample, skip_preprocessing=True, skip_postprocessing=True, skip_input_padding=True,
            skip_output_cropping=True)
        return out.members[self.output_tensor.id].data

    def _tiling(self, shape: tuple[int, int]) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
        """Block size, inner size (block minus halos) and number of tiles per spatial axis."""
        blocks, inner, n_tiles = {}, {}, {}
        for axis, size in zip(_SPATIAL, shape):
            plan = self.axis_plans[axis]
            blocks[axis] = plan.block(size, self.tile)
            inner[axis] = blocks[axis] - 2 * plan.halo
            if inner[axis] <= 0:
                raise ValueError(f"model {self.name!r}: input size {blocks[axis]} leaves nothing inside its halo "
                                 f"({plan.halo} px) on axis {axis}")
            n_tiles[axis] = math.ceil(size / inner[axis])
        return blocks, inner, n_tiles

    def _predict_tiles(self, array: np.ndarray, dims: tuple[str, ...], shape: tuple[int, int]):
        """Network output (an ``xarray.DataArray``) for a preprocessed input, tile by tile."""
        import xarray as xr

        blocks, inner, n_tiles = self._tiling(shape)
        pad_width = [(0, 0)] * array.ndim
        for axis, size in zip(_SPATIAL, shape):
            halo = self.axis_plans[axis].halo
            pad_width[dims.index(axis)] = (halo, n_tiles[axis] * inner[axis] - size + halo)
        padded = np.pad(array, pad_width, mode=self._pad_mode, **self._pad_kwargs)
        rows = []
        for ty in range(n_tiles["y"]):
            row = []
            for tx in range(n_tiles["x"]):
                window = [slice(None)] * padded.ndim
                window[dims.index("y")] = slice(ty * inner["y"], ty * inner["y"] + blocks["y"])
                window[dims.index("x")] = slice(tx * inner["x"], tx * inner["x"] + blocks["x"])
                out = self._run_block(np.ascontiguousarray(padded[tuple(window)]), dims)
                hy, hx = self.axis_plans["y"].halo, self.axis_plans["x"].halo
                row.append(out.isel(y=slice(hy, hy + inner["y"]), x=slice(hx, hx + inner["x"])))
            rows.append(xr.concat(row, dim="x") if len(row) > 1 else row[0])
        stitched = xr.concat(rows, dim="y") if len(rows) > 1 else rows[0]
        return stitched.isel(y=slice(0, shape[0]), x=slice(0, shape[1]))

    def predict(self, image) -> np.ndarray:
        """The model's output for a 2-D image: ``(C, H, W)`` (``C`` = 1 without a channel axis).

        ``image``: 2-D uint8/uint16/float numpy array or ``("y", "x")`` DataArray, any size
        of at least one pixel. Preprocessing statistics (e.g. percentiles) come from the
        whole image; large images are tiled.
        """
        from bioimageio.core import Sample, Tensor

        image = as_image(image)
        sample = self._input_sample(image)
        self._pipeline.apply_preprocessing(sample)  # samplewise statistics over the whole image
        data = sample.members[self.input_tensor.id].data
        stitched = self._predict_tiles(data.to_numpy(), tuple(str(d) for d in data.dims), image.shape)
        output = Sample(members={self.output_tensor.id: Tensor.from_xarray(stitched.copy())}, stat=sample.stat,
                        id="image")
        self._pipeline.apply_postprocessing(output)
        result = output.members[self.output_tensor.id].data
        axis_ids = {a.type: str(a.id) for a in self.output_tensor.axes}
        if "batch" in axis_ids:
            result = result.isel({axis_ids["batch"]: 0})
        if "channel" not in axis_ids:
            return result.transpose("y", "x").to_numpy()[None]
        return result.transpose(axis_ids["channel"], "y", "x").to_numpy()

    def segment(self, image, params: PostprocessingParams | None = None) -> np.ndarray:
        """Instance labels ``(H, W)`` int32 through the shared postprocessing."""
        return to_labels(self.predict(image), self.output_kind, params or self.postprocessing)
