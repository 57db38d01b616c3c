"""Write the reference test vectors (doc/testvectors.md) into --out.

    /usr/bin/python3 tests/reference/dump.py --out tests/data/ref

Files: tiny.safetensors, tiny.u2tv, tiny_nearest.u2tv, tiny_none_grounded.u2tv,
tiny_none_full.u2tv, tiny_topk_full.u2tv, small.u2tv.  The output is
deterministic (byte-identical from run to run).
"""

import argparse
import contextlib
import io
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import model                                     # noqa: E402
from model import DTYPE                           # noqa: E402
from safetensors_io import write_safetensors      # noqa: E402
from testweights import test_weights              # noqa: E402
from u2tv import write_u2tv                       # noqa: E402

torch.set_num_threads(1)

CLS, PAD, SEP = 0, 1, 2
MARGIN_PER_TOKEN = 1e-3          # top-K: S_K - S_{K+1} >= 1e-3 * tokens of the item
INNER_GAP_PER_TOKEN = 1e-4       # top-K: consecutive S within the top K+1 (fixes the order)
TRAJ_MARGIN_PER_TOKEN = 1e-4     # top-K along the AdamW trajectory (states 1..10)
NEAREST_MARGIN = 1e-3            # nearest: second-best minus best squared distance

TINY_WEIGHT_SEED = 1
SMALL_WEIGHT_SEED = 2
TRAJ_STEPS = 10
TRAJ_LR, TRAJ_WD, TRAJ_BETAS, TRAJ_EPS, TRAJ_CLIP = 1e-3, 0.01, (0.9, 0.98), 1e-6, 1.0
TRAJ_PARAMS = ["gd.embed", "gd.tau", "cmcl.temp", "text.word", "vit.patch.weight",
               "fusion.blocks.0.ln1.weight", "itm.out.weight"]


# ---------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------

def make_batch(cfg, seed, pair_lens, text_lens, n_images):
    """A batch as numpy arrays (the in.* entries).

    pair_lens / text_lens: caption lengths including [CLS] and [SEP].
    Pixels are the normalised model input, uniform in [-1, 1].  Pair images
    first, then the image-only views: view 0 of every image, then view 1.
    """
    rng = np.random.default_rng(seed)
    S, L, V = cfg["image_size"], cfg["max_text_len"], cfg["vocab_size"]
    MASK = V - 1
    B_p, B_t = len(pair_lens), len(text_lens)
    n_img = B_p + 2 * n_images
    pixels = rng.uniform(-1.0, 1.0, size=(n_img, 3, S, S)).astype(np.float32)
    lens = list(pair_lens) + list(text_lens)
    ids = np.full((len(lens), L), PAD, dtype=np.int32)
    attn = np.zeros((len(lens), L), dtype=np.int32)
    labels = np.full((len(lens), L), -1, dtype=np.int32)
    for c, n in enumerate(lens):
        assert 3 <= n <= L
        ids[c, 0] = CLS
        ids[c, 1:n - 1] = rng.integers(4, V - 2, size=n - 2, endpoint=True)
        ids[c, n - 1] = SEP
        attn[c, :n] = 1
        ratio = 0.30 if c < B_p else 0.15
        count = max(1, int(math.floor(ratio * (n - 2) + 0.5)))
        positions = sorted(rng.choice(np.arange(1, n - 1), size=count, replace=False).tolist())
        for j in positions:
            labels[c, j] = ids[c, j]
            r = rng.random()
            if r < 0.8:
                ids[c, j] = MASK
            elif r < 0.9:
                ids[c, j] = rng.integers(4, V - 2, endpoint=True)
            # else: kept
    # Hard negatives: never the item itself; with B_p >= 3 also no fusion item
    # twice, i.e. (n_i, i) != (j, m_j) for all i, j  <=>  m[n[i]] != i.
    while True:
        neg_img = np.zeros(B_p, dtype=np.int32)
        neg_txt = np.zeros(B_p, dtype=np.int32)
        for i in range(B_p):
            others = [j for j in range(B_p) if j != i]
            neg_img[i] = others[rng.integers(len(others))]
            neg_txt[i] = others[rng.integers(len(others))]
        if B_p < 3 or all(neg_txt[neg_img[i]] != i for i in range(B_p)):
            break
    counts = np.array([B_p, B_t, 2 * n_images], dtype=np.int32)
    return {"pixels": pixels, "ids": ids, "attn": attn, "mlm_labels": labels,
            "itm_neg_img": neg_img, "itm_neg_txt": neg_txt, "counts": counts}


