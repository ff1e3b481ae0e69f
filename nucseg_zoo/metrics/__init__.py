"""Object-level metrics of the BBBC039 protocol (Caicedo et al. 2019), pure numpy.

Start with :func:`score_image` (one image) and :func:`summarize` (a dataset split)::

    from nucseg_zoo.metrics import score_image, summarize
    scores = summarize(score_image(gt, pred, name=name) for name, gt, pred in pairs)
    scores.average_f1, scores.to_dict(), scores.to_frame()

:func:`match` gives the underlying sparse overlap, :func:`object_errors` the label ids of
the missed, extra, split and merged objects that the scores count; :mod:`nucseg_zoo.metrics.folder` reads
predicted label images from a folder. Definitions and empty-image conventions are in
:mod:`nucseg_zoo.metrics.scores`. A binary mask is not a label image (it is one object):
:func:`looks_like_binary_mask` recognises one, :func:`label_components` labels it. Nor is an
intensity image (e.g. the input image): :func:`looks_like_intensity_image` recognises one;
:func:`label_image_warning` words the warning for either.
"""

from nucseg_zoo.metrics.binary_masks import (BinaryMaskWarning, IntensityImageWarning, label_components,
                                             label_image_warning, looks_like_binary_mask,
                                             looks_like_intensity_image)
from nucseg_zoo.metrics.errors import (
    MISS_THRESHOLD,
    SIZE_BINS,
    SPLIT_MERGE_THRESHOLD,
    ObjectErrors,
    object_errors,
)
from nucseg_zoo.metrics.matching import Matching, match
from nucseg_zoo.metrics.scores import (
    THRESHOLDS,
    DatasetScores,
    ImageScores,
    score_image,
    summarize,
)

__all__ = [
    "MISS_THRESHOLD", "SIZE_BINS", "SPLIT_MERGE_THRESHOLD", "THRESHOLDS",
    "BinaryMaskWarning", "DatasetScores", "ImageScores", "IntensityImageWarning", "Matching", "ObjectErrors",
    "label_components", "label_image_warning", "looks_like_binary_mask",
    "looks_like_intensity_image", "match", "object_errors", "score_image", "summarize",
]
