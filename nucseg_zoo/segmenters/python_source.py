"""Python segmenters: any importable ``module:callable`` that maps a 2-D image to instance labels.

This is how a lab scores a tool that is not a bioimage.io package (Cellpose, InstanSeg,
its own code) through the same harness, metrics and screens::

    # mylab_cellpose.py (in the current folder, or installed)
    from cellpose import models
    _model = models.CellposeModel(gpu=False)
    def segment(image):
        masks, flows, styles = _model.eval(image, diameter=None)
        return masks

    nucseg-zoo evaluate mylab_cellpose:segment --dataset bbbc039 --split test

The spec is resolved as setuptools entry points and ``uvicorn module:app`` are: the
module is imported (the current folder is searched first, then ``sys.path``), then the
dotted attribute path after the colon is looked up in it. The callable receives each
image as the 2-D numpy array read from disk (its own dtype and values, e.g. uint16) and
must return a 2-D integer label image of the same shape (0 = background, 1..N = nuclei;
any non-negative ids). Anything else is an error that names what came back.

Provenance: the result is cached and identified by the sha256 of the module's file and
the callable's name (so any edit of the module recomputes); the record also holds the
module's distribution version (or ``__version__``) and the sha256 of the callable's own
source text. What the code reads besides itself — weights chosen by an environment variable,
a settings file — the module declares with a function :data:`PROVENANCE_HOOK`
(``nucseg_zoo_provenance()``, no arguments, returning a JSON-serialisable dict such as
``{"weights_sha256": ..., "diameter": ...}``): its result is recorded and is part of the
identity, so the evaluation cache and ``segment``'s resume tell other weights apart.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import os
import re
import sys
import warnings
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import numpy as np

from nucseg_zoo._hashing import sha256_of
from nucseg_zoo._text import a
from nucseg_zoo.images import as_image
from nucseg_zoo.metrics.binary_masks import label_image_warning

PROVENANCE_HOOK = "nucseg_zoo_provenance"
"""Optional module-level function of a Python segmenter: what determines its output besides its
source (see the module docstring)."""

SPEC = re.compile(r"^(?P<module>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*):(?P<attribute>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)$")
"""``package.module:object.attribute`` (Python identifiers on both sides of one colon)."""


def file_path_hint(spec: str) -> str | None:
    """A hint when ``spec`` names a Python *file* (``good.py:segment``, ``pkg/flat.py:segment``)
    instead of a module, else None: modules are named with dots, without ``.py``."""
    path, colon, attribute = spec.rpartition(":")
    if not colon or not (path.endswith(".py") or "/" in path or "\\" in path):
        return None
    parts = [part for part in re.split(r"[\\/]", path.removesuffix(".py")) if part not in ("", ".")]
    relative = not re.match(r"^([\\/]|[A-Za-z]:)", path) and ".." not in parts
    module = ".".join(parts) if relative else parts[-1]
    where = "the current folder" if relative else f"the folder that holds {parts[-1]}.py"
    return (f"{spec!r} names a file, but a Python segmenter is given by its module name: from {where} use "
            f"{module}:{attribute} (a subfolder becomes a dotted package name), or install the module")


def is_python_spec(spec: str) -> bool:
    """Whether ``spec`` has the form ``module:callable`` (see :data:`SPEC`)."""
    return SPEC.match(spec) is not None


def _import(module_name: str, spec: str) -> ModuleType:
    if os.getcwd() not in sys.path:  # as `python -m` and uvicorn do: modules in the current folder are found
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name is not None and module_name.startswith(err.name) \
                and module_name[len(err.name):len(err.name) + 1] in ("", "."):
            raise ValueError(f"{spec}: no module named {err.name!r} in the current folder or on the Python path; "
                             "expected module:callable, e.g. mylab_segmenter:segment for mylab_segmenter.py "
                             "in the current folder") from None
        raise ValueError(f"{spec}: importing {module_name!r} failed: {err} (a package it needs is not "
                         "installed)") from err
    _refuse_shadowed(module_name, module, spec)
    return module


def _refuse_shadowed(module_name: str, module: ModuleType, spec: str) -> None:
    """A file or package in the current folder named like an already imported module is not
    what Python imports: refuse instead of running the other code."""
    top = module_name.split(".")[0]
    local = [path for path in (os.path.join(os.getcwd(), f"{top}.py"), os.path.join(os.getcwd(), top, "__init__.py"))
             if os.path.isfile(path)]
    loaded = getattr(sys.modules.get(top), "__file__", None)
    if local and (loaded is None or os.path.realpath(loaded) != os.path.realpath(local[0])):
        raise ValueError(f"{spec}: {local[0]} has the name of the module {top!r} that is already imported from "
                         f"{loaded or 'elsewhere'}; Python would run that one, not your file. Rename your file "
                         f"(e.g. mylab_{top}.py) and use mylab_{top}:{spec.split(':', 1)[1]}")


def load_callable(spec: str) -> tuple[Callable[[np.ndarray], Any], ModuleType]:
    """Import ``spec`` (``module:callable``) and return the callable and its module.

    Raises:
        ValueError: ``spec`` is not ``module:callable``, the module cannot be imported
            (missing, or one of its imports fails), the attribute does not exist, or it is
            not callable.
    """
    hint = file_path_hint(spec)
    if hint:
        raise ValueError(hint)
    match = SPEC.match(spec)
    if match is None:
        raise ValueError(f"{spec!r} is not a Python segmenter spec; expected module:callable, e.g. mymodule:segment")
    module = _import(match["module"], spec)
    target: Any = module
    for part in match["attribute"].split("."):
        if not hasattr(target, part):
            raise ValueError(f"{spec}: module {match['module']!r} ({getattr(module, '__file__', '?')}) has no "
                             f"attribute {match['attribute']!r}")
        target = getattr(target, part)
    if inspect.isclass(target):
        raise ValueError(f"{spec}: {match['attribute']!r} is a class, and calling it with an image would construct "
                         f"an object; pass a function, or a module-level instance (e.g. segmenter = "
                         f"{match['attribute'].split('.')[-1]}() in the module, then {match['module']}:segmenter)")
    if not callable(target):
        raise ValueError(f"{spec}: {match['attribute']!r} is {a(type(target).__name__)}, not a callable; expected a "
                         "function (or other callable) taking a 2-D image and returning instance labels")
    return target, module


def module_version(module: ModuleType) -> str | None:
    """Version of the distribution that installs ``module`` (else its ``__version__``; else None)."""
    top = module.__name__.split(".")[0]
    for distribution in metadata.packages_distributions().get(top, []):
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    version = getattr(sys.modules.get(top), "__version__", None)
    return str(version) if version is not None else None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def describe(spec: str) -> dict[str, Any]:
    """Import ``spec`` and describe what runs (recorded as provenance).

    Returns:
        ``{"module", "callable", "module_file", "module_version", "module_sha256",
        "callable_source_sha256", "configuration", "sha256"}``; ``sha256`` (the source's
        identity) hashes the module file, the callable's name (the callable's source when the
        module has no file) and ``configuration``, what the module's :data:`PROVENANCE_HOOK`
        returned (None without one). ``callable_source_sha256`` is None when Python cannot
        show the source.

    Raises:
        ValueError: see :func:`load_callable`; the provenance hook fails or returns something
            other than a JSON-serialisable dict.
    """
    function, module = load_callable(spec)
    module_file = getattr(module, "__file__", None)
    module_sha256 = sha256_of(Path(module_file)) if module_file and os.path.isfile(module_file) else None
    try:
        source_sha256 = _sha256(inspect.getsource(function).encode())
    except (OSError, TypeError):  # built-ins, C extensions, objects defined interactively
        source_sha256 = None
    if module_sha256 is None and source_sha256 is None:
        raise ValueError(f"{spec}: neither the module's file nor the callable's source can be read, so a result "
                         "could not be tied to the code that made it; define the callable in a .py file")
    configuration = _configuration(module, spec)
    identity = f"{spec}\0{module_sha256 or ''}\0{source_sha256 or ''}"
    if configuration is not None:  # results of sources without a hook keep their identity
        identity += "\0" + json.dumps(configuration, sort_keys=True)
    return {"module": module.__name__, "callable": SPEC.match(spec)["attribute"], "module_file": module_file,
            "module_version": module_version(module), "module_sha256": module_sha256,
            "callable_source_sha256": source_sha256, "configuration": configuration,
            "sha256": _sha256(identity.encode())}


def _configuration(module: ModuleType, spec: str) -> dict[str, Any] | None:
    """What the module's :data:`PROVENANCE_HOOK` returns (None without one), checked."""
    hook = getattr(module, PROVENANCE_HOOK, None)
    if hook is None:
        return None
    if not callable(hook):
        raise ValueError(f"{spec}: {PROVENANCE_HOOK} of module {module.__name__!r} is "
                         f"{a(type(hook).__name__)}; expected a function returning a dict")
    try:
        configuration = hook()
    except Exception as err:
        raise ValueError(f"{spec}: {module.__name__}.{PROVENANCE_HOOK}() failed: {type(err).__name__}: "
                         f"{str(err).strip()}") from err
    try:
        if not isinstance(configuration, dict):
            raise TypeError(f"it returned {_what(configuration)}")
        return json.loads(json.dumps(configuration, sort_keys=True))
    except (TypeError, ValueError) as err:
        raise ValueError(f"{spec}: {module.__name__}.{PROVENANCE_HOOK}() must return a JSON-serialisable dict "
                         f"(e.g. {{'weights_sha256': ...}}); {err}") from None