def to_torch_batch(b):
    return {"pixels": torch.tensor(b["pixels"], dtype=DTYPE),
            "ids": torch.tensor(b["ids"], dtype=torch.long),
            "attn": torch.tensor(b["attn"], dtype=torch.long),
            "mlm_labels": torch.tensor(b["mlm_labels"], dtype=torch.long),
            "itm_neg_img": torch.tensor(b["itm_neg_img"], dtype=torch.long),
            "itm_neg_txt": torch.tensor(b["itm_neg_txt"], dtype=torch.long),
            "counts": [int(c) for c in b["counts"]]}


def input_entries(b):
    return [("in." + k, b[k]) for k in
            ("pixels", "ids", "attn", "mlm_labels", "itm_neg_img", "itm_neg_txt", "counts")]


# ---------------------------------------------------------------------------
# Margins of the discrete choices
# ---------------------------------------------------------------------------

def ground_only(p, cfg, tb):
    """The grounding of every fusion item (encoders + dictionary only, no
    grounded transformer): a cheap way to look at the discrete choices."""
    with torch.no_grad():
        Vs = [model.vit_forward(p, cfg, tb["pixels"][n]) for n in range(tb["pixels"].shape[0])]
        Ts = [model.text_forward(p, cfg, tb["ids"][n], tb["attn"][n]) for n in range(tb["ids"].shape[0])]
        lengths = [int(a.sum()) for a in tb["attn"]]
        grounds = []
        for kind, vi, ti in model.fusion_items(tb):
            parts = ([Vs[vi][1:]] if vi is not None else []) + \
                    ([Ts[ti][1:lengths[ti]]] if ti is not None else [])
            X = torch.cat(parts, dim=0)
            g = (model.ground_topk if cfg["grounding"] == "topk" else model.ground_nearest)(p, cfg, X)
            g["n_tokens"] = X.shape[0]
            grounds.append(g)
    return grounds


def topk_margins(cfg, grounds):
    """Per item: (tokens, S_K - S_{K+1}, smallest gap between consecutive top-K+1 scores)."""
    K = cfg["topk"]
    rows = []
    for g in grounds:
        S = sorted(g["S"].detach().tolist(), reverse=True)
        inner = min(S[k] - S[k + 1] for k in range(K))
        rows.append((g["n_tokens"], S[K - 1] - S[K], inner))
    return rows


def nearest_margins(grounds):
    """Per item: smallest (second-best - best) squared distance over its tokens."""
    rows = []
    for g in grounds:
        d = torch.sort(g["dist"], dim=1).values
        rows.append(float((d[:, 1] - d[:, 0]).min()))
    return rows


def topk_ok(rows, inner_too):
    """S_K - S_{K+1} >= MARGIN_PER_TOKEN * tokens for every item; with inner_too
    also every gap between consecutive scores of the top K+1 >= INNER_GAP_PER_TOKEN
    * tokens (so that the order of idx is robust as well as the set)."""
    return all(m >= MARGIN_PER_TOKEN * n and (not inner_too or inner >= INNER_GAP_PER_TOKEN * n)
               for n, m, inner in rows)


def print_topk(label, rows):
    print("%s top-K margins S_K - S_K+1 (tokens, margin, margin/tokens, min inner gap):" % label)
    for f, (n, m, inner) in enumerate(rows):
        print("  item %2d: %3d tokens  margin %.5f  (%.2e per token)  inner %.5f"
              % (f, n, m, m / n, inner))


def inputs_ok(checks, tb, extra=None):
    """checks: [(cfg, params, inner_too)].  True when every margin holds (and
    extra(tb), when given, returns something true)."""
    for cfg, p, inner_too in checks:
        grounds = ground_only(p, cfg, tb)
        if cfg["grounding"] == "topk" and not topk_ok(topk_margins(cfg, grounds), inner_too):
            return False
        if cfg["grounding"] == "nearest" and min(nearest_margins(grounds)) < NEAREST_MARGIN:
            return False
    return extra is None or bool(extra(tb))


def search_inputs(cfg_name, checks, make, first, extra=None, max_tries=2000):
    """The first input seed from `first` on whose batch passes inputs_ok (--search)."""
    for seed in range(first, first + max_tries):
        if inputs_ok(checks, to_torch_batch(make(seed)), extra):
            print("%s: input seed %d passes the margin checks" % (cfg_name, seed))
            return seed
    raise SystemExit("%s: no input seed in [%d, %d) passes the margin checks"
                     % (cfg_name, first, first + max_tries))


