"""Zoo entries: the files of one ``zoo/<id>/`` folder, read and checked."""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nucseg_zoo._hashing import sha256_of
from nucseg_zoo.normalization import PercentileNormalization
from nucseg_zoo.postprocessing import PostprocessingParams
from nucseg_zoo.training.recipe import Recipe
from nucseg_zoo.zoo.registry import zoo_entry_dir


@dataclass(frozen=True)
class WeightsFile:
    """One canonical state dict of an entry (fp32), with the sha256 checked at load time."""

    path: Path
    sha256: str | None


@dataclass(frozen=True)
class ZooEntry:
    """Metadata of a zoo model: architecture, weights, normalisation, postprocessing.

    ``weights`` holds one state dict for a single network, or one per member of an
    ensemble (``entry.yaml``'s ``weights`` is then a list): member K's state dict is loaded
    into ``network.members[K]`` of the architecture (an ``nn.ModuleList``).
    """

    id: str
    dir: Path
    name: str
    description: str
    architecture: dict[str, Any]
    weights: tuple[WeightsFile, ...]
    ensemble: bool
    size_step: int
    halo: int
    output_kind: str
    channel_names: tuple[str, ...]
    recipe: Recipe
    postprocessing: PostprocessingParams
    license: str
    tags: tuple[str, ...]
    raw: dict[str, Any]

    @property
    def normalization(self) -> PercentileNormalization:
        """The input normalisation the model was trained with."""
        return self.recipe.normalization

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
    def architecture_source(self) -> Path:
        """The Python file defining the network (self-contained, pure torch)."""
        module = importlib.import_module(self.architecture["module"])
        return Path(module.__file__)

    def build_network(self, *, load_weights: bool = True, **overrides: Any):
        """The torch network in eval mode, with the shipped weights (checked by sha256).

        ``overrides`` replace architecture kwargs (e.g. ``softmax=False``); the parameters
        must stay those of the shipped state dicts.
        """
        import torch

        module = importlib.import_module(self.architecture["module"])
        kwargs = {**self.architecture["kwargs"], **overrides}
        network = getattr(module, self.architecture["callable"])(**kwargs)
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


def read_entry(model_id: str) -> ZooEntry:
    """Read ``zoo/<model_id>/entry.yaml`` and the files it names."""
    folder = zoo_entry_dir(model_id)
    raw = yaml.safe_load((folder / "entry.yaml").read_text())
    pp_path = folder / raw["postprocessing"]
    postprocessing = json.loads(pp_path.read_text())["params"] if pp_path.is_file() else {}
    ensemble = isinstance(raw["weights"], list)
    weights = tuple(WeightsFile(folder / w["file"], w["sha256"])
                    for w in (raw["weights"] if ensemble else [raw["weights"]]))
    return ZooEntry(
        id=raw["id"], dir=folder, name=raw["name"], description=raw["description"].strip(),
        architecture=raw["architecture"], weights=weights, ensemble=ensemble,
        size_step=int(raw["size_step"]), halo=int(raw["halo"]),
        output_kind=raw["output_kind"], channel_names=tuple(raw["channel_names"]),
        recipe=Recipe.from_yaml(folder / raw["recipe"]),
        postprocessing=PostprocessingParams.from_dict(postprocessing),
        license=raw["license"], tags=tuple(raw.get("tags", ())), raw=raw,
    )
