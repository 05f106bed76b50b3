"""Trains hyper-personalize-tiny's hypernetwork end to end (HyperDreamBooth-style objective of
"Finetuning-Free Personalization ... via Hypernetworks", 2025): for a subject, 1-8 renders go
into the hypernetwork; the frozen base UNet with the generated LoRA must denoise OTHER renders
of the same subject (held-in images: new background/position/scale) under the class prompt
(the shape). Plus the output regulariser lambda * ||B A||^2 that keeps the generated weight
deltas small. Subjects come only from the TRAIN combos of shapes.combo_splits(); model
selection on VAL combos (fixed noise: adapted vs base denoising loss).

    /usr/bin/python3 models/training/train_hyper_img.py [--steps 700]   # ~18 min, 2 cores
"""
import argparse, math, os, time
import torch
import torch.nn.functional as F
import shapes, unet, hyper_img

HERE = os.path.dirname(os.path.abspath(__file__))
CKPT = os.path.join(HERE, "ckpt")


def load_base():
    net = unet.UNet()
    net.load_state_dict(torch.load(os.path.join(CKPT, "unet.pt"))["ema"])
    return net.eval().requires_grad_(False)


AUX = {"shape": len(shapes.SHAPES), "colour": len(shapes.COLOURS), "pattern": len(shapes.PATTERNS), "ink_dark": 2}


def subject_batch(n, g, combos, max_images=8, targets=2, n_images=None, bg="usual"):
    """Conditioning sets [n, 8, 3, H, W] in [-1, 1] with masks [n, 8], targets [n*targets, ...],
    their labels, the subjects, and the targets' object coverage [n*targets, 1, H, W].
    bg: the conditioning renders' backgrounds (shapes.render); the targets keep the usual
    background, so the adapter is rewarded for the subject only, never for the background."""
    subj = shapes.draw_subjects(n, g, combos)
    if bg == "usual":   # one call, as v1 trained (same draws)
        imgs, obj = shapes.render_set(subj, max_images + targets, g, return_mask=True)
        imgs = imgs * 2 - 1
        cond, tgt, obj = imgs[:, :max_images], imgs[:, max_images:], obj[:, max_images:]
    else:
        cond = shapes.render_set(subj, max_images, g, bg=bg) * 2 - 1
        tgt, obj = shapes.render_set(subj, targets, g, return_mask=True)
        tgt = tgt * 2 - 1
    tgt = tgt.reshape(n * targets, 3, shapes.SIZE, shapes.SIZE)
    k = torch.randint(1, max_images + 1, (n,), generator=g) if n_images is None else torch.full((n,), n_images)
    mask = (torch.arange(max_images)[None] < k[:, None]).float()
    return cond, mask, tgt, subj["shape"].repeat_interleave(targets), subj, obj.reshape(n * targets, 1, shapes.SIZE, shapes.SIZE)


def val_gain(base, hyp, fixed):
    cond, mask, tgt, labels = fixed["batch"][:4]
    with torch.no_grad():
        a, b = hyp(cond, mask)
        reps = tgt.shape[0] // cond.shape[0]
        a, b = a.repeat_interleave(reps, 0), b.repeat_interleave(reps, 0)
        la = unet.fm_loss(base, tgt, labels, a, b, g=torch.Generator().manual_seed(5)).mean().item()
        l0 = unet.fm_loss(base, tgt, labels, g=torch.Generator().manual_seed(5)).mean().item()
    return la, l0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=700)
    ap.add_argument("--subjects", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--reg", type=float, default=1e-3)
    ap.add_argument("--max_minutes", type=float, default=22)
    ap.add_argument("--bg", default="usual", choices=shapes.BACKGROUNDS,
                    help="conditioning renders' backgrounds (v2: varied)")
    ap.add_argument("--obj_weight", type=float, default=1.0,
                    help="loss weight of the targets' object pixels relative to the background (v1: 1)")
    ap.add_argument("--aux", type=float, default=0.0,
                    help="weight of an auxiliary loss: the subject's shape/colour/pattern/ink read linearly from z")
    ap.add_argument("--init", default="", help="start from this hypernetwork checkpoint")
    ap.add_argument("--enc", default="", help="image encoder from train_img_encoder.py (replaces --init's)")
    ap.add_argument("--freeze_enc", action="store_true", help="keep the image encoder fixed (stage 2 of v3)")
    ap.add_argument("--out", default=os.path.join(CKPT, "hyper.pt"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(2)
    splits = shapes.combo_splits()
    base = load_base()
    hyp = hyper_img.HyperNet(len(base.lora_modules))
    if args.init:
        hyp.load_state_dict(torch.load(args.init)["state"])
        print("starting from", args.init, flush=True)
    if args.enc:
        hyp.enc.load_state_dict(torch.load(args.enc)["enc"])
        print("image encoder from", args.enc, flush=True)
    if args.freeze_enc:
        hyp.enc.requires_grad_(False)
    print("hypernetwork params", sum(p.numel() for p in hyp.parameters()), flush=True)
    # the auxiliary heads are training-only: they make z carry the attributes the adapter must draw
    heads = torch.nn.ModuleDict({k: torch.nn.Linear(hyper_img.Z, n) for k, n in AUX.items()})
    params = [p for p in hyp.parameters() if p.requires_grad] + (list(heads.parameters()) if args.aux else [])
    opt = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.99), weight_decay=0.0)
    warm = 50
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm) * (
        0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, s / args.steps)))))
    fixed = {"batch": subject_batch(24, torch.Generator().manual_seed(11), splits["val"], targets=4, n_images=4)}
    best, t0, run = float("inf"), time.time(), None
    for step in range(args.steps):
        cond, mask, tgt, labels, subj, obj = subject_batch(args.subjects, g, splits["train"], bg=args.bg)
        z = hyp.embed(cond, mask)
        a, b = hyp.lora(z)
        reps = tgt.shape[0] // cond.shape[0]
        weight = None if args.obj_weight == 1.0 else 1.0 + (args.obj_weight - 1.0) * obj
        fm = unet.fm_loss(base, tgt, labels, a.repeat_interleave(reps, 0), b.repeat_interleave(reps, 0), g=g, weight=weight).mean()
        reg = hyper_img.delta_norm(a, b)
        loss = fm + args.reg * reg
        if args.aux:
            loss = loss + args.aux * sum(F.cross_entropy(h(z), subj[k].long()) for k, h in heads.items())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        run = fm.item() if run is None else 0.97 * run + 0.03 * fm.item()
        if step % 25 == 0:
            print(f"step {step} fm {run:.4f} |BA|^2 {reg.item():.2f} {time.time() - t0:.0f}s", flush=True)
        over = time.time() - t0 > args.max_minutes * 60
        if step % 100 == 99 or step == args.steps - 1 or over:
            la, l0 = val_gain(base, hyp, fixed)
            print(f"  val: adapted {la:.4f} base {l0:.4f}", flush=True)
            if la < best:
                best = la
                torch.save({"state": hyp.state_dict(), "step": step + 1, "val_adapted": la, "val_base": l0, "args": vars(args)}, args.out)
            if over:
                print("stopping: time limit", flush=True)
                break
    print(f"done {time.time() - t0:.0f}s best val {best:.4f} -> {args.out}", flush=True)


if __name__ == "__main__":
    main()
