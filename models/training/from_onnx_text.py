"""Reads a shipped text model back into the training checkpoints (checkpoints do not survive a
machine; the shipped files do): ckpt/base.pt from models/<id>/hf, ckpt/ga.pt from
generator.onnx + combine.onnx (every trainable tensor by its initializer name; lora_B is the
constant each lora_B output expands). The generator's arguments are the ones the card names
(v2: mk 64, norm growth; v2.1: --mk 256 --gate). Checked by re-exporting: export.py of these
checkpoints gives the shipped initializers.

  /usr/bin/python3 models/training/from_onnx_text.py [--model-dir models/generative-adapter-tiny] [--mk 256 --gate]
"""
import argparse, os
import torch
import common, hyper, lm
from hf_check import load_hf


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", default="models/generative-adapter-tiny")
    ap.add_argument("--norm", default="growth")
    ap.add_argument("--mk", type=int, default=64, help="64 for v2, 256 for v2.1")
    ap.add_argument("--gate", action="store_true", help="the generator has a write gate (v2.1)")
    ap.add_argument("--shift", action="store_true", help="the generator has token-shift keys (gen.A2s)")
    ap.add_argument("--ctx", type=int, default=-1, help="the generator's contextual keys read this layer (gen.A2c/A3c)")
    ap.add_argument("--r", type=int, default=common.LORA_R, help="the LoRA rank (8 up to v2.1)")
    args = ap.parse_args()
    common.setup()
    os.makedirs(common.CKPT, exist_ok=True)
    base, c = load_hf(os.path.join(args.model_dir, "hf"))
    torch.save({"cfg": c.to_dict(), "state": base.state_dict(), "step": 0}, os.path.join(common.CKPT, "base.pt"))
    gen = hyper.GAGenerator(base, lm.ALL_GROUPS, r=args.r, mk=args.mk, norm=args.norm, gate=args.gate,
                            shift=args.shift, ctx=args.ctx)
    init = {}
    graphs = {}
    for f in ("generator.onnx", "combine.onnx"):
        graphs[f], got = common.onnx_initializers(os.path.join(args.model_dir, f))
        init.update(got)
    names = ("A1", "A2", "A3", "gain") + (("growth", "ref") if args.norm == "growth" else ()) + (("gate_w", "gate_b") if args.gate else ())
    state = {f"{n}.{g}": init[f"gen.{n}.{g}"] for n in names for g in gen.groups}
    for node in graphs["combine.onnx"].graph.node:
        for o in node.output:
            if o.startswith("lora_B__") and node.op_type == "Expand":
                g = o[len("lora_B__"):]
                state[f"B.{g}"] = init[node.input[0]].reshape(gen.B[g].shape)
    if args.shift:
        state["A2s"] = init["gen.A2s"]
    if args.ctx >= 0:
        state["A2c"] = init["gen.A2c"]
        state.update({f"A3c.{g}": init[f"gen.A3c.{g}"] for g in gen.groups})
    common.copy_params(gen, state, f"generator from {args.model_dir}")
    torch.save({"args": {"mk": args.mk, "r": args.r, "norm": args.norm, "gate": args.gate, "shift": args.shift, "ctx": args.ctx, "from": args.model_dir}, "groups": lm.ALL_GROUPS,
                "step": 0, "state": {k: p.detach().clone() for k, p in gen.named_parameters()
                                     if not k.startswith("base.")}}, os.path.join(common.CKPT, "ga.pt"))
    print("wrote", common.CKPT, "base.pt and ga.pt")


if __name__ == "__main__":
    main()
