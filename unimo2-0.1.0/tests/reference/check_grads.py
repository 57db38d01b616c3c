"""Self-checks of the reference (run: /usr/bin/python3 tests/reference/check_grads.py).

1. Autograd gradients of loss.total on the tiny test batch against central
   finite differences in float64 (Richardson-extrapolated; the grounding
   losses' stop-gradient targets sg(e_idx), sg(x) held at their unperturbed
   values, which is what the gradient means), for a sample of
   elements that includes gd.tau, cmcl.temp, gd.embed and LayerNorm weights;
   relative error must be < 1e-6.  A few elements are also checked for the
   nearest and none/full variants.
2. The building blocks against PyTorch's own modules (conv2d patch embedding,
   layer_norm, nn.TransformerEncoderLayer pre-LN and post-LN).
3. With --data DIR (default tests/data/ref when it exists): the committed
   files read back and agree with a fresh forward pass.
Exit status 0 when everything passes.
"""

import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dump                                    # noqa: E402
import model                                   # noqa: E402
from model import DTYPE                        # noqa: E402
from safetensors_io import read_safetensors    # noqa: E402
from testweights import test_weights           # noqa: E402
from u2tv import read_u2tv                     # noqa: E402

torch.set_num_threads(1)

REL_TOL = 1e-6
H = 1e-4        # finite-difference step (Richardson: steps H and H/2)

failures = []


def report(ok, what):
    print("%s %s" % ("ok  " if ok else "FAIL", what))
    if not ok:
        failures.append(what)


def tiny_batch():
    cfg = model.make_config("tiny")
    b = dump.make_batch(cfg, dump.TINY_INPUT_SEED, dump.TINY_PAIR_LENS, dump.TINY_TEXT_LENS,
                        dump.TINY_IMAGES)
    return dump.to_torch_batch(b)


def loss_at(p, cfg, tb, sg, name, index, value):
    """loss.total with element `index` of parameter `name` set to `value` and the
    stop-gradient targets held at their unperturbed values sg (plus the selected
    indices, which must not move)."""
    with torch.no_grad():
        old = p[name].view(-1)[index].item()
        p[name].view(-1)[index] = value
        out = model.forward_batch(p, cfg, tb, sg=sg)
        p[name].view(-1)[index] = old
    idx = [out[k] for k in sorted(out) if k.endswith(".idx")]
    return float(out["loss.total"]), idx


def finite_difference(p, cfg, tb, sg, name, index, idx0):
    x0 = p[name].view(-1)[index].item()
    h = H * max(1.0, abs(x0)) if name != "cmcl.temp" else H * 0.1
    d = []
    for step in (h, h / 2):
        lp, ip = loss_at(p, cfg, tb, sg, name, index, x0 + step)
        lm, im = loss_at(p, cfg, tb, sg, name, index, x0 - step)
        if ip != idx0 or im != idx0:
            raise RuntimeError("selected indices moved under the perturbation of %s" % name)
        d.append((lp - lm) / (2 * step))
    return (4 * d[1] - d[0]) / 3          # Richardson: error O(h^4)


def pick_elements(grad, count, rng):
    """The element with the largest |grad| and count-1 random ones whose |grad|
    is at least 1e-2 of that largest (tiny gradients say nothing at a relative
    tolerance)."""
    flat = grad.reshape(-1).abs()
    top = int(torch.argmax(flat))
    big = [i for i in range(flat.numel()) if flat[i] >= 1e-2 * flat[top] and i != top]
    chosen = [top]
    if big:
        chosen += [big[j] for j in rng.choice(len(big), size=min(count - 1, len(big)), replace=False)]
    return chosen


