"""Reference implementation of the unimo2 model (doc/model.md) in PyTorch, float64.

This is the independent reference the C forward and backward passes are checked
against.  It is written for clarity, not speed: items are processed one at a
time, attention heads in a loop, and every step follows the wording of
doc/model.md.  Everything is computed in float64.

Public entry points:
    make_config(name_or_file_or_dict)  -> config dict (all keys filled in)
    param_specs(cfg)                   -> [(name, shape)] in doc/model.md order
    forward_batch(params, cfg, batch)  -> dict of named tensors (intermediates,
                                          head outputs, loss terms)
"""

import json
import math
import os

import torch

DTYPE = torch.float64

# ---------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------

# Every key with its tiny value; the other built-ins override some of them.
TINY = {
    "image_size": 16,
    "patch_size": 4,
    "patch_pad": 0,
    "hidden": 32,
    "heads": 2,
    "ffn": 64,
    "vit_layers": 1,
    "text_layers": 1,
    "fusion_layers": 1,
    "vocab_size": 512,
    "max_text_len": 16,
    "dict_size": 32,
    "topk": 4,
    "grounding": "topk",
    "fusion": "grounded",
    "vit_ln_eps": 1e-12,
    "text_ln_eps": 1e-5,
    "head_ln_eps": 1e-5,
    "text_pos_offset": 0,
    "tau_init": 100.0,
    "tau_min": 1.0,
    "tau_max": 1e4,
    "temp_init": 0.07,
    "temp_min": 0.001,
    "temp_max": 0.5,
    "vcl_temp": 0.1,
    "w_mlm": 1.0,
    "w_itm": 1.0,
    "w_cmcl": 1.0,
    "w_vcl": 1.0,
    "w_ground": 1.0,
    "ground_q": 1.0,
    "ground_e": 0.25,
}

BUILTIN = {
    "tiny": {},
    "mini": {"image_size": 64, "patch_size": 8, "hidden": 128, "heads": 4, "ffn": 512,
             "vit_layers": 2, "text_layers": 2, "fusion_layers": 2, "vocab_size": 4096,
             "max_text_len": 32, "dict_size": 256, "topk": 16},
    "small": {"image_size": 128, "patch_size": 16, "hidden": 256, "heads": 4, "ffn": 1024,
              "vit_layers": 4, "text_layers": 4, "fusion_layers": 4, "vocab_size": 8192,
              "max_text_len": 48, "dict_size": 1024, "topk": 32},
    "base": {"image_size": 224, "patch_size": 16, "hidden": 768, "heads": 12, "ffn": 3072,
             "vit_layers": 12, "text_layers": 12, "fusion_layers": 12, "vocab_size": 50265,
             "max_text_len": 128, "dict_size": 2048, "topk": 100},
}


def make_config(spec, **overrides):
    """A full config from a built-in name, a JSON file path, or a dict.

    Keys missing from a JSON file or dict take the tiny value (the table's
    "columns left empty take the tiny value"); unknown keys are an error.
    Keyword overrides are applied last (used for the test variants).
    """
    cfg = dict(TINY)
    if isinstance(spec, dict):
        given = spec
    elif spec in BUILTIN:
        given = BUILTIN[spec]
    elif isinstance(spec, str) and os.path.exists(spec):
        with open(spec, "r", encoding="utf-8") as f:
            given = json.load(f)
    else:
        raise ValueError("unknown config %r" % (spec,))
    for key, value in list(given.items()) + list(overrides.items()):
        if key not in TINY:
            raise ValueError("unknown config key %r" % key)
        cfg[key] = value
    check_config(cfg)
    return cfg


