"""What a bioimage.io model description says, as nucseg-zoo runs it (no network is loaded).

From a validated description (``bioimageio.spec``): the one single-channel 2-D input and its
size plan (:func:`input_plan`), the same-size output (:func:`output_tensor`), the input's
padding (:func:`padding_mode`), the dataset statistics its preprocessing needs
(:func:`dataset_measures`), and the output kind with its postprocessing parameters
(:func:`read_output_kind`, :func:`package_params`). :class:`~nucseg_zoo.zoo.bioimageio_model.BioimageioModel`
runs what these describe.

The output kind is, in this order: ``config.nucseg_zoo.output_kind``; the kind a tool's own
rdf entry declares (``config.stardist``: StarDist's export); else the one registered kind
that may be read from the output alone (:attr:`~nucseg_zoo.postprocessing.OutputKind.inferable`)
and fits its channel count and data type: integer data → ``instance_labels``, 1 / 2 float
channels → ``foreground`` / ``foreground_boundary``, 4 or more → ``stardist``. Where none
or several fit (3 float channels may be three-class probabilities or Cellpose-style flows)
the package is refused (:class:`UndeclaredOutputKindError`) rather than guessed.
"""

from __future__ import annotations

import logging
from typing import Any

from nucseg_zoo.postprocessing import KindParams, OutputKind, get_output_kind, list_output_kinds
from nucseg_zoo.tiling import BORDER_MODE, AxisPlan

logger = logging.getLogger(__name__)

_SPATIAL = ("y", "x")  # the spatial axes of input and output

_INTEGER_TYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool")


class UndeclaredOutputKindError(ValueError):
    """A package does not declare its output kind and its output does not tell it apart;
    the message names what the output holds and the valid ``--output-kind`` values."""


def padding_mode(input_descr) -> tuple[str, dict[str, Any]]:
    """``(mode, numpy.pad kwargs)`` of the input's declared padding, else :data:`~nucseg_zoo.tiling.BORDER_MODE`."""
    pad = getattr(input_descr, "pad", None)
    if pad is None:
        return BORDER_MODE, {}
    if pad.mode == "constant":
        return "constant", {"constant_values": pad.value}
    return pad.mode, {}


def _fail(descr, problem: str) -> ValueError:
    return ValueError(f"bioimage.io model {descr.name!r} cannot take a single-channel 2-D image: {problem}")


def input_plan(descr) -> tuple[Any, dict[str, AxisPlan]]:
    """The single input tensor and the size plan of its y/x axes.

    Raises:
        ValueError: several inputs, several input channels, another axis, or a size the
            tiling cannot meet (named).
    """
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