def check_gradients(cfg, tb, sample, label):
    weights = test_weights(cfg, dump.TINY_WEIGHT_SEED)
    p = model.params_from_numpy(weights)
    out = model.forward_batch(p, cfg, tb)
    out["loss.total"].backward()
    idx0 = [out[k] for k in sorted(out) if k.endswith(".idx")]
    rng = np.random.default_rng(7)
    worst = 0.0
    n = 0
    for name, count in sample:
        grad = p[name].grad
        for i in pick_elements(grad, count, rng):
            ad = grad.reshape(-1)[i].item()
            fd = finite_difference(p, cfg, tb, out["_sg"], name, i, idx0)
            rel = abs(ad - fd) / max(abs(ad), abs(fd), 1e-300)
            worst = max(worst, rel)
            n += 1
            print("     %-8s %-34s [%5d] autograd % .12e  fd % .12e  rel %.1e"
                  % (label, name, i, ad, fd, rel))
            report(rel < REL_TOL, "%s grad %s[%d] relative error %.1e < %.0e" % (label, name, i, rel, REL_TOL))
    print("     %s: %d elements, worst relative error %.2e" % (label, n, worst))


def check_blocks():
    torch.manual_seed(0)
    cfg = model.make_config("tiny")
    D, H_, F = cfg["hidden"], cfg["heads"], cfg["ffn"]
    # conv2d patch embedding
    w = test_weights(cfg, 3)
    p = model.params_from_numpy(w, False)
    img = torch.rand(3, 16, 16, dtype=DTYPE) * 2 - 1
    tr = {}
    model.vit_forward(p, cfg, img, tr)
    conv = torch.nn.functional.conv2d(img[None], p["vit.patch.weight"], p["vit.patch.bias"],
                                      stride=cfg["patch_size"])[0]          # [D, g, g]
    ref = conv.reshape(D, -1).t()
    report(torch.allclose(tr["patch_embed"], ref, rtol=0, atol=1e-13), "patch embedding == conv2d")
    x = torch.randn(7, D, dtype=DTYPE)
    lw, lb = torch.randn(D, dtype=DTYPE), torch.randn(D, dtype=DTYPE)
    report(torch.allclose(model.layer_norm(x, lw, lb, 1e-5),
                          torch.nn.functional.layer_norm(x, (D,), lw, lb, 1e-5), atol=1e-13),
           "layer_norm == torch.nn.functional.layer_norm")
    for norm_first, prefix in ((True, "vit.blocks.0."), (False, "text.blocks.0.")):
        layer = torch.nn.TransformerEncoderLayer(D, H_, F, dropout=0.0, activation="gelu",
                                                 layer_norm_eps=1e-5, batch_first=True,
                                                 norm_first=norm_first).double().eval()
        with torch.no_grad():
            layer.self_attn.in_proj_weight.copy_(p[prefix + "attn.qkv.weight"])
            layer.self_attn.in_proj_bias.copy_(p[prefix + "attn.qkv.bias"])
            layer.self_attn.out_proj.weight.copy_(p[prefix + "attn.proj.weight"])
            layer.self_attn.out_proj.bias.copy_(p[prefix + "attn.proj.bias"])
            layer.linear1.weight.copy_(p[prefix + "mlp.fc1.weight"])
            layer.linear1.bias.copy_(p[prefix + "mlp.fc1.bias"])
            layer.linear2.weight.copy_(p[prefix + "mlp.fc2.weight"])
            layer.linear2.bias.copy_(p[prefix + "mlp.fc2.bias"])
            layer.norm1.weight.copy_(p[prefix + "ln1.weight"])
            layer.norm1.bias.copy_(p[prefix + "ln1.bias"])
            layer.norm2.weight.copy_(p[prefix + "ln2.weight"])
            layer.norm2.bias.copy_(p[prefix + "ln2.bias"])
        x = torch.randn(10, D, dtype=DTYPE)
        real = torch.tensor([True] * 7 + [False] * 3)
        allowed = real[:, None] & real[None, :]
        block = model.pre_ln_block if norm_first else model.post_ln_block
        ours = block(p, prefix, x, allowed, cfg, 1e-5)
        with torch.no_grad():
            theirs = layer(x[None], src_key_padding_mask=~real[None])[0]
        # padded query rows differ by definition (ours: zero context); compare real rows
        err = float((ours[real] - theirs[real]).abs().max())
        report(err < 1e-12, "%s block == nn.TransformerEncoderLayer(norm_first=%s) on real rows (%.1e)"
               % ("pre-LN" if norm_first else "post-LN", norm_first, err))


