"""The fixed layout of a nucseg-zoo bioimage.io package: file names, tensor ids, sizes.

One place for the decisions that the rdf, the model card and the tests must agree on.
"""

from __future__ import annotations

from dataclasses import dataclass

from nucseg_zoo.tiling import AxisPlan

# file names inside the package
STATE_DICT_FILE = "weights.pt"
TORCHSCRIPT_FILE = "weights_torchscript.pt"
ONNX_FILE = "weights.onnx"
TEST_INPUT_FILE = "test_input.npy"
TEST_OUTPUT_FILE = "test_output.npy"
COVER_FILE = "cover.png"
DOCUMENTATION_FILE = "README.md"

INPUT_ID = "raw"
OUTPUT_ID = "probabilities"
INPUT_CHANNEL_NAME = "nuclei"

WEIGHT_FORMATS = ("pytorch_state_dict", "torchscript", "onnx")

# Reproducibility tolerance of the test output, for every weight format. Measured on this
# project's CPU (torch 2.13 / onnxruntime 1.32): torchscript reproduces the state-dict
# output exactly and ONNX within 1e-6 on the probabilities; 1e-4 leaves room for other
# CPUs, thread counts and GPUs without TF32. Recorded in config.bioimageio.
ABSOLUTE_TOLERANCE = 1e-4
RELATIVE_TOLERANCE = 1e-4
MISMATCHED_ELEMENTS_PER_MILLION = 0


@dataclass(frozen=True)
class Layout:
    """Sizes of one package.

    Attributes:
        step: input height/width step (2 ** poolings).
        halo: px cropped from each side of an output tile (≥ receptive-field radius,
            a multiple of ``step``).
        min_size: smallest input height/width: the smallest multiple of ``step`` with
            ``min_size - 2 * halo >= 1`` (bioimage.io's constraint for outputs with a halo).
    """

    step: int
    halo: int

    def __post_init__(self) -> None:
        AxisPlan.for_network(step=self.step, halo=self.halo)  # checks the halo

    @property
    def min_size(self) -> int:
        return AxisPlan.for_network(step=self.step, halo=self.halo).min

    def is_valid_size(self, size: int) -> bool:
        """Whether ``size`` px is a valid input height/width."""
        return size >= self.min_size and (size - self.min_size) % self.step == 0