def check_config(cfg):
    if cfg["hidden"] % cfg["heads"] != 0:
        raise ValueError("hidden must be a multiple of heads")
    if cfg["grounding"] not in ("topk", "nearest", "none"):
        raise ValueError("grounding must be topk, nearest or none")
    if cfg["fusion"] not in ("grounded", "full"):
        raise ValueError("fusion must be grounded or full")
    if (cfg["image_size"] + 2 * cfg["patch_pad"] - cfg["patch_size"]) < 0:
        raise ValueError("patch larger than the image")
    if cfg["text_pos_offset"] != 0:
        # text.pos has exactly L rows, so position ids offset + j must stay below L.
        raise ValueError("text_pos_offset other than 0 does not fit text.pos [L, D]")
    if cfg["topk"] > cfg["dict_size"]:
        raise ValueError("topk larger than dict_size")


def grid_size(cfg):
    """Patches per side: (S + 2*pad - P)/P + 1 (integer division, like a conv)."""
    return (cfg["image_size"] + 2 * cfg["patch_pad"] - cfg["patch_size"]) // cfg["patch_size"] + 1


def num_patches(cfg):
    return grid_size(cfg) ** 2


# ---------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------

def block_specs(prefix, D, F):
    """The twelve tensors of one transformer block (same for ViT, text, fusion)."""
    return [
        (prefix + "ln1.weight", [D]), (prefix + "ln1.bias", [D]),
        (prefix + "attn.qkv.weight", [3 * D, D]), (prefix + "attn.qkv.bias", [3 * D]),
        (prefix + "attn.proj.weight", [D, D]), (prefix + "attn.proj.bias", [D]),
        (prefix + "ln2.weight", [D]), (prefix + "ln2.bias", [D]),
        (prefix + "mlp.fc1.weight", [F, D]), (prefix + "mlp.fc1.bias", [F]),
        (prefix + "mlp.fc2.weight", [D, F]), (prefix + "mlp.fc2.bias", [D]),
    ]


def param_specs(cfg, full_topk_list=False):
    """[(name, shape)] in the order of doc/model.md's parameter listing.

    With full_topk_list=True the list is the one a `topk` config would have
    (all gd.* tensors present), whatever cfg["grounding"] says; the test-weight
    numbering n is defined over that list.
    """
    D, F, P = cfg["hidden"], cfg["ffn"], cfg["patch_size"]
    V, L, C = cfg["vocab_size"], cfg["max_text_len"], cfg["dict_size"]
    n_v = 1 + num_patches(cfg)
    specs = [("vit.patch.weight", [D, 3, P, P]), ("vit.patch.bias", [D]),
             ("vit.cls", [D]), ("vit.pos", [n_v, D])]
    for i in range(cfg["vit_layers"]):
        specs += block_specs("vit.blocks.%d." % i, D, F)
    specs += [("vit.ln_f.weight", [D]), ("vit.ln_f.bias", [D])]
    specs += [("text.word", [V, D]), ("text.pos", [L, D]),
              ("text.ln_emb.weight", [D]), ("text.ln_emb.bias", [D])]
    for i in range(cfg["text_layers"]):
        specs += block_specs("text.blocks.%d." % i, D, F)
    grounding = "topk" if full_topk_list else cfg["grounding"]
    if grounding != "none":
        specs += [("gd.embed", [C, D])]
        if grounding == "topk":
            specs += [("gd.tau", [1])]
        specs += [("gd.ln.weight", [D]), ("gd.ln.bias", [D])]
    for i in range(cfg["fusion_layers"]):
        specs += block_specs("fusion.blocks.%d." % i, D, F)
    specs += [("mlm.fc.weight", [D, D]), ("mlm.fc.bias", [D]),
              ("mlm.ln.weight", [D]), ("mlm.ln.bias", [D]), ("mlm.bias", [V])]
    specs += [("itm.img.weight", [D, D]), ("itm.img.bias", [D]),
              ("itm.txt.weight", [D, D]), ("itm.txt.bias", [D]),
              ("itm.out.weight", [2, D]), ("itm.out.bias", [2])]
    specs += [("cmcl.temp", [1])]
    specs += [("vcl.fc1.weight", [D, D]), ("vcl.fc1.bias", [D]),
              ("vcl.fc2.weight", [D, D]), ("vcl.fc2.bias", [D])]
    return specs


