"""The documentation (``README.md``) of a package: a model card with a Validation section.

The Validation section quotes the harness's test-split metrics from ``zoo/<id>/metrics.json``
when that file exists, and says "not yet evaluated" otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from nucseg_zoo.packaging import layout as L

METRICS_FILE = "metrics.json"


def read_json_if_present(path: Path) -> dict[str, Any] | None:
    """A JSON object from ``path``, or None when the file does not exist."""
    if not path.is_file():
        return None
    value = json.loads(path.read_text())
    if not isinstance(value, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(value).__name__}")
    return value


def _flatten(values: Mapping[str, Any], prefix: str = "", depth: int = 2) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and depth > 1:
            rows += _flatten(value, name + ".", depth - 1)
        elif isinstance(value, (int, float, str, bool)) or value is None:
            rows.append((name, value))
    return rows


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def validation_section(metrics: Mapping[str, Any] | None, *, model_id: str = "<id>",
                       paper: Mapping[str, Any] | None = None) -> str:
    """Markdown ``# Validation`` section for the harness's ``metrics.json`` (or its absence)."""
    lines = ["# Validation", ""]
    if metrics is None:
        lines += ["Not yet evaluated: the nucseg-zoo harness has not scored this model on the BBBC039",
                  f"test split yet (`zoo/{model_id}/{METRICS_FILE}` is missing)."]
    else:
        lines += ["Scored by the nucseg-zoo harness on the BBBC039 **test** split (50 images, 5,720 nuclei),",
                  "following the protocol of Caicedo et al. 2019: objects match when IoU > t; the average F1",
                  "is the mean F1 over t = 0.50, 0.55, …, 0.90. Instances come from the postprocessing below.",
                  "", "| metric | value |", "| --- | --- |"]
        lines += [f"| {name} | {_fmt(value)} |" for name, value in _flatten(metrics)]
        if paper:
            lines += ["", f"For reference, the paper reports an average F1 of {paper['average_f1']:.3f} for its "
                          f"{paper['method']} on this split."]
    lines += ["", "To validate on your own data, run the package on images with known instance masks,",
              "apply the postprocessing from `config.nucseg_zoo.postprocessing` and compute the",
              "average F1 above (`nucseg-zoo score`)."]
    return "\n".join(lines)


def _trained_from(recipe) -> str:
    start = "warm-started from earlier weights" if recipe.init_from else "trained from scratch"
    if recipe.members > 1:
        return f"{recipe.members} networks {start}, seeds {recipe.seed}–{recipe.seed + recipe.members - 1}."
    return f"{start.capitalize()} (seed {recipe.seed})."


