"""What this machine's CPU can do, as Linux reports it (/proc/cpuinfo): the facts that decide
catdog's precision and that a speed figure must be quoted with."""

from __future__ import annotations

import functools
import hashlib
import os

# The flags that change which kernels TensorFlow and LiteRT run (README, "Speed").
RELEVANT_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (empty where /proc/cpuinfo cannot be read, as on macOS)."""
    try:
        with open("/proc/cpuinfo") as handle:
            return frozenset(next((line for line in handle if line.startswith("flags")), "").split()[2:])
    except OSError:
        return frozenset()


@functools.cache
def cpu_model_name() -> str:
    """The CPU's model name as Linux gives it (a virtual machine's may be generic, such as
    "Intel(R) Xeon(R) Processor"), or "" where /proc/cpuinfo has none."""
    try:
        with open("/proc/cpuinfo") as handle:
            return next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), "")
    except OSError:
        return ""


def cpu_signature() -> str:
    """This CPU as a cache key: its name, cores and (hashed) flags. A virtual machine moved to
    another kind of host gets another signature."""
    flags = hashlib.sha256(" ".join(sorted(cpu_flags())).encode()).hexdigest()[:12]
    return f"{cpu_model_name() or 'unknown CPU'}; {os.cpu_count()} cores; flags {flags}"


def relevant_flags() -> list[str]:
    """Which of `RELEVANT_FLAGS` this CPU has, in that order."""
    return [flag for flag in RELEVANT_FLAGS if flag in cpu_flags()]


def has_int8_dot_products() -> bool:
    """int8 dot products in hardware (VNNI: AVX512_VNNI on AMD Zen 4 and Intel since Cascade Lake,
    AVX_VNNI, AMX): XNNPACK's int8 kernels use them, so a quantized network runs much faster."""
    return bool({"avx512_vnni", "avx_vnni", "amx_int8"} & cpu_flags())


def has_bfloat16_arithmetic() -> bool:
    """bfloat16 dot products in hardware: AVX512_BF16 (AMD Zen 4 and later, Intel Cooper Lake)
    or AMX (Intel Sapphire Rapids and later). oneDNN uses either for bfloat16 layers; whether
    that is faster than float32 is measured (`catdog.precision`)."""
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())
