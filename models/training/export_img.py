"""Writes models/hyper-personalize-tiny/ from ckpt/unet.pt, ckpt/hyper.pt and ckpt/attr.pt:
generator.onnx (images -> LoRA), base.onnx (the UNet taking LoRA tensors as inputs),
manifest.json, and eval/ (attribute-classifier.onnx, the held-out subjects' PNGs and
subjects.json with torch reference values), then checks the graphs with onnxruntime-node
(verify_img_onnx.mjs). CARD.md is written by hand from eval_personalize.py's output.

    /usr/bin/python3 models/training/export_img.py [--version 2.0.0] [--guidance 2.0]
"""
import argparse, hashlib, json, os, subprocess
import torch
from PIL import Image
import shapes, unet, hyper_img, train_attr
from train_hyper_img import load_base, CKPT

OPSET = 14
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "hyper-personalize-tiny")
N_EVAL = 24
REF_MODULE = "mid_block.attentions.0.transformer_blocks.0.attn2.to_v"


def sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


class BaseOnnx(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, sample, timestep, class_labels, lora_A, lora_B):
        return self.net(sample, timestep, class_labels, lora_A, lora_B)


def png(img, path):
    arr = (img.permute(1, 2, 0) * 255).round().clamp(0, 255).byte().numpy()
    Image.fromarray(arr).save(path, optimize=True)


def export_generator(hyp, path):
    x, m = torch.rand(2, 3, 3, 32, 32) * 2 - 1, torch.tensor([[1.0, 1, 0], [1, 1, 1]])
    torch.onnx.export(hyp, (x, m), path, input_names=["pixel_values", "image_mask"],
                      output_names=["lora_A__attn", "lora_B__attn"], opset_version=OPSET, do_constant_folding=True,
                      dynamic_axes={"pixel_values": {0: "batch", 1: "images"}, "image_mask": {0: "batch", 1: "images"},
                                    "lora_A__attn": {0: "batch"}, "lora_B__attn": {0: "batch"}})


def export_base(base, path):
    M, r, D = len(base.lora_modules), unet.LORA_R, unet.D
    ab = (torch.randn(2, M, r, D) * 0.1, torch.randn(2, M, D, r) * 0.1)
    torch.onnx.export(BaseOnnx(base), (torch.randn(2, 3, 32, 32), torch.rand(2), torch.tensor([0, 3]), *ab), path,
                      input_names=["sample", "timestep", "class_labels", "lora_A__attn", "lora_B__attn"],
                      output_names=["velocity"], opset_version=OPSET, do_constant_folding=True,
                      dynamic_axes={k: {0: "batch"} for k in ["sample", "timestep", "class_labels", "lora_A__attn", "lora_B__attn", "velocity"]})