# ---------------------------------------------------------------------------
# Entries
# ---------------------------------------------------------------------------

LOSS_NAMES = ["loss.mlm_pairs", "loss.mlm_texts", "loss.itm", "loss.cmcl", "loss.vcl",
              "loss.ground_pairs", "loss.ground_pairs.q", "loss.ground_pairs.e",
              "loss.ground_texts", "loss.ground_texts.q", "loss.ground_texts.e",
              "loss.ground_images", "loss.ground_images.q", "loss.ground_images.e",
              "loss.pairs", "loss.texts", "loss.images", "loss.total"]


def f32(t):
    """float64 tensor -> float32 array (one rounding; -0.0 written as +0.0)."""
    return t.detach().numpy().astype(np.float32) + np.float32(0.0)


def mlm_labels_vector(b):
    """Labels of the masked positions, pairs then texts, item then position order
    (the rows of mlm.logits).  Captions are stored in that same order."""
    lab = b["mlm_labels"]
    return np.array([v for row in lab for v in row if v >= 0], dtype=np.int32)


def head_entries(out, b):
    e = []
    for name in ("mlm.logits",):
        if name in out:
            e.append((name, f32(out[name])))
    e.append(("mlm.labels", mlm_labels_vector(b)))
    for name in ("itm.logits", "cmcl.logits", "vcl.z", "vcl.logits"):
        if name in out:
            e.append((name, f32(out[name])))
    return e


def idx_entries(out):
    e = []
    for f in range(len(out["_items"])):
        key = "gd.%d.idx" % f
        if key in out:
            e.append((key, np.array(out[key], dtype=np.int32)))
    return e


def loss_entries(out):
    return [(n, f32(out[n]).reshape(1)) for n in LOSS_NAMES if n in out]


def grad_entries(cfg, p):
    return [("grad." + name, f32(p[name].grad)) for name, _ in model.param_specs(cfg)]


def trace_entries(cfg, out):
    e = [("vit.patch_embed", f32(out["vit.patch_embed"]))]
    e += [("vit.block%d.out" % i, f32(out["vit.block%d.out" % i])) for i in range(cfg["vit_layers"])]
    e += [("vit.out", f32(out["vit.out"])), ("text.emb", f32(out["text.emb"]))]
    e += [("text.block%d.out" % i, f32(out["text.block%d.out" % i])) for i in range(cfg["text_layers"])]
    e += [("text.out", f32(out["text.out"]))]
    for f in range(len(out["_items"])):
        for part in ("x", "scores", "S"):
            key = "gd.%d.%s" % (f, part)
            if key in out:
                e.append((key, f32(out[key])))
        key = "gd.%d.idx" % f
        if key in out:
            e.append((key, np.array(out[key], dtype=np.int32)))
        e.append(("fusion.%d.in" % f, f32(out["fusion.%d.in" % f])))
        e += [("fusion.%d.block%d.out" % (f, i), f32(out["fusion.%d.block%d.out" % (f, i)]))
              for i in range(cfg["fusion_layers"])]
    return e


# ---------------------------------------------------------------------------
# AdamW trajectory
# ---------------------------------------------------------------------------

def clamp_scalars(cfg, p):
    with torch.no_grad():
        if "gd.tau" in p:
            p["gd.tau"].clamp_(cfg["tau_min"], cfg["tau_max"])
        p["cmcl.temp"].clamp_(cfg["temp_min"], cfg["temp_max"])