def check_files(data):
    cfg = model.make_config("tiny")
    w = test_weights(cfg, dump.TINY_WEIGHT_SEED)
    st, meta = read_safetensors(os.path.join(data, "tiny.safetensors"))
    report(list(st) == list(w) and all(np.array_equal(st[k], w[k]) for k in w),
           "tiny.safetensors holds the formula's test weights in doc order")
    report(model.make_config(__import__("json").loads(meta["unimo2.config"])) == cfg,
           "tiny.safetensors metadata unimo2.config is the tiny config")
    for fname, c in dump.tiny_variants().items():
        tv = read_u2tv(os.path.join(data, fname + ".u2tv"))
        tb = {"pixels": torch.tensor(tv["in.pixels"], dtype=DTYPE),
              "ids": torch.tensor(tv["in.ids"]).long(), "attn": torch.tensor(tv["in.attn"]).long(),
              "mlm_labels": torch.tensor(tv["in.mlm_labels"]).long(),
              "itm_neg_img": torch.tensor(tv["in.itm_neg_img"]).long(),
              "itm_neg_txt": torch.tensor(tv["in.itm_neg_txt"]).long(),
              "counts": [int(x) for x in tv["in.counts"]]}
        p = model.params_from_numpy(test_weights(c, dump.TINY_WEIGHT_SEED), False)
        with torch.no_grad():
            out = model.forward_batch(p, c, tb)
        ok = all(abs(float(out[k]) - float(tv[k][0])) <= 1e-6 * max(1.0, abs(float(out[k])))
                 for k in tv if k.startswith("loss."))
        report(ok, "%s.u2tv: loss terms reproduced from the file's inputs" % fname)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--data", default=os.path.join(here, "..", "data", "ref"))
    args = ap.parse_args()
    t0 = time.time()
    tb = tiny_batch()
    print("1. gradients vs central finite differences (float64)")
    check_gradients(model.make_config("tiny"), tb, [
        ("gd.tau", 1), ("cmcl.temp", 1), ("gd.embed", 4), ("gd.ln.weight", 1),
        ("vit.blocks.0.ln1.weight", 1), ("text.ln_emb.weight", 1), ("fusion.blocks.0.ln2.weight", 1),
        ("vit.ln_f.bias", 1), ("vit.patch.weight", 2), ("vit.cls", 1), ("vit.pos", 1),
        ("text.word", 2), ("text.pos", 1), ("text.blocks.0.attn.qkv.weight", 2),
        ("fusion.blocks.0.attn.qkv.weight", 2), ("fusion.blocks.0.mlp.fc1.weight", 1),
        ("mlm.fc.weight", 1), ("mlm.bias", 1), ("itm.out.weight", 1), ("itm.txt.bias", 1),
        ("vcl.fc1.weight", 1), ("vcl.fc2.bias", 1)], "topk")
    check_gradients(model.make_config("tiny", grounding="nearest"), tb, [
        ("gd.embed", 2), ("gd.ln.weight", 1), ("vit.blocks.0.mlp.fc2.weight", 1),
        ("text.blocks.0.ln2.weight", 1)], "nearest")
    check_gradients(model.make_config("tiny", grounding="none", fusion="full"), tb, [
        ("fusion.blocks.0.attn.proj.weight", 1), ("vit.blocks.0.ln2.bias", 1),
        ("text.word", 1)], "none/full")
    print("2. building blocks vs torch modules")
    check_blocks()
    if os.path.isdir(args.data):
        print("3. committed files in %s" % args.data)
        check_files(args.data)
    print("%d failure(s), %.1f s" % (len(failures), time.time() - t0))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
