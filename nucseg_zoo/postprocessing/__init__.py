"""Network outputs → instance labels, one registered *output kind* per output convention.

Every model, zoo or external, ends here so that they are all scored the same way. Start
with :func:`to_labels` (an output and its kind) and :func:`get_output_kind` (the kind's
record: channels, parameter type, adapter, tuning grid, training targets; see
:mod:`~nucseg_zoo.postprocessing.registry`); :func:`list_output_kinds` names the kinds and
:func:`register` adds one. The built-in kinds, one module each:

* ``three_class`` — background / interior / boundary probabilities ``(3, H, W)``
  (:mod:`~nucseg_zoo.postprocessing.three_class`, the zoo's networks; trained and tuned here);
* ``foreground_boundary`` — foreground and boundary probability ``(2, H, W)``
  (:mod:`~nucseg_zoo.postprocessing.foreground_boundary`);
* ``foreground`` — foreground probability ``(1, H, W)`` (:mod:`~nucseg_zoo.postprocessing.foreground`);
* ``instance_labels`` — ready-made labels, relabelled (:mod:`~nucseg_zoo.postprocessing.instance_labels`);
* ``stardist`` — object probability + ray distances, turned into objects by the stardist
  library's own NMS (:mod:`~nucseg_zoo.postprocessing.star_convex`).
"""

from nucseg_zoo.postprocessing.foreground import FOREGROUND, from_foreground
from nucseg_zoo.postprocessing.foreground_boundary import FOREGROUND_BOUNDARY, from_foreground_boundary
from nucseg_zoo.postprocessing.instance_labels import INSTANCE_LABELS, InstanceLabelParams, from_instance_labels
from nucseg_zoo.postprocessing.registry import (
    Channels,
    KindParams,
    OutputKind,
    RdfDeclaration,
    Training,
    Tuning,
    get_output_kind,
    list_output_kinds,
    override_params,
    register,
    to_labels,
)
from nucseg_zoo.postprocessing.star_convex import STARDIST, StarDistParams, stardist_to_labels
from nucseg_zoo.postprocessing.three_class import (
    THREE_CLASS,
    PostprocessingParams,
    fill_small_holes,
    probabilities_to_labels,
)

for _kind in (THREE_CLASS, FOREGROUND_BOUNDARY, FOREGROUND, INSTANCE_LABELS, STARDIST):
    register(_kind)
del _kind

__all__ = [
    "FOREGROUND", "FOREGROUND_BOUNDARY", "INSTANCE_LABELS", "STARDIST", "THREE_CLASS",
    "Channels", "InstanceLabelParams", "KindParams", "OutputKind", "PostprocessingParams", "RdfDeclaration",
    "StarDistParams", "Training", "Tuning", "fill_small_holes", "from_foreground", "from_foreground_boundary",
    "from_instance_labels", "get_output_kind", "list_output_kinds", "override_params", "probabilities_to_labels",
    "register", "stardist_to_labels", "to_labels",
]
