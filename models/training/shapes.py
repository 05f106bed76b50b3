"""Seeded procedural "subjects" for hyper-personalize-tiny: 32x32 RGB renders of one object.

A subject is a fixed draw of (shape, colour, pattern) plus continuous per-subject details
(exact hue/saturation/value, pattern frequency, pattern ink light or dark). Every render of a
subject varies what a photo varies: background (tinted, graded, noisy), position, scale and
rotation. The class prompt is the SHAPE; colour and pattern are what personalisation adds.

Renders are drawn with torch at 64x64 and box-filtered to 32x32 (anti-aliasing), vectorised
over a batch. Pixel values are in [0, 1].

    /usr/bin/python3 models/training/shapes.py   # writes /tmp/shapes-preview.png
"""
import math
import torch
import torch.nn.functional as F

SHAPES = ["circle", "square", "triangle", "diamond", "cross", "ring"]
COLOURS = ["red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink"]
HUES = [0.0, 30.0, 55.0, 120.0, 180.0, 225.0, 275.0, 320.0]
PATTERNS = ["solid", "hstripes", "vstripes", "checker", "dots"]
SIZE = 32
N_COMBOS = len(SHAPES) * len(COLOURS) * len(PATTERNS)


def combo_index(shape, colour, pattern):
    return (shape * len(COLOURS) + colour) * len(PATTERNS) + pattern


def combo_splits(seed=4321):
    """Disjoint (shape, colour, pattern) combos: 40 test, 20 validation, the rest train.
    Hypernetwork training subjects only ever come from the train combos."""
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(N_COMBOS, generator=g).tolist()
    return {"test": sorted(perm[:40]), "val": sorted(perm[40:60]), "train": sorted(perm[60:])}


def _hsv_to_rgb(h, s, v):
    """h in degrees, s/v in [0,1]; tensors of shape [B] -> [B, 3]."""
    h = (h % 360.0) / 60.0
    c = v * s
    x = c * (1 - (h % 2 - 1).abs())
    z = torch.zeros_like(h)
    i = h.floor().long().clamp(0, 5)
    table = torch.stack([torch.stack(t, -1) for t in [(c, x, z), (x, c, z), (z, c, x), (z, x, c), (x, z, c), (c, z, x)]], 1)
    rgb = table[torch.arange(h.shape[0]), i]
    return rgb + (v - c)[:, None]


