"""The paper's U-Net: parameter count, shapes, softmax, and a self-contained source file."""

import ast
from pathlib import Path

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
