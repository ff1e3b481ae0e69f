"""Zoo entries: the files of one ``zoo/<id>/`` folder, read and checked."""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nucseg_zoo.datasets.source import sha256_of
from nucseg_zoo.normalization import PercentileNormalization
from nucseg_zoo.postprocessing import PostprocessingParams
from nucseg_zoo.training.recipe import Recipe
from nucseg_zoo.zoo.registry import zoo_entry_dir


@dataclass(frozen=True)
class ZooEntry:
    """Metadata of a zoo model: architecture, weights, normalisation, postprocessing."""

    id: str
    dir: Path
    name: str
    description: str
    architecture: dict[str, Any]
    weights_path: Path
    weights_sha256: str | None
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
    def architecture_source(self) -> Path:
        """The Python file defining the network (self-contained, pure torch)."""
        module = importlib.import_module(self.architecture["module"])
        return Path(module.__file__)

    def build_network(self, *, load_weights: bool = True):
        """The torch network in eval mode, with the shipped weights (checked by sha256)."""
        import torch

        module = importlib.import_module(self.architecture["module"])
        kwargs = dict(self.architecture["kwargs"])
        kwargs["widths"] = tuple(kwargs.get("widths", ()))
        network = getattr(module, self.architecture["callable"])(**kwargs)
        if load_weights:
            network.load_state_dict(torch.load(self.verified_weights(), map_location="cpu", weights_only=True))
        return network.eval()

    def verified_weights(self) -> Path:
        """The weights file, after checking it exists and matches the recorded sha256."""
        if not self.weights_path.is_file():
            raise FileNotFoundError(f"zoo model {self.id!r}: weights file {self.weights_path} is missing")
        if self.weights_sha256 is None:
            raise RuntimeError(f"zoo model {self.id!r} has no trained weights recorded yet")
        actual = sha256_of(self.weights_path)
        if actual != self.weights_sha256:
            raise RuntimeError(f"zoo model {self.id!r}: {self.weights_path} has sha256 {actual}, "
                               f"expected {self.weights_sha256} (corrupt or replaced file)")
        return self.weights_path


def read_entry(model_id: str) -> ZooEntry:
    """Read ``zoo/<model_id>/entry.yaml`` and the files it names."""
    folder = zoo_entry_dir(model_id)
    raw = yaml.safe_load((folder / "entry.yaml").read_text())
    postprocessing = json.loads((folder / raw["postprocessing"]).read_text())["params"]
    return ZooEntry(
        id=raw["id"], dir=folder, name=raw["name"], description=raw["description"].strip(),
        architecture=raw["architecture"], weights_path=folder / raw["weights"]["file"],
        weights_sha256=raw["weights"]["sha256"], size_step=int(raw["size_step"]), halo=int(raw["halo"]),
        output_kind=raw["output_kind"], channel_names=tuple(raw["channel_names"]),
        recipe=Recipe.from_yaml(folder / raw["recipe"]),
        postprocessing=PostprocessingParams.from_dict(postprocessing),
        license=raw["license"], tags=tuple(raw.get("tags", ())), raw=raw,
    )