def _what(value: Any) -> str:
    if isinstance(value, tuple):
        return (f"a tuple of {len(value)} items (return only the label image, e.g. the masks of "
                "Cellpose's eval)")
    if isinstance(value, np.ndarray) or hasattr(value, "shape"):
        return f"an array of shape {tuple(value.shape)} and dtype {value.dtype}"
    return a(type(value).__name__)


def check_labels(value: Any, shape: tuple[int, ...], spec: str) -> np.ndarray:
    """``value`` as an int32 ``(H, W)`` label image of ``shape``; ValueError naming what is wrong.

    Accepts numpy arrays and array-likes with ``__array__`` (e.g. torch CPU tensors) of any
    integer dtype with non-negative ids below 2**31. Refuses tuples/lists, other shapes,
    booleans (a foreground mask is not instance labels: label its components first) and
    floating-point values. An integer image that looks like a binary mask (one non-zero value
    in several separate regions, :func:`nucseg_zoo.metrics.looks_like_binary_mask`) is
    returned as it is — one object — with a :class:`~nucseg_zoo.metrics.BinaryMaskWarning`,
    as for packages' instance-label outputs and ``score``; one that looks like an intensity
    image (:func:`nucseg_zoo.metrics.looks_like_intensity_image`, e.g. the input image itself)
    with an :class:`~nucseg_zoo.metrics.IntensityImageWarning`, as in ``score``.
    """
    expected = f"expected a 2-D integer label image of the input's shape {shape} (0 = background, 1..N = nuclei)"
    if isinstance(value, (tuple, list)) or not hasattr(value, "__array__"):
        raise ValueError(f"{spec} returned {_what(value)}; {expected}")
    labels = np.asarray(value)
    if labels.shape != shape:
        raise ValueError(f"{spec} returned {_what(labels)}; {expected}")
    if labels.dtype == bool:
        raise ValueError(f"{spec} returned a boolean mask; {expected} — label its connected components first "
                         "(e.g. skimage.measure.label)")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{spec} returned dtype {labels.dtype}; {expected}")
    if labels.size and labels.min() < 0:
        raise ValueError(f"{spec} returned negative label ids (minimum {labels.min()}); {expected}")
    if labels.size and labels.max() > np.iinfo(np.int32).max:
        raise ValueError(f"{spec} returned label id {labels.max()}, beyond int32; renumber the objects "
                         "(e.g. skimage.segmentation.relabel_sequential)")
    warning = label_image_warning(
        labels, f"the labels {spec} returned",
        binary_hint="label its connected components (e.g. skimage.measure.label) if it is a foreground mask",
        intensity_hint="return instance labels (0 = background, 1..N = nuclei), not an image")
    if warning:
        warnings.warn(warning, stacklevel=3)
    return labels.astype(np.int32, copy=False)


