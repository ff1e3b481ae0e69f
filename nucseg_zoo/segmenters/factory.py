"""Open a resolved source ready to ``segment``: the one place every entry point loads a model.

:func:`nucseg_zoo.load_model`, :func:`get_segmenter`, :func:`nucseg_zoo.evaluation.evaluate_source`,
:func:`nucseg_zoo.screens.segment_images` and the ``evaluate``, ``segment`` and ``demo``
commands all come through :func:`open_segmenter`, so one spec gives one model everywhere.
Zoo models run in :data:`~nucseg_zoo.precision.DEFAULT_PRECISION` (fp32, the precision of
their bioimage.io packages and of the leaderboard) unless ``precision`` says otherwise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from nucseg_zoo.devices import check_device
from nucseg_zoo.precision import DEFAULT_PRECISION, check_precision
from nucseg_zoo.rescaling import check_diameter
from nucseg_zoo.segmenters.identity import ModelSource, UnknownSourceError, names_package, resolve_source
from nucseg_zoo.segmenters.protocols import ProbabilityModel, Segmenter
from nucseg_zoo.segmenters.rescaled import check_rescalable, rescaled
from nucseg_zoo.zoo.registry import is_entry_folder, list_models


@dataclass(frozen=True)
class OutputKindChoice:
    """The postprocessing adapter used for a source's output, and why it was chosen."""

    kind: str
    reason: str


def open_segmenter(source: ModelSource, *, device: str = "cpu", output_kind: str | None = None,
                   weight_format: str | None = None, precision: str = DEFAULT_PRECISION,
                   postprocessing: dict | None = None,
                   diameter: float | None = None) -> tuple[Segmenter, OutputKindChoice]:
    """Load ``source`` ready to ``segment``; return ``(segmenter, OutputKindChoice)``.

    Args:
        source: from :func:`~nucseg_zoo.segmenters.identity.resolve_source`.
        device: "cpu", "cuda", "cuda:N" or "mps" (checked for every kind: a missing GPU is an
            error even for a segmenter that ignores it).
        output_kind: overrides the convention inferred from a bioimage.io model's rdf; zoo
            models and baselines have a fixed one and reject a different choice.
        weight_format: a bioimage.io package's weight format (default: bioimageio.core's choice).
        precision: of a zoo model's network: "fp32" (default), "bf16" or "fp16". Baselines,
            Python segmenters and bioimage.io packages (in bioimageio.core, in their weights'
            precision) run in their own.
        postprocessing: replaces named postprocessing parameters of a bioimage.io package
            (e.g. ``{"prob_thresh": 0.6}`` for a StarDist package; see
            :func:`nucseg_zoo.postprocessing.override_params`).
        diameter: median nucleus diameter (px) of the images to segment: each image is
            rescaled to the nucleus size the model learned and its labels returned on its own
            grid (:class:`~nucseg_zoo.segmenters.rescaled.RescaledSegmenter`; zoo models and
            baselines). None: segment at the images' own scale.

    Raises:
        ValueError: unknown ``output_kind`` or ``precision``, a device that is not a device
            name, a ``diameter`` outside 4-400 px or for a source without a known training
            nucleus size, ``output_kind``/``weight_format``/``postprocessing`` given for a source they
            do not apply to, or a package that cannot be loaded (the validator's reasons).
        nucseg_zoo.devices.DeviceUnavailableError: this machine cannot run on ``device``.
    """
    from nucseg_zoo.postprocessing import get_output_kind  # scipy, scikit-image: once a model is opened

    device = check_device(device)
    check_precision(precision)
    if diameter is not None:
        check_rescalable(source, diameter)  # before anything is loaded
    if output_kind is not None:
        get_output_kind(output_kind)  # an unknown name is an error before anything is loaded
    if source.kind == "bioimageio":
        from nucseg_zoo.zoo.bioimageio_model import BioimageioModel  # bioimageio.core, torch

        model = BioimageioModel.from_source(source.location, device=device, weight_format=weight_format,
                                            output_kind=output_kind, postprocessing_overrides=postprocessing)
        return model, OutputKindChoice(model.output_kind, model.output_kind_reason)
    if postprocessing:
        raise ValueError(f"postprocessing overrides apply to bioimage.io packages, not to the {source.kind} "
                         f"{source.name} (its parameters are part of it)")
    if weight_format is not None:
        raise ValueError(f"--weight-format applies to bioimage.io packages, not to the {source.kind} {source.name}")
    if source.kind == "python":
        from nucseg_zoo.segmenters.python_source import PythonSegmenter

        segmenter = PythonSegmenter(source.spec)
        native = OutputKindChoice(segmenter.output_kind, segmenter.output_kind_reason)
    elif source.kind == "zoo":
        from nucseg_zoo.zoo.entry import read_entry
        from nucseg_zoo.zoo.model import ZooModel  # torch

        segmenter = ZooModel(read_entry(source.name), device=device, precision=precision)
        native = OutputKindChoice(segmenter.entry.output_kind, "zoo entry")
    else:
        from nucseg_zoo.baselines import get_baseline  # scikit-image, scikit-learn

        segmenter = get_baseline(source.name)
        native = OutputKindChoice("instance_labels", "classical baseline (labels directly)")
    if output_kind is not None and output_kind != native.kind:
        raise ValueError(f"{source.name} produces {native.kind} output ({native.reason}); "
                         f"--output-kind {output_kind} applies to bioimage.io packages only")
    return (segmenter if diameter is None else rescaled(source, segmenter, diameter)), native


