"""The images inside one input file, and the one 2-D plane of each that is segmented.

A file may hold several images. In a TIFF, each tifffile *series* that is a field is an image
of its own: the positions of a multi-position Micro-Manager or plate export (OME-TIFF series),
or pages of different shapes. A series is not a field, but a preview, when its pages are marked
reduced-resolution (TIFF NewSubfileType bit 0) or when it is at most half the largest series of
the file in both height and width (a thumbnail, a pyramid level stored as a series); pyramid
levels in SubIFDs belong to their series, whose full-resolution level is read.

An image may have more axes than Y and X: channels (tifffile axes ``C`` and ``S``, e.g. RGB),
z-planes (``Z``, and the unlabelled pages ``I`` / ``Q`` of a plain multi-page TIFF) and time
points (``T``). A :class:`Selection` chooses one index (0-based) along each; axes of one entry
are dropped. An axis left unchosen is refused with a message naming the axes found and the
option that chooses along it.
"""

from __future__ import annotations

import io
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from nucseg_zoo._logging import quiet
from nucseg_zoo._text import count

AXIS_ROLES: dict[str, str] = {"C": "channel", "S": "channel", "Z": "plane", "I": "plane", "Q": "plane", "T": "time"}
"""What a :class:`Selection` calls each tifffile axis it can choose along."""

class SelectionError(ValueError):
    """An image's axes do not fit a :class:`Selection`: an axis of several entries left
    unchosen, an index that does not exist, or an axis nothing chooses along (not a file that
    cannot be read)."""


_NOUNS = {"channel": ("channel", "channels"), "plane": ("plane", "planes"), "time": ("time point", "time points")}


@dataclass(frozen=True)
class Selection:
    """Which plane of a multi-dimensional image to segment: 0-based indices, None where the
    image must have no such axis (or one of a single entry).

    Attributes:
        channel: along the channel axis (``C``, or the samples ``S`` of an RGB image).
        plane: along the z axis (``Z``, or the pages ``I`` / ``Q`` of an unlabelled stack).
        time: along the time axis (``T``).
    """

    channel: int | None = None
    plane: int | None = None
    time: int | None = None

    def __post_init__(self) -> None:
        for role, index in self.record().items():
            if index < 0:
                raise ValueError(f"{role} must be a 0-based index (0 or more), got {index}")

    def record(self) -> dict[str, int]:
        """The indices that are set, e.g. ``{"channel": 1}`` (``{}`` for none): what outputs record."""
        return {role: index for role, index in asdict(self).items() if index is not None}


def tiff_fields(path: Path) -> list[int] | None:
    """The indices of the series of TIFF ``path`` that are fields (module docstring), in file
    order; None when the file cannot be opened as a TIFF (its error is reported when read)."""
    import tifffile

    try:
        with quiet("tifffile", logging.ERROR), tifffile.TiffFile(path) as tif:
            return _fields_of(tif)
    except Exception:  # any reader error: not a readable TIFF, reported when the image is read
        return None


def _fields_of(tif) -> list[int] | None:
    """:func:`tiff_fields` of an open ``tifffile.TiffFile`` (None when it holds no image)."""
    series = list(tif.series)
    sizes = [_height_width(s.shape, s.axes) for s in series]
    reduced = [bool(s.keyframe.is_reduced) for s in series]
    if not sizes:  # no image in it: reported when it is read
        return None
    tallest, widest = max(h for h, _ in sizes), max(w for _, w in sizes)
    return [i for i, ((h, w), preview) in enumerate(zip(sizes, reduced))
            if not preview and not (2 * h <= tallest and 2 * w <= widest)]


def _height_width(shape: tuple[int, ...], axes: str) -> tuple[int, int]:
    if "Y" in axes and "X" in axes:
        return shape[axes.index("Y")], shape[axes.index("X")]
    return tuple(shape[-2:]) if len(shape) >= 2 else (1, shape[0] if shape else 1)  # type: ignore[return-value]


