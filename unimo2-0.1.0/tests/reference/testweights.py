"""Deterministic test weights shared with the C tests (doc/testvectors.md).

For the n-th tensor of the *full topk* parameter list of a config (n from 0,
doc/model.md order, gd.* included whatever the grounding switch says) and
flat row-major element i, with a 64-bit seed:

    x = (seed * 0x9E3779B97F4A7C15 + (n << 32) + i) mod 2^64
    z = x; z ^= z >> 30; z *= 0xBF58476D1CE4E5B9; z ^= z >> 27;
    z *= 0x94D049BB133111EB; z ^= z >> 31                 (all mod 2^64)
    u = (z >> 40) / 2^24
    value = float32(offset + scale * (2u - 1))            (computed in float64)

offset/scale per tensor: see tensor_offset_scale().  gd.tau = 2.0 and
cmcl.temp = 0.07 exactly (float32), not generated, but they count in n.
"""

import math

import numpy as np

from model import param_specs, is_layernorm

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
MIX1 = np.uint64(0xBF58476D1CE4E5B9)
MIX2 = np.uint64(0x94D049BB133111EB)


def uniform_stream(seed, n, count):
    """u in [0, 1) for elements i = 0..count-1 of tensor n (numpy uint64, wrapping)."""
    base = np.uint64((seed * GOLDEN + (n << 32)) & MASK64)
    x = base + np.arange(count, dtype=np.uint64)        # wraps mod 2^64
    z = x
    z = z ^ (z >> np.uint64(30))
    z = z * MIX1
    z = z ^ (z >> np.uint64(27))
    z = z * MIX2
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(40)).astype(np.float64) / float(1 << 24)


def tensor_offset_scale(cfg, name, shape):
    """(offset, scale) of a generated tensor, or None for the two fixed scalars."""
    D, P = cfg["hidden"], cfg["patch_size"]
    if name in ("gd.tau", "cmcl.temp"):
        return None
    if is_layernorm(name):
        return (1.0, 0.1) if name.endswith(".weight") else (0.0, 0.1)
    if name in ("vit.cls", "vit.pos", "text.word", "text.pos"):
        return (0.0, 0.5)
    if name == "gd.embed":
        return (0.0, math.sqrt(3.0 / D) * 2.0)
    if name == "vit.patch.weight":
        return (0.0, math.sqrt(3.0 / (3 * P * P)))
    if name.endswith(".bias"):          # every other bias, mlm.bias included
        return (0.0, 0.1)
    if name.endswith(".weight") and len(shape) == 2:   # linear weights [out, in]
        return (0.0, math.sqrt(3.0 / shape[1]))
    raise ValueError("no test-weight rule for %s" % name)


FIXED = {"gd.tau": 2.0, "cmcl.temp": 0.07}


def test_weights(cfg, seed):
    """{name: float32 array} for the tensors that exist in cfg, in doc order.

    n is the position in the full topk list, so a tensor has the same values in
    every grounding/fusion variant of the same shape config.
    """
    present = set(name for name, _ in param_specs(cfg))
    out = {}
    for n, (name, shape) in enumerate(param_specs(cfg, full_topk_list=True)):
        if name not in present:
            continue
        if name in FIXED:
            out[name] = np.full(shape, FIXED[name], dtype=np.float32)
            continue
        offset, scale = tensor_offset_scale(cfg, name, shape)
        count = int(np.prod(shape))
        u = uniform_stream(seed, n, count)
        out[name] = (offset + scale * (2.0 * u - 1.0)).astype(np.float32).reshape(shape)
    # keep doc order of the config's own list
    return {name: out[name] for name, _ in param_specs(cfg)}
