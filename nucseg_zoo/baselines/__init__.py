"""Classical baselines of Caicedo et al. 2019 on BBBC039, rebuilt with scikit-image / scikit-learn.

Start with :func:`get_baseline`::

    from nucseg_zoo.baselines import get_baseline, list_baselines
    baseline = get_baseline("cp-basic")      # "cp-basic", "cp-advanced", "random-forest"
    labels = baseline.segment(image)         # (H, W) image -> (H, W) int32 labels

The parameters (and the trained forest) ship in ``nucseg_zoo/baselines/data/``, each with
the validation score it reached; this package holds only what runs at inference. The
training layer regenerates them from BBBC039's training and validation splits:
``python -m nucseg_zoo.training.cellprofiler_tuning`` (:mod:`nucseg_zoo.training.cellprofiler_tuning`)
and ``python -m nucseg_zoo.training.random_forest`` (:mod:`nucseg_zoo.training.random_forest`). A baseline tuned on another dataset is named
``<name>@<dataset>`` (``get_baseline("cp-basic@dsb2018-fluo")``), its record
``data/<file>@<dataset>.json``.
"""

from nucseg_zoo.baselines.registry import (
    Baseline,
    baseline_record,
    baseline_source,
    baseline_training_data,
    get_baseline,
    is_baseline,
    list_baselines,
    list_parameter_sets,
)

__all__ = ["Baseline", "baseline_record", "baseline_source", "baseline_training_data", "get_baseline",
           "is_baseline", "list_baselines", "list_parameter_sets"]