def read_array(path: Path, data: bytes | None = None, *, series: int | None = None) -> tuple[np.ndarray, str]:
    """The pixels of series ``series`` (default 0) of a TIFF (full resolution), or of another
    format by ``imageio``, with their axes (tifffile letters; ``YX`` / ``YXS`` for other formats).

    Raises:
        Whatever the reader raises for a file it cannot read.
    """
    import imageio.v3 as iio
    import tifffile

    if path.suffix.lower() in (".tif", ".tiff"):
        with quiet("tifffile", logging.ERROR), tifffile.TiffFile(path if data is None else io.BytesIO(data)) as tif:
            chosen = tif.series[series or 0]
            return np.asarray(chosen.asarray()), chosen.axes
    image = np.asarray(iio.imread(path if data is None else data, extension=path.suffix))
    return image, {2: "YX", 3: "YXS"}.get(image.ndim, "Q" * (image.ndim - 2) + "YX")


def select(image: np.ndarray, axes: str, selection: Selection) -> np.ndarray:
    """The 2-D ``(y, x)`` plane of ``image`` (axes ``axes``) that ``selection`` chooses.

    Raises:
        SelectionError: an axis of several entries is left unchosen, an index is out of range, or
            the image has an axis no selection chooses along; the message names the axes found
            (e.g. ``found axes CYX, shape (2, 512, 512): 2 channels; pass --channel 0 or 1``).
    """
    if len(axes) != image.ndim:
        raise SelectionError(f"expected axes for each of the {image.ndim} dimensions of shape {image.shape}, got {axes!r}")
    found = f"found axes {axes}, shape {image.shape}"
    sizes = {role: [] for role in _NOUNS}
    for axis, n in zip(axes, image.shape):
        if axis in "YX":
            continue
        if axis not in AXIS_ROLES:
            raise SelectionError(f"{found}: axis {axis} ({n} entries) is neither a channel, a z-plane nor a time "
                             "point; save the nuclear-stain plane alone as a 2-D image")
        sizes[AXIS_ROLES[axis]].append((axis, n))
    index: list[int | slice] = []
    unchosen = []
    for axis, n in zip(axes, image.shape):
        if axis in "YX":
            index.append(slice(None))
            continue
        role = AXIS_ROLES[axis]
        wanted = getattr(selection, role)
        several = [a for a, m in sizes[role] if m > 1]
        if wanted is not None and len(several) > 1:
            raise SelectionError(f"{found}: --{role} is ambiguous, axes {' and '.join(several)} both hold "
                             f"{_NOUNS[role][1]}; save the nuclear-stain plane alone as a 2-D image")
        target = several[0] if several else sizes[role][0][0]  # the axis a chosen index applies to
        if wanted is None or axis != target:
            if wanted is None and n > 1:
                unchosen.append((role, n))
            index.append(0)
        elif wanted >= n:
            raise SelectionError(f"{found}: {role} {wanted} does not exist ({_described(role, n)}, 0-based: "
                             f"{_choices(n)}); {_remedy(role, n)}")
        else:
            index.append(wanted)
    for role, wanted in selection.record().items():
        if not sizes[role] and wanted > 0:  # no such axis: only index 0 exists
            raise SelectionError(f"{found}: {role} {wanted} does not exist (no {role} axis: 1 {_NOUNS[role][0]}, "
                             "0-based: 0)")
    if unchosen:
        what = ", ".join(_described(role, n) for role, n in unchosen)
        remedies = "; ".join(_remedy(role, n) for role, n in unchosen)
        raise SelectionError(f"expected a 2-D (y, x) single-channel image, {found}: {what}"
                         f"{_grey_note(image, axes)}; {remedies}")
    plane = image[tuple(index)]
    return plane if axes.index("Y") < axes.index("X") else plane.T


def _described(role: str, n: int) -> str:
    return count(n, *_NOUNS[role])


def _choices(n: int) -> str:
    return "0" if n == 1 else "0 or 1" if n == 2 else f"0 to {n - 1}"


def _remedy(role: str, n: int) -> str:
    """How to choose along ``role`` (command line and Python)."""
    return f"pass --{role} {_choices(n)} ({role}= in Python)"


def _grey_note(image: np.ndarray, axes: str) -> str:
    """For an RGB(A) image whose colour samples are identical: that it is a grey image saved as colour."""
    if "S" not in axes or image.shape[axes.index("S")] not in (3, 4):
        return ""
    colour = np.moveaxis(image, axes.index("S"), 0)[:3]
    if not all(np.array_equal(colour[0], plane) for plane in colour[1:]):
        return ""
    return (", an RGB image whose colour channels are identical, i.e. a grey image saved as colour: save it as a "
            "single-channel (greyscale) image (in Fiji: Image > Type > 8-bit or 16-bit)")


