#!/usr/bin/python3
"""PyTorch peer of `unimo2-bench train`: the unimo2 training step (doc/model.md)
written the way a competent PyTorch user would write it.

Batched and idiomatic float32: nn.Module with nn.Linear / nn.LayerNorm /
nn.Embedding / nn.Conv2d, multi-head attention on [B, H, T, T] tensors with the
doc/model.md masks built as additive tensors, the grounded dictionary with
sigmoid scores computed once per image and once per caption (an item's S is
the sum of its image's and its caption's), per-item top-K with torch.topk on
the batched S, the grounding loss on gathered scores, the MLM / ITM / CMCL
(and, with --mix all, VCL) heads, hard negatives sampled from the in-batch
CMCL similarity, AdamW(0.9, 0.98, eps 1e-6, weight decay on tensors of two or
more dimensions) with clip_grad_norm_.  Same shapes and the same work as the
native step: positives + two negatives per pair in the grounded transformer,
the same caption lengths and masked-position counts (given by the bench).

Padding: keys at padding positions are masked; queries at padding positions
compute rows nobody reads (doc/model.md: outputs at padding positions are not
part of any contract), as a user of key-padding masks would.

Standalone:
    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/torch_peer.py --config small \
        --batch 32 --threads 1,2 --steps 5
prints one JSON line per thread count, {"samples_per_s":..., "peak_rss_mb":...}
(each thread count in its own process, because OpenBLAS reads its thread count
when it loads).

Served (what unimo2-bench train does): --serve --threads T builds the model and
the batch, prints {"ready":true,...}, then answers each stdin line
"run N" with {"step_s":[...],"loss":[...],"parts":{...},"peak_rss_mb":...}
(parts: the loss terms of the first of those steps) and exits on "quit" or EOF.
"""

import argparse
import json
import os
import subprocess
import sys
import time

# Built-in configurations (doc/model.md); keys not given take the tiny value.
TINY = {
    "image_size": 16, "patch_size": 4, "patch_pad": 0, "hidden": 32, "heads": 2, "ffn": 64,
    "vit_layers": 1, "text_layers": 1, "fusion_layers": 1, "vocab_size": 512,
    "max_text_len": 16, "dict_size": 32, "topk": 4, "grounding": "topk", "fusion": "grounded",
    "vit_ln_eps": 1e-12, "text_ln_eps": 1e-5, "head_ln_eps": 1e-5, "text_pos_offset": 0,
    "tau_init": 100.0, "tau_min": 1.0, "tau_max": 1e4, "temp_init": 0.07, "temp_min": 0.001,
    "temp_max": 0.5, "vcl_temp": 0.1, "w_mlm": 1.0, "w_itm": 1.0, "w_cmcl": 1.0, "w_vcl": 1.0,
    "w_ground": 1.0, "ground_q": 1.0, "ground_e": 0.25,
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

CLS, PAD, SEP = 0, 1, 2


def make_config(name, config_json):
    cfg = dict(TINY)
    if config_json:
        given = json.loads(config_json)
    elif name in BUILTIN:
        given = BUILTIN[name]
    else:
        with open(name, "r", encoding="utf-8") as f:
            given = json.load(f)
    for k, v in given.items():
        if k == "name":
            continue
        if k not in TINY:
            raise ValueError("unknown config key %r" % k)
        cfg[k] = v
    if cfg["grounding"] != "topk":
        raise ValueError("the peer implements grounding=topk only")
    return cfg


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="small", help="built-in name or JSON file")
    ap.add_argument("--config-json", default=None, help="the config as a JSON text (overrides)")
    ap.add_argument("--batch", type=int, default=32, help="image-caption pairs B_p")
    ap.add_argument("--mix", choices=("pairs", "all"), default="pairs",
                    help="pairs only, or also B_p text-only captions and B_p/2 images "
                         "(two views each)")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--steps", type=int, default=5, help="timed steps (median)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--lengths", default=None,
                    help="caption lengths incl. [CLS]/[SEP], pairs then text-only (default: drawn)")
    ap.add_argument("--masked", default=None, help="MLM positions per caption (default: derived)")
    ap.add_argument("--cpu-clock", action="store_true", help="process CPU time instead of wall")
    ap.add_argument("--serve", action="store_true", help="answer run/quit commands on stdin")
    return ap.parse_args(argv)