def export_classifier(clf, path):
    torch.onnx.export(clf, (torch.randn(2, 3, 32, 32),), path, input_names=["pixel_values"],
                      output_names=["shape_logits", "colour_logits", "pattern_logits", "features"], opset_version=OPSET,
                      do_constant_folding=True, dynamic_axes={k: {0: "batch"} for k in ["pixel_values", "shape_logits", "colour_logits", "pattern_logits", "features"]})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--version", default="2.0.0")
    ap.add_argument("--guidance", type=float, default=2.0, help="the sampler's classifier-free guidance (eval_personalize.py --guidance-sweep picks it)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    os.makedirs(os.path.join(OUT, "eval", "images"), exist_ok=True)
    base = load_base()
    M = len(base.lora_modules)
    hyp = hyper_img.HyperNet(M)
    hyp.load_state_dict(torch.load(os.path.join(CKPT, "hyper.pt"))["state"])
    hyp.eval()
    clf = train_attr.AttributeClassifier()
    clf.load_state_dict(torch.load(os.path.join(CKPT, "attr.pt"))["state"])
    clf.eval()
    r, D = unet.LORA_R, unet.D

    gen_path, base_path = os.path.join(OUT, "generator.onnx"), os.path.join(OUT, "base.onnx")
    clf_path = os.path.join(OUT, "eval", "attribute-classifier.onnx")
    export_generator(hyp, gen_path)
    export_base(base, base_path)
    export_classifier(clf, clf_path)

    # held-out subjects (the same pixels eval_personalize.py uses) and torch references
    subj, cond, held = shapes.eval_subjects("test", n=N_EVAL)
    cond_coloured = shapes.eval_subjects("test", n=N_EVAL, bg="coloured")[1]    # same subjects, coloured backgrounds
    items = []
    for i in range(N_EVAL):
        sid = f"s{i:02d}"
        files = {"images": [], "heldout": [], "images_coloured": []}
        for kind, imgs in (("images", cond[i]), ("heldout", held[i]), ("images_coloured", cond_coloured[i])):
            for j, img in enumerate(imgs):
                rel = f"images/{sid}-{ {'images': 'c', 'heldout': 'h', 'images_coloured': 'k'}[kind] }{j}.png"
                png(img, os.path.join(OUT, "eval", rel))
                files[kind].append(rel)
        items.append({"id": sid, "shape": shapes.SHAPES[subj["shape"][i]], "colour": shapes.COLOURS[subj["colour"][i]],
                      "pattern": shapes.PATTERNS[subj["pattern"][i]], **files})
    with torch.no_grad():
        ga, gb = hyp(cond[:2] * 2 - 1, torch.ones(2, cond.shape[1]))
        gen_ref = {"subjects": [0, 1], "lora_A__attn": ga.flatten().tolist(), "lora_B__attn": gb.flatten().tolist()}
        gx = torch.Generator().manual_seed(3)
        bx, bt, bl = torch.randn(2, 3, 32, 32, generator=gx), torch.tensor([0.9, 0.3]), torch.tensor([1, 4])
        base_ref = {"sample": bx.flatten().tolist(), "timestep": bt.tolist(), "class_labels": bl.tolist(),
                    "velocity_zero_lora": base(bx, bt, bl).flatten().tolist(),
                    "velocity_generated": base(bx, bt, bl, ga, gb).flatten().tolist()}
        clf_ref = {"features_s00_c0": clf(cond[0, :1] * 2 - 1)[3].flatten().tolist()}
    ref_path = "/tmp/hyper-personalize-reference.json"
    json.dump({"generator": gen_ref, "base": base_ref, "classifier": clf_ref,
               "eval_images": [os.path.join(OUT, "eval", f) for f in items[0]["images"] + items[1]["images"]]}, open(ref_path, "w"))
    json.dump({
        "description": "Held-out subjects of hyper-personalize-tiny's card: one per TEST combo (shape, colour, pattern) the "
                       "hypernetwork never trained on. images = the 4 conditioning renders, heldout = 4 further renders, "
                       "images_coloured = 4 conditioning renders of the same subject on strongly coloured backgrounds.",
        "classifier": "attribute-classifier.onnx",
        "classes": shapes.SHAPES, "colours": shapes.COLOURS, "patterns": shapes.PATTERNS,
        "samples_per_subject": 8,
        "subjects": items,
        "reference": {"module": REF_MODULE,
                      "lora_A_first": ga[0, base.lora_modules.index(REF_MODULE)].flatten()[:16].tolist(),
                      "lora_B_first": gb[0, base.lora_modules.index(REF_MODULE)].flatten()[:16].tolist()},
    }, open(os.path.join(OUT, "eval", "subjects.json"), "w"), indent=1)

    blocks = sorted({mod.split(".attentions")[0] for mod in base.lora_modules})
    manifest = {
        "id": "hyper-personalize-tiny",
        "version": args.version,
        "method": "hyper-personalization",
        "description": "HyperDreamBooth-style hypernetwork for a tiny class-conditioned 32x32 flow-matching UNet trained on procedural "
                       "subjects: 1-8 images of a subject -> a rank-8 LoRA on the UNet's attention and projection layers that makes "
                       "the class prompt render that subject.",
        "generator": "generator.onnx",
        "sha256": sha256(gen_path),
        "base_model": {"name_or_path": "hyperadapt/tiny-unet-shapes-32", "revision": sha256(base_path)[:12], "arch": "unet",
                       "num_layers": len(blocks)},
        "condition": {"kind": "images", "min_images": 1, "max_images": 8, "size": [32, 32], "resize": "cover",
                      "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "channels": "rgb", "background": [128, 128, 128]},
        "inputs": [
            {"name": "pixel_values", "dtype": "float32", "shape": ["batch", "images", 3, 32, 32], "role": "pixel_values"},
            {"name": "image_mask", "dtype": "float32", "shape": ["batch", "images"], "role": "image_mask"},
        ],
        "lora": {"r": r, "lora_alpha": unet.LORA_ALPHA, "use_rslora": False},
        "groups": [{"name": "attn", "output_a": "lora_A__attn", "output_b": "lora_B__attn", "in": D, "out": D,
                    "modules": base.lora_modules}],
        "formats": {"supported": ["diffusers", "kohya"], "default": "diffusers"},
        "task_type": "TEXT_TO_IMAGE",
        "max_batch": 32,
        "base": {"file": "base.onnx", "sha256": sha256(base_path),
                 "diffusion": {"objective": "rectified-flow", "steps": 20, "guidance": args.guidance, "size": [32, 32],
                               "classes": shapes.SHAPES, "null_class": unet.N_CLASSES}},
    }
    json.dump(manifest, open(os.path.join(OUT, "manifest.json"), "w"), indent=2)
    open(os.path.join(OUT, "manifest.json"), "a").write("\n")
    for p in (gen_path, base_path, clf_path):
        print(f"{os.path.relpath(p)}: {os.path.getsize(p) / 1e6:.2f} MB")
    rc = subprocess.call(["node", os.path.join(HERE, "verify_img_onnx.mjs"), OUT, ref_path])
    raise SystemExit(rc)


if __name__ == "__main__":
    main()
