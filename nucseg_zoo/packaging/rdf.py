"""The ``rdf.yaml`` of a package, written as plain data for every consumer we target.

Written by hand rather than dumped from ``bioimageio.spec`` objects, because
spec ≥ 0.5.12 writes ``covers`` and ``documentation`` as ``{source, sha256}`` objects
that ilastik's spec (0.5.9.1) and deepImageJ reject. So: ``format_version`` 0.5.9 (the
oldest 0.5 patch ilastik reads; newer specs upgrade it on load), plain-string ``covers``
and ``documentation``, an explicit ``id`` (deepImageJ needs one when ``config`` exists),
``channel_names`` on every channel axis, deepImageJ-approved preprocessing only
(``ensure_dtype``, ``scale_range``, ``clip``) and softmax inside the network. The result is checked
by the validator of the installed bioimageio.spec (:mod:`nucseg_zoo.packaging.validate`)
and by ``.ci/spec_compat.sh`` against the oldest and newest specs.
"""

from __future__ import annotations

from typing import Any

import yaml

from nucseg_zoo.packaging import layout as L

FORMAT_VERSION = "0.5.9"
DEFAULT_AUTHORS = ({"name": "nucseg-zoo developers"},)


class _PlainDumper(yaml.SafeDumper):
    """YAML without anchors/aliases (``&id001``), which some rdf readers do not resolve."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_rdf(rdf: dict[str, Any], *, header: str = "") -> str:
    """The rdf as YAML text (keys in the given order, no aliases), after ``header`` comment lines."""
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    return comment + yaml.dump(rdf, Dumper=_PlainDumper, sort_keys=False, allow_unicode=True, width=100)


def _file(name: str, sha256: dict[str, str]) -> dict[str, str]:
    return {"source": name, "sha256": sha256[name]}


def _space_axes_in(lay: L.Layout) -> list[dict[str, Any]]:
    size = {"min": lay.min_size, "step": lay.step}
    return [{"type": "space", "id": axis, "size": dict(size)} for axis in ("y", "x")]


def _space_axes_out(lay: L.Layout) -> list[dict[str, Any]]:
    return [{"type": "space", "id": axis, "size": {"tensor_id": L.INPUT_ID, "axis_id": axis}, "halo": lay.halo}
            for axis in ("y", "x")]


def build_rdf(entry, lay: L.Layout, *, sha256: dict[str, str], architecture_file: str, torch_version: str,
              onnx_opset: int, citations: list[dict[str, str]], training_data: dict[str, Any] | None,
              nucseg_config: dict[str, Any]) -> dict[str, Any]:
    """The rdf of ``entry`` (a :class:`~nucseg_zoo.zoo.entry.ZooEntry`) as a plain dict.

    Args:
        lay: sizes and halo of the package.
        sha256: hex sha256 of every file in the package, by file name.
        architecture_file: file name of the architecture source inside the package.
        torch_version: version of torch that wrote the weights ("2.13.0").
        onnx_opset: opset of the ONNX file.
        citations: ``[{"text": ..., "doi": ...}]``.
        training_data: an inline bioimage.io dataset description, or None.
        nucseg_config: our own ``config.nucseg_zoo`` section (postprocessing etc.).
    """
    norm = entry.normalization
    kwargs = dict(entry.architecture.kwargs)
    tolerance = {"absolute_tolerance": L.ABSOLUTE_TOLERANCE, "relative_tolerance": L.RELATIVE_TOLERANCE,
                 "mismatched_elements_per_million": L.MISMATCHED_ELEMENTS_PER_MILLION,
                 "output_ids": [L.OUTPUT_ID], "weights_formats": list(L.WEIGHT_FORMATS)}
    rdf: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "type": "model",
        "id": entry.id,
        "name": entry.name,
        "description": entry.description,
        # no github_user: the validator would look it up on the network
        "authors": [{k: v for k, v in a.items() if k != "github_user"}
                    for a in entry.raw.get("authors", DEFAULT_AUTHORS)],
        "cite": citations,
        "license": entry.license,
        "tags": list(entry.tags),
        "covers": [L.COVER_FILE],
        "documentation": L.DOCUMENTATION_FILE,
        "inputs": [{
            "id": L.INPUT_ID,
            "description": "single-channel fluorescence image of stained nuclei (e.g. Hoechst), raw intensities",
            "axes": [{"type": "batch"}, {"type": "channel", "channel_names": [L.INPUT_CHANNEL_NAME]},
                     *_space_axes_in(lay)],
            "test_tensor": _file(L.TEST_INPUT_FILE, sha256),
            "data": {"type": "float32"},
            "preprocessing": [
                {"id": "ensure_dtype", "kwargs": {"dtype": "float32"}},
                {"id": "scale_range", "kwargs": {"axes": ["y", "x"], "min_percentile": float(norm.min_percentile),
                                                 "max_percentile": float(norm.max_percentile),
                                                 "eps": float(norm.eps)}},
                *([{"id": "clip", "kwargs": {"min": norm.clip[0], "max": norm.clip[1]}}] if norm.clip else []),
                {"id": "ensure_dtype", "kwargs": {"dtype": "float32"}},
            ],
        }],
        "outputs": [{
            "id": L.OUTPUT_ID,
            "description": "per-pixel class probabilities (softmax over channels): "
                           + ", ".join(entry.channel_names),
            "axes": [{"type": "batch"}, {"type": "channel", "channel_names": list(entry.channel_names)},
                     *_space_axes_out(lay)],
            "test_tensor": _file(L.TEST_OUTPUT_FILE, sha256),
            "data": {"type": "float32", "range": [0.0, 1.0]},
        }],
        "weights": {
            "pytorch_state_dict": {
                **_file(L.STATE_DICT_FILE, sha256),
                "architecture": {**_file(architecture_file, sha256),
                                 "callable": entry.architecture.callable, "kwargs": kwargs},
                "pytorch_version": torch_version,
            },
            "torchscript": {
                **_file(L.TORCHSCRIPT_FILE, sha256), "parent": "pytorch_state_dict",
                "pytorch_version": torch_version,
                "comment": "traced (torch.jit.trace) from the pytorch_state_dict weights",
            },
            "onnx": {
                **_file(L.ONNX_FILE, sha256), "parent": "pytorch_state_dict", "opset_version": onnx_opset,
                "comment": "legacy torch.onnx exporter (dynamo=False), single file, IR version 8",
            },
        },
        "config": {
            "bioimageio": {"reproducibility_tolerance": [tolerance]},
            "deepimagej": {"allow_tiling": True, "pyramidal_model": False},
            "nucseg_zoo": nucseg_config,
        },
    }
    if training_data is not None:
        rdf["training_data"] = training_data
    return rdf