def is_layernorm(name):
    """LayerNorm tensors: *.ln1.*, *.ln2.*, vit.ln_f.*, text.ln_emb.*, gd.ln.*, mlm.ln.*"""
    parts = name.split(".")
    return len(parts) >= 2 and parts[-2] in ("ln1", "ln2", "ln_f", "ln_emb", "ln")


def weight_decayed(name, shape):
    """doc/model.md: weight decay on tensors of two or more dimensions only."""
    return len(shape) >= 2


# ---------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------

def layer_norm(x, weight, bias, eps):
    """LayerNorm over the last axis, biased variance."""
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def gelu(x):
    """Exact (erf) GELU."""
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def linear(x, weight, bias):
    """y = x W^T + b with W stored [out, in]."""
    return x @ weight.t() + bias


def l2_normalize(x):
    """x / ||x|| along the last axis (no epsilon)."""
    return x / torch.sqrt((x * x).sum(dim=-1, keepdim=True))


def cross_entropy(logits, labels):
    """Mean softmax cross-entropy over rows; labels is a list of class indices."""
    logp = torch.log_softmax(logits, dim=-1)
    picked = torch.stack([logp[r, labels[r]] for r in range(len(labels))])
    return -picked.mean()


def attention(p, prefix, x, allowed, cfg):
    """Multi-head self-attention of one item.

    x: [R, D]; allowed: [R, R] bool, allowed[i, j] = query i may attend key j.
    Disallowed logits are -inf; a query row with no allowed key gets a zero
    context (doc/model.md).
    """
    D, H = cfg["hidden"], cfg["heads"]
    dh = D // H
    qkv = linear(x, p[prefix + "attn.qkv.weight"], p[prefix + "attn.qkv.bias"])
    q, k, v = qkv[:, 0:D], qkv[:, D:2 * D], qkv[:, 2 * D:3 * D]
    row_has_key = allowed.any(dim=1)
    # Rows without any allowed key: let them see everything so that softmax is
    # finite, then multiply their probabilities by zero (zero context, zero grad).
    allowed_safe = allowed | (~row_has_key)[:, None]
    heads = []
    for h in range(H):
        cols = slice(h * dh, (h + 1) * dh)
        logits = q[:, cols] @ k[:, cols].t() / math.sqrt(dh)
        logits = logits.masked_fill(~allowed_safe, float("-inf"))
        probs = torch.softmax(logits, dim=-1)
        probs = probs * row_has_key[:, None].to(DTYPE)
        heads.append(probs @ v[:, cols])
    ctx = torch.cat(heads, dim=1)
    return linear(ctx, p[prefix + "attn.proj.weight"], p[prefix + "attn.proj.bias"])


def mlp(p, prefix, x):
    h = gelu(linear(x, p[prefix + "mlp.fc1.weight"], p[prefix + "mlp.fc1.bias"]))
    return linear(h, p[prefix + "mlp.fc2.weight"], p[prefix + "mlp.fc2.bias"])


def pre_ln_block(p, prefix, x, allowed, cfg, eps):
    """ViT block: x += attn(ln1(x)); x += mlp(ln2(x))."""
    x = x + attention(p, prefix, layer_norm(x, p[prefix + "ln1.weight"], p[prefix + "ln1.bias"], eps),
                      allowed, cfg)
    x = x + mlp(p, prefix, layer_norm(x, p[prefix + "ln2.weight"], p[prefix + "ln2.bias"], eps))
    return x


def post_ln_block(p, prefix, x, allowed, cfg, eps):
    """Text / fusion block: x = ln1(x + attn(x)); x = ln2(x + mlp(x))."""
    x = layer_norm(x + attention(p, prefix, x, allowed, cfg),
                   p[prefix + "ln1.weight"], p[prefix + "ln1.bias"], eps)
    x = layer_norm(x + mlp(p, prefix, x), p[prefix + "ln2.weight"], p[prefix + "ln2.bias"], eps)
    return x


