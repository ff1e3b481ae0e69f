"""Model cards (``zoo/<id>/README.md``), rendered from the entry's own files.

Every number in a card comes from a file next to it: ``training_log.jsonl`` (training),
``postprocessing.json`` (validation tuning) and ``metrics.json`` (the harness's
test-split evaluation, written by ``nucseg-zoo evaluate ... --output``). Re-render with
``python -m nucseg_zoo.zoo.card MODEL_ID``; never edit the numbers by hand.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from nucseg_zoo._atomic import write_text_atomically
from nucseg_zoo._io import read_jsonl
from nucseg_zoo.zoo.entry import read_entry


def _duration(seconds: float) -> str:
    """Minutes below an hour, else hours."""
    return f"{seconds / 60:.0f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


def _count(n: int, noun: str) -> str:
    """``n`` and the noun, plural unless n is 1."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _stage_lines(records: list[dict], recipe) -> list[str]:
    """One line per recipe version in the log (a warm start continues an earlier version)."""
    versions = list(dict.fromkeys(r.get("recipe_version", recipe.version) for r in records))  # in log order
    if len(versions) < 2:
        return []
    lines = ["* Stages (`training_log.jsonl`):"]
    for version in versions:
        stage = [r for r in records if r.get("recipe_version", recipe.version) == version]
        best = max(stage, key=lambda r: r["validation_average_f1"])
        start = " (warm start from the previous stage's weights)" if version != versions[0] else ""
        networks = len({r["member"] for r in stage if "member" in r})
        epochs = _count(len(stage), "epoch") + (f" over {networks} networks" if networks > 1 else "")
        lines.append(f"  * recipe version {version}{start}: {epochs}, {stage[-1]['step']} steps"
                     f"{' each' if networks > 1 else ''}, "
                     f"{_duration(sum(r['seconds'] for r in stage))} in {stage[-1]['precision']}; "
                     f"best validation average F1 "
                     f"{best['validation_average_f1']:.4f} (epoch {best['epoch']})")
    return lines


def _boundary_description(recipe) -> str:
    paper = "boundary class: the paper's 3-px band around each nucleus's contour"
    if not recipe.thin_boundary_max_area:
        return paper
    text = (f"{paper}, except nuclei of at most {recipe.thin_boundary_max_area} px, whose boundary is their "
            "1-px contour (the band would leave them no interior class)")
    if recipe.small_interior_weight is not None:
        text += f"; the interior pixels of those nuclei weigh {recipe.small_interior_weight:g} in the loss"
    return text


def _training_section(entry) -> list[str]:
    log_path = entry.dir / entry.raw["training_log"]
    records = read_jsonl(log_path)
    recipe = entry.recipe
    trained_by = _shipped_version(records, recipe)
    current = [r for r in records if r.get("recipe_version", recipe.version) == trained_by]
    hardware = entry.raw.get("trained_on", "see training_log.jsonl")
    warm = _warm_start_description(recipe)
    distilled = recipe.distillation
    teacher = (f" Knowledge distillation (Hinton et al. 2015) from `{distilled['teacher']}` (weights sha256 "
               f"`{distilled['sha256'][:12]}…`): the loss is {1 - distilled['weight']:g} × the cross-entropy with "
               f"the labels + {distilled['weight']:g} × the cross-entropy with the teacher's probabilities on the "
               "training images, both with the class weights." if distilled else "")
    lines = [
        "## Training",
        f"* Data: BBBC039 `{recipe.train_split}` split (100 images, 12,001 nuclei); model selection and "
        f"postprocessing tuning on `{recipe.validation_split}` (50 images). The test split was never used "
        "for any choice.",
        f"* Recipe version {recipe.version} (`recipe.yaml`"
        + (f"; it did not train: the weights come from the run of version {trained_by}, which it repeats"
           if trained_by != recipe.version else "")
        + f"): random {recipe.crop_size}² crops, batch "
        f"{recipe.batch_size}, {_count(recipe.epochs, 'epoch')} × {recipe.steps_per_epoch} steps"
        + (f" per network ({recipe.members} networks, seeds {recipe.seed}–{recipe.seed + recipe.members - 1})"
           if recipe.members > 1 else "")
        + f", {_optimizer_name(recipe)} lr "
        f"{recipe.optimizer['lr']:g} (warm-up {recipe.schedule['warmup_steps']} steps, cosine to "
        f"{recipe.schedule['final_lr']:g}), {_loss_pixels(recipe)}, "
        f"flips, 90° rotations, illumination changes{_defect_augmentation(recipe)}; per-image percentile normalisation "
        f"({recipe.normalization.min_percentile:g}–{recipe.normalization.max_percentile:g} %); "
        f"{_boundary_description(recipe)}.{warm}{teacher}",
        f"* Hardware: {hardware}; precision {' / '.join(dict.fromkeys(r['precision'] for r in records))} "
        f"on {' / '.join(dict.fromkeys(r['device'] for r in records))}; "
        f"{_count(len(records), 'epoch')} in {_duration(sum(r['seconds'] for r in records))} of wall time in all "
        "(validation included).",
        *_stage_lines(records, recipe),
        *_shipped_lines(current, recipe, trained_by),
    ]
    return lines


