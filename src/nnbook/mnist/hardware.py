"""What the CPU that trains can do, as far as the book's recipes care: bfloat16 in hardware."""

from __future__ import annotations

from pathlib import Path

#: The flags ``/proc/cpuinfo`` lists for bfloat16 arithmetic in hardware: AVX-512 BF16, AMX.
BFLOAT16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The instruction-set flags of the first CPU listed in ``cpuinfo``; none where there is no
    such file (not Linux) or it lists no flags."""
    try:
        with open(cpuinfo, encoding="utf-8") as info:
            for line in info:
                name, _, value = line.partition(":")
                if name.strip() == "flags":
                    return frozenset(value.split())
    except OSError:
        pass
    return frozenset()


def bfloat16_in_hardware(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU has bfloat16 instructions (``BFLOAT16_FLAGS``): where it has none,
    bfloat16 is emulated and slower than float32."""
    return bool(BFLOAT16_FLAGS & cpu_flags(cpuinfo))
