"""Tiny llama-style decoder LM with explicit (batched) PEFT-LoRA inputs.

Module names follow HF llama: model.embed_tokens, model.layers.{i}.self_attn.{q,k,v,o}_proj,
model.layers.{i}.mlp.{gate,up,down}_proj, model.norm, lm_head (tied to embed_tokens).
LoRA (PEFT semantics, no rslora): y = W x + (lora_alpha / r) * B (A x), with per-example
A [batch, r, in] and B [batch, out, r] for every adapted module.
"""
import math
import torch
import torch.nn as nn
import torch.nn.functional as F

ATTN = ["q_proj", "k_proj", "v_proj", "o_proj"]
MLP = ["gate_proj", "up_proj", "down_proj"]
ALL_GROUPS = ATTN + MLP


class Cfg:
    def __init__(self, vocab=814, d=128, n_layers=4, n_heads=4, ffn=384, rope_theta=10000.0,
                 eps=1e-5):
        self.vocab, self.d, self.n_layers, self.n_heads, self.ffn = vocab, d, n_layers, n_heads, ffn
        self.rope_theta, self.eps = rope_theta, eps

    def to_dict(self):
        return dict(self.__dict__)

    def module_dims(self, g):
        """(in, out) of a module type."""
        return {"q_proj": (self.d, self.d), "k_proj": (self.d, self.d), "v_proj": (self.d, self.d),
                "o_proj": (self.d, self.d), "gate_proj": (self.d, self.ffn),
                "up_proj": (self.d, self.ffn), "down_proj": (self.ffn, self.d)}[g]


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rms(x, eps=1e-5):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)


def rope(x, cos, sin):
    # x [b, h, T, hd]; rotate-half convention (HF llama)
    h = x.shape[-1] // 2
    x1, x2 = x[..., :h], x[..., h:]
    return x * cos + torch.cat([-x2, x1], dim=-1) * sin


class Attn(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.q_proj = nn.Linear(c.d, c.d, bias=False)
        self.k_proj = nn.Linear(c.d, c.d, bias=False)
        self.v_proj = nn.Linear(c.d, c.d, bias=False)
        self.o_proj = nn.Linear(c.d, c.d, bias=False)


class Mlp(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.gate_proj = nn.Linear(c.d, c.ffn, bias=False)
        self.up_proj = nn.Linear(c.d, c.ffn, bias=False)
        self.down_proj = nn.Linear(c.ffn, c.d, bias=False)


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self_attn = Attn(c)
        self.mlp = Mlp(c)
        self.input_layernorm = RMSNorm(c.d, c.eps)
        self.post_attention_layernorm = RMSNorm(c.d, c.eps)


class Inner(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c.vocab, c.d)
        self.layers = nn.ModuleList([Layer(c) for _ in range(c.n_layers)])
        self.norm = RMSNorm(c.d, c.eps)


def lin(x, mod, lora, g, i, scaling):
    """x [b, T, in] -> W x (+ scaling * B (A x)) with A = lora[g][0][:, i], B = lora[g][1][:, i]."""
    y = mod(x)
    if lora is not None and g in lora:
        A, B = lora[g]
        a = A[:, i]          # [b, r, in]
        b = B[:, i]          # [b, out, r]
        y = y + scaling * torch.matmul(torch.matmul(x, a.transpose(1, 2)), b.transpose(1, 2))
    return y


class TinyLM(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.model = Inner(c)
        hd = c.d // c.n_heads
        self.register_buffer("inv_freq",
                             1.0 / (c.rope_theta ** (torch.arange(0, hd, 2).float() / hd)),
                             persistent=False)
        self.apply(self._init)

    def _init(self, m):
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    def forward(self, input_ids, attention_mask, lora=None, scaling=2.0, return_hidden=False, return_mlp=False):
        """input_ids/attention_mask [b, T] (right padding). lora: {group: (A, B)}.
        Returns logits [b, T, V] (and the list of per-layer OUTPUT hidden states; with return_mlp
        also the list of per-layer MLP activations, down_proj's inputs silu(gate) * up)."""
        c = self.c
        b, T = input_ids.shape
        x = self.model.embed_tokens(input_ids)
        pos = torch.arange(T, device=input_ids.device).float()
        fr = pos[:, None] * self.inv_freq[None, :]
        emb = torch.cat([fr, fr], dim=-1)
        cos, sin = emb.cos()[None, None], emb.sin()[None, None]
        ar = torch.arange(T, device=input_ids.device)
        causal = ar[None, :] <= ar[:, None]                       # [T, T]
        keep = causal[None, None] & (attention_mask[:, None, None, :] > 0)
        bias = (keep.to(x.dtype) - 1.0) * 1e9                     # 0 keep, -1e9 masked
        nh, hd = c.n_heads, c.d // c.n_heads
        hiddens, zs = [], []
        for i, L in enumerate(self.model.layers):
            h = L.input_layernorm(x)
            at = L.self_attn
            q = lin(h, at.q_proj, lora, "q_proj", i, scaling).view(b, T, nh, hd).transpose(1, 2)
            k = lin(h, at.k_proj, lora, "k_proj", i, scaling).view(b, T, nh, hd).transpose(1, 2)
            v = lin(h, at.v_proj, lora, "v_proj", i, scaling).view(b, T, nh, hd).transpose(1, 2)
            q, k = rope(q, cos, sin), rope(k, cos, sin)
            s = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(hd)) + bias
            p = torch.softmax(s, dim=-1)
            o = torch.matmul(p, v).transpose(1, 2).reshape(b, T, c.d)
            x = x + lin(o, at.o_proj, lora, "o_proj", i, scaling)
            h = L.post_attention_layernorm(x)
            m = L.mlp
            gt = lin(h, m.gate_proj, lora, "gate_proj", i, scaling)
            up = lin(h, m.up_proj, lora, "up_proj", i, scaling)
            z = F.silu(gt) * up
            x = x + lin(z, m.down_proj, lora, "down_proj", i, scaling)
            hiddens.append(x)
            zs.append(z)
        logits = torch.matmul(self.model.norm(x), self.model.embed_tokens.weight.t())
        if return_mlp:
            return logits, hiddens, zs
        return (logits, hiddens) if return_hidden else logits
