"""Reads the shipped hyper-personalize-tiny graphs back into PyTorch checkpoints, so a later
session (whose ckpt/ is gone) can continue training from them and re-run the PyTorch eval with
the very same attribute classifier (the judge must not change between versions):

    /usr/bin/python3 models/training/from_onnx_img.py [--model-dir models/hyper-personalize-tiny]
    # -> ckpt/unet.pt (state = ema = the shipped base), ckpt/hyper.pt, ckpt/attr.pt

Named initializers map by name. The exporter renames the few it rewrites (norm affine
parameters become onnx::Mul_N / onnx::Add_N, a BatchNorm folds into its conv as onnx::Conv_N),
so those are found by re-exporting a fresh model of the same code whose every parameter holds
distinct random values and matching values: the same export yields the same names (a bias-free Linear's weight comes back transposed). BatchNorms
are set to the identity first, so a folded conv is its own conv's weight and bias. Each
recovered model is re-exported and must reproduce the shipped initializers exactly.
"""
import argparse, os, tempfile
import torch
import common, export_img, hyper_img, train_attr, unet

HERE = os.path.dirname(os.path.abspath(__file__))
CKPT = os.path.join(HERE, "ckpt")


def identity_batchnorms(module):
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.zero_(); m.running_var.fill_(1.0 - m.eps)
            m.weight.data.fill_(1.0); m.bias.data.zero_()


def recover(module, export, shipped, prefix=""):
    """Loads the initializers of `shipped` (an ONNX file written by `export`) into `module`."""
    g = torch.Generator().manual_seed(0)
    own = dict(module.named_parameters())
    for p in own.values():
        p.data.copy_(torch.randn(p.shape, generator=g))
    identity_batchnorms(module)
    with tempfile.TemporaryDirectory() as d:
        probe = os.path.join(d, "probe.onnx")
        export(module, probe)
        _, probe_init = common.onnx_initializers(probe)
    _, init = common.onnx_initializers(shipped)
    assert set(init) == set(probe_init), set(init) ^ set(probe_init)
    names = {}
    for name, v in probe_init.items():
        key = name[len(prefix):] if name.startswith(prefix) else name
        if key in own:
            names[name] = (key, False)
            continue
        hits = [(k, t) for k, p in own.items() for t in (False, True) if p.numel() == v.numel()
                and (not t or v.dim() == 2) and torch.allclose(p.data.flatten(), (v.T if t else v).flatten(), rtol=1e-4, atol=1e-6)]
        if len(hits) == 1:
            names[name] = hits[0]
        else:
            assert v.numel() <= 4, (name, tuple(v.shape), hits)   # a constant of the graph, not a weight
    folded = {f"{n}.{p}" for n, m in module.named_modules() if isinstance(m, torch.nn.BatchNorm2d) for p in ("weight", "bias")}
    found = {k for k, _ in names.values()}
    assert found == set(own) - folded, (set(own) - folded) ^ found
    for name, (key, t) in names.items():    # t: a bias-free Linear exports its weight transposed (MatMul)
        own[key].data.copy_((init[name].T if t else init[name]).reshape(own[key].shape))
    with tempfile.TemporaryDirectory() as d:     # the recovered module must export to the shipped weights
        again = os.path.join(d, "again.onnx")
        export(module, again)
        _, back = common.onnx_initializers(again)
    worst = max(float((back[n] - init[n]).abs().max()) for n in names)
    assert worst < 1e-5, worst
    print(f"recovered {len(names)} tensors from {shipped} (re-export max |diff| {worst:.1e})", flush=True)
    return module


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", default=os.path.join(os.path.dirname(HERE), "hyper-personalize-tiny"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    os.makedirs(CKPT, exist_ok=True)
    net = recover(unet.UNet().eval(), export_img.export_base, os.path.join(args.model_dir, "base.onnx"), prefix="net.")
    torch.save({"state": net.state_dict(), "ema": net.state_dict(), "step": 0, "args": {"from": args.model_dir}}, os.path.join(CKPT, "unet.pt"))
    hyp = recover(hyper_img.HyperNet(len(net.lora_modules)).eval(), export_img.export_generator, os.path.join(args.model_dir, "generator.onnx"))
    torch.save({"state": hyp.state_dict(), "step": 0, "args": {"from": args.model_dir}}, os.path.join(CKPT, "hyper.pt"))
    clf = recover(train_attr.AttributeClassifier().eval(), export_img.export_classifier,
                  os.path.join(args.model_dir, "eval", "attribute-classifier.onnx"))
    torch.save({"state": clf.state_dict()}, os.path.join(CKPT, "attr.pt"))
    print("->", CKPT)


if __name__ == "__main__":
    main()
