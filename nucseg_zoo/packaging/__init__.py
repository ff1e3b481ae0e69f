"""bioimage.io model packages of zoo entries (``nucseg-zoo package``).

Start with :func:`build_package`::

    from nucseg_zoo.packaging import build_package
    from nucseg_zoo.zoo.entry import read_entry
    result = build_package(read_entry("unet-bbbc039"), "dist", check=True)
    result.path        # dist/unet-bbbc039.zip

One module per job: ``weights`` (torchscript / ONNX exports), ``receptive_field``
(the halo), ``example_data`` (test tensors), ``cover``, ``rdf`` (rdf.yaml), ``validate`` (bioimageio.spec / bioimageio.core checks), ``build``
(the atomic assembly; the README.md is the entry's card, :mod:`nucseg_zoo.cards`). bioimageio.core, onnx and onnxruntime are imported only when used.
"""

from __future__ import annotations

from nucseg_zoo.packaging.build import PackageResult, build_package
from nucseg_zoo.packaging.validate import (
    PackageValidationError,
    TestReport,
    format_summary,
    test_package,
    validate_package,
)

__all__ = ["PackageResult", "PackageValidationError", "TestReport", "build_package", "format_summary",
           "test_package", "validate_package"]
