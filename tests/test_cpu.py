"""Reading the CPU's flags: the facts behind --precision auto and the bench's report."""

from __future__ import annotations

from catdog import cpu


def test_flags_are_read_from_proc_cpuinfo_without_the_label():
    flags = cpu.cpu_flags()
    text = open("/proc/cpuinfo").read()
    assert flags and "flags" not in flags and ":" not in flags
    assert all(flag in text for flag in flags)
    assert cpu.relevant_flags() == [flag for flag in cpu.RELEVANT_FLAGS if flag in flags]


def test_bfloat16_arithmetic_comes_from_avx512_bf16_or_amx(monkeypatch):
    for flags, expected in [
        ({"avx2"}, False),
        ({"avx512f", "avx512_vnni"}, False),
        ({"avx512_bf16"}, True),
        ({"amx_bf16"}, True),
    ]:
        monkeypatch.setattr(cpu, "cpu_flags", lambda flags=flags: frozenset(flags))
        assert cpu.has_bfloat16_arithmetic() is expected
