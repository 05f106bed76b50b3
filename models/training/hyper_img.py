"""hyper-personalize-tiny's hypernetwork: 1-8 subject images -> LoRA A/B for the 40 attention
and projection Linears of the UNet (unet.UNet.lora_modules), in one forward pass.

    per image: CNN (32 -> 16 -> 8) + attention pooling over the 8x8 grid (object-focused) -> 128
    set: mean over the images image_mask marks -> MLP -> z (32)
    per module m: A_m = A0_m + reshape(Wa_m z),  B_m = reshape(Wb_m z)   (Wb starts at 0, so the
    untrained hypernetwork is the base model; A0 is a learned subject-independent basis)

Inputs follow ../shared/model-contract.md: pixel_values [batch, images, 3, H, W] normalised
with mean 0.5 / std 0.5, image_mask [batch, images] (1 = real image). Outputs are the unscaled
lora_A [batch, M, r, 64] and lora_B [batch, M, 64, r].
"""
import math
import torch
import torch.nn as nn
import torch.nn.functional as F
import unet

Z = 32


def conv(cin, cout, stride):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.GroupNorm(8, cout), nn.SiLU())


class ImageEncoder(nn.Module):
    def __init__(self, width=128):
        super().__init__()
        self.body = nn.Sequential(conv(3, 32, 1), conv(32, 64, 2), conv(64, 96, 2), conv(96, width, 1))
        self.attn = nn.Conv2d(width, 1, 1)

    def forward(self, x):                       # [n, 3, 32, 32] -> [n, width]
        h = self.body(x)                         # [n, w, 8, 8]
        w = torch.softmax(self.attn(h).flatten(1), -1)
        return (h.flatten(2) * w[:, None]).sum(-1)


class HyperNet(nn.Module):
    def __init__(self, n_modules, dim=unet.D, r=unet.LORA_R, width=128, z=Z):
        super().__init__()
        self.M, self.dim, self.r = n_modules, dim, r
        self.enc = ImageEncoder(width)
        self.mlp = nn.Sequential(nn.Linear(width, 256), nn.SiLU(), nn.Linear(256, z), nn.LayerNorm(z))
        self.A0 = nn.Parameter(torch.randn(n_modules, r, dim) / math.sqrt(dim))
        self.Wa = nn.Parameter(torch.randn(n_modules, r * dim, z) * 0.02 / math.sqrt(z))
        self.Wb = nn.Parameter(torch.zeros(n_modules, dim * r, z))

    def embed(self, pixel_values, image_mask):
        b, n = pixel_values.shape[:2]
        f = self.enc(pixel_values.reshape(b * n, *pixel_values.shape[2:])).view(b, n, -1)
        m = image_mask.unsqueeze(-1)
        pooled = (f * m).sum(1) / m.sum(1).clamp(min=1.0)
        return self.mlp(pooled)                  # [b, z]

    def forward(self, pixel_values, image_mask):
        return self.lora(self.embed(pixel_values, image_mask))

    def lora(self, z):
        b = z.shape[0]
        a = torch.einsum("mkz,bz->bmk", self.Wa, z).reshape(b, self.M, self.r, self.dim) + self.A0
        bb = torch.einsum("mkz,bz->bmk", self.Wb, z).reshape(b, self.M, self.dim, self.r)
        return a, bb


def delta_norm(a, b):
    """Mean squared Frobenius norm of the weight deltas B A (the output regulariser)."""
    return torch.matmul(b, a).pow(2).sum(dim=(-1, -2)).mean()
