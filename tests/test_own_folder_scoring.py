"""A lab's own annotated folder scores like an official split: evaluate/score from the CLI and
Python, in the three label formats, cached by content, with per-dataset size bins."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import tifffile

from nucseg_zoo import datasets
from nucseg_zoo.cli import main
from nucseg_zoo.evaluation import evaluate_source, score_folder
from nucseg_zoo.screens.rois import write_imagej_rois


@pytest.fixture
def own_folder(tmp_path, sample_split):
    """The bundled images under new names, with labels in three formats (label TIFF, one mask per
    nucleus, ImageJ ROI zip) and a crop of odd size."""
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    first, second, third = sample_split
    tifffile.imwrite(images / "plate1_a.tif", first.image)
    tifffile.imwrite(labels / "plate1_a_masks.tif", first.labels)
    tifffile.imwrite(images / "plate1_b.tif", second.image[:300, :457])
    truth_b = second.labels[:300, :457]
    (labels / "plate1_b").mkdir()
    import imageio.v3 as iio

    for k, value in enumerate(v for v in np.unique(truth_b) if v):
        iio.imwrite(labels / "plate1_b" / f"nucleus_{k:03d}.png", ((truth_b == value) * 255).astype(np.uint8))
    tifffile.imwrite(images / "plate1_c.tif", third.image)
    write_imagej_rois(third.labels, labels / "plate1_c.zip")
    return images, labels, {"plate1_a": first.labels, "plate1_b": truth_b, "plate1_c": third.labels}


def test_from_folder_reads_all_three_formats(own_folder):
    images, labels, truths = own_folder
    own = datasets.from_folder(images, labels)
    assert own.names == ("plate1_a", "plate1_b", "plate1_c") and own.split == "folder"
    for sample in own:
        np.testing.assert_array_equal(sample.labels > 0, truths[sample.name] > 0)
        assert int(sample.labels.max()) == len(np.unique(truths[sample.name])) - 1


def test_score_own_labels_from_the_cli(own_folder, capsys, tmp_path):
    images, labels, truths = own_folder
    predictions = tmp_path / "predictions"
    predictions.mkdir()
    for name, truth in truths.items():
        tifffile.imwrite(predictions / f"{name}.tif", truth)
    assert main(["score", str(predictions), "--labels", str(labels), "--images", str(images), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["average_f1"] == 1.0 and result["split"] == "folder"
    assert result["dataset"] == f"folder:{images.resolve()}"
    assert result["n_true"] == sum(len(np.unique(t)) - 1 for t in truths.values())
    # critic: --labels alone read the prediction folder as the images, with segment's plot among them
    assert main(["score", str(predictions), "--labels", str(labels)]) == 2
    assert "need both --images DIR (the images, which give each label's name and size)" in capsys.readouterr().err
    (predictions / "plate1_b.tif").unlink()
    assert main(["score", str(predictions), "--labels", str(labels), "--images", str(images), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["missing_predictions"] == ["plate1_b"] and result["average_f1"] == pytest.approx(2 / 3)


def test_evaluate_a_baseline_on_own_images_is_cached_by_content(own_folder, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("NUCSEG_ZOO_DATA_DIR", str(tmp_path / "cache"))
    images, labels, _ = own_folder
    assert main(["evaluate", "cp-basic", "--images", str(images), "--labels", str(labels), "--json",
                 "--no-progress"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["n_images"] == 3 and 0.6 < first["average_f1"] < 1.0
    official = evaluate_source("cp-basic", dataset="bbbc039-sample", split="test")
    by_name = {image["name"]: image for image in official.to_dict()["images"]}
    same = {image["name"]: image for image in first["images"]}
    assert same["plate1_a"]["f1"] == by_name[datasets.split_names("bbbc039-sample", "test")[0]]["f1"]
    again = evaluate_source("cp-basic", dataset=datasets.from_folder(images, labels))  # no split needed
    assert again.cached and again.scores.average_f1 == first["average_f1"]
    shutil.copy(labels / "plate1_a_masks.tif", tmp_path / "copy.tif")
    truth = tifffile.imread(labels / "plate1_a_masks.tif")
    tifffile.imwrite(labels / "plate1_a_masks.tif", np.where(truth == truth.max(), 0, truth))  # one nucleus fewer
    changed = evaluate_source("cp-basic", dataset=datasets.from_folder(images, labels), split=None)
    assert not changed.cached and changed.scores.n_true == again.scores.n_true - 1


def test_own_folder_arguments_are_checked(own_folder, capsys):
    images, labels, _ = own_folder
    assert main(["evaluate", "cp-basic", "--images", str(images)]) == 2
    assert "need both --images DIR (the images, which give each label's name and size) and --labels DIR" in capsys.readouterr().err
    assert main(["evaluate", "cp-basic", "--images", str(images), "--labels", str(labels),
                 "--dataset", "bbbc039"]) == 2
    assert "do not go with --dataset/--split" in capsys.readouterr().err
    with pytest.raises(ValueError, match="pass split=None with a DatasetSplit"):
        score_folder(images, dataset=datasets.from_folder(images, labels), split="test")


def test_segment_rois_pair_as_labels_and_colour_images_are_refused_as_segment_does(own_folder, tmp_path, capsys):
    """Critic: `segment --rois` writes <stem>.rois.zip, which must pair unrenamed; an RGB image was
    silently made grey by evaluate while segment refused it."""
    images, labels, truths = own_folder
    rois = tmp_path / "rois"
    rois.mkdir()
    from nucseg_zoo.screens.rois import write_imagej_rois

    for name, truth in truths.items():
        write_imagej_rois(truth, rois / f"{name}.rois.zip")
    own = datasets.from_folder(images, rois)
    for sample in own:
        np.testing.assert_array_equal(sample.labels > 0, truths[sample.name] > 0)
    colour = tmp_path / "colour"
    colour.mkdir()
    grey = tifffile.imread(images / "plate1_a.tif")
    tifffile.imwrite(colour / "plate1_a.tif", np.stack([grey] * 3, axis=-1), photometric="rgb")
    (labels / "plate1_b").rename(tmp_path / "unused_b")
    (labels / "plate1_c.zip").unlink()
    assert main(["evaluate", "cp-basic", "--images", str(colour), "--labels", str(labels), "--no-progress"]) == 2
    refused = capsys.readouterr().err
    assert main(["segment", "cp-basic", str(colour / "plate1_a.tif"), "--out", str(tmp_path / "out"),
                 "--no-progress"]) == 1
    message = ("plate1_a.tif: expected a 2-D (y, x) single-channel image, found axes YXS, shape (520, 696, 3): "
               "3 channels, an RGB image whose colour channels are identical, i.e. a grey image saved as colour")
    assert message in refused and message in capsys.readouterr().err


# --- multi-dimensional images: the nuclear channel, a plane, several fields (issue 37 item 3) ------

def _crop(sample, size=224):
    return sample.image[:size, :size], sample.labels[:size, :size]


@pytest.fixture
def two_channel_folder(tmp_path, sample_split):
    """Crops of the bundled fields saved as 2-channel OME-TIFFs, the DNA stain second (channel 1)
    and another stain first; the same crops as 2-D images in a second folder; one labels folder."""
    channels, plain, labels = tmp_path / "channels", tmp_path / "plain", tmp_path / "labels"
    for folder in (channels, plain, labels):
        folder.mkdir()
    for k, sample in enumerate(sample_split):
        dna, truth = _crop(sample)
        other = np.ascontiguousarray(dna[::-1, ::-1])  # another stain: a different pattern
        tifffile.imwrite(channels / f"f{k}.ome.tif", np.stack([other, dna]), ome=True, metadata={"axes": "CYX"})
        tifffile.imwrite(plain / f"f{k}.tif", dna)
        tifffile.imwrite(labels / f"f{k}.tif", truth)
    return channels, plain, labels


def test_evaluate_chooses_the_nuclear_channel_of_own_images_and_records_it(two_channel_folder, capsys, tmp_path,
                                                                           monkeypatch):
    """Issue 37: `segment` gained --channel, `evaluate` had none, so a lab's 2-channel images
    could not be scored without re-saving every file."""
    monkeypatch.setenv("NUCSEG_ZOO_DATA_DIR", str(tmp_path / "cache"))
    channels, plain, labels = two_channel_folder
    assert main(["evaluate", "cp-basic", "--images", str(plain), "--labels", str(labels), "--json",
                 "--no-progress"]) == 0
    as_2d = json.loads(capsys.readouterr().out)
    assert main(["evaluate", "cp-basic", "--images", str(channels), "--labels", str(labels), "--channel", "1",
                 "--no-progress"]) == 0
    assert "images read at: channel 1" in capsys.readouterr().out
    assert main(["evaluate", "cp-basic", "--images", str(channels), "--labels", str(labels), "--channel", "1",
                 "--json", "--no-progress"]) == 0
    chosen = json.loads(capsys.readouterr().out)
    assert chosen["selection"] == {"channel": 1}
    assert [i["f1"] for i in chosen["images"]] == [i["f1"] for i in as_2d["images"]] and "selection" not in as_2d
    assert chosen["average_f1"] == as_2d["average_f1"] > 0.6
    # the other channel is another evaluation (not the cached one), and scores as what it is
    other = evaluate_source("cp-basic", dataset=datasets.from_folder(channels, labels, channel=0))
    assert not other.cached and other.provenance["selection"] == {"channel": 0}
    assert other.scores.average_f1 < 0.2 < as_2d["average_f1"]


def test_own_multichannel_images_without_a_channel_are_refused_naming_the_axes(two_channel_folder, capsys):
    channels, _, labels = two_channel_folder
    assert main(["evaluate", "cp-basic", "--images", str(channels), "--labels", str(labels), "--no-progress"]) == 2
    assert ("f0.ome.tif: expected a 2-D (y, x) single-channel image, found axes CYX, shape (2, 224, 224): "
            "2 channels; pass --channel 0 or 1 (channel= in Python)") in capsys.readouterr().err
    # a channel that is not there: refused while pairing, before any model runs
    assert main(["evaluate", "cp-basic", "--images", str(channels), "--labels", str(labels), "--channel", "2"]) == 2
    assert ("f0.ome.tif: found axes CYX, shape (2, 224, 224): channel 2 does not exist (2 channels, 0-based: 0 or "
            "1); pass --channel 0 or 1") in capsys.readouterr().err
    with pytest.raises(ValueError, match="channel 2 does not exist"):  # pairing reads no pixels to find it
        datasets.from_folder(channels, labels, channel=2)
    with pytest.raises(ValueError, match="channel must be a 0-based index"):
        datasets.from_folder(channels, labels, channel=-1)
    # the official splits are 2-D: a selection there is a mistake, said as such
    assert main(["evaluate", "cp-basic", "--dataset", "bbbc039-sample", "--channel", "1"]) == 2
    assert "--channel chooses the plane of your own multi-dimensional images" in capsys.readouterr().err


def test_a_z_stack_is_scored_at_the_chosen_plane(tmp_path, sample_split):
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    dna, truth = _crop(sample_split[0])
    blurred = (dna // 2 + 50).astype(dna.dtype)
    tifffile.imwrite(images / "stack.tif", np.stack([blurred, dna, blurred]), metadata={"axes": "ZYX"})
    tifffile.imwrite(labels / "stack.tif", truth)
    split = datasets.from_folder(images, labels, plane=1)
    np.testing.assert_array_equal(split[0].image, dna)
    np.testing.assert_array_equal(split[0].labels, truth)
    with pytest.raises(ValueError, match="3 planes; pass --plane 0 to 2"):
        datasets.from_folder(images, labels)[0].image


def test_an_own_image_of_several_fields_is_refused_and_a_thumbnail_is_never_the_image(tmp_path, sample_split):
    """Issue 37 item 2's kind on the scoring path: the first series of a multi-position file,
    or a thumbnail page, must never silently stand for the annotated image."""
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    (first, truth), (second, _) = _crop(sample_split[0]), _crop(sample_split[1])
    with tifffile.TiffWriter(images / "thumb.tif") as tif:  # a 64x64 thumbnail page, then the field
        tif.write(first[::3, ::3][:64, :64])
        tif.write(first)
    tifffile.imwrite(labels / "thumb.tif", truth)
    split = datasets.from_folder(images, labels)  # the labels fit the field, not the thumbnail
    np.testing.assert_array_equal(split["thumb"].image, first)
    with tifffile.TiffWriter(images / "two.ome.tif", ome=True) as tif:  # two positions in one file
        tif.write(first)
        tif.write(second)
    tifffile.imwrite(labels / "two.tif", truth)
    with pytest.raises(ValueError, match=r"two.ome.tif: holds 2 fields \(TIFF series 0, 1\); an annotated image "
                                         "must be one field"):
        datasets.from_folder(images, labels)["two"].image
