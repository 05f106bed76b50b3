"""Trains hyper-personalize-tiny's base: the class-conditioned flow-matching UNet (unet.py) on
fresh procedural renders (shapes.py) of random subjects from ALL combos, the class being the
shape (10% of labels dropped to the null class for classifier-free guidance). Keeps an EMA of
the weights; the EMA is what ships.

    /usr/bin/python3 models/training/train_unet.py --steps 1000 --max_minutes 22      # phase 1
    cp models/training/ckpt/unet.pt /tmp/unet_phase1.pt
    /usr/bin/python3 models/training/train_unet.py --init /tmp/unet_phase1.pt --steps 550 \
        --lr 1e-3 --warmup 20 --max_minutes 13 --seed 1                                # phase 2
"""
import argparse, copy, math, os, time
import torch
import shapes, unet

HERE = os.path.dirname(os.path.abspath(__file__))
CKPT = os.path.join(HERE, "ckpt")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--ema", type=float, default=0.995)
    ap.add_argument("--max_minutes", type=float, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=os.path.join(CKPT, "unet.pt"))
    ap.add_argument("--init", default="", help="continue from this checkpoint (weights and EMA)")
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--t_dist", default="uniform", choices=["uniform", "logit_normal"])
    ap.add_argument("--bg", default="usual", choices=shapes.BACKGROUNDS, help="training renders' backgrounds")
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    g = torch.Generator().manual_seed(1 + 100 * args.seed)
    net = unet.UNet()
    ema = copy.deepcopy(net).requires_grad_(False)
    if args.init:
        ck = torch.load(args.init)
        net.load_state_dict(ck["state"])
        ema.load_state_dict(ck["ema"])
        print("continuing from", args.init, "step", ck["step"], flush=True)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, betas=(0.9, 0.99), weight_decay=0.0)
    warm = args.warmup
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm) * (
        0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, s / args.steps)))))
    t0, run = time.time(), 0.0
    os.makedirs(CKPT, exist_ok=True)
    for step in range(args.steps):
        x, subj = shapes.random_renders(args.batch, g, bg=args.bg)
        labels = subj["shape"].clone()
        labels[torch.rand(args.batch, generator=g) < 0.1] = unet.N_CLASSES
        loss = unet.fm_loss(net, x * 2 - 1, labels, g=g, t_dist=args.t_dist).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        d = args.ema if args.init else min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, p in zip(ema.parameters(), net.parameters()):
                pe.mul_(d).add_(p.detach(), alpha=1 - d)
        run = 0.98 * run + 0.02 * loss.item() if step else loss.item()
        if step % 50 == 0 or step == args.steps - 1:
            print(f"step {step} loss {run:.4f} lr {sched.get_last_lr()[0]:.2e} {time.time() - t0:.0f}s", flush=True)
        if step % 200 == 199 or step == args.steps - 1 or time.time() - t0 > args.max_minutes * 60:
            torch.save({"state": net.state_dict(), "ema": ema.state_dict(), "step": step + 1, "args": vars(args)}, args.out)
            if time.time() - t0 > args.max_minutes * 60:
                print("stopping: time limit", flush=True)
                break
    gs = torch.Generator().manual_seed(7)
    labels = torch.arange(unet.N_CLASSES).repeat_interleave(8)
    imgs = unet.sample(ema, labels, torch.randn(len(labels), 3, 32, 32, generator=gs), steps=20)
    shapes.save_grid(imgs, "/tmp/unet-samples.png", 8)
    print(f"done {time.time() - t0:.0f}s -> {args.out}; samples /tmp/unet-samples.png", flush=True)


if __name__ == "__main__":
    main()