def trajectory(cfg, weights, tb):
    """TRAJ_STEPS AdamW steps with torch.optim.AdamW and clip_grad_norm_ on the
    fixed batch; each step is re-done by hand with doc/model.md's formula and
    the two must agree.  Returns (losses before each step, loss after the
    last step, final params, top-K margins seen at each step)."""
    p = model.params_from_numpy(weights)
    specs = model.param_specs(cfg)
    decay = [p[n] for n, s in specs if model.weight_decayed(n, s)]
    no_decay = [p[n] for n, s in specs if not model.weight_decayed(n, s)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": TRAJ_WD},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=TRAJ_LR, betas=TRAJ_BETAS, eps=TRAJ_EPS)
    b1, b2 = TRAJ_BETAS
    m = {n: torch.zeros_like(p[n]) for n, _ in specs}
    v = {n: torch.zeros_like(p[n]) for n, _ in specs}
    losses, margins = [], []
    worst = 0.0
    for step in range(1, TRAJ_STEPS + 1):
        opt.zero_grad()
        out = model.forward_batch(p, cfg, tb)
        margins.append(min(mg / n for n, mg, _ in topk_margins(cfg, out["_ground"])))
        out["loss.total"].backward()
        losses.append(float(out["loss.total"]))
        raw = {n: p[n].grad.clone() for n, _ in specs}
        before = {n: p[n].detach().clone() for n, _ in specs}
        torch.nn.utils.clip_grad_norm_([p[n] for n, _ in specs], TRAJ_CLIP)
        opt.step()
        clamp_scalars(cfg, p)
        # The same step by hand (doc/model.md "Optimiser").
        norm = math.sqrt(sum(float((g * g).sum()) for g in raw.values()))
        coef = min(1.0, TRAJ_CLIP / (norm + 1e-6))
        for n, s in specs:
            g = raw[n] * coef
            wd = TRAJ_WD if model.weight_decayed(n, s) else 0.0
            m[n] = b1 * m[n] + (1 - b1) * g
            v[n] = b2 * v[n] + (1 - b2) * g * g
            new = before[n] * (1 - TRAJ_LR * wd) - TRAJ_LR / (1 - b1 ** step) * m[n] / (
                torch.sqrt(v[n]) / math.sqrt(1 - b2 ** step) + TRAJ_EPS)
            if n == "gd.tau":
                new = new.clamp(cfg["tau_min"], cfg["tau_max"])
            if n == "cmcl.temp":
                new = new.clamp(cfg["temp_min"], cfg["temp_max"])
            diff = float((new - p[n].detach()).abs().max())
            worst = max(worst, diff)
        print("  step %2d: loss %.10f  grad norm %.6f  clip coef %.6f" % (step, losses[-1], norm, coef))
    assert worst < 1e-14, "hand-written AdamW differs from torch.optim.AdamW by %g" % worst
    print("  hand-written AdamW matches torch.optim.AdamW + clip_grad_norm_ (max |diff| %.1e)" % worst)
    with torch.no_grad():
        out = model.forward_batch(p, cfg, tb)
    margins.append(min(mg / n for n, mg, _ in topk_margins(cfg, out["_ground"])))
    return losses, float(out["loss.total"]), p, margins


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------

TINY_PAIR_LENS = [16, 7, 11]     # one caption at the full L = 16
TINY_TEXT_LENS = [5, 12]
TINY_IMAGES = 2                  # 2 images x 2 views = 4 image-only items

# Input seeds: the first seeds from *_FIRST on that pass every margin check
# (found with --search, which repeats that search).
TINY_INPUT_SEED_FIRST, TINY_INPUT_SEED = 1000, 1004
SMALL_INPUT_SEED_FIRST, SMALL_INPUT_SEED = 2000, 2016

SMALL_PAIR_LENS = [48, 13]
SMALL_TEXT_LENS = [20]
SMALL_IMAGES = 1


def forward_with_grads(cfg, weights, tb):
    p = model.params_from_numpy(weights)
    out = model.forward_batch(p, cfg, tb, trace=True)
    out["loss.total"].backward()
    return out, p


def print_losses(label, out):
    print("%s losses:" % label)
    for n in LOSS_NAMES:
        if n in out:
            print("  %-24s %.10f" % (n, float(out[n])))


def tiny_variants():
    return {
        "tiny": model.make_config("tiny"),
        "tiny_nearest": model.make_config("tiny", grounding="nearest"),
        "tiny_none_grounded": model.make_config("tiny", grounding="none", fusion="grounded"),
        "tiny_none_full": model.make_config("tiny", grounding="none", fusion="full"),
        "tiny_topk_full": model.make_config("tiny", grounding="topk", fusion="full"),
    }


def trajectory_margins_ok(margins):
    return margins[0] >= MARGIN_PER_TOKEN and min(margins[1:]) >= TRAJ_MARGIN_PER_TOKEN


def dump_tiny(outdir, search):
    variants = tiny_variants()
    base = variants["tiny"]
    weights = {k: test_weights(c, TINY_WEIGHT_SEED) for k, c in variants.items()}
    write_safetensors(os.path.join(outdir, "tiny.safetensors"), weights["tiny"],
                      {"unimo2.config": json.dumps(base)})

    def make(seed):
        return make_batch(base, seed, TINY_PAIR_LENS, TINY_TEXT_LENS, TINY_IMAGES)

    checks = [(variants["tiny"], model.params_from_numpy(weights["tiny"], False), True),
              (variants["tiny_nearest"], model.params_from_numpy(weights["tiny_nearest"], False), True)]
    seed = TINY_INPUT_SEED
    if search:
        def quiet_trajectory_ok(tb):
            with contextlib.redirect_stdout(io.StringIO()):
                return trajectory_margins_ok(trajectory(base, weights["tiny"], tb)[3])
        seed = search_inputs("tiny", checks, make, TINY_INPUT_SEED_FIRST, quiet_trajectory_ok)
    print("tiny: input seed %d" % seed)
    b = make(seed)
    tb = to_torch_batch(b)
    assert inputs_ok(checks, tb), "tiny: input seed %d fails the margin checks (run with --search)" % seed

    # Main file: every intermediate, gradients, trajectory.
    out, p = forward_with_grads(base, weights["tiny"], tb)
    rows = topk_margins(base, out["_ground"])
    print_topk("tiny", rows)
    assert topk_ok(rows, True)
    print_losses("tiny", out)
    entries = input_entries(b) + trace_entries(base, out) + head_entries(out, b)
    entries += loss_entries(out) + grad_entries(base, p)
    print("tiny: %d-step AdamW trajectory" % TRAJ_STEPS)
    losses, final_loss, pt, margins = trajectory(base, weights["tiny"], tb)
    print("  smallest top-K margin per token at states 0..%d: %s"
          % (TRAJ_STEPS, " ".join("%.2e" % m for m in margins)))
    assert trajectory_margins_ok(margins), "top-K margin too small along the trajectory (run with --search)"
    print("  loss after the last step %.10f" % final_loss)
    entries += [("traj.loss", np.array(losses, dtype=np.float32)),
                ("traj.final_loss", np.array([final_loss], dtype=np.float32))]
    entries += [("traj.final." + n, f32(pt[n])) for n in TRAJ_PARAMS]
    write_u2tv(os.path.join(outdir, "tiny.u2tv"), entries)

    # Variants: inputs, head outputs, indices, losses, gradients.
    for name in ("tiny_nearest", "tiny_none_grounded", "tiny_none_full", "tiny_topk_full"):
        cfg = variants[name]
        out, p = forward_with_grads(cfg, weights[name], tb)
        if cfg["grounding"] == "topk":
            assert topk_ok(topk_margins(cfg, out["_ground"]), True)
        if cfg["grounding"] == "nearest":
            nm = nearest_margins(out["_ground"])
            assert min(nm) >= NEAREST_MARGIN
            print("%s: smallest (second - best) squared distance per item: %s"
                  % (name, " ".join("%.4f" % m for m in nm)))
        print_losses(name, out)
        entries = input_entries(b) + head_entries(out, b) + idx_entries(out)
        entries += loss_entries(out) + grad_entries(cfg, p)
        write_u2tv(os.path.join(outdir, name + ".u2tv"), entries)


def dump_small(outdir, search):
    cfg = model.make_config("small")
    weights = test_weights(cfg, SMALL_WEIGHT_SEED)
    p = model.params_from_numpy(weights, False)

    def make(seed):
        return make_batch(cfg, seed, SMALL_PAIR_LENS, SMALL_TEXT_LENS, SMALL_IMAGES)

    # small: only the set of the top-K is made robust (S_K - S_K+1); the order
    # inside the top K has gaps far below any usable bound with C = 1024.
    checks = [(cfg, p, False)]
    seed = SMALL_INPUT_SEED
    if search:
        seed = search_inputs("small", checks, make, SMALL_INPUT_SEED_FIRST)
    print("small: input seed %d" % seed)
    b = make(seed)
    tb = to_torch_batch(b)
    with torch.no_grad():
        out = model.forward_batch(p, cfg, tb)
    rows = topk_margins(cfg, out["_ground"])
    print_topk("small", rows)
    assert topk_ok(rows, False), "small: input seed %d fails the margin check (run with --search)" % seed
    print_losses("small", out)
    entries = input_entries(b)
    entries += [("vit.out.cls", f32(out["vit.out"][:, 0])), ("text.out.cls", f32(out["text.out"][:, 0]))]
    entries += idx_entries(out) + head_entries(out, b) + loss_entries(out)
    write_u2tv(os.path.join(outdir, "small.u2tv"), entries)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="output folder (tests/data/ref)")
    ap.add_argument("--search", action="store_true",
                    help="search the input seeds again (from the *_FIRST constants) instead of "
                         "using TINY_INPUT_SEED / SMALL_INPUT_SEED; slow")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    dump_tiny(args.out, args.search)
    dump_small(args.out, args.search)
    for name in sorted(os.listdir(args.out)):
        print("%-28s %9d bytes" % (name, os.path.getsize(os.path.join(args.out, name))))


if __name__ == "__main__":
    main()