def draw_subjects(n, g, combos=None):
    """n subjects as a dict of tensors. combos: allowed combo indices (default: all)."""
    if combos is None:
        combos = list(range(N_COMBOS))
    combos = torch.tensor(combos)
    idx = combos[torch.randint(len(combos), (n,), generator=g)]
    pattern = idx % len(PATTERNS)
    colour = (idx // len(PATTERNS)) % len(COLOURS)
    shape = idx // (len(PATTERNS) * len(COLOURS))
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(n, generator=g)
    return {
        "shape": shape, "colour": colour, "pattern": pattern,
        "hue": torch.tensor(HUES)[colour] + u(-7, 7),
        "sat": u(0.75, 1.0), "val": u(0.8, 1.0),
        "freq": u(2.6, 3.4),
        "ink_dark": (torch.rand(n, generator=g) < 0.5).float(),
    }


def subject_slice(subj, i):
    return {k: v[i:i + 1] for k, v in subj.items()}


def repeat_subject(subj, k):
    return {key: v.repeat_interleave(k, 0) for key, v in subj.items()}


BACKGROUNDS = ("usual", "coloured", "varied")


def render(subj, g, size=SIZE, bg="usual", return_mask=False):
    """One render per row of `subj` -> [B, 3, size, size] in [0, 1].

    bg: "usual" — a desaturated tint with a gradient (v1's distribution; these draws are kept
    exactly, so seeded renders are unchanged); "coloured" — a strongly saturated background whose
    hue is at least 60 degrees from the subject's (the case where an adapter that looks at the
    whole image copies the background's colour); "varied" (training) — per render, coloured with
    probability 0.4, plus a lighting change (gain and offset on the whole image) and a wider
    range of object scales. return_mask: also the object's coverage of each pixel [B, 1, size, size]."""
    assert bg in BACKGROUNDS, bg
    B = subj["shape"].shape[0]
    S = 2 * size
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(B, generator=g)
    lin = (torch.arange(S) + 0.5) / S * 2 - 1
    yy, xx = torch.meshgrid(lin, lin, indexing="ij")
    xx, yy = xx[None], yy[None]
    # "varied" widens the scale range with the same number of draws (usual renders unchanged)
    cx, cy, sc, th = u(-0.25, 0.25), u(-0.25, 0.25), u(0.35, 0.75) if bg == "varied" else u(0.45, 0.68), u(-0.45, 0.45)
    dx, dy = (xx - cx[:, None, None]) / sc[:, None, None], (yy - cy[:, None, None]) / sc[:, None, None]
    ct, st = torch.cos(th)[:, None, None], torch.sin(th)[:, None, None]
    x, y = ct * dx + st * dy, -st * dx + ct * dy
    r = torch.sqrt(x * x + y * y)
    ax, ay = x.abs(), y.abs()
    masks = torch.stack([
        r <= 1.0,
        torch.maximum(ax, ay) <= 0.82,
        (y >= -0.62) & (y <= 0.95 - 1.75 * ax),
        ax + ay <= 1.0,
        ((ax <= 0.34) & (ay <= 0.95)) | ((ay <= 0.34) & (ax <= 0.95)),
        (r <= 1.0) & (r >= 0.52),
    ], 1).float()
    mask = masks[torch.arange(B), subj["shape"]]
    f = subj["freq"][:, None, None]
    per = 2.0 / f
    pats = torch.stack([
        torch.zeros_like(x),
        (torch.sin(math.pi * f * y) > 0).float(),
        (torch.sin(math.pi * f * x) > 0).float(),
        ((torch.sin(math.pi * f * x) > 0) ^ (torch.sin(math.pi * f * y) > 0)).float(),
        ((torch.remainder(x, per) - per / 2) ** 2 + (torch.remainder(y, per) - per / 2) ** 2 <= (0.28 * per) ** 2).float(),
    ], 1)
    ink = pats[torch.arange(B), subj["pattern"]]
    body = _hsv_to_rgb(subj["hue"], subj["sat"], (subj["val"] + u(-0.06, 0.06)).clamp(0, 1))
    ink_rgb = subj["ink_dark"][:, None] * 0.08 + (1 - subj["ink_dark"][:, None]) * 0.96
    ink_rgb = ink_rgb.expand(B, 3)
    obj = body[:, :, None, None] * (1 - ink[:, None]) + ink_rgb[:, :, None, None] * ink[:, None]
    # background: a desaturated tint, a linear gradient and fine noise
    bg0 = _hsv_to_rgb(u(0, 360), u(0.0, 0.28), u(0.3, 0.9))
    bg1 = _hsv_to_rgb(u(0, 360), u(0.0, 0.28), u(0.3, 0.9))
    ga = u(0, 2 * math.pi)
    w = ((torch.cos(ga)[:, None, None] * xx + torch.sin(ga)[:, None, None] * yy) * 0.5 + 0.5)[:, None]
    back = bg0[:, :, None, None] * (1 - w) + bg1[:, :, None, None] * w
    back = back + 0.04 * torch.randn(B, 3, S, S, generator=g)
    if bg != "usual":
        # Drawn after every "usual" draw, so the usual renders stay exactly v1's.
        hb = subj["hue"] + u(60, 300)
        sat, val = u(0.65, 1.0), u(0.55, 1.0)
        col = (_hsv_to_rgb(hb, sat, val)[:, :, None, None] * (1 - w)
               + _hsv_to_rgb(hb + u(-25, 25), sat, val)[:, :, None, None] * w)
        col = col + 0.04 * torch.randn(B, 3, S, S, generator=g)
        pick = torch.ones(B) if bg == "coloured" else (torch.rand(B, generator=g) < 0.4).float()
        back = back * (1 - pick[:, None, None, None]) + col * pick[:, None, None, None]
    img = back * (1 - mask[:, None]) + obj * mask[:, None]
    if bg == "varied":   # lighting: the whole scene brighter or darker, with a small cast
        img = img * u(0.75, 1.15)[:, None, None, None] + 0.05 * (torch.rand(B, 3, 1, 1, generator=g) - 0.5)
    img = F.avg_pool2d(img, 2) if S == 2 * size else img
    if return_mask:
        return img.clamp(0, 1), F.avg_pool2d(mask[:, None], 2) if S == 2 * size else mask[:, None]
    return img.clamp(0, 1)


def render_set(subj, k, g, bg="usual", return_mask=False):
    """k renders of each subject: [n, k, 3, H, W] (and with return_mask their masks [n, k, 1, H, W])."""
    n = subj["shape"].shape[0]
    out = render(repeat_subject(subj, k), g, bg=bg, return_mask=return_mask)
    if return_mask:
        return out[0].view(n, k, 3, SIZE, SIZE), out[1].view(n, k, 1, SIZE, SIZE)
    return out.view(n, k, 3, SIZE, SIZE)


def random_renders(n, g, combos=None, bg="usual"):
    """n renders of n fresh subjects (the base model's training distribution)."""
    s = draw_subjects(n, g, combos)
    return render(s, g, bg=bg), s


def quantize(x):
    """As stored in a PNG: uint8 levels."""
    return (x * 255).round() / 255


def eval_subjects(split="test", n=24, seed=2024, n_cond=4, n_heldout=4, bg="usual"):
    """The card's held-out subjects: one subject per combo of `split` (first n), each with
    n_cond conditioning renders (on `bg` backgrounds) and n_heldout further renders (always the
    usual background: what the adapter should reproduce is the subject), quantised to uint8 like
    the PNGs the export ships (so PyTorch and the TypeScript eval see the same pixels). With
    bg="usual" these are exactly v1's renders."""
    combos = combo_splits()[split][:n]
    g = torch.Generator().manual_seed(seed)
    subj = {k: [] for k in ("shape", "colour", "pattern", "hue", "sat", "val", "freq", "ink_dark")}
    for c in combos:
        s = draw_subjects(1, g, [c])
        for k in subj:
            subj[k].append(s[k])
    subj = {k: torch.cat(v) for k, v in subj.items()}
    imgs = quantize(render_set(subj, n_cond + n_heldout, g))
    if bg != "usual":   # the same subjects and held-out renders; conditioning renders on `bg`
        imgs[:, :n_cond] = quantize(render_set(subj, n_cond, torch.Generator().manual_seed(seed + 1), bg=bg))
    return subj, imgs[:, :n_cond], imgs[:, n_cond:]


def save_grid(imgs, path, ncol):
    """imgs [N, 3, H, W] in [0, 1] -> PNG (PIL)."""
    from PIL import Image
    N, _, H, W = imgs.shape
    rows = (N + ncol - 1) // ncol
    canvas = torch.ones(3, rows * (H + 2), ncol * (W + 2))
    for i in range(N):
        r, c = divmod(i, ncol)
        canvas[:, r * (H + 2):r * (H + 2) + H, c * (W + 2):c * (W + 2) + W] = imgs[i]
    arr = (canvas.permute(1, 2, 0).clamp(0, 1) * 255).round().byte().numpy()
    Image.fromarray(arr).save(path)


if __name__ == "__main__":
    g = torch.Generator().manual_seed(0)
    subj = draw_subjects(8, g)
    imgs = render_set(subj, 8, g).view(-1, 3, SIZE, SIZE)
    save_grid(imgs, "/tmp/shapes-preview.png", 8)
    save_grid(render_set(subj, 8, g, bg="varied").view(-1, 3, SIZE, SIZE), "/tmp/shapes-preview-varied.png", 8)
    for i in range(8):
        print(SHAPES[subj["shape"][i]], COLOURS[subj["colour"][i]], PATTERNS[subj["pattern"][i]])
    sp = combo_splits()
    print({k: len(v) for k, v in sp.items()})
