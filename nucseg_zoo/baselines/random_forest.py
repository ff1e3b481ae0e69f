"""The random-forest baseline: an ilastik-like pixel classifier plus the shared postprocessing.

A scikit-learn :class:`~sklearn.ensemble.RandomForestClassifier` maps the pixel features of
:mod:`nucseg_zoo.baselines.features` to the three classes of
:func:`nucseg_zoo.targets.three_class_targets` (background / interior / boundary). It is
trained on class-balanced pixel samples of the BBBC039 training split; its probability
maps go through :func:`nucseg_zoo.postprocessing.probabilities_to_labels` with
parameters tuned on the validation split. The trained forest ships as
``baselines/data/random_forest.joblib``, described (parameters, sha256, sample counts,
validation score) by ``random_forest.json``; ``python -m nucseg_zoo.training.random_forest``
(:mod:`nucseg_zoo.training.random_forest`, which also holds the pixel sampling and the fit)
regenerates both.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from nucseg_zoo._atomic import atomic_path
from nucseg_zoo._hashing import sha256_of
from nucseg_zoo.baselines.features import FeatureSettings, pixel_features
from nucseg_zoo.baselines.params import Params
from nucseg_zoo.postprocessing import PostprocessingParams, probabilities_to_labels
from nucseg_zoo.targets import CLASS_NAMES

if TYPE_CHECKING:
    from sklearn.ensemble import RandomForestClassifier


@dataclasses.dataclass(frozen=True)
class ForestSettings(Params):
    """How the forest is trained.

    Attributes:
        n_estimators: number of trees.
        max_depth: maximum depth of a tree (bounds the size of the saved forest).
        min_samples_leaf: minimum training samples in a leaf.
        samples_per_class: pixels drawn per class and per training image (all of them
            when a class has fewer), which balances the three classes.
        seed: seed of the pixel sampling and of the forest.
    """

    n_estimators: int = 64
    max_depth: int = 14
    min_samples_leaf: int = 10
    samples_per_class: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("n_estimators", "max_depth", "min_samples_leaf", "samples_per_class"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


@dataclasses.dataclass(frozen=True)
class RandomForestParams(Params):
    """Everything the random-forest baseline needs besides the trained trees."""

    features: FeatureSettings = FeatureSettings()
    forest: ForestSettings = ForestSettings()
    postprocessing: PostprocessingParams = PostprocessingParams()


@dataclasses.dataclass(frozen=True, eq=False)
class RandomForest:
    """Random-forest pixel classifier + shared postprocessing.

    Attributes:
        forest: a fitted 3-class scikit-learn forest over ``params.features``.
        params: feature, training and postprocessing parameters.
    """

    forest: RandomForestClassifier
    params: RandomForestParams
    name: ClassVar[str] = "random-forest"

    def __post_init__(self) -> None:
        n_features = self.params.features.n_features
        if getattr(self.forest, "n_features_in_", None) != n_features:
            raise ValueError(f"the forest expects {getattr(self.forest, 'n_features_in_', None)} features, "
                             f"the feature settings give {n_features}")
        if list(self.forest.classes_) != list(range(len(CLASS_NAMES))):
            raise ValueError(f"the forest's classes are {list(self.forest.classes_)}, expected 0, 1, 2")

    def predict_probabilities(self, image: np.ndarray) -> np.ndarray:
        """Class probabilities of a ``(H, W)`` image (any int/float dtype).

        Returns:
            ``(3, H, W)`` float32: P(background), P(interior), P(boundary).
        """
        features = pixel_features(image, self.params.features)
        height, width, n_features = features.shape
        probabilities = self.forest.predict_proba(features.reshape(-1, n_features))
        return np.ascontiguousarray(probabilities.T.reshape(3, height, width), dtype=np.float32)

    def segment(self, image: np.ndarray) -> np.ndarray:
        """Instance labels of a ``(H, W)`` grey-level image (any int/float dtype), at least 1 × 1 px.

        Returns:
            ``(H, W)`` int32 labels, 0 = background, nuclei numbered 1..N.
        """
        return probabilities_to_labels(self.predict_probabilities(image), self.params.postprocessing)

    def save(self, forest_path: Path) -> dict[str, Any]:
        """Write the forest (joblib, compressed) and return the record fields describing it."""
        import joblib

        forest_path = Path(forest_path)
        with atomic_path(forest_path) as tmp:
            joblib.dump(self.forest, tmp, compress=("xz", 6))
        return {"forest_file": forest_path.name, "forest_sha256": "sha256:" + sha256_of(forest_path)}

    @classmethod
    def load(cls, record: dict[str, Any], folder: Path) -> "RandomForest":
        """Rebuild the baseline from its JSON ``record`` and the forest file beside it.

        The forest file is unpickled only after its sha256 matches the record.
        """
        import joblib

        forest_path = Path(folder) / record["forest_file"]
        digest = "sha256:" + sha256_of(forest_path)
        if digest != record["forest_sha256"]:
            raise ValueError(f"{forest_path} has {digest}, the record expects {record['forest_sha256']}; "
                             "regenerate it with `python -m nucseg_zoo.training.random_forest`")
        return cls(joblib.load(forest_path), RandomForestParams.from_dict(record["params"]))