def _shipped_version(records: list[dict], recipe) -> int:
    """The recipe version whose run produced the shipped weights: the current one, or — when the
    log has no epoch of it (a version that changed inference or postprocessing, not the
    weights) — the last version in the log."""
    versions = [r.get("recipe_version", recipe.version) for r in records]
    return recipe.version if recipe.version in versions or not versions else versions[-1]


def _warm_start_description(recipe) -> str:
    init = recipe.init_from
    if not init:
        return ""
    version = init.get("recipe_version", "?")
    if isinstance(init["sha256"], list):
        starts = "; ".join(f"member {k} starts from `{sha[:12]}…`" for k, sha in enumerate(init["sha256"]))
        return f" It continues recipe version {version}: each network starts from that version's ({starts})."
    return (f" It continues recipe version {version}: training starts from that version's weights "
            f"(sha256 `{init['sha256'][:12]}…`).")


def _defect_augmentation(recipe) -> str:
    """The robustness augmentations of :class:`nucseg_zoo.training.recipe.Augmentation`, in words."""
    aug, parts = recipe.augmentation, []
    if aug.hot_pixels:
        low, high = aug.hot_pixels["values"]
        size = aug.hot_pixels.get("max_size", 1)
        spots = f"isolated pixels or spots of up to {size}×{size} px" if size > 1 else "isolated pixels"
        parts.append(f"camera hot pixels (in {aug.hot_pixels['probability']:.0%} of crops up to "
                     f"{aug.hot_pixels['max_count']} {spots} at {low:g}–{high:g} normalised units, "
                     "targets unchanged)")
    if aug.blank_fields:
        parts.append(f"synthetic blank fields ({aug.blank_fields['probability']:.0%} of crops: constant, "
                     "shot-noise or read-noise frames without nuclei, all background)")
    if aug.padded_borders:
        parts.append(f"black frames ({aug.padded_borders['probability']:.0%} of crops from an image with 1–"
                     f"{aug.padded_borders['max_width']} px of zeros along 1–4 sides, normalised with its frame)")
    return "".join(f", {part}" for part in parts)


def _optimizer_name(recipe) -> str:
    opt = recipe.optimizer
    if opt.get("name", "adam") == "sgd":
        return f"SGD (momentum {opt.get('momentum', 0):g}{', Nesterov' if opt.get('nesterov') else ''})"
    return "Adam"


def _loss_pixels(recipe) -> str:
    if recipe.pixel_sampling == "balanced":
        return "loss on a class-balanced pixel mask (per crop, as many pixels of each class as of its rarest)"
    if recipe.pixel_sampling == "balanced_batch":
        return "loss on a class-balanced pixel mask (per batch, as many pixels of each class as of its rarest)"
    return f"class weights {'/'.join(f'{w:g}' for w in recipe.class_weights)}"


def _shipped_lines(current: list[dict], recipe, trained_by: int) -> list[str]:
    """Which epoch each shipped network comes from (the best validation average F1 of its run,
    recipe version ``trained_by``)."""
    tail = "default postprocessing parameters, before tuning"
    if trained_by != recipe.version:
        tail += f"; recipe version {recipe.version} did not retrain them"
    if recipe.members == 1:
        best = max(current, key=lambda r: r["validation_average_f1"])
        return [f"* Shipped weights: epoch {best['epoch']} of recipe version {trained_by}, the best validation "
                f"average F1 ({best['validation_average_f1']:.4f}, {tail})."]
    picks = []
    for member in range(recipe.members):
        runs = [r for r in current if r.get("member") == member]
        best = max(runs, key=lambda r: r["validation_average_f1"])
        picks.append(f"member {member} epoch {best['epoch']} ({best['validation_average_f1']:.4f})")
    return [f"* Shipped weights: per member the epoch with the best validation average F1 ({tail}): "
            + ", ".join(picks) + "."]


