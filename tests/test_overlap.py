"""nucseg_zoo.datasets.overlap: finding the images of one dataset that are fields of another's.

Synthetic fields test each relation (same field at another bit depth / gamma, crop,
rescale, rescaled crop) and the non-matches (an unrelated field, a field shifted by half
its width); the real-data tests (skipped unless $NUCSEG_ZOO_BBBC039_MIRROR and
$NUCSEG_ZOO_DSB2018_FLUO_MIRROR are set) re-check known DSB2018 <-> BBBC039 pairs, a
neighbouring site of the same well and DSB images that are no BBBC039 field. The real
files are read directly with tifffile / imageio.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from skimage.draw import ellipse
from skimage.feature import match_template
from skimage.filters import gaussian
from skimage.transform import rescale

from nucseg_zoo.datasets.overlap import (
    DEFAULT_THRESHOLD,
    FieldMatch,
    _ReferenceGroup,
    field_similarity,
    find_fields,
    thumbnail,
)

BBBC039_ENV = "NUCSEG_ZOO_BBBC039_MIRROR"
DSB2018_ENV = "NUCSEG_ZOO_DSB2018_FLUO_MIRROR"


def synthetic_field(seed: int, shape: tuple[int, int] = (520, 696)) -> np.ndarray:
    """A BBBC039-like uint16 field (12-bit range): blurred elliptical nuclei on a vignetted background."""
    rng = np.random.default_rng(seed)
    nuclei = np.zeros(shape)
    for _ in range(shape[0] * shape[1] // 2500):
        rows, cols = ellipse(rng.uniform(0, shape[0]), rng.uniform(0, shape[1]), rng.uniform(6, 13),
                             rng.uniform(6, 13), shape=shape, rotation=rng.uniform(0, np.pi))
        nuclei[rows, cols] = rng.uniform(600, 3000)
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    vignette = 40 * (1 - ((yy - shape[0] / 2) ** 2 + (xx - shape[1] / 2) ** 2) / (shape[0] ** 2 + shape[1] ** 2))
    image = 120 + vignette + gaussian(nuclei, 2, preserve_range=True) + rng.normal(0, 4, shape)
    return np.clip(np.round(image), 0, 4095).astype(np.uint16)


@pytest.fixture(scope="module")
def field() -> np.ndarray:
    return synthetic_field(0)


def to_8bit(image: np.ndarray, gamma: float = 1.0) -> np.ndarray:
    x = (image.astype(float) - image.min()) / (image.max() - image.min())
    return np.round(255 * x ** gamma).astype(np.uint8)


def only(matches: list[FieldMatch], query: str) -> FieldMatch:
    found = [m for m in matches if m.query == query]
    assert len(found) == 1, f"{query} not matched (matches: {matches})"
    return found[0]


# --- synthetic ------------------------------------------------------------------------------


def test_same_field_at_another_bit_depth_and_gamma(field):
    queries = [("8bit", to_8bit(field)), ("8bit_gamma0.5", to_8bit(field, 0.5)),
               ("float_gamma1.8", (field.astype(np.float32) / 4095) ** 1.8), ("int32", field.astype(np.int32) * 16)]
    others = [("other", synthetic_field(1)), ("field", field), ("other2", synthetic_field(2))]
    matches = find_fields(queries, others)
    assert [m.query for m in matches] == sorted(q for q, _ in queries)
    for m in matches:
        assert (m.reference, m.relation, m.scale, m.offset) == ("field", "same field", 1.0, (0, 0))
        assert DEFAULT_THRESHOLD < m.similarity <= 1.0
    assert field_similarity(to_8bit(field, 0.5), field) == pytest.approx(only(matches, "8bit_gamma0.5").similarity,
                                                                        abs=1e-5)


def test_crop_is_found_at_its_offset(field):
    crop = to_8bit(field[123:379, 301:557], 0.7)  # 256 x 256 at (123, 301)
    (m,) = find_fields([("crop", crop)], [("other", synthetic_field(1)), ("field", field)])
    assert (m.reference, m.relation, m.scale) == ("field", "crop", 1.0)
    assert abs(m.offset[0] - 123) <= 2 and abs(m.offset[1] - 301) <= 2
    assert m.similarity > 0.97


@pytest.mark.parametrize("scale", [2.0, 0.5])
def test_rescaled_field_and_rescaled_crop(field, scale):
    whole = rescale(field.astype(float), scale, order=1, anti_aliasing=scale < 1, preserve_range=True)
    part = rescale(field[60:360, 150:550].astype(float), scale, order=1, anti_aliasing=scale < 1,
                   preserve_range=True)  # 300 x 400 at (60, 150)
    refs = [("other", synthetic_field(1)), ("field", field)]
    matches = find_fields([("whole", whole), ("part", to_8bit(part))], refs)
    whole_match, part_match = only(matches, "whole"), only(matches, "part")
    assert (whole_match.reference, whole_match.relation, whole_match.offset) == ("field", "rescaled", (0, 0))
    assert whole_match.scale == scale
    assert (part_match.reference, part_match.relation, part_match.scale) == ("field", "rescaled crop", scale)
    assert abs(part_match.offset[0] - 60) <= 3 and abs(part_match.offset[1] - 150) <= 3
    assert min(whole_match.similarity, part_match.similarity) > 0.97


def test_unrelated_and_shifted_fields_do_not_match(field):
    wide = synthetic_field(3, (520, 1392))
    queries = [("unrelated", synthetic_field(4)), ("shifted by half", wide[:, 348:1044]),
               ("unrelated crop", synthetic_field(5)[:256, :256])]
    refs = [("field", field), ("left half", wide[:, :696])]
    assert find_fields(queries, refs) == []
    best = find_fields(queries, refs, threshold=-1.0)  # the best score of each, however low
    assert len(best) == 3 and max(m.similarity for m in best) < 0.5


def test_lazy_sources_give_the_same_matches(field):
    calls: dict[str, int] = {}

    def lazy(name, image):
        def load():
            calls[name] = calls.get(name, 0) + 1
            return image
        return load

    queries = [("same", to_8bit(field)), ("crop", field[100:356, 200:456])]
    refs = [("other", synthetic_field(1)), ("field", field)]
    eager = find_fields(queries, refs)
    streamed = find_fields(((n, lazy("q:" + n, a)) for n, a in queries), ((n, lazy(n, a)) for n, a in refs))
    assert streamed == eager and len(eager) == 2
    assert calls["q:same"] == calls["q:crop"] == 1  # a query is read once
    assert calls["other"] >= 1 and calls["field"] >= 2  # a reference again to place a crop in it


def test_field_match_to_dict_is_json():
    m = FieldMatch("q", "r", 0.95, "crop", 1.0, (3, 4))
    assert json.loads(json.dumps(m.to_dict())) == {"query": "q", "reference": "r", "similarity": 0.95,
                                                   "relation": "crop", "scale": 1.0, "offset": [3, 4]}
    with pytest.raises(AttributeError):
        m.similarity = 1.0  # frozen


def test_bad_images_and_parameters_raise_value_error(field):
    rgb = np.stack([field] * 3, axis=-1)
    with pytest.raises(ValueError, match=r"'rgb'.*2-D.*\(520, 696, 3\)"):
        find_fields([("rgb", rgb)], [("field", field)])
    with pytest.raises(ValueError, match=r"'stack'.*2-D.*\(2, 520, 696\)"):
        find_fields([("q", field)], [("stack", np.stack([field, field]))])
    with pytest.raises(ValueError, match="2-D"):
        thumbnail(field[0])
    with pytest.raises(ValueError, match="NaN"):
        find_fields([("nan", np.full((100, 100), np.nan))], [("field", field)])
    with pytest.raises(ValueError, match="dtype"):
        find_fields([("text", np.full((100, 100), "a"))], [("field", field)])
    with pytest.raises(ValueError, match="same shape|!="):
        field_similarity(field, field[:256])
    with pytest.raises(ValueError, match="scales"):
        find_fields([], [("field", field)], scales=(0.0,))
    with pytest.raises(ValueError, match="threshold"):
        find_fields([], [("field", field)], threshold=1.5)


def test_batched_search_equals_skimage_match_template():
    rng = np.random.default_rng(7)
    refs = [gaussian(rng.normal(size=(65, 87)), 1.5) for _ in range(3)]
    group = _ReferenceGroup((520, 696), 4, 8)
    group.units, group.coarse = [np.zeros(1)] * 3, refs
    group.indices = [0, 1, 2]
    group.freeze()
    template = refs[1][20:52, 30:62] + 0.3 * rng.normal(size=(32, 32))
    peaks, positions = group.search(template)
    for k, ref in enumerate(refs):
        expected = match_template(ref, template)
        assert peaks[k] == pytest.approx(expected.max(), abs=1e-6)
        assert tuple(positions[k]) == np.unravel_index(np.argmax(expected), expected.shape)
    assert tuple(positions[1]) == (20, 30)


# --- real data: DSB2018 stage1_train against BBBC039 ---------------------------------------

# Found by find_fields over all 541 DSB2018 fluorescence images (none of them a crop or a
# rescale): DSB id prefix -> BBBC039 stem prefix, BBBC039 split. The lowest-scoring pair
# (N21_s1, 0.9956), a saturated field (O10_s8), a dim one (J17_s1) and two sites of one
# well that are both in DSB2018 (B21_s4, B21_s7).
KNOWN_PAIRS = {
    "e5a6c5e01e6a": ("IXMtest_N21_s1_", "test"),
    "1b518cd2ea84": ("IXMtest_J17_s1_", "test"),
    "6b6d4e6ff52d": ("IXMtest_F08_s7_", "test"),
    "2abc40c118bc": ("IXMtest_O10_s8_", "validation"),
    "2cfa61bef654": ("IXMtest_B21_s7_", "training"),
    "61dc249314d7": ("IXMtest_B21_s4_", "training"),
}
# DSB images of no BBBC039 field: a 520 x 696 one of the same screen's format, and the
# 256 x 256 image whose best match (a 2x magnified crop, 0.825) is the highest non-pair.
NOT_BBBC039 = ("07fb37aafa6626608af90c1e18f6a743f29b6b233d2e427dcd1102df6a916cf5",
               "e1bcb583985325d0ef5f3ef52957d0371c96d4af767b13e48102bca9d5351a9b")


@pytest.fixture(scope="module")
def bbbc039() -> dict[str, np.ndarray]:
    """All 200 BBBC039 fields by stem (uint16, 520 x 696)."""
    root = os.environ.get(BBBC039_ENV)
    if not root:
        pytest.skip(f"${BBBC039_ENV} is not set")
    import tifffile

    paths = sorted((Path(root) / "images").glob("*.tif"))
    assert len(paths) == 200
    return {p.stem: tifffile.imread(p) for p in paths}


@pytest.fixture(scope="module")
def dsb_root() -> Path:
    root = os.environ.get(DSB2018_ENV)
    if not root:
        pytest.skip(f"${DSB2018_ENV} is not set")
    return Path(root) / "stage1_train"


def dsb_image(root: Path, prefix: str) -> tuple[str, np.ndarray]:
    """(full id, grey image) of the DSB2018 image whose id starts with ``prefix``."""
    import imageio.v3 as iio

    (folder,) = [p for p in root.iterdir() if p.name.startswith(prefix)]
    rgba = iio.imread(folder / "images" / f"{folder.name}.png")
    assert (rgba[..., 0] == rgba[..., 1]).all() and (rgba[..., 1] == rgba[..., 2]).all()
    return folder.name, rgba[..., 0]


def stem(stems, prefix: str) -> str:
    (found,) = [s for s in stems if s.startswith(prefix)]
    return found


def test_known_dsb_images_are_matched_with_their_bbbc039_field(bbbc039, dsb_root):
    root = Path(os.environ[BBBC039_ENV])
    split = {line.strip().removesuffix(".png"): name for name in ("training", "validation", "test")
             for line in (root / "metadata" / f"{name}.txt").read_text().splitlines() if line.strip()}
    queries = [dsb_image(dsb_root, prefix) for prefix in [*KNOWN_PAIRS, *NOT_BBBC039]]
    # a crop and a 2x magnified crop of a DSB rendering (of K12_s7, 29 and 11 nuclei in
    # them) are found in the right place too
    _, k12 = dsb_image(dsb_root, "6fe2df6de1d9")
    queries += [("k12 crop", k12[200:456, 100:356]),
                ("k12 2x crop", rescale(k12[50:178, 400:528].astype(float), 2.0, order=1, preserve_range=True))]
    matches = {m.query: m for m in find_fields(queries, list(bbbc039.items()))}
    for dsb_id, _ in queries[:len(KNOWN_PAIRS)]:
        bbbc_prefix, bbbc_split = KNOWN_PAIRS[dsb_id[:12]]
        m = matches[dsb_id]
        assert m.reference.startswith(bbbc_prefix) and split[m.reference] == bbbc_split
        assert (m.relation, m.scale, m.offset) == ("same field", 1.0, (0, 0))
        assert m.similarity > 0.99  # measured lowest of the 43 pairs: 0.9956
    assert not set(NOT_BBBC039) & set(matches)
    k12_stem = stem(bbbc039, "IXMtest_K12_s7_")
    crop, crop2 = matches["k12 crop"], matches["k12 2x crop"]
    assert (crop.reference, crop.relation, crop.offset) == (k12_stem, "crop", (200, 100))
    assert (crop2.reference, crop2.relation, crop2.scale) == (k12_stem, "rescaled crop", 2.0)
    assert abs(crop2.offset[0] - 50) <= 2 and abs(crop2.offset[1] - 400) <= 2


def test_neighbouring_sites_of_one_well_do_not_match(bbbc039, dsb_root):
    # BBBC039 has sites s3, s4 and s7 of well B21; DSB2018 holds renderings of s4 and s7
    s3, s4, s7 = (stem(bbbc039, f"IXMtest_B21_{s}_") for s in ("s3", "s4", "s7"))
    dsb_s7 = dsb_image(dsb_root, "2cfa61bef654")
    neighbours = [(s3, bbbc039[s3]), (s4, bbbc039[s4])]
    assert find_fields([dsb_s7, (s7, bbbc039[s7])], neighbours) == []
    # measured: two sites of one well <= 0.071 (47 pairs), DSB <-> other BBBC039 fields <= 0.142
    assert max(field_similarity(q, bbbc039[n]) for q in (dsb_s7[1], bbbc039[s7]) for n in (s3, s4)) < 0.3
    (m,) = find_fields([dsb_s7], [*neighbours, (s7, bbbc039[s7])])
    assert m.reference == s7
