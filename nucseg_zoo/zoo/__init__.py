"""The model zoo: :func:`list_models` and :func:`load_model`."""

from __future__ import annotations

from nucseg_zoo.datasets.source import is_url
from nucseg_zoo.zoo.registry import list_models


def load_model(source: str, *, device: str = "cpu", precision: str | None = None):
    """Load a ready-to-run segmentation model.

    Args:
        source: a zoo id from :func:`list_models` (e.g. ``"unet-bbbc039"``), or a path or
            URL to a bioimage.io model package (``.zip``) or ``rdf.yaml``.
        device: "cpu", "cuda", "cuda:N" or "mps" (checked by :func:`nucseg_zoo.devices.check_device`).
        precision: "fp32", "bf16" or "fp16"; default bf16 where supported, else fp32 (zoo
            models; a package runs through bioimageio.core in its weights' precision).

    Returns:
        An object with ``predict(image) -> (C, H, W) probabilities`` and
        ``segment(image) -> (H, W) int32 labels``.

    Raises:
        ValueError: ``source`` is neither a zoo id nor a model package (lists the zoo ids), or
            ``precision`` is not one of fp32, bf16, fp16, or ``device`` is not a device name.
        nucseg_zoo.devices.DeviceUnavailableError: ``device`` is one this machine cannot run on
            (e.g. "cuda" with a CPU-only torch build or without a visible GPU).
    """
    from nucseg_zoo.devices import check_device

    device = check_device(device)  # before anything is loaded
    if precision is not None:
        from nucseg_zoo.inference import check_precision

        check_precision(precision)
    if source in list_models():
        from nucseg_zoo.zoo.entry import read_entry
        from nucseg_zoo.zoo.model import ZooModel

        return ZooModel(read_entry(source), device=device, precision=precision)
    if str(source).lower().endswith((".zip", ".yaml", ".yml")) or is_url(str(source)):
        from nucseg_zoo.evaluation.sources import resolve_source
        from nucseg_zoo.zoo.bioimageio_model import BioimageioModel

        # a URL is downloaded and verified once into the cache; the local file is what runs
        return BioimageioModel.from_source(resolve_source(str(source)).location, device=device)
    raise ValueError(f"unknown model {source!r}; available: {', '.join(list_models())}, "
                     "or a bioimage.io package (.zip) or rdf (.yaml) path or URL")


__all__ = ["list_models", "load_model"]