def output_tensor(descr, input_tensor):
    """The first output; its y/x must have the input's size (same scale, no offset).

    Raises:
        ValueError: an output axis of another size, or other spatial axes than y and x.
    """
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
    a same-size output (what the harness and :class:`~nucseg_zoo.zoo.bioimageio_model.BioimageioModel` can run)."""
    tensor, _ = input_plan(descr)
    output_tensor(descr, tensor)


def dataset_measures(descr) -> set:
    """The dataset-scope measures the preprocessing needs.

    Raises:
        ValueError: the postprocessing uses dataset-scope statistics (each image's result
            would depend on the other images).
    """
    from bioimageio.core.proc_setup import get_requried_measures  # (sic: the library's spelling)

    required = get_requried_measures(descr)
    post = {m for m in required.post if m.scope == "dataset"}
    if post:
        raise ValueError(f"bioimage.io model {descr.name!r}: its postprocessing uses statistics over a whole "
                         f"dataset ({', '.join(sorted(measure_name(m) for m in post))}), which would make each "
                         "image's result depend on the other images; not supported")
    return {m for m in required.pre if m.scope == "dataset"}


def measure_name(measure) -> str:
    """``"image: dataset mean over (batch, y, x)"``-style name of a bioimage.io measure."""
    axes = "all axes" if measure.axes is None else ", ".join(str(a) for a in measure.axes)
    q = getattr(measure, "q", None)
    what = f"quantile {q:g}" if q is not None else measure.name
    return f"{measure.member_id}: {measure.scope} {what} over {axes}"


def rdf_config(descr, key: str) -> dict[str, Any]:
    """``config.<key>`` of the rdf as a dict (empty when absent): a field the spec declares
    (``stardist`` in 0.5) or an extra entry (``nucseg_zoo``)."""
    config = descr.config
    value = getattr(config, key, None) or (getattr(config, "model_extra", None) or {}).get(key)
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    return dict(value) if isinstance(value, dict) else {}


def output_channels(output) -> int:
    """Channels of an output tensor (1 without a channel axis)."""
    return next((a.size for a in output.axes if a.type == "channel"), 1)


def _data_type(output) -> str:
    data = output.data if not isinstance(output.data, (list, tuple)) else output.data[0]
    return str(data.type)


def read_output_kind(descr, output, requested: str | None = None) -> tuple[OutputKind, str]:
    """The output kind of a package and the reason for it (recorded with evaluation results).

    Args:
        descr: the validated model description.
        output: its output tensor (:func:`output_tensor`).
        requested: a kind chosen by the caller (``--output-kind``), checked against the
            output's channel count; None: as the module docstring says.

    Raises:
        ValueError: ``requested`` or ``config.nucseg_zoo.output_kind`` is not a registered
            kind, or ``requested`` does not fit the output's channels.
        UndeclaredOutputKindError: nothing declares the kind and the output does not tell it apart.
    """
    channels = output_channels(output)
    if requested is not None:
        kind = get_output_kind(requested)
        if not kind.channels.fits(channels):
            raise ValueError(f"output kind {kind.name} expects {kind.channels.count} output channel(s); "
                             f"output '{output.id}' of {descr.name!r} has {channels}")
        return kind, "chosen explicitly (--output-kind)"
    declared = rdf_config(descr, "nucseg_zoo").get("output_kind")
    if declared is not None:
        if declared not in list_output_kinds():
            raise ValueError(f"config.nucseg_zoo.output_kind {declared!r} is not one of "
                             f"{', '.join(list_output_kinds())}")
        return get_output_kind(declared), "rdf config.nucseg_zoo.output_kind"
    kinds = [get_output_kind(name) for name in list_output_kinds()]
    by_tool = [k for k in kinds if k.rdf_config is not None and rdf_config(descr, k.rdf_config.key)]
    if len(by_tool) == 1:
        kind = by_tool[0]
        return kind, (f"rdf config.{kind.rdf_config.key}: output '{output.id}' holds the "
                      f"{kind.channels.describe(channels)}")
    data_type = _data_type(output)
    integer = data_type in _INTEGER_TYPES
    fitting = [k for k in kinds if k.channels.fits(channels) and k.integer == integer]
    readable = [k for k in fitting if k.inferable]
    if len(by_tool) > 1 or len(readable) != 1:
        raise UndeclaredOutputKindError(_undeclared_message(descr, output, channels, data_type, by_tool, fitting,
                                                            readable))
    kind = readable[0]
    what = f"integer data ({data_type})" if integer else f"{channels} float channel{'s' * (channels != 1)}"
    reason = f"rdf: output '{output.id}' has {what}, read as {kind.name} ({kind.channels.describe(channels)})"
    if kind.rdf_config is not None:
        reason += f"; no config.{kind.rdf_config.key}: the kind's default parameters"
    return kind, reason


def _undeclared_message(descr, output, channels: int, data_type: str, by_tool: list[OutputKind],
                        fitting: list[OutputKind], readable: list[OutputKind]) -> str:
    axes = ", ".join(str(a.id) for a in output.axes)
    names = next((list(map(str, a.channel_names)) for a in output.axes if a.type == "channel"), [])
    found = (f"output '{output.id}' has {channels} channel{'s' * (channels != 1)}"
             f"{' (' + ', '.join(names) + ')' if names else ''}, data type {data_type}, axes ({axes})")
    candidates = fitting
    if by_tool:
        candidates = by_tool
        why = f"its config declares several kinds ({', '.join(f'config.{k.rdf_config.key}' for k in by_tool)})"
    elif len(readable) > 1:
        candidates = readable
        why = f"{', '.join(k.name for k in readable)} all fit it, and the output alone does not tell them apart"
    elif fitting:
        doubts = "; ".join(k.ambiguity for k in fitting if k.ambiguity)
        why = (f"it fits {', '.join(k.name for k in fitting)}, which is not read from the output alone"
               + (f": {doubts}" if doubts else ""))
    else:
        why = "no registered output kind fits it"
    hint = ", ".join(k.name for k in candidates) or ", ".join(list_output_kinds())
    return (f"bioimage.io model {descr.name!r} does not declare its output kind (config.nucseg_zoo.output_kind), "
            f"and its {found}: {why}. Pass the kind with --output-kind (Python: output_kind=), e.g. {hint}; "
            f"valid kinds: {', '.join(list_output_kinds())}")


def package_params(descr, kind: OutputKind) -> KindParams:
    """The package's postprocessing parameters for ``kind``: from the tool's own rdf entry
    (``config.stardist``) for a kind declared that way, else ``config.nucseg_zoo.postprocessing``,
    else the kind's defaults.

    Raises:
        ValueError: parameters the kind refuses (unknown names, values out of range).
    """
    if kind.rdf_config is not None:
        return kind.rdf_config.params(rdf_config(descr, kind.rdf_config.key))
    return kind.parse_params(rdf_config(descr, "nucseg_zoo").get("postprocessing"))
