"""A requested device this machine cannot run on stops with a named error, before any work
(:func:`nucseg_zoo.devices.check_device`, used by load_model, the harness, packages, train)."""

from __future__ import annotations

import pytest
import torch

import nucseg_zoo
from nucseg_zoo.devices import DeviceUnavailableError, check_device
from nucseg_zoo.evaluation import evaluate_source
from nucseg_zoo.segmenters import get_segmenter
from nucseg_zoo.zoo.bioimageio_model import BioimageioModel


@pytest.fixture
def cpu_only_build(monkeypatch):
    """A torch build without CUDA (as on this CI machine), whatever this machine really has."""
    monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def cuda_build_without_gpu(monkeypatch):
    monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def one_gpu(monkeypatch):
    monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


@pytest.mark.parametrize("device", ["cpu", "cpu:0"])
def test_the_cpu_is_always_accepted(device):
    assert check_device(device) == device


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:7"])
def test_cuda_without_a_cuda_build_names_the_build_and_the_remedy(cpu_only_build, device):
    """The report: `--device cuda` with torch 2.x+cpu ended in torch's AssertionError."""
    message = (f"device '{device}' requested but this torch build has no CUDA support (torch {torch.__version__}); "
               "use --device cpu or install a CUDA build of torch")
    with pytest.raises(DeviceUnavailableError) as caught:
        check_device(device)
    assert str(caught.value) == message


def test_cuda_without_a_visible_gpu_says_so(cuda_build_without_gpu):
    with pytest.raises(DeviceUnavailableError, match="'cuda' requested but torch sees no CUDA GPU .*driver.*"
                                                     "CUDA_VISIBLE_DEVICES.*use --device cpu"):
        check_device("cuda")


def test_a_gpu_index_beyond_the_visible_gpus_names_the_valid_ones(one_gpu):
    assert check_device("cuda") == "cuda" and check_device("cuda:0") == "cuda:0"
    with pytest.raises(DeviceUnavailableError) as caught:
        check_device("cuda:7")
    assert str(caught.value) == "device 'cuda:7' requested but only 1 CUDA GPU is visible (cuda:0)"


@pytest.mark.parametrize("device", ["gpu", "GPU", "CUDA", "cuda:x", "", "xpu", "meta"])
def test_unknown_or_unsupported_device_names_list_the_valid_ones(device):
    with pytest.raises(ValueError, match=rf"(unknown|unsupported) device '{device}'; expected cpu, cuda, cuda:N "
                                         r"\(N = GPU index\) or mps"):
        check_device(device)


def test_mps_where_unavailable_is_refused(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_built", lambda: False)
    with pytest.raises(DeviceUnavailableError, match="'mps' requested but this torch build has no MPS support"):
        check_device("mps")


@pytest.mark.parametrize("source", ["unet-bbbc039-fast", "unet-bbbc039"])
def test_load_model_refuses_a_missing_gpu_with_the_named_error(cpu_only_build, source):
    with pytest.raises(DeviceUnavailableError, match="no CUDA support"):
        nucseg_zoo.load_model(source, device="cuda")
    with pytest.raises(ValueError, match="unknown device 'gpu'"):
        nucseg_zoo.load_model(source, device="gpu")


def test_a_package_checks_the_device_before_loading_anything(cpu_only_build, tmp_path):
    missing = tmp_path / "never-read.zip"
    with pytest.raises(DeviceUnavailableError, match="no CUDA support"):
        BioimageioModel.from_source(missing, device="cuda")
    with pytest.raises(DeviceUnavailableError, match="no CUDA support"):
        nucseg_zoo.load_model(str(missing), device="cuda")


@pytest.mark.parametrize("source", ["unet-bbbc039-fast", "cp-basic"])
def test_the_harness_refuses_a_missing_gpu_for_every_kind_of_segmenter(cpu_only_build, source):
    """Baselines ignore the device, but a GPU asked for and missing is an error everywhere."""
    with pytest.raises(DeviceUnavailableError, match="no CUDA support"):
        get_segmenter(source, device="cuda")
    with pytest.raises(DeviceUnavailableError, match="no CUDA support"):
        evaluate_source(source, dataset="bbbc039-sample", device="cuda")


def test_training_and_tuning_refuse_a_missing_gpu_before_writing(cpu_only_build, tiny_recipe, tmp_path):
    """The Python training API, not only `nucseg-zoo train`, checks the device first."""
    from nucseg_zoo.training.ensemble import member_probabilities
    from nucseg_zoo.training.loop import train
    from nucseg_zoo.training.tuning import tune_run

    with pytest.raises(DeviceUnavailableError, match="no CUDA support"):
        train(tiny_recipe, tmp_path / "run", device="cuda", progress=False)
    with pytest.raises(DeviceUnavailableError, match="no CUDA support"):
        tune_run(tiny_recipe, tmp_path / "never-read.pt", tmp_path / "run", device="cuda")
    with pytest.raises(DeviceUnavailableError, match="no CUDA support"):
        member_probabilities(tiny_recipe, [tmp_path / "never-read.pt"], [], device="cuda")
    assert not (tmp_path / "run").exists()