class SegmenterError(RuntimeError):
    """A Python segmenter's callable raised; the message names the callable, the error's type
    and its message (``mylab:segment raised ValueError: ...``), the error is the cause."""


class PythonSegmenter:
    """A ``module:callable`` with the segmenter interface: ``segment(image) -> labels``.

    Args:
        spec: ``module:callable``.

    Raises:
        ValueError: see :func:`load_callable`.
    """

    output_kind = "instance_labels"
    output_kind_reason = "Python callable (labels directly)"

    def __init__(self, spec: str):
        self.spec = spec
        self.function, self.module = load_callable(spec)

    def __repr__(self) -> str:
        return f"PythonSegmenter({self.spec!r})"

    def segment(self, image) -> np.ndarray:
        """Instance labels ``(H, W)`` int32 of a 2-D image, checked (see :func:`check_labels`).

        Raises:
            ValueError: the image is not a 2-D numeric image, or the callable returned
                something other than a label image of its shape.
            SegmenterError: the callable raised (its exception is the cause).
        """
        image = as_image(image)
        try:
            result = self.function(image)
        except Exception as err:  # the lab's code failed: name it, keep its traceback as the cause
            raise SegmenterError(f"{self.spec} raised {type(err).__name__}: {err}") from err
        return check_labels(result, image.shape, self.spec)