def draw_lengths(n, L, rng):
    """COCO-like caption lengths: content ~ N(0.35 (L-2), 0.15 (L-2)) clipped to [3, L-2]."""
    out = []
    for _ in range(n):
        c = int(round(0.35 * (L - 2) + 0.15 * (L - 2) * rng.gauss(0.0, 1.0)))
        c = max(min(3, L - 2), min(L - 2, c))
        out.append(c + 2)
    return out


def masked_count(length, ratio):
    """max(1, round(ratio * content tokens)), as the native masking counts."""
    import numpy as np
    n = length - 2
    if n <= 0:
        return 0
    return max(1, int(np.float32(ratio) * np.float32(n) + np.float32(0.5)))


# ----------------------------------------------------------------- the model

def build(cfg):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class Block(nn.Module):
        """Transformer block; pre-LN (ViT) or post-LN (text, grounded transformer)."""

        def __init__(self, D, H, Fd, eps, pre_ln):
            super().__init__()
            self.H, self.dh, self.pre_ln = H, D // H, pre_ln
            self.scale = self.dh ** -0.5
            self.ln1 = nn.LayerNorm(D, eps=eps)
            self.qkv = nn.Linear(D, 3 * D)
            self.proj = nn.Linear(D, D)
            self.ln2 = nn.LayerNorm(D, eps=eps)
            self.fc1 = nn.Linear(D, Fd)
            self.fc2 = nn.Linear(Fd, D)

        def attn(self, x, mask):
            # x [B, T, D]; mask additive, broadcastable to [B, H, T, T], or None
            B, T, D = x.shape
            q, k, v = self.qkv(x).view(B, T, 3, self.H, self.dh).permute(2, 0, 3, 1, 4)
            a = (q @ k.transpose(-2, -1)) * self.scale
            if mask is not None:
                a = a + mask
            ctx = (a.softmax(dim=-1) @ v).transpose(1, 2).reshape(B, T, D)
            return self.proj(ctx)

        def mlp(self, x):
            return self.fc2(F.gelu(self.fc1(x)))

        def forward(self, x, mask):
            if self.pre_ln:
                x = x + self.attn(self.ln1(x), mask)
                return x + self.mlp(self.ln2(x))
            x = self.ln1(x + self.attn(x, mask))
            return self.ln2(x + self.mlp(x))

    class Unimo2(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.c = c
            D, H, Fd = c["hidden"], c["heads"], c["ffn"]
            P, pad = c["patch_size"], c["patch_pad"]
            g = (c["image_size"] + 2 * pad - P) // P + 1
            self.np, self.nv = g * g, g * g + 1
            V, L, C = c["vocab_size"], c["max_text_len"], c["dict_size"]
            self.patch = nn.Conv2d(3, D, P, stride=P, padding=pad)
            self.cls = nn.Parameter(torch.empty(D))
            self.vpos = nn.Parameter(torch.empty(self.nv, D))
            self.vit = nn.ModuleList(Block(D, H, Fd, c["vit_ln_eps"], True)
                                     for _ in range(c["vit_layers"]))
            self.vln = nn.LayerNorm(D, eps=c["vit_ln_eps"])
            self.word = nn.Embedding(V, D)
            self.tpos = nn.Embedding(L, D)
            self.tln = nn.LayerNorm(D, eps=c["text_ln_eps"])
            self.text = nn.ModuleList(Block(D, H, Fd, c["text_ln_eps"], False)
                                      for _ in range(c["text_layers"]))
            self.gd_embed = nn.Parameter(torch.empty(C, D))
            self.gd_tau = nn.Parameter(torch.tensor([float(c["tau_init"])]))
            self.gd_ln = nn.LayerNorm(D, eps=c["head_ln_eps"])
            self.fusion = nn.ModuleList(Block(D, H, Fd, c["text_ln_eps"], False)
                                        for _ in range(c["fusion_layers"]))
            self.mlm_fc = nn.Linear(D, D)
            self.mlm_ln = nn.LayerNorm(D, eps=c["head_ln_eps"])
            self.mlm_bias = nn.Parameter(torch.zeros(V))
            self.itm_img = nn.Linear(D, D)
            self.itm_txt = nn.Linear(D, D)
            self.itm_out = nn.Linear(D, 2)
            self.cmcl_temp = nn.Parameter(torch.tensor([float(c["temp_init"])]))
            self.vcl_fc1 = nn.Linear(D, D)
            self.vcl_fc2 = nn.Linear(D, D)
            self.reset_parameters()

        def reset_parameters(self):
            # doc/model.md: weights and embeddings N(0, 0.02), biases 0, LN 1/0,
            # dictionary U(-1/C, 1/C)
            for m in self.modules():
                if isinstance(m, (nn.Linear, nn.Conv2d)):
                    nn.init.normal_(m.weight, 0.0, 0.02)
                    nn.init.zeros_(m.bias)
                elif isinstance(m, nn.Embedding):
                    nn.init.normal_(m.weight, 0.0, 0.02)
            nn.init.normal_(self.cls, 0.0, 0.02)
            nn.init.normal_(self.vpos, 0.0, 0.02)
            C = self.c["dict_size"]
            nn.init.uniform_(self.gd_embed, -1.0 / C, 1.0 / C)

        # --- encoders
        def images(self, pix):
            x = self.patch(pix).flatten(2).transpose(1, 2)          # [n, Np, D]
            x = torch.cat([self.cls.expand(x.shape[0], 1, -1), x], dim=1) + self.vpos
            for b in self.vit:
                x = b(x, None)
            return self.vln(x)                                       # [n, Nv, D]

        def texts(self, ids, key_add):
            x = self.tln(self.word(ids) + self.tpos.weight[: ids.shape[1]])
            for b in self.text:
                x = b(x, key_add)
            return x                                                 # [n, tl, D]

        # --- grounded dictionary
        def scores(self, X, real=None):
            tau = self.gd_tau.clamp(self.c["tau_min"], self.c["tau_max"])
            s = torch.sigmoid(tau * (X @ self.gd_embed.t()))         # [n, t, C]
            return s if real is None else s * real.unsqueeze(-1)

        def ground(self, S):
            idx = S.detach().topk(self.c["topk"], dim=1).indices     # [n, K], descending
            return idx, self.gd_ln(self.gd_embed[idx])                # G [n, K, D]

        def ground_loss(self, s_parts, X, real, S, idx):
            """L_ground of one group: s_parts/X are per-token tensors [n, t, *]."""
            K = idx.shape[1]
            s_sel = torch.cat([s.gather(2, idx.unsqueeze(1).expand(-1, s.shape[1], K))
                               for s in s_parts], dim=1)             # [n, t, K]
            E_sel = self.gd_embed[idx]                               # [n, K, D]
            w = s_sel / (S.gather(1, idx).unsqueeze(1) + 1e-18)
            e_hat = w.transpose(1, 2) @ X                            # [n, K, D]
            e_lat = ((E_sel.detach() - e_hat) ** 2).mean()
            q = s_sel / (s_sel.sum(dim=2, keepdim=True) + 1e-18)
            x_hat = q @ E_sel                                        # [n, t, D]
            q_sq = (X.detach() - x_hat) ** 2
            if real is not None:
                q_lat = (q_sq * real.unsqueeze(-1)).sum() / (real.sum() * X.shape[2])
            else:
                q_lat = q_sq.mean()
            return self.c["ground_q"] * q_lat + self.c["ground_e"] * e_lat

        def fuse(self, x, mask):
            for b in self.fusion:
                x = b(x, mask)
            return x

        def mlm(self, Ft, labels):
            sel = labels >= 0
            h = self.mlm_ln(F.gelu(self.mlm_fc(Ft[sel])))
            return F.cross_entropy(F.linear(h, self.word.weight, self.mlm_bias), labels[sel])

        # --- one training batch
        def forward(self, bt):
            c = self.c
            bp, btx, nvw = bt["bp"], bt["bt"], bt["views"]
            K, nv = c["topk"], self.nv
            real = bt["real"]                                        # [n_txt, tl] float
            V = self.images(bt["pixels"])
            T = self.texts(bt["ids"], bt["key_add"])
            tl = T.shape[1]
            parts = {}
            total = 0.0
            if bp:
                temp = self.cmcl_temp.clamp(c["temp_min"], c["temp_max"])
                v = F.normalize(V[:bp, 0], dim=-1)
                t = F.normalize(T[:bp, 0], dim=-1)
                cm = v @ t.t() / temp
                ar = torch.arange(bp)
                cmcl = (F.cross_entropy(cm, ar) + F.cross_entropy(cm.t(), ar)) / 2
                with torch.no_grad():  # hard negatives from the in-batch similarity
                    eye = torch.eye(bp, dtype=torch.bool)
                    sim = cm.detach()
                    neg_img = torch.multinomial(
                        sim.t().masked_fill(eye, float("-inf")).softmax(dim=1), 1).squeeze(1)
                    neg_txt = torch.multinomial(
                        sim.masked_fill(eye, float("-inf")).softmax(dim=1), 1).squeeze(1)
                img = torch.cat([ar, neg_img, ar])
                txt = torch.cat([ar, ar, neg_txt])
                Xv, Xt, rt = V[:bp, 1:], T[:bp, 1:], real[:bp, 1:]
                sv, st = self.scores(Xv), self.scores(Xt, rt)
                Sv, St = sv.sum(dim=1), st.sum(dim=1)                # [bp, C]
                S = Sv[img] + St[txt]                                # [3 bp, C]
                idx, G = self.ground(S)
                x = torch.cat([V[img], G, T[txt]], dim=1)            # [3 bp, Nv+K+tl, D]
                allow = bt["pair_struct"] & (bt["pair_keys"][txt] > 0).unsqueeze(1)
                mask = torch.zeros(allow.shape).masked_fill_(~allow, float("-inf")).unsqueeze(1)
                Fo = self.fuse(x, mask)
                mlm = self.mlm(Fo[:bp, nv + K:], bt["labels"][:bp])
                a = F.relu(self.itm_img(Fo[:, 0]))
                b = F.relu(self.itm_txt(Fo[:, nv + K]))
                itm = F.cross_entropy(self.itm_out(a * b), bt["itm_labels"])
                gr = self.ground_loss([sv, st], torch.cat([Xv, Xt], dim=1),
                                      torch.cat([torch.ones(bp, Xv.shape[1]), rt], dim=1),
                                      S[:bp], idx[:bp])
                lp = c["w_mlm"] * mlm + c["w_itm"] * itm + c["w_cmcl"] * cmcl + c["w_ground"] * gr
                parts.update(mlm_pairs=mlm, itm=itm, cmcl=cmcl, ground_pairs=gr)
                total = total + lp
            if btx:
                Tt, rt = T[bp:], real[bp:]
                st = self.scores(Tt[:, 1:], rt[:, 1:])
                S = st.sum(dim=1)
                idx, G = self.ground(S)
                keys = torch.cat([torch.ones(btx, K), rt], dim=1)
                Fo = self.fuse(torch.cat([G, Tt], dim=1),
                               torch.zeros(keys.shape).masked_fill_(keys == 0, float("-inf"))
                               .view(btx, 1, 1, -1))
                mlm = self.mlm(Fo[:, K:], bt["labels"][bp:])
                gr = self.ground_loss([st], Tt[:, 1:], rt[:, 1:], S, idx)
                parts.update(mlm_texts=mlm, ground_texts=gr)
                total = total + c["w_mlm"] * mlm + c["w_ground"] * gr
            if nvw:
                Vi = V[bp:]
                si = self.scores(Vi[:, 1:])
                S = si.sum(dim=1)
                idx, G = self.ground(S)
                Fo = self.fuse(torch.cat([Vi, G], dim=1), None)
                z = F.normalize(self.vcl_fc2(F.relu(self.vcl_fc1(Fo[:, 0]))), dim=-1)
                N = nvw // 2
                lg = z[:N] @ z[N:].t() / c["vcl_temp"]
                ar = torch.arange(N)
                vcl = (F.cross_entropy(lg, ar) + F.cross_entropy(lg.t(), ar)) / 2
                gr = self.ground_loss([si], Vi[:, 1:], None, S, idx)
                parts.update(vcl=vcl, ground_images=gr)
                total = total + c["w_vcl"] * vcl + c["w_ground"] * gr
            return total, parts

    return Unimo2(cfg)


def make_batch(cfg, bp, btx, images, lengths, masked, seed):
    """Synthetic batch of the config's shapes: pixels U(-1, 1), random ids in
    [4, V-2], MLM positions among the content tokens (80% [MASK] = V-1, 10%
    random, 10% kept), padding to the longest caption."""
    import torch
    g = torch.Generator().manual_seed(seed)
    V, S, nv = cfg["vocab_size"], cfg["image_size"], None
    n_txt, views = bp + btx, 2 * images
    tl = max(lengths)
    ids = torch.full((n_txt, tl), PAD, dtype=torch.long)
    labels = torch.full((n_txt, tl), -1, dtype=torch.long)
    real = torch.zeros(n_txt, tl)
    for i, n in enumerate(lengths):
        ids[i, 0], ids[i, n - 1] = CLS, SEP
        ids[i, 1:n - 1] = torch.randint(4, V - 1, (n - 2,), generator=g)
        real[i, :n] = 1.0
        pos = 1 + torch.randperm(n - 2, generator=g)[: masked[i]]
        labels[i, pos] = ids[i, pos]
        u = torch.rand(len(pos), generator=g)
        ids[i, pos[u < 0.8]] = V - 1
        rnd = pos[(u >= 0.8) & (u < 0.9)]
        ids[i, rnd] = torch.randint(4, V - 1, (len(rnd),), generator=g)
    pixels = torch.rand(bp + views, 3, S, S, generator=g) * 2 - 1
    P, pad = cfg["patch_size"], cfg["patch_pad"]
    grid = (S + 2 * pad - P) // P + 1
    nv, K = grid * grid + 1, cfg["topk"]
    # grounded-transformer rule for a pair item [V; G; T]: V -/-> T and T -/-> V
    seg = torch.tensor([0] * nv + [1] * K + [2] * tl)
    struct = torch.ones(len(seg), len(seg), dtype=torch.bool)
    if cfg["fusion"] == "grounded":
        struct &= ~(((seg[:, None] == 0) & (seg[None, :] == 2)) |
                    ((seg[:, None] == 2) & (seg[None, :] == 0)))
    pair_keys = torch.cat([torch.ones(bp, nv + K), real[:bp]], dim=1)
    key_add = torch.zeros(n_txt, tl).masked_fill_(real == 0, float("-inf")).view(n_txt, 1, 1, tl)
    return {"bp": bp, "bt": btx, "views": views, "pixels": pixels, "ids": ids, "labels": labels,
            "real": real, "key_add": key_add, "pair_struct": struct.unsqueeze(0),
            "pair_keys": pair_keys,
            "itm_labels": torch.cat([torch.ones(bp, dtype=torch.long),
                                     torch.zeros(2 * bp, dtype=torch.long)])}


def peak_rss_mb():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Trainer:
    def __init__(self, a):
        import random
        import torch
        self.torch = torch
        self.cfg = make_config(a.config, a.config_json)
        torch.manual_seed(a.seed)
        self.bp = a.batch
        self.bt = a.batch if a.mix == "all" else 0
        self.images = a.batch // 2 if a.mix == "all" else 0
        L = self.cfg["max_text_len"]
        if a.lengths:
            lengths = [int(x) for x in a.lengths.split(",")]
        else:
            lengths = draw_lengths(self.bp + self.bt, L, random.Random(a.seed))
        if len(lengths) != self.bp + self.bt:
            raise ValueError("--lengths: want %d values" % (self.bp + self.bt))
        if a.masked:
            masked = [int(x) for x in a.masked.split(",")]
        else:
            masked = [masked_count(n, 0.30 if i < self.bp else 0.15)
                      for i, n in enumerate(lengths)]
        self.samples = self.bp + self.bt + 2 * self.images
        self.batch = make_batch(self.cfg, self.bp, self.bt, self.images, lengths, masked, a.seed)
        self.model = build(self.cfg)
        decay = [p for p in self.model.parameters() if p.dim() >= 2]
        other = [p for p in self.model.parameters() if p.dim() < 2]
        self.opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                                      {"params": other, "weight_decay": 0.0}],
                                     lr=3e-4, betas=(0.9, 0.98), eps=1e-6)
        self.params = sum(p.numel() for p in self.model.parameters())
        self.clock = time.process_time if a.cpu_clock else time.perf_counter
        self.tl = max(lengths)
        self.mlm_n = int(sum(masked[: self.bp]))

    def step(self):
        torch, m, c = self.torch, self.model, self.cfg
        t0 = self.clock()
        self.opt.zero_grad(set_to_none=True)
        loss, parts = m(self.batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        self.opt.step()
        with torch.no_grad():
            m.gd_tau.clamp_(c["tau_min"], c["tau_max"])
            m.cmcl_temp.clamp_(c["temp_min"], c["temp_max"])
        dt = self.clock() - t0
        return dt, float(loss), {k: float(v) for k, v in parts.items()}


def set_threads(T):
    """torch's intra-op pool and OpenBLAS's (which torch.set_num_threads does
    not reach); OPENBLAS_NUM_THREADS was set before loading, this only checks."""
    import ctypes
    import torch
    torch.set_num_threads(T)
    try:
        ctypes.CDLL("libblas.so.3").openblas_set_num_threads(T)
    except (OSError, AttributeError):
        pass


def serve(a):
    T = int(a.threads)
    set_threads(T)
    tr = Trainer(a)
    print(json.dumps({"ready": True, "params": tr.params, "tl": tr.tl, "mlm_n": tr.mlm_n,
                      "samples": tr.samples, "torch": tr.torch.__version__, "threads": T}),
          flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd or cmd[0] == "quit":
            break
        if cmd[0] != "run":
            print(json.dumps({"error": "unknown command %r" % line.strip()}), flush=True)
            continue
        times, losses, parts = [], [], None
        for _ in range(int(cmd[1])):
            dt, loss, p = tr.step()
            times.append(dt)
            losses.append(loss)
            parts = parts or p
        print(json.dumps({"step_s": times, "loss": losses, "parts": parts,
                          "peak_rss_mb": peak_rss_mb()}), flush=True)


def standalone_one(a):
    T = int(a.threads)
    set_threads(T)
    tr = Trainer(a)
    for _ in range(a.warmup):
        tr.step()
    times = sorted(tr.step()[0] for _ in range(max(1, a.steps)))
    n = len(times)
    med = times[n // 2] if n % 2 else 0.5 * (times[n // 2 - 1] + times[n // 2])
    print(json.dumps({"threads": T, "samples_per_s": round(tr.samples / med, 3),
                      "peak_rss_mb": round(peak_rss_mb(), 1)}), flush=True)


def main(argv):
    a = parse_args(argv)
    threads = [int(t) for t in a.threads.split(",")]
    if a.serve or len(threads) == 1:
        # OpenBLAS reads these when it loads, and libgomp spins unless told
        # not to: run again with them fixed when they are not what we want
        want = {"OPENBLAS_NUM_THREADS": str(threads[0]), "OMP_NUM_THREADS": str(threads[0])}
        bad = [k for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ]
        if bad or any(os.environ.get(k) != v for k, v in want.items()) or \
                "OMP_WAIT_POLICY" not in os.environ:
            env = dict(os.environ, **want)
            env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            for k in bad:
                del env[k]
            os.execve(sys.executable, [sys.executable] + sys.argv, env)
        return serve(a) if a.serve else standalone_one(a)
    # one process per thread count
    rc = 0
    for T in threads:
        args = [x for x in argv]
        i = args.index("--threads") if "--threads" in args else -1
        if i >= 0:
            args[i + 1] = str(T)
        else:
            args += ["--threads", str(T)]
        rc |= subprocess.call([sys.executable, os.path.abspath(__file__)] + args)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]) or 0)