def read_plane(path: Path, data: bytes | None = None, *, series: int | None = None,
               selection: Selection | None = None) -> np.ndarray:
    """The 2-D ``(H, W)`` plane of one image of a file, values and dtype as stored: series
    ``series`` (default the first) of a TIFF, also OME-TIFF and ImageJ hyperstacks, read by
    ``tifffile`` at full resolution, other formats by ``imageio``; decoded from ``data`` (the
    file's bytes, already read) when given; the plane ``selection`` chooses (:func:`select`;
    axes of one entry are dropped).

    Raises:
        ValueError: naming the file: it cannot be read as an image, or it has channels, planes
            or time points that ``selection`` does not choose among (the axes found are named,
            with the option to pass).
    """
    try:
        return _selected(path, data, series, selection)
    except SelectionError as err:  # to callers, one kind of bad input file
        raise ValueError(str(err)) from None


def _selected(path: Path, data: bytes | None, series: int | None, selection: Selection | None) -> np.ndarray:
    """:func:`read_plane`, raising :class:`SelectionError` (naming the file) when the
    selection does not fit and ``ValueError`` when the file cannot be read."""
    try:
        image, axes = read_array(path, data, series=series)
    except Exception as err:  # each reader has its own errors; all mean "not a readable image"
        raise ValueError(f"{path}: cannot read it as an image ({type(err).__name__}: {err})") from err
    if image.size == 0:
        raise ValueError(f"{path}: cannot read it as an image: it holds no pixel data (an empty or truncated file?)")
    try:
        return select(image, axes, selection or Selection())
    except SelectionError as err:
        raise SelectionError(f"{_where(path, series)}: {err}") from None


def read_image(path: Path, data: bytes | None = None, *, series: int | None = None,
               selection: Selection | None = None) -> np.ndarray:
    """:func:`read_plane`, checked as every segmenter checks its input
    (:func:`nucseg_zoo.images.as_image`), so that a bad file fails here, before any model runs.

    Raises:
        ValueError: naming the file: as :func:`read_plane`, or its pixels are not integers or
            finite numbers.
    """
    from nucseg_zoo.images import as_image

    plane = read_plane(path, data, series=series, selection=selection)
    try:
        return as_image(plane)
    except ValueError as err:  # dtype or values
        raise ValueError(f"{_where(path, series)}: {err}") from None


def _where(path: Path, series: int | None) -> str:
    """How messages name one image of a file."""
    return f"{path}{f' (series {series})' if series else ''}"


def image_size(path: Path) -> tuple[int, int]:
    """``(H, W)`` of the first field of a TIFF/PNG file (:func:`tiff_fields`: not a thumbnail)
    from its header (no pixels decoded): the sizes of its Y and X axes, whatever other axes
    (channels, planes) it has."""
    shape, axes, _ = _header(path)
    return _height_width(shape, axes)


def check_plane(path: Path, selection: Selection | None = None) -> None:
    """Check that ``selection`` chooses one 2-D plane of the first field of TIFF/PNG ``path``,
    from the file's header (no pixels decoded when it does).

    Raises:
        SelectionError: the selection does not fit (the message of :func:`read_plane`).
        ValueError: the file cannot be read.
    """
    selection = selection or Selection()
    try:
        shape, axes, dtype = _header(path)
        select(np.broadcast_to(np.zeros((), dtype), shape), axes, selection)  # strides 0: nothing allocated
    except Exception:  # the header alone does not settle it: the reader's own message, from the pixels
        _selected(path, None, _first_field(path), selection)


def _header(path: Path) -> tuple[tuple[int, ...], str, np.dtype]:
    """Shape, axes (tifffile letters) and dtype of the first field of a TIFF/PNG file."""
    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        with quiet("tifffile", logging.ERROR), tifffile.TiffFile(path) as tif:
            fields = _fields_of(tif)
            first = tif.series[fields[0] if fields else 0]
            return tuple(first.shape), first.axes, np.dtype(first.dtype)
    from PIL import Image

    with Image.open(path) as handle:
        bands = len(handle.getbands())
        size = (handle.height, handle.width)
        return (size, "YX", np.dtype(np.uint8)) if bands == 1 else ((*size, bands), "YXS", np.dtype(np.uint8))


def _first_field(path: Path) -> int | None:
    """The first series of TIFF ``path`` that is a field (None: not a TIFF, or unreadable)."""
    fields = tiff_fields(path) if path.suffix.lower() in (".tif", ".tiff") else None
    return fields[0] if fields else None
