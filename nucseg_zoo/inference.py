"""Whole-image and tiled prediction with a torch segmentation network.

Images of any 2-D size follow the border and tiling convention of
:mod:`nucseg_zoo.tiling` (halo padding, symmetric mirror), so tiled and whole-image
predictions agree (batch norm runs on its stored statistics) and a zoo model gives the
same output as its bioimage.io package.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from nucseg_zoo.tiling import BORDER_MODE, AxisPlan, one_block_padding, predict_blocks


def autocast_context(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """``torch.autocast`` for ``precision`` "bf16"/"fp16", a no-op for "fp32"."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    return torch.autocast(device.type, dtype=dtype)


def default_precision(device: torch.device) -> str:
    """The fastest precision ``device`` runs natively: bf16 on CPUs with native bf16 support and on
    CUDA (fp16 on GPUs without bf16), fp32 otherwise. Training's default; inference defaults to
    :data:`nucseg_zoo.precision.DEFAULT_PRECISION` (fp32) instead."""
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if device.type == "cpu" and torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return "bf16"
    return "fp32"


@torch.no_grad()
def _run_batch(model: torch.nn.Module, blocks: np.ndarray, device: torch.device, precision: str) -> np.ndarray:
    """The network on ``(B, h, w)`` float32 blocks → ``(B, C, h, w)`` float32."""
    tensor = torch.from_numpy(blocks)[:, None].to(device)
    tensor = tensor.contiguous(memory_format=torch.channels_last)
    with autocast_context(device, precision):
        output = model(tensor)
    return output.float().cpu().numpy()


def _run(model: torch.nn.Module, block: np.ndarray, device: torch.device, precision: str) -> np.ndarray:
    return _run_batch(model, block[None], device, precision)[0]


def predict_tiled(
    model: torch.nn.Module,
    image: np.ndarray,
    *,
    device: torch.device | str = "cpu",
    precision: str = "fp32",
    step: int = 8,
    tile: int = 1024,
    halo: int = 56,
) -> np.ndarray:
    """Run ``model`` (``(1,1,H,W)`` → ``(1,C,H,W)``) on a normalised 2-D float image.

    Follows the zoo's border and tiling convention (:mod:`nucseg_zoo.tiling`): the image
    is padded by ``halo`` px on every side (symmetric mirror) and up to a valid size, and
    images larger than ``tile`` px are cut into blocks whose halo is predicted but
    discarded — exactly what the model's bioimage.io package gives in bioimageio.core.

    Args:
        model: network in eval mode, already on ``device``.
        image: ``(H, W)`` float32, already normalised; any size of at least
            :data:`nucseg_zoo.tiling.MIN_SIDE` (2) px per side.
        precision: "fp32", "bf16" or "fp16" (autocast).
        step: the network's input size step (2 ** number of poolings).
        tile: images up to ``tile`` px on both sides (plus halos) run as one block.
        halo: context on each side, at least the receptive-field radius, a multiple of ``step``.

    Returns:
        ``(C, H, W)`` float32 network output.

    Raises:
        ValueError: ``halo`` is not a multiple of ``step``, ``tile`` too small for it, or a
            side of the image below :data:`nucseg_zoo.tiling.MIN_SIDE`.
    """
    device = torch.device(device)
    plan = AxisPlan.for_network(step=step, halo=halo)
    image = np.asarray(image, dtype=np.float32)
    return predict_blocks(image, (plan, plan), lambda block: _run(model, block, device, precision), tile=tile)


def predict_batch(
    model: torch.nn.Module,
    images: list[np.ndarray],
    *,
    device: torch.device | str = "cpu",
    precision: str = "fp32",
    step: int = 8,
    tile: int = 1024,
    halo: int = 56,
    batch_size: int = 8,
) -> list[np.ndarray]:
    """:func:`predict_tiled` for several normalised images, in batches on the device.

    Images of one shape that fit in one block (at most ``tile`` px per side) are padded as
    :func:`predict_tiled` pads them and run ``batch_size`` at a time; larger images run
    alone, tiled. In eval mode (batch norm on its stored statistics) each image's output
    is the one :func:`predict_tiled` gives (up to the floating-point effects of batching,
    which are zero on CPU in fp32 and at the level of rounding on a GPU).

    Returns:
        ``(C, H, W)`` float32 outputs in the order of ``images``.
    """
    device = torch.device(device)
    plan = AxisPlan.for_network(step=step, halo=halo)
    outputs: list[np.ndarray | None] = [None] * len(images)
    by_shape: dict[tuple[int, int], list[int]] = {}
    for index, image in enumerate(images):
        by_shape.setdefault(np.shape(image), []).append(index)
    for shape, indices in by_shape.items():
        padding = one_block_padding(shape, (plan, plan), tile)
        if padding is None:
            for index in indices:
                outputs[index] = predict_tiled(model, images[index], device=device, precision=precision, step=step,
                                               tile=tile, halo=halo)
            continue
        for start in range(0, len(indices), batch_size):
            chunk = indices[start:start + batch_size]
            batch = np.stack([np.pad(np.asarray(images[i], np.float32), padding, mode=BORDER_MODE) for i in chunk])
            for i, output in zip(chunk, _run_batch(model, batch, device, precision)):
                outputs[i] = np.ascontiguousarray(output[:, halo:halo + shape[0], halo:halo + shape[1]])
    return outputs
