"""The tiny class-conditioned UNet of hyper-personalize-tiny (flow matching, 32x32 RGB).

Module names follow diffusers' UNet2DConditionModel (down_blocks.N.attentions.0.
transformer_blocks.0.attn1.to_q, proj_in, ...), so adapters written in diffusers/kohya format
carry real key names. Every LoRA target is a Linear of width D inside a transformer block:
proj_in, attn1/attn2 to_q/to_k/to_v/to_out.0, proj_out. Each takes per-example LoRA tensors:
    y = W x + (lora_alpha / r) * B (A x)      A: [batch, r, in], B: [batch, out, r]
passed to UNet.forward as lora_A [batch, M, r, D] / lora_B [batch, M, D, r] (module order =
UNet.lora_modules). All-zero tensors reproduce the base model exactly.

Flow matching (rectified flow): x_t = (1 - t) x0 + t eps, the net predicts v = eps - x0,
sampling integrates dx/dt = v from t = 1 to 0 with Euler steps.
"""
import math
import torch
import torch.nn as nn
import torch.nn.functional as F

N_CLASSES = 6          # shapes; index N_CLASSES is the null class (classifier-free guidance)
CTX_TOKENS = 4
D = 64                 # width of every attention block (and of the class tokens)
LORA_R, LORA_ALPHA = 8, 8


class LoraLinear(nn.Linear):
    def __init__(self, i, o, bias=True):
        super().__init__(i, o, bias=bias)
        self.index = -1
        self.holder = None

    def forward(self, x):
        y = super().forward(x)
        h = self.holder
        if h is not None and h.get("A") is not None:
            a, b = h["A"][:, self.index], h["B"][:, self.index]       # [B, r, in], [B, out, r]
            y = y + h["scale"] * torch.bmm(torch.bmm(x, a.transpose(1, 2)), b.transpose(1, 2))
        return y