def model_card(entry, lay: L.Layout, *, metrics: Mapping[str, Any] | None,
               postprocessing_info: Mapping[str, Any] | None, example_source: str, onnx_opset: int,
               receptive_field: int, citations: list[dict[str, str]]) -> str:
    """Markdown model card of ``entry`` (a ``ZooEntry``) for its bioimage.io package."""
    from nucseg_zoo import datasets

    norm = entry.normalization
    recipe = entry.recipe
    card = datasets.card(recipe.dataset)
    params = entry.postprocessing.to_dict()
    chosen = ""
    if postprocessing_info:
        chosen = (f" They were chosen on `{postprocessing_info.get('chosen_on', 'the validation split')}`"
                  + (f" (average F1 {postprocessing_info['validation_average_f1']:.4f})"
                     if isinstance(postprocessing_info.get("validation_average_f1"), float) else "")
                  + ", never on the test split.")
    parts = [
        f"# {entry.name}",
        "",
        entry.description,
        "",
        "## Model",
        "",
        f"* Architecture: `{entry.architecture['callable']}` from `{entry.architecture['module']}`: "
        f"{entry.architecture['summary'].strip()} {_trained_from(recipe)}",
        f"* Input `{L.INPUT_ID}`: one channel (a nuclear stain such as Hoechst), axes batch, channel, y, x; "
        f"height and width at least {lay.min_size} px"
        + (f" and a multiple of {lay.step} px above that." if lay.step > 1 else " (any size above that)."),
        f"* Output `{L.OUTPUT_ID}`: {len(entry.channel_names)} channels "
        f"({', '.join(entry.channel_names)}) of softmax probabilities, same size as the input. "
        f"Tiles need a halo of {lay.halo} px (receptive-field radius {receptive_field} px"
        + (f", rounded up to a multiple of {lay.step}" if lay.step > 1 else "")
        + "); with it, tiled and whole-image predictions agree.",
        f"* Weights: `pytorch_state_dict` (canonical), `torchscript` (traced) and `onnx` "
        f"(opset {onnx_opset}, IR 8, single file), all from the same state dict.",
        "",
        "## Preprocessing",
        "",
        f"`scale_range` per image over y and x: `(x - p{norm.min_percentile:g}) / (p{norm.max_percentile:g} - "
        f"p{norm.min_percentile:g} + {norm.eps:g})` with the image's own percentiles, exactly as in training"
        + (f", then `clip` to [{norm.clip[0]:g}, {norm.clip[1]:g}] (the range of every normalised training image;"
           " it keeps blank fields, hot pixels and sparse fields from sending huge values into the network)."
           if norm.clip else "."),
        "",
        "**Borders and tiles**: the input is padded by the halo on every side with a symmetric mirror"
        " (bioimageio.core's default, which ilastik applies too); nucseg-zoo's own `load_model` path"
        " does the same, so both give the same probabilities.",
        "",
        "**ilastik and other tools that normalise per tile** compute the percentiles on each tile, so",
        "results depend on the tile size and tiles with few nuclei are over-stretched. Use tiles as large",
        "as the image where possible. bioimageio.core and nucseg-zoo compute the percentiles on the whole",
        "image before tiling.",
        "",
        "## Postprocessing (instances)",
        "",
        "The network gives probabilities; instance labels come from the nucseg-zoo postprocessing",
        "(`nucseg_zoo.postprocessing.to_labels(output, \"three_class\", params)`): threshold P(interior),",
        "fill small holes, connected components as seeds, grow seeds over the boundary band, turn",
        "compact foreground blobs that no seed reached into objects (when `rescue_background_threshold`",
        "> 0), drop small objects. The tuned parameters travel in `config.nucseg_zoo.postprocessing`:" + chosen,
        "",
        "```json",
        json.dumps(params, indent=2),
        "```",
        "",
        "## Training",
        "",
        f"* Data: {card.title} ({card.homepage}, license {card.license}): the `{recipe.train_split}` split "
        f"(Caicedo et al. 2019 splits; postprocessing tuned on `{recipe.validation_split}`).",
        f"* {recipe.epochs} epochs x {recipe.steps_per_epoch} steps, batch {recipe.batch_size}, random "
        f"{recipe.crop_size} x {recipe.crop_size} crops, optimizer {recipe.optimizer.get('name')} "
        f"(lr {recipe.optimizer.get('lr')}), class weights {list(recipe.class_weights)} "
        f"(background, interior, boundary); flips, 90° rotations, illumination changes.",
        "",
        "## Test data in this package",
        "",
        f"{example_source}.",
        "",
        validation_section(metrics, model_id=entry.id, paper=entry.raw.get("paper")),
        "",
        "## Limitations",
        "",
        "Trained on one cell line (U2OS) imaged at one magnification with one stain; expect lower",
        "accuracy on other nuclear morphologies, resolutions or modalities. Outputs are probabilities,",
        "not calibrated confidences.",
        "",
        "## Citations",
        "",
        *[f"* {c['text']} doi:{c['doi']}" for c in citations],
        "",
        "## License",
        "",
        f"Weights and documentation: {entry.license}. Training data ({card.id.upper()}): {card.license}.",
        "",
    ]
    return "\n".join(parts)
