"""Zoo entries: the files of one ``zoo/<id>/`` folder, read and checked.

``entry.yaml`` states everything a model needs at inference, once (as torchvision keeps the
transforms with the weights and bioimage.io puts preprocessing in the rdf); running a model
never reads its training recipe. Keys:

* ``id``, ``name``, ``description``, ``license``, ``tags``, optional ``authors``;
* ``architecture``: the network as data (:class:`~nucseg_zoo.zoo.architecture.Architecture`):
  ``module``, ``callable``, ``kwargs``, the input ``size_step`` and ``halo`` (px), ``summary``,
  ``probe_kwargs`` and, for an ensemble, ``member`` (``{callable, kwargs}`` of one member network);
* ``preprocessing``: ``{normalization: {min_percentile, max_percentile, eps, clip}}``, the
  per-image percentile normalisation applied before the network
  (:class:`~nucseg_zoo.normalization.PercentileNormalization`; training normalises its crops
  with the same);
* ``weights``: ``{file, sha256}`` of the canonical fp32 state dict, or a list of them, one per
  ensemble member (``sha256`` null until trained); every sha256 is checked before loading;
* ``output_kind``, ``channel_names``: what the network's output means;
* ``postprocessing``, ``training_log``, ``recipe``: file names of the tuned postprocessing
  (``{params, validation_average_f1, chosen_on, ...}``), the training log (JSON lines) and
  the training recipe (read by :mod:`nucseg_zoo.training` only);
* ``nucleus_diameter``: the nucleus sizes the network learned, measured from its training
  labels (:class:`NucleusDiameter`: ``median_px``, ``range_px``, ``measured_on``,
  ``n_nuclei``); ``segment(image, diameter=PX)`` rescales images to ``median_px``
  (:mod:`nucseg_zoo.rescaling`);
* ``num_params`` (checked against the built network by the tests), ``trained_on`` (hardware),
  ``paper`` (the numbers of Caicedo et al. 2019 for the method the entry reproduces:
  ``method``, ``average_f1``, ``error_rate_at_0.7``, ``seconds_per_image``), optional
  ``original_border_px`` (the band without predictions of the method's original code, scored
  in ``validation.json``).

The file is written by :mod:`nucseg_zoo.zoo.install` through :func:`entry_yaml_text` (YAML
in, YAML out), so it keeps no comments beyond the header that function writes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nucseg_zoo._hashing import sha256_of
from nucseg_zoo._io import read_jsonl
from nucseg_zoo.normalization import PercentileNormalization
from nucseg_zoo.postprocessing import KindParams, get_output_kind
from nucseg_zoo.zoo.architecture import Architecture
from nucseg_zoo.zoo.registry import ENTRY_FILE, zoo_entry_dir

METRICS_FILE = "metrics.json"
"""The harness's test-split evaluation (``nucseg-zoo evaluate ... --output``), quoted by the cards."""
VALIDATION_FILE = "validation.json"
"""An ensemble's members alone next to the ensemble on validation (written when it is installed)."""
EXPERIMENTS_DIR = "experiments"
"""``<name>.json`` reports of ``validation/experiments`` scripts, one table each in the card."""


@dataclass(frozen=True)
class WeightsFile:
    """One canonical state dict of an entry (fp32), with the sha256 checked at load time."""

    path: Path
    sha256: str | None


@dataclass(frozen=True)
class NucleusDiameter:
    """The nucleus sizes a model learned: equivalent diameters ``2 * sqrt(area / pi)`` (px) of
    every nucleus of its training labels (:func:`nucseg_zoo.datasets.facts.equivalent_diameters`).

    Attributes:
        median_px: their median.
        range_px: their 5th and 95th percentiles.
        measured_on: ``dataset/split`` (and how many of its images) they were measured on.
        n_nuclei: how many nuclei.
    """

    median_px: float
    range_px: tuple[float, float]
    measured_on: str
    n_nuclei: int

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> NucleusDiameter:
        """From ``entry.yaml``'s ``nucleus_diameter`` mapping."""
        low, high = raw["range_px"]
        return cls(float(raw["median_px"]), (float(low), float(high)), str(raw["measured_on"]), int(raw["n_nuclei"]))