class Attention(nn.Module):
    def __init__(self, dim, ctx_dim, heads=4):
        super().__init__()
        self.heads = heads
        self.to_q = LoraLinear(dim, dim, bias=False)
        self.to_k = LoraLinear(ctx_dim, dim, bias=False)
        self.to_v = LoraLinear(ctx_dim, dim, bias=False)
        self.to_out = nn.ModuleList([LoraLinear(dim, dim)])

    def forward(self, x, ctx=None):
        ctx = x if ctx is None else ctx
        B, T, C = x.shape
        h = self.heads
        q = self.to_q(x).view(B, T, h, C // h).transpose(1, 2)
        k = self.to_k(ctx).view(B, ctx.shape[1], h, C // h).transpose(1, 2)
        v = self.to_v(ctx).view(B, ctx.shape[1], h, C // h).transpose(1, 2)
        w = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(C // h), -1)
        o = (w @ v).transpose(1, 2).reshape(B, T, C)
        return self.to_out[0](o)


class FeedForward(nn.Module):
    def __init__(self, dim, mult=2):
        super().__init__()
        self.net = nn.ModuleList([nn.Linear(dim, dim * mult), nn.GELU(), nn.Linear(dim * mult, dim)])

    def forward(self, x):
        for m in self.net:
            x = m(x)
        return x


class TransformerBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm1, self.attn1 = nn.LayerNorm(dim), Attention(dim, dim)
        self.norm2, self.attn2 = nn.LayerNorm(dim), Attention(dim, D)
        self.norm3, self.ff = nn.LayerNorm(dim), FeedForward(dim)

    def forward(self, x, ctx):
        x = x + self.attn1(self.norm1(x))
        x = x + self.attn2(self.norm2(x), ctx)
        return x + self.ff(self.norm3(x))


class Transformer2D(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.norm = nn.GroupNorm(8, ch)
        self.proj_in = LoraLinear(ch, D)
        self.transformer_blocks = nn.ModuleList([TransformerBlock(D)])
        self.proj_out = LoraLinear(D, ch)

    def forward(self, x, ctx):
        B, C, H, W = x.shape
        h = self.norm(x).flatten(2).transpose(1, 2)
        h = self.proj_in(h)
        for blk in self.transformer_blocks:
            h = blk(h, ctx)
        h = self.proj_out(h).transpose(1, 2).reshape(B, C, H, W)
        return x + h


class Resnet(nn.Module):
    def __init__(self, cin, cout, temb):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(8, cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb, cout)
        self.norm2, self.conv2 = nn.GroupNorm(8, cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, t):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_emb_proj(F.silu(t))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + (x if self.conv_shortcut is None else self.conv_shortcut(x))


class Block(nn.Module):
    """diffusers-style down/up block: resnets.0 [+ attentions.0] [+ down/upsamplers.0]."""
    def __init__(self, cin, cout, temb, attn, sample):
        super().__init__()
        self.resnets = nn.ModuleList([Resnet(cin, cout, temb)])
        self.attentions = nn.ModuleList([Transformer2D(cout)]) if attn else None
        if sample == "down":
            self.downsamplers = nn.ModuleList([nn.Conv2d(cout, cout, 3, stride=2, padding=1)])
        elif sample == "up":
            self.upsamplers = nn.ModuleList([nn.Conv2d(cout, cout, 3, padding=1)])
        self.sample = sample

    def forward(self, x, t, ctx):
        x = self.resnets[0](x, t)
        if self.attentions is not None:
            x = self.attentions[0](x, ctx)
        if self.sample == "down":
            return x, self.downsamplers[0](x)
        if self.sample == "up":
            # the conv runs before the nearest upsampling (4x cheaper than diffusers' order)
            return F.interpolate(self.upsamplers[0](x), scale_factor=2.0, mode="nearest")
        return x


class MidBlock(nn.Module):
    def __init__(self, ch, temb):
        super().__init__()
        self.resnets = nn.ModuleList([Resnet(ch, ch, temb), Resnet(ch, ch, temb)])
        self.attentions = nn.ModuleList([Transformer2D(ch)])

    def forward(self, x, t, ctx):
        x = self.resnets[0](x, t)
        x = self.attentions[0](x, ctx)
        return self.resnets[1](x, t)


class UNet(nn.Module):
    def __init__(self, ch=(32, 64, 64)):
        super().__init__()
        c0, c1, c2 = ch
        temb = 4 * c0
        self.conv_in = nn.Conv2d(3, c0, 3, padding=1)
        self.time_embedding = nn.ModuleDict({"linear_1": nn.Linear(c0, temb), "linear_2": nn.Linear(temb, temb)})
        self.class_tokens = nn.Embedding(N_CLASSES + 1, CTX_TOKENS * D)
        self.down_blocks = nn.ModuleList([
            Block(c0, c0, temb, False, "down"),      # 32 -> 16
            Block(c0, c1, temb, True, "down"),       # 16 -> 8
        ])
        self.mid_block = MidBlock(c2, temb)
        self.up_blocks = nn.ModuleList([
            Block(c2 + c1, c1, temb, True, "up"),    # 8 -> 16
            Block(c1 + c1, c1, temb, True, "up"),    # 16 -> 32
            Block(c1 + c0, c0, temb, False, None),
        ])
        self.conv_norm_out = nn.GroupNorm(8, c0)
        self.conv_out = nn.Conv2d(c0, 3, 3, padding=1)
        self.c0 = c0
        self.holder = {"A": None, "B": None, "scale": LORA_ALPHA / LORA_R}
        self.lora_modules = []
        for name, m in self.named_modules():
            if isinstance(m, LoraLinear):
                m.index, m.holder = len(self.lora_modules), self.holder
                self.lora_modules.append(name)

    def time_features(self, t):
        half = self.c0 // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
        a = (t * 1000.0)[:, None] * freqs[None]
        e = torch.cat([torch.cos(a), torch.sin(a)], -1)
        return self.time_embedding["linear_2"](F.silu(self.time_embedding["linear_1"](e)))

    def forward(self, x, t, class_labels, lora_A=None, lora_B=None):
        self.holder["A"], self.holder["B"] = lora_A, lora_B
        temb = self.time_features(t)
        ctx = self.class_tokens(class_labels).view(-1, CTX_TOKENS, D)
        h = self.conv_in(x)
        s0, d0 = self.down_blocks[0](h, temb, ctx)      # s0 32x32, d0 16x16
        s1, d1 = self.down_blocks[1](d0, temb, ctx)     # s1 16x16, d1 8x8
        h = self.mid_block(d1, temb, ctx)
        h = self.up_blocks[0](torch.cat([h, d1], 1), temb, ctx)    # 8 -> 16
        h = self.up_blocks[1](torch.cat([h, s1], 1), temb, ctx)    # 16 -> 32
        h = self.up_blocks[2](torch.cat([h, s0], 1), temb, ctx)
        out = self.conv_out(F.silu(self.conv_norm_out(h)))
        self.holder["A"] = self.holder["B"] = None
        return out


def fm_loss(net, x0, labels, lora_A=None, lora_B=None, g=None, t_dist="uniform", weight=None):
    """Flow-matching loss per example: || net(x_t, t) - (eps - x0) ||^2 (x0 in [-1, 1]).
    t_dist "logit_normal": t = sigmoid(N(0, 1)) (SD3's choice for rectified flow: more of the
    training goes to the middle times, where the object's shape is decided). weight: per-pixel
    loss weights [B, 1, H, W] (a weighted mean)."""
    B = x0.shape[0]
    t = torch.rand(B, generator=g) if t_dist == "uniform" else torch.sigmoid(torch.randn(B, generator=g))
    eps = torch.randn(x0.shape, generator=g)
    xt = (1 - t)[:, None, None, None] * x0 + t[:, None, None, None] * eps
    v = net(xt, t, labels, lora_A, lora_B)
    err = (v - (eps - x0)) ** 2
    if weight is None:
        return err.mean(dim=(1, 2, 3))
    return (err * weight).sum(dim=(1, 2, 3)) / (weight.sum(dim=(1, 2, 3)) * err.shape[1])


@torch.no_grad()
def sample(net, labels, noise, steps=20, guidance=1.0, lora_A=None, lora_B=None):
    """Euler integration from t=1 (noise) to t=0; returns images in [0, 1].
    guidance > 1: classifier-free guidance against the null class (same adapter on both)."""
    x = noise
    B = x.shape[0]
    ts = torch.linspace(1.0, 0.0, steps + 1)
    for i in range(steps):
        t = ts[i].expand(B)
        v = net(x, t, labels, lora_A, lora_B)
        if guidance != 1.0:
            vu = net(x, t, torch.full_like(labels, N_CLASSES), lora_A, lora_B)
            v = vu + guidance * (v - vu)
        x = x + (ts[i + 1] - ts[i]) * v
    return ((x + 1) / 2).clamp(0, 1)
