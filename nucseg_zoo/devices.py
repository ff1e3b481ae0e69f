"""The one check of a requested torch device ("cpu", "cuda", "cuda:N", "mps").

Every entry point that takes a device (:func:`nucseg_zoo.load_model`, the evaluation
harness, bioimage.io packages, training and every ``--device`` option) calls
:func:`check_device` before any work, so a device this machine does not have stops the run
with a :class:`DeviceUnavailableError` that says what is missing and what to do (the CLI
prints it on one line and exits 2) instead of torch's own assertion deep in a model.
"""

from __future__ import annotations

DEVICE_TYPES: tuple[str, ...] = ("cpu", "cuda", "mps")
"""Device types a model can run on: the CPU, an NVIDIA GPU (``cuda`` or ``cuda:N``), Apple's GPU."""


class DeviceUnavailableError(RuntimeError):
    """A well-formed device that this machine (or its torch build) cannot run on."""


def check_device(device: str) -> str:
    """``device`` in torch's spelling (``"cuda"``, ``"cuda:1"``, ...) if this machine can run on it.

    ``"cpu"`` is accepted without importing torch.

    Raises:
        ValueError: ``device`` is not a device name (e.g. ``"gpu"``), or a type other than
            :data:`DEVICE_TYPES`.
        DeviceUnavailableError: ``cuda`` with a torch build without CUDA support, with no
            visible CUDA GPU, or with an index beyond the visible GPUs; ``mps`` where it is
            not available.
    """
    if device == "cpu":
        return device
    import torch

    expected = "expected cpu, cuda, cuda:N (N = GPU index) or mps"
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"unknown device {device!r}; {expected}") from err
    if parsed.type not in DEVICE_TYPES:
        raise ValueError(f"unsupported device {device!r}; {expected}")
    if parsed.type == "cuda":
        _check_cuda(device, parsed.index, torch)
    elif parsed.type == "mps" and not torch.backends.mps.is_available():
        reason = ("this torch build has no MPS support" if not torch.backends.mps.is_built()
                  else "MPS is not available on this machine (it needs an Apple-silicon Mac with macOS 12.3 or later)")
        raise DeviceUnavailableError(f"device {device!r} requested but {reason} (torch {torch.__version__}); "
                                     "use --device cpu")
    return str(parsed)


def _check_cuda(device: str, index: int | None, torch) -> None:
    if not torch.backends.cuda.is_built():
        raise DeviceUnavailableError(
            f"device {device!r} requested but this torch build has no CUDA support (torch {torch.__version__}); "
            "use --device cpu or install a CUDA build of torch")
    if not torch.cuda.is_available():
        raise DeviceUnavailableError(
            f"device {device!r} requested but torch sees no CUDA GPU (torch {torch.__version__}, CUDA "
            f"{torch.version.cuda}): no GPU, no working NVIDIA driver, or CUDA_VISIBLE_DEVICES hides them; "
            "use --device cpu or check nvidia-smi")
    count = torch.cuda.device_count()
    if index is not None and index >= count:
        visible = "cuda:0" if count == 1 else f"cuda:0 to cuda:{count - 1}"
        raise DeviceUnavailableError(f"device {device!r} requested but only {count} CUDA "
                                     f"GPU{'' if count == 1 else 's'} {'is' if count == 1 else 'are'} visible "
                                     f"({visible})")