# ---------------------------------------------------------------------------
# Encoders
# ---------------------------------------------------------------------------

def vit_forward(p, cfg, image, trace=None):
    """One image [3, S, S] (already normalised) -> V [N_v, D] (after ln_f).

    trace (a dict or None) receives 'patch_embed' [N_p, D], 'block{i}' [N_v, D].
    """
    D, P, pad = cfg["hidden"], cfg["patch_size"], cfg["patch_pad"]
    eps = cfg["vit_ln_eps"]
    g = grid_size(cfg)
    if pad > 0:
        image = torch.nn.functional.pad(image, (pad, pad, pad, pad))
    # Patches in row-major order, each flattened (channel, row, column).
    rows = []
    for r in range(g):
        for c in range(g):
            rows.append(image[:, r * P:(r + 1) * P, c * P:(c + 1) * P].reshape(-1))
    patches = torch.stack(rows)                                  # [N_p, 3*P*P]
    weight = p["vit.patch.weight"].reshape(D, 3 * P * P)
    emb = linear(patches, weight, p["vit.patch.bias"])           # [N_p, D]
    x = torch.cat([p["vit.cls"].reshape(1, D), emb], dim=0) + p["vit.pos"]
    allowed = torch.ones(x.shape[0], x.shape[0], dtype=torch.bool)
    if trace is not None:
        trace["patch_embed"] = emb
    for i in range(cfg["vit_layers"]):
        x = pre_ln_block(p, "vit.blocks.%d." % i, x, allowed, cfg, eps)
        if trace is not None:
            trace["block%d" % i] = x
    return layer_norm(x, p["vit.ln_f.weight"], p["vit.ln_f.bias"], eps)


def text_forward(p, cfg, ids, attn, trace=None):
    """One caption: ids [L] (long), attn [L] (1 real, 0 padding) -> T [L, D].

    trace receives 'emb' [L, D] and 'block{i}' [L, D].  Rows at padding
    positions are computed (zero attention context) but are not part of any
    contract.
    """
    L = ids.shape[0]
    off = cfg["text_pos_offset"]
    eps = cfg["text_ln_eps"]
    x = p["text.word"][ids] + p["text.pos"][off:off + L]
    x = layer_norm(x, p["text.ln_emb.weight"], p["text.ln_emb.bias"], eps)
    real = attn.bool()
    allowed = real[:, None] & real[None, :]
    if trace is not None:
        trace["emb"] = x
    for i in range(cfg["text_layers"]):
        x = post_ln_block(p, "text.blocks.%d." % i, x, allowed, cfg, eps)
        if trace is not None:
            trace["block%d" % i] = x
    return x


# ---------------------------------------------------------------------------
# Grounded dictionary
# ---------------------------------------------------------------------------

def top_k_indices(S, k):
    """Indices of the k largest values, descending, ties to the lower index."""
    values = S.tolist()
    order = sorted(range(len(values)), key=lambda c: (-values[c], c))
    return order[:k]


def ground_topk(p, cfg, X, sg=None):
    """Top-K grounding of one item's real tokens X [T, D].

    Returns a dict: scores s [T, C], S [C], idx (list of K ints), G [K, D]
    (after gd.ln) and the per-item sums the group losses are built from:
    e_sq = sum over (K, D) of (sg(e_idx_k) - ê_k)^2,
    q_sq = sum over (T, D) of (sg(x_t) - x̂_t)^2.
    The stopped values are returned as 'sg' = {'E_sel', 'X'}; passing such a
    dict back in as `sg` uses those constants instead (see forward_batch).
    """
    E = p["gd.embed"]
    tau = torch.clamp(p["gd.tau"], cfg["tau_min"], cfg["tau_max"])   # [1]
    s = torch.sigmoid(tau * (X @ E.t()))                              # [T, C]
    S = s.sum(dim=0)                                                  # [C]
    idx = top_k_indices(S.detach(), cfg["topk"])
    E_sel = E[idx]                                                    # [K, D]
    G = layer_norm(E_sel, p["gd.ln.weight"], p["gd.ln.bias"], cfg["head_ln_eps"])

    if sg is None:
        sg = {"E_sel": E_sel.detach(), "X": X.detach()}

    s_sel = s[:, idx]                                                 # [T, K]
    w = s_sel / (S[idx] + 1e-18)                                      # w[t, k] = s[t,idx_k] / S[idx_k]
    e_hat = w.t() @ X                                                 # [K, D]
    e_sq = ((sg["E_sel"] - e_hat) ** 2).sum()
    q = s_sel / (s_sel.sum(dim=1, keepdim=True) + 1e-18)             # q[t, k]
    x_hat = q @ E_sel                                                 # [T, D]
    q_sq = ((sg["X"] - x_hat) ** 2).sum()
    return {"scores": s, "S": S, "idx": idx, "G": G, "e_sq": e_sq, "q_sq": q_sq, "sg": sg}