@dataclass(frozen=True)
class ZooEntry:
    """Metadata of a zoo model: architecture, preprocessing, weights, postprocessing.

    ``weights`` holds one state dict for a single network, or one per member of an
    ensemble (``entry.yaml``'s ``weights`` is then a list): member K's state dict is loaded
    into ``network.members[K]`` of the architecture (an ``nn.ModuleList``).
    """

    id: str
    dir: Path
    name: str
    description: str
    architecture: Architecture
    normalization: PercentileNormalization
    weights: tuple[WeightsFile, ...]
    ensemble: bool
    output_kind: str
    channel_names: tuple[str, ...]
    postprocessing: KindParams
    """Parameters of the entry's output kind (``postprocessing.json``; its type is the kind's)."""
    license: str
    tags: tuple[str, ...]
    raw: dict[str, Any]
    nucleus_diameter: NucleusDiameter | None = None
    """The nucleus sizes of its training labels (None: not measured yet)."""

    @property
    def trained(self) -> bool:
        """Whether every weight file has a recorded sha256 (an entry can exist before training)."""
        return all(w.sha256 is not None for w in self.weights)

    @property
    def weights_path(self) -> Path:
        """The state dict of a single-network entry (ensembles: :attr:`weights`)."""
        return self._single().path

    @property
    def weights_sha256(self) -> str | None:
        """The recorded sha256 of a single-network entry's state dict (ensembles: :attr:`weights`)."""
        return self._single().sha256

    def _single(self) -> WeightsFile:
        if self.ensemble:
            raise AttributeError(f"zoo model {self.id!r} is an ensemble of {len(self.weights)} networks: "
                                 "use .weights (one file per member)")
        return self.weights[0]

    @property
    def member_architecture(self) -> Architecture:
        """The network one weights file holds: an ensemble's member, else :attr:`architecture`."""
        return self.architecture.member or self.architecture

    @property
    def recipe_path(self) -> Path:
        """The entry's training recipe (``recipe.yaml``; read by :mod:`nucseg_zoo.training` only)."""
        return self.dir / self.raw["recipe"]

    def build_network(self, *, load_weights: bool = True, **overrides: Any):
        """The torch network in eval mode, with the shipped weights (checked by sha256).

        ``overrides`` replace architecture kwargs (e.g. ``softmax=False``); the parameters
        must stay those of the shipped state dicts.
        """
        import torch

        network = self.architecture.build(**overrides)
        if load_weights:
            paths = self.verified_weights()
            if self.ensemble:
                if len(network.members) != len(paths):
                    raise RuntimeError(f"zoo model {self.id!r}: the network has {len(network.members)} members, "
                                       f"entry.yaml lists {len(paths)} weight files")
                for member, path in zip(network.members, paths):
                    member.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            else:
                network.load_state_dict(torch.load(paths[0], map_location="cpu", weights_only=True))
        return network.eval()

    def verified_weights(self) -> list[Path]:
        """The weight files (one per member), after checking each exists and matches its sha256.

        Raises:
            FileNotFoundError: a file is missing.
            RuntimeError: no sha256 is recorded (not trained yet), or a file's differs.
        """
        paths = []
        for weights in self.weights:
            if not weights.path.is_file():
                raise FileNotFoundError(f"zoo model {self.id!r}: weights file {weights.path} is missing")
            if weights.sha256 is None:
                raise RuntimeError(f"zoo model {self.id!r} has no trained weights recorded yet ({weights.path.name})")
            actual = sha256_of(weights.path)
            if actual != weights.sha256:
                raise RuntimeError(f"zoo model {self.id!r}: {weights.path} has sha256 {actual}, "
                                   f"expected {weights.sha256} (corrupt or replaced file)")
            paths.append(weights.path)
        return paths

    def record(self, name: str) -> dict[str, Any] | None:
        """The JSON object in the entry's file ``name`` (e.g. :data:`METRICS_FILE`), or None when absent.

        Raises:
            ValueError: the file holds something other than a JSON object.
        """
        path = self.dir / name
        if not path.is_file():
            return None
        value = json.loads(path.read_text())
        if not isinstance(value, dict):
            raise ValueError(f"{path}: expected a JSON object, got {type(value).__name__}")
        return value

    def training_log(self) -> list[dict[str, Any]]:
        """The records of ``training_log.jsonl``: one per epoch (and member), in training order."""
        return read_jsonl(self.dir / self.raw["training_log"])


