"""Build ``DIR/<id>.zip``, a bioimage.io model package (spec 0.5), from a zoo entry.

Atomic: everything is written into a temporary folder inside ``DIR``, the zip is
validated (and optionally tested with ``bioimageio.core.test_model``) there, and only
then moved into place with ``os.replace``; on any failure nothing is left behind.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nucseg_zoo._atomic import refuse_to_overwrite
from nucseg_zoo._hashing import sha256_of
from nucseg_zoo.packaging import layout as L
from nucseg_zoo.packaging.cover import write_cover
from nucseg_zoo.packaging.example_data import CROP_SIZE, make_example_data
from nucseg_zoo.packaging.rdf import build_rdf, dump_rdf
from nucseg_zoo.packaging.receptive_field import package_halo, receptive_field_radius
from nucseg_zoo.packaging.validate import PackageValidationError, TestReport, test_package, validate_package
from nucseg_zoo.packaging.weights import export_onnx, export_torchscript
from nucseg_zoo.training.recipe import read_recipe

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackageResult:
    """What :func:`build_package` produced.

    Attributes:
        path: the package ``DIR/<id>.zip``.
        layout: sizes and halo written into the rdf.
        receptive_field: measured receptive-field radius of the network (px).
        file_sizes: bytes of every file in the package, by name.
        max_abs_diff: largest |output - test output| of the torchscript and onnx weights.
        summary: the validator's ``ValidationSummary``.
        test: ``test_model`` report when built with ``check=True``.
    """

    path: Path
    layout: L.Layout
    receptive_field: int
    file_sizes: dict[str, int]
    max_abs_diff: dict[str, float]
    summary: object
    test: TestReport | None = None


def _citations(dataset_id: str) -> list[dict[str, str]]:
    from nucseg_zoo import datasets

    citations = []
    for citation in datasets.card(dataset_id).citations:
        text, _, doi = citation.rpartition(" doi:")
        citations.append({"text": text, "doi": doi} if text else {"text": citation})
    return citations


def _training_data(dataset_id: str, citations: list[dict[str, str]]) -> dict:
    from nucseg_zoo import datasets

    card = datasets.card(dataset_id)
    return {"type": "dataset", "format_version": "0.3.0", "name": card.id.upper(), "description": card.title,
            "source": card.homepage, "license": card.license, "cite": citations, "tags": ["nuclei", "fluorescence"]}


def _check_formats(network, example, torchscript_path: Path, onnx_path: Path) -> dict[str, float]:
    """Largest |output - test output| of the converted weights; raise when above the tolerance."""
    import onnxruntime
    import torch

    from nucseg_zoo.packaging.example_data import run_network

    normalized = example.normalized
    reference = example.output
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.*deprecated.*")
        traced = torch.jit.load(str(torchscript_path), map_location="cpu")
        outputs = {"pytorch_state_dict": run_network(network, normalized),
                   "torchscript": traced(torch.from_numpy(normalized)[None, None]).numpy()}
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    outputs["onnx"] = session.run(None, {L.INPUT_ID: normalized[None, None]})[0]
    diffs = {fmt: float(np.abs(out - reference).max()) for fmt, out in outputs.items()}
    bad = {fmt: d for fmt, d in diffs.items()
           if d > L.ABSOLUTE_TOLERANCE + L.RELATIVE_TOLERANCE * float(np.abs(reference).max())}
    if bad:
        raise RuntimeError(f"converted weights do not reproduce the state-dict output: max |diff| {bad}, "
                           f"tolerance {L.ABSOLUTE_TOLERANCE}")
    return diffs


def _write_zip(content: Path, path: Path) -> None:
    names = ["rdf.yaml"] + sorted(p.name for p in content.iterdir() if p.name != "rdf.yaml")
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name in names:
            archive.write(content / name, arcname=name)


def build_package(entry, out_dir: str | Path, *, check: bool = False, halo: int | None = None,
                  crop_size: int = CROP_SIZE, overwrite: bool = False) -> PackageResult:
    """Write the bioimage.io package of ``entry`` to ``out_dir/<entry.id>.zip``.

    Args:
        entry: a :class:`~nucseg_zoo.zoo.entry.ZooEntry` with weights (sha256-checked).
        out_dir: folder for the zip (created if missing).
        check: also run ``bioimageio.core.test_model`` (every weight format) before
            moving the zip into place.
        halo: output halo in px; default: the entry's halo, raised to the measured
            receptive-field radius and rounded up to a multiple of the size step.
        crop_size: height and width of the test input (a crop of a BBBC039 test image).
        overwrite: replace an existing ``out_dir/<entry.id>.zip`` (only after the new one
            has passed); without it an existing zip is an error, raised before any work.

    Returns:
        A :class:`PackageResult`.

    Raises:
        PackageValidationError: the package fails validation or ``test_model`` (the
            validator's reasons are listed); nothing is written.
        RuntimeError: an export does not reproduce the network's output.
        FileExistsError: the zip exists and ``overwrite`` is False.
    """
    import torch

    from nucseg_zoo import __version__
    from nucseg_zoo.cards import PACKAGE, PackageFacts, gather, render_card
    from nucseg_zoo.postprocessing import to_labels

    out_dir = Path(out_dir)
    if not overwrite:
        refuse_to_overwrite(out_dir / f"{entry.id}.zip", what="package")
    recipe = read_recipe(entry)  # the documentation's training section and the rdf's training data
    network = entry.build_network()  # checks the weights' sha256
    geometry = entry.architecture
    # first probe just wider than the declared halo (doubled if the field reaches its border)
    radius = receptive_field_radius(geometry.build_probe(), in_channels=int(geometry.kwargs.get("in_channels", 1)),
                                    step=geometry.size_step, size=2 * geometry.halo + 4 * geometry.size_step)
    if halo is None:
        halo = package_halo(geometry.halo, radius, geometry.size_step)
        if halo != geometry.halo:
            logger.warning("%s: halo raised from %d to %d px (receptive-field radius %d px, size step %d)",
                           entry.id, geometry.halo, halo, radius, geometry.size_step)
    elif halo < radius:
        raise ValueError(f"halo {halo} px is smaller than the receptive-field radius {radius} px")
    lay = L.Layout(step=geometry.size_step, halo=halo)
    if not lay.is_valid_size(crop_size):
        raise ValueError(f"crop_size {crop_size} is not a valid input size (min {lay.min_size}, step {lay.step})")

    out_dir.mkdir(parents=True, exist_ok=True)
    # staging inside out_dir: os.replace is atomic only within one file system
    staging = Path(tempfile.mkdtemp(prefix=f".{entry.id}.", suffix=".building", dir=out_dir))
    try:
        content = staging / "content"
        content.mkdir()
        if entry.ensemble:  # one state dict holding every member (members.K.…), as the architecture expects
            torch.save(network.state_dict(), content / L.STATE_DICT_FILE)
        else:  # the canonical file itself
            shutil.copyfile(entry.verified_weights()[0], content / L.STATE_DICT_FILE)
        architecture_file = geometry.source_file.name
        shutil.copyfile(geometry.source_file, content / architecture_file)

        example = make_example_data(network, entry.normalization, crop_size=crop_size)
        np.save(content / L.TEST_INPUT_FILE, example.raw)
        np.save(content / L.TEST_OUTPUT_FILE, example.output)
        tensor = torch.from_numpy(example.normalized)[None, None]
        export_torchscript(network, tensor, content / L.TORCHSCRIPT_FILE)
        onnx_info = export_onnx(network, tensor, content / L.ONNX_FILE, input_name=L.INPUT_ID,
                                output_name=L.OUTPUT_ID)
        diffs = _check_formats(network, example, content / L.TORCHSCRIPT_FILE, content / L.ONNX_FILE)
        logger.info("max |output - test output| per weight format: %s", diffs)

        labels = to_labels(example.output[0], entry.output_kind, entry.postprocessing)
        write_cover(content / L.COVER_FILE, example.normalized, example.output[0], labels)

        citations = _citations(recipe.dataset)
        facts = gather(entry, recipe=recipe, package=PackageFacts(
            input_id=L.INPUT_ID, output_id=L.OUTPUT_ID, min_size=lay.min_size, size_step=lay.step, halo=lay.halo,
            receptive_field=radius, onnx_opset=onnx_info.opset_version, example_source=example.source))
        (content / L.DOCUMENTATION_FILE).write_text(render_card(facts, PACKAGE))

        nucseg_config = {
            "zoo_id": entry.id,
            "nucseg_zoo_version": __version__,
            "output_kind": entry.output_kind,
            "postprocessing": entry.postprocessing.to_dict(),
            "postprocessing_chosen_on": (facts.tuned or {}).get("chosen_on"),
            "validation_average_f1": (facts.tuned or {}).get("validation_average_f1"),
            "normalization": entry.normalization.to_dict(),
            "receptive_field_radius": radius,
            "test_input": example.source,
        }
        sha256 = {p.name: sha256_of(p) for p in content.iterdir()}
        rdf = build_rdf(entry, lay, sha256=sha256, architecture_file=architecture_file,
                        torch_version=torch.__version__.split("+")[0], onnx_opset=onnx_info.opset_version,
                        citations=citations, training_data=_training_data(recipe.dataset, citations),
                        nucseg_config=nucseg_config)
        (content / "rdf.yaml").write_text(dump_rdf(
            rdf, header=f"bioimage.io model package of nucseg-zoo entry {entry.id}, written by nucseg-zoo "
                        f"{__version__} (`nucseg-zoo package {entry.id}`)"))

        zip_path = staging / f"{entry.id}.zip"
        _write_zip(content, zip_path)
        try:
            summary = validate_package(zip_path)
        except PackageValidationError as err:
            raise PackageValidationError(f"the bioimage.io package of {entry.id} is invalid; nothing written",
                                         err.reasons) from err
        report = None
        if check:
            report = test_package(zip_path)
            if not report.passed:
                raise PackageValidationError(
                    f"bioimage.io test_model failed for {entry.id} ({report.formats}); nothing written",
                    report.reasons)
        file_sizes = {p.name: p.stat().st_size for p in content.iterdir()}
        final = out_dir / f"{entry.id}.zip"
        os.replace(zip_path, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return PackageResult(path=final, layout=lay, receptive_field=radius, file_sizes=file_sizes,
                         max_abs_diff=diffs, summary=summary, test=report)