def get_segmenter(source: str, *, device: str = "cpu", precision: str = DEFAULT_PRECISION,
                  output_kind: str | None = None, weight_format: str | None = None,
                  postprocessing: dict | None = None, sha256: str | None = None,
                  diameter: float | None = None) -> Segmenter:
    """Any source, ready to ``segment``: a zoo id, a baseline, a bioimage.io package path or URL,
    or a Python segmenter ``module:callable``.

    ``segment(image)`` takes an ``(H, W)`` image and returns ``(H, W)`` int32 instance labels.
    Zoo models run in fp32 by default (:data:`~nucseg_zoo.precision.DEFAULT_PRECISION`, as the
    leaderboard and their bioimage.io packages); ``precision="bf16"`` is faster on CPUs with
    native bf16 and on GPUs. The other options (``diameter``: rescale each image from nuclei of
    that many px to the model's) are those of :func:`open_segmenter`; ``sha256``
    pins a package file or download (:func:`~nucseg_zoo.segmenters.identity.resolve_source`).

    Raises:
        UnknownSourceError: (a ``ValueError``) ``source`` names nothing (the message lists the
            zoo ids and baselines).
        ValueError, FileNotFoundError, nucseg_zoo.downloads.DownloadError: see
            :func:`~nucseg_zoo.segmenters.identity.resolve_source` and :func:`open_segmenter`.
        nucseg_zoo.devices.DeviceUnavailableError: this machine cannot run on ``device``.
    """
    device = check_device(device)  # before any download or import
    check_precision(precision)
    if diameter is not None:
        check_diameter(diameter)
    return open_segmenter(resolve_source(source, sha256=sha256), device=device, output_kind=output_kind,
                          weight_format=weight_format, precision=precision, postprocessing=postprocessing,
                          diameter=diameter)[0]


def load_model(source: str | os.PathLike, *, device: str = "cpu", precision: str = DEFAULT_PRECISION) -> ProbabilityModel:
    """Load a ready-to-run segmentation network (a model, not a bioimage.io description).

    Args:
        source: a zoo id from :func:`nucseg_zoo.list_models` (e.g. ``"unet-bbbc039"``), a local
            zoo entry folder (one holding ``entry.yaml``, e.g. a fine-tuned model from
            :func:`nucseg_zoo.training.fine_tune.fine_tune`), or a path or URL to a bioimage.io
            model package (``.zip``) or ``rdf.yaml`` (a URL is downloaded and verified once into
            the cache; the local copy is what runs).
        device: "cpu", "cuda", "cuda:N" or "mps" (checked by :func:`nucseg_zoo.devices.check_device`).
        precision: of a zoo model: "fp32" (default, :data:`~nucseg_zoo.precision.DEFAULT_PRECISION`:
            the leaderboard's and the packages' precision), "bf16" (faster on CPUs with native
            bf16 and on GPUs) or "fp16"; a package runs through bioimageio.core in its
            weights' precision.

    Returns:
        A :class:`~nucseg_zoo.segmenters.protocols.ProbabilityModel`: ``predict(image) -> (C, H, W)``
        float32 probabilities and ``segment(image) -> (H, W)`` int32 labels; a zoo model's
        ``segment(image, diameter=PX)`` rescales an image whose nuclei measure PX to the
        nucleus size it learned (:meth:`nucseg_zoo.zoo.model.ZooModel.segment`).

    Raises:
        UnknownSourceError: (a ``ValueError``) ``source`` is neither a zoo id nor a model package
            (lists the zoo ids); classical baselines and Python segmenters have no ``predict``:
            open them with :func:`get_segmenter`.
        ValueError: ``precision`` is not one of fp32, bf16, fp16, or ``device`` is not a device name.
        nucseg_zoo.devices.DeviceUnavailableError: ``device`` is one this machine cannot run on
            (e.g. "cuda" with a CPU-only torch build or without a visible GPU).
        FileNotFoundError, nucseg_zoo.downloads.DownloadError: a package path that does not
            exist, a URL that did not deliver a verified package.
    """
    device = check_device(device)  # before anything is loaded
    check_precision(precision)
    spec = str(source)
    if spec not in list_models() and not is_entry_folder(spec) and not names_package(spec):
        raise UnknownSourceError(f"unknown model {spec!r}; available: {', '.join(list_models())}, a zoo entry "
                                 "folder (holding entry.yaml), or a bioimage.io package (.zip) or rdf (.yaml) "
                                 "path or URL")
    return open_segmenter(resolve_source(spec), device=device, precision=precision)[0]
