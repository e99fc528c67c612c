"""What machine a run or benchmark ran on (no TensorFlow): CPU model and the flags that decide
which kernels are fast (AVX-512, bfloat16, AMX)."""

import platform

INTERESTING_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


def cpu_info():
    """{'model': str, 'flags': [...], 'cores': int} read from /proc/cpuinfo where it exists."""
    import os

    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name":
                    model = value.strip()
                elif key == "flags":
                    flags.update(value.split())
    except OSError:
        pass
    return {"model": model, "flags": [f for f in INTERESTING_FLAGS if f in flags],
            "cores": os.cpu_count()}
