"""The paper's U-Net: parameter count, shapes, softmax, and a self-contained source file."""

import ast
from pathlib import Path

import pytest
import torch

from nucseg_zoo.models import unet
from nucseg_zoo.models.unet import UNet


def test_parameter_count_matches_the_paper():
    n_params = sum(p.numel() for p in UNet().parameters())
    assert n_params == 7_787_523  # "about 7.7 M" in the paper
    assert sum(p.numel() for p in UNet().parameters() if p.requires_grad) == n_params


def test_output_is_a_probability_map_of_the_input_size():
    model = UNet().eval()
    with torch.no_grad():
        out = model(torch.rand(2, 1, 64, 96))
    assert out.shape == (2, 3, 64, 96)
    torch.testing.assert_close(out.sum(dim=1), torch.ones(2, 64, 96))
    logits = UNet(softmax=False).eval()
    logits.load_state_dict(model.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(torch.softmax(logits(torch.ones(1, 1, 32, 32)), 1), model(torch.ones(1, 1, 32, 32)))


def test_architecture_file_imports_only_torch():
    tree = ast.parse(Path(unet.__file__).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= {"torch", "__future__"}


def test_channels_last_and_nchw_networks_predict_the_same():
    import numpy as np

    from nucseg_zoo.inference import predict_tiled

    torch.manual_seed(0)
    network = UNet(widths=(8, 16, 32)).eval()
    image = np.random.default_rng(0).random((40, 56), dtype=np.float32)
    nchw = predict_tiled(network, image)
    channels_last = predict_tiled(network.to(memory_format=torch.channels_last), image)
    np.testing.assert_allclose(channels_last, nchw, atol=1e-5)


def _trained_like(network: UNet) -> UNet:
    """``network`` with random batch-norm statistics, so no view is a trivial constant."""
    torch.manual_seed(1)
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return network.eval()


def test_test_time_rotations_average_the_logits_of_the_rotated_views():
    torch.manual_seed(0)
    plain = _trained_like(UNet(widths=(4, 8, 16), softmax=False))
    rotated = UNet(widths=(4, 8, 16), softmax=False, test_time_rotations=[0, 90, 180, 270]).eval()
    rotated.load_state_dict(plain.state_dict())  # same parameters: the option adds none
    x = torch.rand(1, 1, 32, 48)  # not square: the 90° views are 48×32
    with torch.no_grad():
        views = [torch.rot90(plain(torch.rot90(x, k, (2, 3))), -k, (2, 3)) for k in range(4)]
        expected = sum(views) / 4
        torch.testing.assert_close(rotated(x), expected)
        assert (views[0] - views[2]).abs().max() > 1e-3  # the views differ: the average is not the plain output
        # the averaged network is exactly rotation-equivariant, the plain one is not
        torch.testing.assert_close(rotated(torch.rot90(x, 1, (2, 3))), torch.rot90(rotated(x), 1, (2, 3)))


def test_test_time_rotations_apply_in_eval_mode_only_and_keep_the_softmax():
    torch.manual_seed(0)
    plain = _trained_like(UNet(widths=(4, 8, 16)))
    two_views = UNet(widths=(4, 8, 16), test_time_rotations=(0, 180))
    two_views.load_state_dict(plain.state_dict())
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        out = two_views.eval()(x)
        torch.testing.assert_close(out.sum(dim=1), torch.ones(2, 32, 32))
        logits = (plain._logits(x) + torch.flip(plain._logits(torch.flip(x, (2, 3))), (2, 3))) / 2
        torch.testing.assert_close(out, torch.softmax(logits, dim=1))
        two_views.train(), plain.train()
        torch.testing.assert_close(two_views(x), plain(x))  # training: one view (batch statistics)


@pytest.mark.parametrize("angles", [[], [0, 0], [45], [360], [-90]])
def test_invalid_test_time_rotations_are_refused(angles):
    with pytest.raises(ValueError, match=r"test_time_rotations must be distinct multiples of 90 in \[0, 360\)"):
        UNet(widths=(2, 2, 2), test_time_rotations=angles)
