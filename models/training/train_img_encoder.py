"""Stage 1 of hyper-personalize-tiny v3's hypernetwork: supervised training of its image encoder.

The encoder (hyper_img.ImageEncoder) of v1/v2 learned only from the denoising loss, which barely
rewards a 32 px pattern: a linear probe reads the pattern from its pooled features 60% of the time
on test combos (colour 100%), and the adapter's pattern match is 32%. Here the encoder learns to
read the subject's attributes from 1-8 renders on varied backgrounds (linear heads on the
image-mean of its features: shape, colour, pattern, ink; pattern frequency by regression) — the
role a pretrained image encoder plays in HyperDreamBooth. Labels come from the TRAIN combos only
(the generator's own subject rules, shapes.py); the test combos stay held out. Stage 2
(train_hyper_img.py --enc <this checkpoint> --freeze_enc) trains the rest on the denoising loss.

    /usr/bin/python3 models/training/train_img_encoder.py --init ckpt/hyper.pt --steps 800
"""
import argparse, math, os, time
import torch
import torch.nn as nn
import torch.nn.functional as F
import shapes, hyper_img

HERE = os.path.dirname(os.path.abspath(__file__))
CKPT = os.path.join(HERE, "ckpt")
CLASSES = {"shape": len(shapes.SHAPES), "colour": len(shapes.COLOURS), "pattern": len(shapes.PATTERNS), "ink_dark": 2}


def batch(n, g, combos, max_images=8, bg="varied"):
    """Conditioning sets [n, 8, 3, H, W] in [-1, 1], masks [n, 8] (1..8 images), the subjects."""
    subj = shapes.draw_subjects(n, g, combos)
    cond = shapes.render_set(subj, max_images, g, bg=bg) * 2 - 1
    k = torch.randint(1, max_images + 1, (n,), generator=g)
    mask = (torch.arange(max_images)[None] < k[:, None]).float()
    return cond, mask, subj


def pooled(enc, cond, mask):
    b, n = cond.shape[:2]
    f = enc(cond.reshape(b * n, *cond.shape[2:])).view(b, n, -1)
    m = mask.unsqueeze(-1)
    return (f * m).sum(1) / m.sum(1).clamp(min=1.0)


def losses(enc, heads, cond, mask, subj):
    f = pooled(enc, cond, mask)
    out = {k: F.cross_entropy(heads[k](f), subj[k].long()) for k in CLASSES}
    out["freq"] = F.mse_loss(heads["freq"](f).squeeze(-1), subj["freq"].float())
    acc = {k: (heads[k](f).argmax(-1) == subj[k].long()).float().mean().item() for k in CLASSES}
    return out, acc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--subjects", type=int, default=48)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--max_minutes", type=float, default=12)
    ap.add_argument("--init", default="", help="a hypernetwork checkpoint whose encoder to start from")
    ap.add_argument("--out", default=os.path.join(CKPT, "img_enc.pt"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(3)
    splits = shapes.combo_splits()
    enc = hyper_img.ImageEncoder()
    if args.init:
        state = torch.load(args.init)["state"]
        enc.load_state_dict({k[len("enc."):]: v for k, v in state.items() if k.startswith("enc.")})
        print("encoder from", args.init, flush=True)
    width = enc.attn.in_channels
    heads = nn.ModuleDict({**{k: nn.Linear(width, n) for k, n in CLASSES.items()}, "freq": nn.Linear(width, 1)})
    params = list(enc.parameters()) + list(heads.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 50) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / args.steps))))
    # validation: the VAL combos on every background kind, 1-8 images
    val = {bg: batch(96, torch.Generator().manual_seed(11), splits["val"], bg=bg) for bg in shapes.BACKGROUNDS}
    t0, best = time.time(), -1.0
    for step in range(args.steps):
        enc.train()
        cond, mask, subj = batch(args.subjects, g, splits["train"])
        out, acc = losses(enc, heads, cond, mask, subj)
        loss = sum(out.values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        over = time.time() - t0 > args.max_minutes * 60
        if step % 50 == 0:
            print(f"step {step} loss {loss.item():.3f} " + " ".join(f"{k} {v:.2f}" for k, v in acc.items()) + f" {time.time() - t0:.0f}s", flush=True)
        if step % 100 == 99 or step == args.steps - 1 or over:
            enc.eval()
            with torch.no_grad():
                accs = {bg: losses(enc, heads, *v)[1] for bg, v in val.items()}
            pat = sum(a["pattern"] for a in accs.values()) / len(accs)
            print("  val " + "; ".join(f"{bg}: " + " ".join(f"{k} {v:.2f}" for k, v in a.items()) for bg, a in accs.items()), flush=True)
            if pat > best:
                best = pat
                torch.save({"enc": enc.state_dict(), "heads": heads.state_dict(), "step": step + 1, "val": accs, "args": vars(args)}, args.out)
            if over:
                break
    print(f"done {time.time() - t0:.0f}s best val pattern {best:.3f} -> {args.out}", flush=True)


if __name__ == "__main__":
    main()