def _weights_lines(entry) -> list[str]:
    if not entry.ensemble:
        return [f"* Weights: `{entry.weights[0].path.name}` (fp32 state dict, sha256 `{entry.weights[0].sha256}`)."]
    return [f"* Weights: one fp32 state dict per ensemble member (seed {entry.recipe.seed} + K), loaded into "
            "`members[K]`:",
            *(f"  * `{w.path.name}` sha256 `{w.sha256}`" for w in entry.weights)]


def _ensemble_section(entry) -> list[str]:
    """Each member alone next to the ensemble on validation (``validation.json``)."""
    from nucseg_zoo.training.ensemble import VALIDATION_FILE

    path = entry.dir / VALIDATION_FILE
    if not entry.ensemble or not path.is_file():
        return []
    report = json.loads(path.read_text())
    rows = [(f"member {m['member']} alone", m) for m in report["members"]]
    rows.append((f"ensemble of {len(report['members'])} (shipped)", report["ensemble"]))
    if "ensemble_without_border" in report:
        band = report["ensemble_without_border"]
        rows.append((f"ensemble, no prediction within {band['band_px']} px of the border (the 2016 code)", band))
    return [
        "## Does averaging help? (validation split)",
        "",
        f"Scored on `{report['chosen_on']}` ({report['precision']}) with {report['postprocessing']} "
        "(`validation.json`, written by `nucseg-zoo train " + entry.id + " --export`):",
        "",
        "| network | average F1 | error rate at IoU 0.7 |",
        "| --- | --- | --- |",
        *(f"| {name} | {row['average_f1']:.4f} | {row['error_rate_at_0.7']:.2%} |" for name, row in rows),
        "",
    ]


def write_experiment(entry, name: str, *, title: str, description: str, rows: list[dict]) -> Path:
    """Write ``zoo/<id>/experiments/<name>.json`` atomically — ``rows``: ``[{name, average_f1,
    error_rate_at_0.7}]`` — which the model card renders as a table; returns its path."""
    out = entry.dir / "experiments" / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    write_text_atomically(out, json.dumps({"title": title, "description": description, "rows": rows}, indent=2) + "\n")
    return out


def _experiment_sections(entry) -> list[str]:
    """One table per ``experiments/*.json`` of the entry (``{title, description, rows: [{name,
    average_f1, error_rate_at_0.7}]}``, written by the scripts under ``validation/experiments``)."""
    lines = []
    for path in sorted((entry.dir / "experiments").glob("*.json")):
        report = json.loads(path.read_text())
        lines += [f"## {report['title']}", "", report["description"], "",
                  "| variant | average F1 | error rate at IoU 0.7 |", "| --- | --- | --- |",
                  *(f"| {row['name']} | {row['average_f1']:.4f} | {row['error_rate_at_0.7']:.2%} |"
                    for row in report["rows"]), ""]
    return lines


def _metrics_section(entry) -> list[str]:
    path = entry.dir / "metrics.json"
    if not path.is_file():
        return ["## Test-split metrics", "", "Not yet evaluated."]
    metrics = json.loads(path.read_text())
    f1 = metrics["f1"]
    paper = entry.raw["paper"]  # the paper's numbers for the method this entry reproduces (protocol.md)
    return [
        "## Test-split metrics",
        "",
        f"From `nucseg-zoo evaluate {entry.id} --dataset {metrics['dataset']} --split {metrics['split']} --json` "
        f"({metrics['n_images']} images, {metrics['n_true']} nuclei):",
        "",
        f"| metric | this model | paper's {paper['method']} |",
        "| --- | --- | --- |",
        f"| average F1 (IoU 0.50–0.90) | {metrics['average_f1']:.3f} | {paper['average_f1']:.3f} |",
        f"| error rate (missed) at IoU 0.7 | {metrics['error_rate_at_0.7']:.1%} | "
        f"{paper['error_rate_at_0.7']:.1%} |",
        f"| F1 at IoU 0.5 / 0.7 / 0.9 | {f1['0.50']:.3f} / {f1['0.70']:.3f} / {f1['0.90']:.3f} | |",
        "| missed at 0.7: tiny / small / normal / large | "
        + " / ".join(f"{metrics['missed_by_size'][b]:.1%}" for b in ("tiny", "small", "normal", "large"))
        + " | |",
        f"| splits / merges (IoU 0.1), extra objects (0.7) | {metrics['splits']} / {metrics['merges']}, "
        f"{metrics['extra_objects']} | |",
        f"| seconds per image ({metrics.get('environment', {}).get('device', metrics.get('device', 'cpu'))}, "
        f"{metrics.get('inference_precision', 'fp32')}) | {metrics['seconds_per_image']:.2f} | "
        f"{paper['seconds_per_image']} |",
    ]