def ground_nearest(p, cfg, X, sg=None):
    """1-to-1 map: every real token -> nearest dictionary entry (L2, ties low).

    Returns idx (list of T ints), G [T, D] and the per-item sums
    q_sq = sum (e_idx_t - sg x_t)^2   (weight ground_q, trains the dictionary)
    e_sq = sum (sg e_idx_t - x_t)^2   (weight ground_e, commitment on x).
    'sg' as in ground_topk.
    """
    E = p["gd.embed"]
    dist = ((X.detach()[:, None, :] - E.detach()[None, :, :]) ** 2).sum(dim=2)   # [T, C]
    idx = []
    for t in range(X.shape[0]):
        row = dist[t].tolist()
        idx.append(min(range(len(row)), key=lambda c: (row[c], c)))
    E_sel = E[idx]
    G = layer_norm(E_sel, p["gd.ln.weight"], p["gd.ln.bias"], cfg["head_ln_eps"])
    if sg is None:
        sg = {"E_sel": E_sel.detach(), "X": X.detach()}
    q_sq = ((E_sel - sg["X"]) ** 2).sum()
    e_sq = ((sg["E_sel"] - X) ** 2).sum()
    return {"dist": dist, "idx": idx, "G": G, "e_sq": e_sq, "q_sq": q_sq, "sg": sg}


# ---------------------------------------------------------------------------
# Grounded transformer
# ---------------------------------------------------------------------------

def fusion_forward(p, cfg, V, G, T, t_real, trace=None):
    """One fusion item.  V [N_v, D] or None, G [*, D] or None, T [L, D] or None;
    t_real [L] bool marks real text positions.  Input = concat of the present
    parts in the order V, G, T.  Returns (F, offsets) where offsets gives the
    first row of each part ('v', 'g', 't') in F.
    """
    parts, kinds, real = [], [], []
    offsets = {}
    row = 0
    for kind, part in (("v", V), ("g", G), ("t", T)):
        if part is None:
            continue
        offsets[kind] = row
        row += part.shape[0]
        parts.append(part)
        kinds += [kind] * part.shape[0]
        if kind == "t":
            real += [bool(r) for r in t_real.tolist()]
        else:
            real += [True] * part.shape[0]
    x = torch.cat(parts, dim=0)
    real = torch.tensor(real)
    is_v = torch.tensor([k == "v" for k in kinds])
    is_t = torch.tensor([k == "t" for k in kinds])
    # allowed[i, j]: query i may attend key j; both must be real ...
    allowed = real[:, None] & real[None, :]
    if cfg["fusion"] == "grounded":
        # ... and, for the grounded rule, V -/-> T and T -/-> V.
        v_to_t = is_v[:, None] & is_t[None, :]
        t_to_v = is_t[:, None] & is_v[None, :]
        allowed = allowed & ~v_to_t & ~t_to_v
    if trace is not None:
        trace["in"] = x
    eps = cfg["text_ln_eps"]
    for i in range(cfg["fusion_layers"]):
        x = post_ln_block(p, "fusion.blocks.%d." % i, x, allowed, cfg, eps)
        if trace is not None:
            trace["block%d" % i] = x
    return x, offsets


