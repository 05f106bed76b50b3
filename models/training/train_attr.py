"""The evaluation's attribute classifier (ships as eval/attribute-classifier.onnx): predicts a
render's shape, colour and pattern, and gives a 128-d feature whose cosine similarity is the
card's "feature similarity to held-out images of the subject" (a DINO-score analogue).
Trained on fresh renders of random subjects from all combos, with blur/noise augmentation so
it also reads imperfect samples. It is independent of the hypernetwork and the UNet.

    /usr/bin/python3 models/training/train_attr.py [--steps 500]   # ~3 min, 2 cores
"""
import argparse, os, time
import torch
import torch.nn as nn
import torch.nn.functional as F
import shapes

HERE = os.path.dirname(os.path.abspath(__file__))
CKPT = os.path.join(HERE, "ckpt")


class AttributeClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        c = lambda i, o, s: nn.Sequential(nn.Conv2d(i, o, 3, stride=s, padding=1), nn.BatchNorm2d(o), nn.ReLU())
        self.body = nn.Sequential(c(3, 32, 1), c(32, 64, 2), c(64, 64, 1), c(64, 96, 2), c(96, 128, 2))
        self.heads = nn.ModuleList([nn.Linear(128, len(shapes.SHAPES)), nn.Linear(128, len(shapes.COLOURS)), nn.Linear(128, len(shapes.PATTERNS))])

    def forward(self, x):                      # x in [-1, 1], [B, 3, 32, 32]
        f = self.body(x).mean(dim=(2, 3))
        return [h(f) for h in self.heads] + [F.normalize(f, dim=-1)]


def augment(x, g):
    B = x.shape[0]
    blur = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    w = (torch.rand(B, 1, 1, 1, generator=g) * (torch.rand(B, 1, 1, 1, generator=g) < 0.5)).float()
    x = x * (1 - w) + blur * w
    return (x + 0.05 * torch.rand(B, 1, 1, 1, generator=g) * torch.randn(x.shape, generator=g)).clamp(0, 1)


def accuracy(model, n=1024, seed=77, combos=None):
    g = torch.Generator().manual_seed(seed)
    x, s = shapes.random_renders(n, g, combos)
    model.eval()
    with torch.no_grad():
        out = model(x * 2 - 1)
    model.train()
    return [float((o.argmax(-1) == s[k]).float().mean()) for o, k in zip(out[:3], ["shape", "colour", "pattern"])]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--out", default=os.path.join(CKPT, "attr.pt"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(3)
    model = AttributeClassifier()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=args.steps)
    t0 = time.time()
    for step in range(args.steps):
        x, s = shapes.random_renders(args.batch, g)
        out = model(augment(x, g) * 2 - 1)
        loss = sum(F.cross_entropy(o, s[k]) for o, k in zip(out[:3], ["shape", "colour", "pattern"]))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 50 == 0:
            print(f"step {step} loss {loss.item():.4f} {time.time() - t0:.0f}s", flush=True)
    acc = accuracy(model)
    print("held-out renders accuracy shape/colour/pattern", acc, flush=True)
    os.makedirs(CKPT, exist_ok=True)
    torch.save({"state": model.state_dict(), "accuracy": acc}, args.out)


if __name__ == "__main__":
    main()