def render_model_card(model_id: str) -> str:
    """The markdown model card of ``model_id``."""
    entry = read_entry(model_id)
    tuned = json.loads((entry.dir / entry.raw["postprocessing"]).read_text())
    lines = [
        f"# {entry.name} (`{entry.id}`)",
        "",
        "<!-- Generated by `python -m nucseg_zoo.zoo.card "
        f"{entry.id}` from the files in this folder; do not edit by hand. -->",
        "",
        entry.description,
        "",
        "```python",
        "import nucseg_zoo",
        f'model = nucseg_zoo.load_model("{entry.id}")',
        "probabilities = model.predict(image)   # (3, H, W): background, interior, boundary",
        "labels = model.segment(image)          # (H, W) int32 instance labels",
        "```",
        "",
        f"* Architecture: `{entry.architecture['module']}.{entry.architecture['callable']}` "
        f"({entry.raw['num_params']:,} parameters): {entry.architecture['summary'].strip()} Input 1 channel "
        f"(any 2-D size from 2 × 2 px; padded by the {entry.halo}-px halo, symmetric"
        + (f", and to multiples of {entry.size_step}" if entry.size_step > 1 else "")
        + f" internally), output softmax over {', '.join(entry.channel_names)}.",
        *_weights_lines(entry),
        f"* License: {entry.license}. Training data BBBC039 (CC0).",
        "",
        *_training_section(entry),
        "",
        "## Postprocessing",
        "",
        f"Chosen on `{tuned['chosen_on']}` (validation average F1 {tuned['validation_average_f1']:.4f}"
        + (f", error rate at IoU 0.7 {tuned['validation_error_rate']:.2%}" if "validation_error_rate" in tuned else "")
        + (f", network in {tuned['precision']}" if "precision" in tuned else "")
        + "; `nucseg_zoo.training.tuning`); stored in `postprocessing.json` and applied by `segment`:",
        "",
        "```json",
        json.dumps(tuned["params"], indent=2),
        "```",
        "",
        *_ensemble_section(entry),
        *_experiment_sections(entry),
        *_metrics_section(entry),
        "",
        "## Intended use and known failure modes",
        "",
        "* Intended for 2-D widefield images of DNA-stained (Hoechst/DAPI) nuclei at a magnification "
        "similar to BBBC039 (U2OS, 20×); other cell types, stains or pixel sizes need validation first.",
        "* Tiny nuclei (≤ 250 px, e.g. micronuclei and debris) are missed most often: the paper's 3-px "
        "boundary band leaves them little or no interior class. A recipe's `thin_boundary_max_area` trains "
        "them with a 1-px boundary instead (see the boundary class under Training). The postprocessing's "
        "rescue step (`rescue_background_threshold` > 0) turns compact foreground blobs that no interior "
        "seed reached into objects: it finds more micronuclei but also adds some debris as extra objects; "
        "`model.segment(image, dataclasses.replace(model.postprocessing, rescue_background_threshold=0))` "
        "turns it off. Tiny nuclei touching another nucleus are still merged into it or missed.",
        "* Dense clumps with faint gaps can merge; very bright mitotic or apoptotic nuclei can split.",
        "* Normalisation is per image (1st–99.8th percentile, then clipped to the range of the training "
        "images): blank fields, hot and dead pixels and sparse fields are handled (tests in "
        "`tests/test_zoo.py`), but a field of pure noise is still stretched to the full range; "
        "the noise fields tested gave no objects, which is not a guarantee for every camera.",
        "",
        "## Citations",
        "",
        "* Caicedo JC et al. Evaluation of Deep Learning Strategies for Nucleus Segmentation in "
        "Fluorescence Images. Cytometry A 95(9):952–965 (2019). doi:10.1002/cyto.a.23863",
        "* Ljosa V, Sokolnicki KL, Carpenter AE. Annotated high-throughput microscopy image sets for "
        "validation. Nature Methods 9:637 (2012). doi:10.1038/nmeth.2083",
        "",
    ]
    return "\n".join(lines)


def write_model_card(model_id: str) -> None:
    """Render the card of ``model_id`` into ``zoo/<id>/README.md`` (atomically)."""
    entry = read_entry(model_id)
    write_text_atomically(entry.dir / "README.md", render_model_card(model_id))


if __name__ == "__main__":
    for model_id in sys.argv[1:]:
        write_model_card(model_id)