# ---------------------------------------------------------------------------
# A training batch
# ---------------------------------------------------------------------------

def fusion_items(batch):
    """[(kind, image index or None, caption index or None)] in the fixed order:
    B_p positives, B_p negative-image, B_p negative-text, B_t text-only,
    then the image-only items."""
    B_p, B_t, N_io = batch["counts"]
    items = []
    for i in range(B_p):
        items.append(("pos", i, i))
    for i in range(B_p):
        items.append(("neg_img", int(batch["itm_neg_img"][i]), i))
    for i in range(B_p):
        items.append(("neg_txt", i, int(batch["itm_neg_txt"][i])))
    for j in range(B_t):
        items.append(("text", None, B_p + j))
    for k in range(N_io):
        items.append(("image", B_p + k, None))
    return items


def group_ground_loss(cfg, results, n_tokens):
    """(L_ground, q_latent, e_latent) of one group from its items' sums."""
    D = cfg["hidden"]
    if cfg["grounding"] == "none" or not results:
        zero = torch.zeros((), dtype=DTYPE)
        return zero, zero, zero
    q_sum = sum(r["q_sq"] for r in results)
    e_sum = sum(r["e_sq"] for r in results)
    if cfg["grounding"] == "topk":
        q_latent = q_sum / (n_tokens * D)
        e_latent = e_sum / (len(results) * cfg["topk"] * D)
    else:   # nearest: both means over (real tokens x D)
        q_latent = q_sum / (n_tokens * D)
        e_latent = e_sum / (n_tokens * D)
    return cfg["ground_q"] * q_latent + cfg["ground_e"] * e_latent, q_latent, e_latent


