"""What machine this is: the CPU's model and extensions, and a device in words.

Speeds measured on one machine say little about another: the same CPU model name stands for
machines with and without AVX-512, bf16 or AMX, so every timing the package records names
the hardware with :func:`describe_device` (and, for costs, :func:`cpu_extensions`).
"""

from __future__ import annotations

import platform

CPU_EXTENSIONS: tuple[str, ...] = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8")
"""The ``/proc/cpuinfo`` flags that decide how fast the networks run: 256- and 512-bit vectors,
native bf16 dot products, int8 dot products (VNNI) and Intel's matrix units (AMX)."""


def _cpuinfo() -> tuple[str | None, set[str]]:
    """Model name and flags of the first processor in ``/proc/cpuinfo`` (Linux; else ``(None, set())``)."""
    model, flags = None, set()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name") and model is None:
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    return model, flags


def cpu_name() -> str:
    """The CPU's model name, e.g. ``"AMD EPYC 9R14"`` (what ``platform`` knows off Linux)."""
    return _cpuinfo()[0] or platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    """Every flag this CPU reports in ``/proc/cpuinfo`` (empty off Linux, where it is not known)."""
    return _cpuinfo()[1]


def cpu_extensions() -> tuple[str, ...]:
    """Those of :data:`CPU_EXTENSIONS` this CPU reports (empty off Linux, where it is not known)."""
    flags = cpu_flags()
    return tuple(flag for flag in CPU_EXTENSIONS if flag in flags)


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity where the platform has one)."""
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def describe_cpu() -> str:
    """The CPU in words with what decides its speed, e.g. ``"AMD EPYC 9R14 (2 CPUs; avx2, avx512f)"``."""
    return f"{cpu_name()} ({usable_cpus()} CPUs; {', '.join(cpu_extensions()) or 'no AVX2'})"


def describe_device(device: str) -> str:
    """Human-readable hardware behind ``device``, e.g. ``"cpu: AMD EPYC 9R14 (2 threads, AVX512)"``.

    For a CPU the vector extension PyTorch uses is named: the same CPU model name can stand
    for machines of very different speed (with or without AVX-512 / bf16).
    """
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{device}: {torch.cuda.get_device_name(torch.device(device))}"
    return f"cpu: {cpu_name()} ({torch.get_num_threads()} threads, {torch.backends.cpu.get_cpu_capability()})"
