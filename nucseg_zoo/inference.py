"""Whole-image and tiled prediction with a torch segmentation network.

Images of any 2-D size are padded (reflect) to a multiple of the network's size step;
large images are cut into overlapping tiles whose halo is discarded, so tiled and
whole-image predictions agree (batch norm runs on its stored statistics).
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import torch


def autocast_context(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """``torch.autocast`` for ``precision`` "bf16"/"fp16", a no-op for "fp32"."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    return torch.autocast(device.type, dtype=dtype)


def default_precision(device: torch.device) -> str:
    """bf16 on CPUs with native bf16 support and on CUDA, fp32 otherwise."""
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if device.type == "cpu" and torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return "bf16"
    return "fp32"


def _pad_to(image: np.ndarray, height: int, width: int) -> np.ndarray:
    pad_y, pad_x = height - image.shape[0], width - image.shape[1]
    mode = "reflect" if pad_y < image.shape[0] and pad_x < image.shape[1] else "symmetric"
    return np.pad(image, ((0, pad_y), (0, pad_x)), mode=mode)


@torch.no_grad()
def _run(model: torch.nn.Module, image: np.ndarray, device: torch.device, precision: str, step: int) -> np.ndarray:
    height, width = image.shape
    padded = _pad_to(image, math.ceil(height / step) * step, math.ceil(width / step) * step)
    tensor = torch.from_numpy(np.ascontiguousarray(padded))[None, None].to(device)
    tensor = tensor.contiguous(memory_format=torch.channels_last)
    with autocast_context(device, precision):
        output = model(tensor)
    return output[0, :, :height, :width].float().cpu().numpy()


def predict_tiled(
    model: torch.nn.Module,
    image: np.ndarray,
    *,
    device: torch.device | str = "cpu",
    precision: str = "fp32",
    step: int = 8,
    tile: int = 1024,
    halo: int = 64,
) -> np.ndarray:
    """Run ``model`` (``(1,1,H,W)`` → ``(1,C,H,W)``) on a normalised 2-D float image.

    Args:
        model: network in eval mode, already on ``device``.
        image: ``(H, W)`` float32, already normalised.
        precision: "fp32", "bf16" or "fp16" (autocast).
        step: the network's input size step (2 ** number of poolings).
        tile: images up to ``tile`` px on both sides run whole; larger ones are tiled
            with tiles of ``tile`` px (a multiple of ``step``) whose ``halo`` px margin
            is predicted but discarded.
        halo: context on each side of a tile, at least the receptive-field radius.

    Returns:
        ``(C, H, W)`` float32 network output.
    """
    device = torch.device(device)
    image = np.asarray(image, dtype=np.float32)
    height, width = image.shape
    if height <= tile and width <= tile:
        return _run(model, image, device, precision, step)
    core = tile - 2 * halo
    if core <= 0 or tile % step:
        raise ValueError(f"tile ({tile}) must be a multiple of {step} and larger than 2 * halo ({2 * halo})")
    output = None
    for y0 in range(0, height, core):
        for x0 in range(0, width, core):
            ys, xs = max(y0 - halo, 0), max(x0 - halo, 0)
            ye, xe = min(y0 + core + halo, height), min(x0 + core + halo, width)
            block = _run(model, image[ys:ye, xs:xe], device, precision, step)
            if output is None:
                output = np.empty((block.shape[0], height, width), np.float32)
            cy, cx = min(y0 + core, height), min(x0 + core, width)
            output[:, y0:cy, x0:cx] = block[:, y0 - ys:cy - ys, x0 - xs:cx - xs]
    return output