def forward_batch(p, cfg, batch, trace=False, sg=None):
    """Forward pass over one batch (doc/model.md "A training batch").

    p: dict name -> float64 tensor.  batch: dict with
      pixels [N_img, 3, S, S] float64, ids / attn / mlm_labels [N_txt, L] long,
      itm_neg_img / itm_neg_txt [B_p] long, counts (B_p, B_t, N_io).
    Returns a dict name -> tensor (or list for indices).  Loss entries are
    0-dim tensors.  With trace=True all intermediates are included.

    sg: None, or the out["_sg"] of an earlier call.  The grounding losses hold
    stop-gradient targets (sg(e_idx), sg(x)); autograd's gradient is the
    derivative with those targets held constant.  Passing the earlier values
    keeps them constant, so finite differences measure the same derivative
    (check_grads.py).  Training never passes sg.
    """
    B_p, B_t, N_io = [int(c) for c in batch["counts"]]
    out = {}

    # --- unimodal encoders (each image and caption exactly once) ---
    Vs, Ts = [], []
    vit_traces, text_traces = [], []
    for n in range(batch["pixels"].shape[0]):
        tr = {} if trace else None
        Vs.append(vit_forward(p, cfg, batch["pixels"][n], tr))
        vit_traces.append(tr)
    for n in range(batch["ids"].shape[0]):
        tr = {} if trace else None
        Ts.append(text_forward(p, cfg, batch["ids"][n], batch["attn"][n], tr))
        text_traces.append(tr)
    out["vit.out"] = torch.stack(Vs)
    out["text.out"] = torch.stack(Ts)
    if trace:
        out["vit.patch_embed"] = torch.stack([t["patch_embed"] for t in vit_traces])
        for i in range(cfg["vit_layers"]):
            out["vit.block%d.out" % i] = torch.stack([t["block%d" % i] for t in vit_traces])
        out["text.emb"] = torch.stack([t["emb"] for t in text_traces])
        for i in range(cfg["text_layers"]):
            out["text.block%d.out" % i] = torch.stack([t["block%d" % i] for t in text_traces])

    lengths = [int(a.sum()) for a in batch["attn"]]

    # --- fusion items: grounding, grounded transformer ---
    items = fusion_items(batch)
    F_out, F_off, ground = [], [], []
    for f, (kind, vi, ti) in enumerate(items):
        X_parts = []
        if vi is not None:
            X_parts.append(Vs[vi][1:])                 # patch outputs, CLS excluded
        if ti is not None:
            X_parts.append(Ts[ti][1:lengths[ti]])      # after [CLS] up to and incl. [SEP]
        X = torch.cat(X_parts, dim=0)
        item_sg = sg[f] if sg is not None else None
        if cfg["grounding"] == "topk":
            g = ground_topk(p, cfg, X, item_sg)
        elif cfg["grounding"] == "nearest":
            g = ground_nearest(p, cfg, X, item_sg)
        else:
            g = None
        if g is not None:
            g["n_tokens"] = X.shape[0]
            out["gd.%d.idx" % f] = g["idx"]
            if trace:
                out["gd.%d.x" % f] = X
                if cfg["grounding"] == "topk":
                    out["gd.%d.scores" % f] = g["scores"]
                    out["gd.%d.S" % f] = g["S"]
        ground.append(g)
        tr = {} if trace else None
        F, off = fusion_forward(p, cfg,
                                Vs[vi] if vi is not None else None,
                                g["G"] if g is not None else None,
                                Ts[ti] if ti is not None else None,
                                batch["attn"][ti].bool() if ti is not None else None,
                                tr)
        F_out.append(F)
        F_off.append(off)
        if trace:
            out["fusion.%d.in" % f] = tr["in"]
            for i in range(cfg["fusion_layers"]):
                out["fusion.%d.block%d.out" % (f, i)] = tr["block%d" % i]

    # --- MLM: pair positives, then text-only items; item then position order ---
    def mlm_logits(item_list):
        rows, labels = [], []
        for f in item_list:
            ti = items[f][2]
            t0 = F_off[f]["t"]
            for j in range(batch["ids"].shape[1]):
                lab = int(batch["mlm_labels"][ti][j])
                if lab >= 0:
                    rows.append(F_out[f][t0 + j])
                    labels.append(lab)
        if not rows:
            return None, []
        h = gelu(linear(torch.stack(rows), p["mlm.fc.weight"], p["mlm.fc.bias"]))
        h = layer_norm(h, p["mlm.ln.weight"], p["mlm.ln.bias"], cfg["head_ln_eps"])
        return h @ p["text.word"].t() + p["mlm.bias"], labels

    pos_items = list(range(0, B_p))
    text_items = list(range(3 * B_p, 3 * B_p + B_t))
    image_items = list(range(3 * B_p + B_t, 3 * B_p + B_t + N_io))
    mlm_p_logits, mlm_p_labels = mlm_logits(pos_items)
    mlm_t_logits, mlm_t_labels = mlm_logits(text_items)
    mlm_parts = [m for m in (mlm_p_logits, mlm_t_logits) if m is not None]
    if mlm_parts:
        out["mlm.logits"] = torch.cat(mlm_parts, dim=0)

    zero = torch.zeros((), dtype=DTYPE)
    total = zero

    # --- pairs group ---
    if B_p > 0:
        loss_mlm_p = cross_entropy(mlm_p_logits, mlm_p_labels) if mlm_p_labels else zero
        itm_rows = []
        for f in range(3 * B_p):
            Fv0 = F_out[f][F_off[f]["v"]]
            Ft0 = F_out[f][F_off[f]["t"]]
            a = torch.relu(linear(Fv0, p["itm.img.weight"], p["itm.img.bias"]))
            b = torch.relu(linear(Ft0, p["itm.txt.weight"], p["itm.txt.bias"]))
            itm_rows.append(linear(a * b, p["itm.out.weight"], p["itm.out.bias"]))
        itm_logits = torch.stack(itm_rows)                       # [3 B_p, 2]
        loss_itm = cross_entropy(itm_logits, [1] * B_p + [0] * (2 * B_p))
        v = l2_normalize(torch.stack([Vs[i][0] for i in range(B_p)]))
        t = l2_normalize(torch.stack([Ts[i][0] for i in range(B_p)]))
        temp = torch.clamp(p["cmcl.temp"], cfg["temp_min"], cfg["temp_max"])
        cmcl_logits = (v @ t.t()) / temp
        diag = list(range(B_p))
        loss_cmcl = (cross_entropy(cmcl_logits, diag) + cross_entropy(cmcl_logits.t(), diag)) / 2
        gp = [ground[f] for f in pos_items]
        lg, lq, le = group_ground_loss(cfg, gp, sum(g["n_tokens"] for g in gp) if gp[0] else 0)
        loss_pairs = (cfg["w_mlm"] * loss_mlm_p + cfg["w_itm"] * loss_itm
                      + cfg["w_cmcl"] * loss_cmcl + cfg["w_ground"] * lg)
        out["itm.logits"] = itm_logits
        out["cmcl.logits"] = cmcl_logits
        out["loss.mlm_pairs"] = loss_mlm_p
        out["loss.itm"] = loss_itm
        out["loss.cmcl"] = loss_cmcl
        out["loss.ground_pairs"], out["loss.ground_pairs.q"], out["loss.ground_pairs.e"] = lg, lq, le
        out["loss.pairs"] = loss_pairs
        total = total + loss_pairs

    # --- texts group ---
    if B_t > 0:
        loss_mlm_t = cross_entropy(mlm_t_logits, mlm_t_labels) if mlm_t_labels else zero
        gt = [ground[f] for f in text_items]
        lg, lq, le = group_ground_loss(cfg, gt, sum(g["n_tokens"] for g in gt) if gt[0] else 0)
        loss_texts = cfg["w_mlm"] * loss_mlm_t + cfg["w_ground"] * lg
        out["loss.mlm_texts"] = loss_mlm_t
        out["loss.ground_texts"], out["loss.ground_texts.q"], out["loss.ground_texts.e"] = lg, lq, le
        out["loss.texts"] = loss_texts
        total = total + loss_texts

    # --- images group ---
    if N_io > 0:
        if N_io % 2 != 0:
            raise ValueError("image-only items come as 2N views")
        N = N_io // 2
        z_rows = []
        for f in image_items:
            Fv0 = F_out[f][F_off[f]["v"]]
            h = torch.relu(linear(Fv0, p["vcl.fc1.weight"], p["vcl.fc1.bias"]))
            z_rows.append(linear(h, p["vcl.fc2.weight"], p["vcl.fc2.bias"]))
        z = l2_normalize(torch.stack(z_rows))                    # [2N, D]
        vcl_logits = z[:N] @ z[N:].t() / cfg["vcl_temp"]
        diag = list(range(N))
        loss_vcl = (cross_entropy(vcl_logits, diag) + cross_entropy(vcl_logits.t(), diag)) / 2
        gi = [ground[f] for f in image_items]
        lg, lq, le = group_ground_loss(cfg, gi, sum(g["n_tokens"] for g in gi) if gi[0] else 0)
        loss_images = cfg["w_vcl"] * loss_vcl + cfg["w_ground"] * lg
        out["vcl.z"] = z
        out["vcl.logits"] = vcl_logits
        out["loss.vcl"] = loss_vcl
        out["loss.ground_images"], out["loss.ground_images.q"], out["loss.ground_images.e"] = lg, lq, le
        out["loss.images"] = loss_images
        total = total + loss_images

    out["loss.total"] = total
    out["_items"] = items
    out["_ground"] = ground
    out["_sg"] = [g["sg"] if g is not None else None for g in ground]
    return out


def params_from_numpy(arrays, requires_grad=True):
    """{name: numpy float32 array} -> {name: float64 leaf tensor}."""
    p = {}
    for name, a in arrays.items():
        t = torch.tensor(a, dtype=DTYPE)
        t.requires_grad_(requires_grad)
        p[name] = t
    return p