def read_entry(model_id: str | os.PathLike) -> ZooEntry:
    """Read ``zoo/<model_id>/entry.yaml`` and the files it names; ``model_id`` may also be a
    local entry folder (:func:`~nucseg_zoo.zoo.registry.zoo_entry_dir`; ``ValueError`` lists
    the shipped ids)."""
    return load_entry(zoo_entry_dir(model_id))


def load_entry(folder: str | Path) -> ZooEntry:
    """Read the entry in ``folder`` (its ``entry.yaml`` and the tuned postprocessing it names).

    Raises:
        ValueError: ``preprocessing`` is not ``{normalization: ...}``, or ``weights`` is a
            list for a single network (or a mapping for an ensemble, whose architecture has a
            ``member``).
    """
    folder = Path(folder)
    raw = yaml.safe_load((folder / ENTRY_FILE).read_text())
    architecture = Architecture.from_dict(raw["architecture"])
    if set(raw["preprocessing"]) != {"normalization"}:
        raise ValueError(f"{folder / ENTRY_FILE}: preprocessing must be {{normalization: ...}}, "
                         f"got {sorted(raw['preprocessing'])}")
    ensemble = isinstance(raw["weights"], list)
    if ensemble != (architecture.member is not None):
        raise ValueError(f"{folder / ENTRY_FILE}: an ensemble lists one weights file per member and names its "
                         "member network (architecture.member); a single network has one weights mapping")
    weights = tuple(WeightsFile(folder / w["file"], w["sha256"])
                    for w in (raw["weights"] if ensemble else [raw["weights"]]))
    pp_path = folder / raw["postprocessing"]
    postprocessing = json.loads(pp_path.read_text())["params"] if pp_path.is_file() else {}
    return ZooEntry(
        id=raw["id"], dir=folder, name=raw["name"], description=raw["description"].strip(),
        architecture=architecture, normalization=PercentileNormalization(**raw["preprocessing"]["normalization"]),
        weights=weights, ensemble=ensemble,
        output_kind=raw["output_kind"], channel_names=tuple(raw["channel_names"]),
        postprocessing=get_output_kind(raw["output_kind"]).parse_params(postprocessing),
        license=raw["license"], tags=tuple(raw.get("tags", ())), raw=raw,
        nucleus_diameter=NucleusDiameter.from_dict(raw["nucleus_diameter"]) if raw.get("nucleus_diameter") else None,
    )


class _EntryDumper(yaml.SafeDumper):
    """Block YAML without aliases; long strings folded (``>-``) so descriptions stay readable."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=">" if len(text) > 80 else None)


_EntryDumper.add_representer(str, _represent_str)


def entry_yaml_text(raw: dict[str, Any]) -> str:
    """``entry.yaml`` for the mapping ``raw`` (keys in its order): a header naming the entry,
    then the YAML. ``yaml.safe_load`` of the text gives ``raw`` back."""
    header = (f"# Zoo entry {raw['id']}, read by nucseg_zoo.load_model(\"{raw['id']}\"); "
              "keys: nucseg_zoo/zoo/entry.py.\n# nucseg_zoo.zoo.install rewrites this file (YAML in, YAML out): "
              "comments other than these are not kept.\n")
    return header + yaml.dump(raw, Dumper=_EntryDumper, sort_keys=False, allow_unicode=True, width=100,
                              default_flow_style=None)
