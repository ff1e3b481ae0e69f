"""Weight files of a bioimage.io package, all derived from the canonical state dict.

* ``pytorch_state_dict``: the zoo's ``weights.pt`` as is, plus the architecture file;
* ``torchscript``: a *traced* module (the U-Net has no data-dependent control flow, and
  a traced graph stays loadable by the old libtorch inside deepImageJ);
* ``onnx``: torch's legacy (TorchScript-based) exporter, opset 17, one self-contained file
  with IR version ≤ 8 (the dynamo exporter writes IR 10 plus an external ``.data`` file,
  which deepImageJ and older onnxruntime builds reject).

Spatial axes (and batch) are dynamic in both exports; ``check_onnx`` verifies the file.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

ONNX_OPSET = 17
MAX_ONNX_IR_VERSION = 8  # deepImageJ (JDLL) and onnxruntime < 1.15 read IR <= 8


@dataclass(frozen=True)
class OnnxInfo:
    """What :func:`check_onnx` found in an ONNX file."""

    ir_version: int
    opset_version: int


def export_torchscript(network, example, path: Path) -> Path:
    """Trace ``network`` (eval mode) on ``example`` ``(B, C, H, W)`` and save it to ``path``."""
    import torch

    with warnings.catch_warnings(), torch.no_grad():
        # torch.jit.trace is deprecated in favour of torch.export, which deepImageJ cannot read
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*torch.jit.*deprecated.*")
        traced = torch.jit.trace(network, example, check_trace=False)
    traced.save(str(path))
    return path


def export_onnx(network, example, path: Path, *, input_name: str, output_name: str,
                opset_version: int = ONNX_OPSET) -> OnnxInfo:
    """Export ``network`` with the legacy exporter (dynamic batch/y/x) and check the file
    with :func:`check_onnx`.

    Raises:
        RuntimeError: the file has external data, an IR version above 8 that cannot be
            lowered, or fails ``onnx.checker``.
    """
    import torch

    dynamic = {0: "batch", 2: "y", 3: "x"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        warnings.filterwarnings("ignore", message=".*will be removed.*")
        warnings.simplefilter("ignore", category=DeprecationWarning)
        torch.onnx.export(network, (example,), str(path), dynamo=False, opset_version=opset_version,
                          input_names=[input_name], output_names=[output_name],
                          dynamic_axes={input_name: dynamic, output_name: dynamic})
    return check_onnx(path)  # build._check_formats then compares its output with the network's


def check_onnx(path: Path, *, example: np.ndarray | None = None) -> OnnxInfo:
    """Check an ONNX file: self-contained, IR ≤ 8 (lowered when torch wrote more and the
    model still checks), valid for ``onnx.checker`` and runnable by onnxruntime."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    external = any(init.data_location == onnx.TensorProto.EXTERNAL for init in model.graph.initializer)
    if external or any(Path(path).parent.glob(Path(path).name + "*.data")):
        raise RuntimeError(f"{path}: ONNX export wrote external data; the package needs one self-contained file")
    if model.ir_version > MAX_ONNX_IR_VERSION:
        logger.info("lowering ONNX IR version %d to %d", model.ir_version, MAX_ONNX_IR_VERSION)
        model.ir_version = MAX_ONNX_IR_VERSION
        try:
            onnx.checker.check_model(model, full_check=True)
        except onnx.checker.ValidationError as err:
            raise RuntimeError(f"{path}: IR version {MAX_ONNX_IR_VERSION} is not valid for this model "
                               f"(it uses newer features): {err}") from err
        onnx.save(model, str(path))
    onnx.checker.check_model(str(path), full_check=True)
    opset = max(op.version for op in model.opset_import if op.domain in ("", "ai.onnx"))
    if example is not None:
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        session.run(None, {session.get_inputs()[0].name: example.astype(np.float32)})
    return OnnxInfo(ir_version=int(model.ir_version), opset_version=int(opset))
