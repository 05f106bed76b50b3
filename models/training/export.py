"""Export a trained model to models/<id>/: generator.onnx, base.onnx, tokenizer.json,
manifest.json; then verify the ONNX graphs numerically in node (onnxruntime-node) against
torch and check the manifest.

/usr/bin/python3 models/training/export.py --model generative-adapter-tiny
/usr/bin/python3 models/training/export.py --model iag-tiny
Writes models/.staging/<id>/ (the shipped models/<id>/ is not touched).
generative-adapter-tiny (v2, chunking): generator.onnx maps one window (input_ids,
attention_mask [batch, seq]) to its additive state [batch, S]; combine.onnx maps the SUM of a
document's window states [batch, S] to lora_A__<group> / lora_B__<group>; the manifest's
"chunking" block names combine.onnx. S layout: groups in manifest order (q,k,v,o,gate,up,down),
each [num_layers, mk, r] row-major, concatenated.
"""
import argparse, hashlib, json, os, shutil, subprocess, sys
import torch
import torch.nn as nn
import common, lm, hyper, tok, data

OPSET = 14
# The base as a user loads it: its Hugging Face copy in the repository (export_hf.py writes it).
BASE_NAME = "models/{id}/hf"
MAX_CHUNKS = 16

MODELS = {
    "generative-adapter-tiny": dict(
        method="generative-adapter", ckpt="ga.pt", field="context", max_tokens=common.MAX_CONTEXT,
        description="Generative Adapter (Chen et al. 2024) for a tiny synthetic-domain llama: "
                    "reads a document window by window (96 tokens each, up to 16 windows), sums the "
                    "windows' additive states and maps the sum to a rank-8 LoRA so the base "
                    "answers questions about the whole document closed-book."),
    "iag-tiny": dict(
        method="iag", ckpt="iag.pt", field="question", max_tokens=common.MAX_QUESTION,
        description="IAG/IMcQA implicit imagination for a tiny synthetic-domain llama: maps a "
                    "question to a rank-8 LoRA that helps the base recall facts from its "
                    "pre-training corpus."),
}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def base_revision(base):
    h = hashlib.sha256()
    for k, v in sorted(base.state_dict().items()):
        h.update(k.encode()); h.update(v.detach().contiguous().numpy().tobytes())
    return h.hexdigest()[:12]


class BaseOnnx(nn.Module):
    def __init__(self, base, groups, scaling):
        super().__init__()
        self.base, self.groups, self.scaling = base, list(groups), scaling

    def forward(self, input_ids, attention_mask, *ab):
        lora = {g: (ab[2 * i], ab[2 * i + 1]) for i, g in enumerate(self.groups)}
        return self.base(input_ids, attention_mask, lora=lora, scaling=self.scaling)


class StateOnnx(nn.Module):
    """generator.onnx of a chunking GA model: window -> flat additive state [batch, S]."""
    def __init__(self, gen):
        super().__init__()
        self.gen = gen

    def forward(self, input_ids, attention_mask):
        return self.gen.flatten(self.gen.states(input_ids, attention_mask))


class CombineOnnx(nn.Module):
    """combine.onnx: summed flat state [batch, S] -> lora_A__g / lora_B__g."""
    def __init__(self, gen):
        super().__init__()
        self.gen = gen

    def forward(self, state):
        res = self.gen.from_states(self.gen.unflatten(state))
        out = []
        for g in self.gen.groups:
            out += [res[g][0], res[g][1]]
        return tuple(out)


class GenOnnx(nn.Module):
    def __init__(self, gen):
        super().__init__()
        self.gen = gen

    def forward(self, input_ids, attention_mask):
        res = self.gen(input_ids, attention_mask)
        out = []
        for g in self.gen.groups:
            out += [res[g][0], res[g][1]]
        return tuple(out)


def fix_output_shapes(path, shapes):
    """Write the exact output shapes (symbolic batch/seq, static rest) into the graph."""
    import onnx
    m = onnx.load(path)
    for o in m.graph.output:
        if o.name in shapes:
            dims = o.type.tensor_type.shape.dim
            for d, v in zip(dims, shapes[o.name]):
                if isinstance(v, str):
                    d.dim_param = v
                else:
                    d.ClearField("dim_param"); d.dim_value = v
    onnx.checker.check_model(m)
    onnx.save(m, path)


def load_generator(model_id, base_path=None, ckpt_path=None):
    spec = MODELS[model_id]
    base = common.load_base(base_path)
    ck = torch.load(ckpt_path or os.path.join(common.CKPT, spec["ckpt"]))
    a = ck["args"]
    if spec["method"] == "generative-adapter":
        gen = hyper.GAGenerator(base, ck["groups"], r=a.get("r", common.LORA_R), mk=a["mk"], norm=a["norm"],
                                 gate=a.get("gate", False), prenorm=a.get("prenorm", False),
                                 shift=a.get("shift", False), ctx=a.get("ctx", -1),
                                 zkeys=a.get("zkeys", False), vnext=a.get("vnext", False), ls=a.get("ls", ""), ls_lam=a.get("ls_lam", 10.0), off=a.get("off", ""), ctxb=a.get("ctxb", False))
    else:
        gen = hyper.IAGHyperNet(base, ck["groups"], r=common.LORA_R, hidden=a["hidden"])
    missing = gen.load_state_dict(ck["state"], strict=False)
    assert not missing.unexpected_keys and all(k.startswith("base.") for k in missing.missing_keys)
    gen.eval()
    return base, gen, ck


def export(model_id, outdir, base_path=None, ckpt_path=None, version="2.0.0"):
    spec = MODELS[model_id]
    base, gen, ck = load_generator(model_id, base_path, ckpt_path)
    groups = list(gen.groups)
    c = base.c
    os.makedirs(outdir, exist_ok=True)
    t = common.get_tok()
    shutil.copyfile(common.TOKENIZER, os.path.join(outdir, "tokenizer.json"))
    # Any rank keeps lora_alpha / r = common.LORA_ALPHA / common.LORA_R (the scaling trained with).
    scaling = common.LORA_ALPHA / common.LORA_R
    r, L = gen.r, c.n_layers
    lora_alpha = int(round(scaling * r))

    # ---- base.onnx
    ids, mask = common.pad([t.encode("question: who runs vantor labs ? answer:"),
                            t.encode("question: when was ada amsel born ? answer: 19")])
    ab, names, dyn = [], ["input_ids", "attention_mask"], {
        "input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
        "logits": {0: "batch", 1: "seq"}}
    for g in groups:
        fin, fout = c.module_dims(g)
        ab += [torch.zeros(2, L, r, fin), torch.zeros(2, L, fout, r)]
        names += [f"lora_A__{g}", f"lora_B__{g}"]
        dyn[f"lora_A__{g}"] = {0: "batch"}
        dyn[f"lora_B__{g}"] = {0: "batch"}
    base_path = os.path.join(outdir, "base.onnx")
    torch.onnx.export(BaseOnnx(base, groups, scaling), (ids, mask, *ab), base_path,
                      input_names=names, output_names=["logits"], dynamic_axes=dyn,
                      opset_version=OPSET, do_constant_folding=True)

    # ---- generator.onnx
    field = spec["field"]
    sample = [t.encode(x) for x in (["ada amsel lives in aldoria . ada amsel owns a dog .",
                                     "vantor labs makes toys ."] if field == "context" else
                                    ["where does ada amsel live ?", "who runs vantor labs ?"])]
    gi, gm = common.pad(sample)
    outs = []
    for g in groups:
        outs += [f"lora_A__{g}", f"lora_B__{g}"]
    gdyn = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}}
    gdyn.update({o: {0: "batch"} for o in outs})
    gen_path = os.path.join(outdir, "generator.onnx")
    lora_shapes = {o: ["batch", L] + ([r, c.module_dims(g)[0]] if o.startswith("lora_A")
                                      else [c.module_dims(g)[1], r])
                   for g in groups for o in (f"lora_A__{g}", f"lora_B__{g}")}
    chunking = None
    if spec["method"] == "generative-adapter":
        S = gen.state_size()
        torch.onnx.export(StateOnnx(gen), (gi, gm), gen_path,
                          input_names=["input_ids", "attention_mask"], output_names=["state"],
                          dynamic_axes={"input_ids": {0: "batch", 1: "seq"},
                                        "attention_mask": {0: "batch", 1: "seq"},
                                        "state": {0: "batch"}},
                          opset_version=OPSET, do_constant_folding=True)
        fix_output_shapes(gen_path, {"state": ["batch", S]})
        comb_path = os.path.join(outdir, "combine.onnx")
        with torch.no_grad():
            st = gen.flatten(gen.states(gi, gm))
        cdyn = {"state": {0: "batch"}}
        cdyn.update({o: {0: "batch"} for o in outs})
        torch.onnx.export(CombineOnnx(gen), (st,), comb_path, input_names=["state"],
                          output_names=outs, dynamic_axes=cdyn, opset_version=OPSET,
                          do_constant_folding=True)
        fix_output_shapes(comb_path, lora_shapes)
        chunking = {"mode": "additive-state", "max_chunks": MAX_CHUNKS, "graph": "combine.onnx",
                    "sha256": sha256(comb_path), "state_size": S}
    else:
        torch.onnx.export(GenOnnx(gen), (gi, gm), gen_path, input_names=["input_ids", "attention_mask"],
                          output_names=outs, dynamic_axes=gdyn, opset_version=OPSET,
                          do_constant_folding=True)
        fix_output_shapes(gen_path, lora_shapes)
    fix_output_shapes(base_path, {"logits": ["batch", "seq", c.vocab]})

    # ---- manifest
    man = {
        "id": model_id,
        "version": version,
        "method": spec["method"],
        "description": spec["description"],
        "generator": "generator.onnx",
        "sha256": sha256(gen_path),
        "base_model": {"name_or_path": BASE_NAME.format(id=model_id), "revision": base_revision(base), "arch": "llama",
                       "num_layers": L},
        "condition": {"kind": "text", "tokenizer": "tokenizer.json",
                      "fields": {field: {"max_tokens": spec["max_tokens"], "required": True}}},
        "inputs": [
            {"name": "input_ids", "dtype": "int64", "shape": ["batch", "seq"], "field": field,
             "role": "input_ids"},
            {"name": "attention_mask", "dtype": "int64", "shape": ["batch", "seq"], "field": field,
             "role": "attention_mask"}],
        "pad_token_id": tok.PAD,
        "padding_side": "right",
        "lora": {"r": r, "lora_alpha": lora_alpha, "use_rslora": False},
        "groups": [{"name": g, "output_a": f"lora_A__{g}", "output_b": f"lora_B__{g}",
                    "in": c.module_dims(g)[0], "out": c.module_dims(g)[1],
                    "modules": [f"model.layers.{i}.{'self_attn' if g in lm.ATTN else 'mlp'}.{g}"
                                for i in range(L)]} for g in groups],
        "formats": {"supported": ["peft"], "default": "peft"},
        "task_type": "CAUSAL_LM",
        "base": {"file": "base.onnx", "sha256": sha256(base_path), "hf": "hf",
                 "prompts": {"closed_book": data.PROMPT_CLOSED, "with_context": data.PROMPT_CONTEXT},
                 "eos_token_id": tok.EOS, "max_new_tokens": common.MAX_NEW},
    }
    if chunking:
        man["chunking"] = chunking
    json.dump(man, open(os.path.join(outdir, "manifest.json"), "w"), indent=2)
    return base, gen, man


@torch.no_grad()
def reference(model_id, base, gen, outdir):
    """Torch reference outputs for the node check (verify_onnx.mjs)."""
    t = common.get_tok()
    pools = data.splits()
    field = MODELS[model_id]["field"]
    flat = lambda x: [float(v) for v in x.reshape(-1).tolist()]
    ref = {"groups": list(gen.groups)}
    if field == "context":
        # a 3-window held-out document: windows as rows of one padded batch
        import evalsets
        doc = evalsets.ga_docs("ga_test", pools, t, 1, 3, seed=7)[0]
        conds = [t.encode(w) for w in doc["windows"]]
        gi, gm = common.pad(conds)
        S = gen.states(gi, gm)
        st = gen.flatten(S)                                   # [3, S] per-window states
        summed = gen.from_states({g: s.sum(0, keepdim=True) for g, s in S.items()})
        first = gen.from_states({g: s[:1] for g, s in S.items()})
        lora = {g: (torch.cat([summed[g][0], first[g][0]]), torch.cat([summed[g][1], first[g][1]]))
                for g in gen.groups}
        ref["window_state"] = {"shape": list(st.shape), "data": flat(st)}
        qs = [doc["qas"][0]["question"], doc["qas"][-1]["question"]]
    else:
        items = common.eval_set("mem_test", pools, seed=1)[:2]
        conds = [t.encode(it["qas"][0]["question"]) for it in items]
        conds[1] = conds[1][: max(3, len(conds[0]) - 9)]        # different lengths
        gi, gm = common.pad(conds)
        lora = gen(gi, gm)
        qs = [it["qas"][0]["question"] for it in items]
    prompts = [t.encode(common.closed_prompt(q)) for q in qs]
    prompts[1] = prompts[1] + t.encode("the")
    bi, bm = common.pad(prompts)
    logits = base(bi, bm, lora=lora, scaling=common.LORA_ALPHA / common.LORA_R)
    logits0 = base(bi, bm)
    ref.update({"gen_input_ids": gi.tolist(), "gen_attention_mask": gm.tolist(),
           "gen_outputs": {f"lora_{w}__{g}": {"shape": list(lora[g][j].shape),
                                              "data": flat(lora[g][j])}
                           for g in gen.groups for j, w in ((0, "A"), (1, "B"))},
           "base_input_ids": bi.tolist(), "base_attention_mask": bm.tolist(),
           "logits_with_lora": {"shape": list(logits.shape), "data": flat(logits)},
           "logits_no_lora": {"shape": list(logits0.shape), "data": flat(logits0)}})
    path = f"/tmp/{model_id}-onnx-ref.json"
    json.dump(ref, open(path, "w"))
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, choices=list(MODELS))
    ap.add_argument("--no-verify", action="store_true")
    ap.add_argument("--base", default="", help="base checkpoint (default ckpt/base.pt)")
    ap.add_argument("--ckpt", default="", help="generator checkpoint (default ckpt/<ga|iag>.pt)")
    ap.add_argument("--outdir", default="", help="default models/.staging/<id>")
    ap.add_argument("--version", default="2.0.0", help="the manifest's version")
    args = ap.parse_args()
    common.setup()
    # export + verify in a scratch directory, then copy the graphs, tokenizer and manifest into
    # models/.staging/<id>/ (CARD.md and eval-sample.json there are kept). The shipped
    # models/<id>/ is NOT touched: moving a staged model in is a separate, reviewed step.
    final = args.outdir or os.path.join(common.ROOT, ".staging", args.model)
    outdir = final + ".tmp"
    shutil.rmtree(outdir, ignore_errors=True)
    base, gen, man = export(args.model, outdir, args.base or None, args.ckpt or None, args.version)
    # torch-side check: zero adapters reproduce the base exactly
    t = common.get_tok()
    ids, mask = common.pad([t.encode("question: where does ada amsel live ? answer:")])
    z = {g: (torch.zeros(1, base.c.n_layers, gen.r, base.c.module_dims(g)[0]),
             torch.zeros(1, base.c.n_layers, base.c.module_dims(g)[1], gen.r))
         for g in gen.groups}
    with torch.no_grad():
        d = (base(ids, mask, lora=z) - base(ids, mask)).abs().max().item()
    print("torch zero-LoRA max |diff|", d)
    assert d == 0.0
    if not args.no_verify:
        ref = reference(args.model, base, gen, outdir)
        here = os.path.dirname(os.path.abspath(__file__))
        r = subprocess.run(["node", os.path.join(here, "verify_onnx.mjs"), outdir, ref])
        if r.returncode:
            sys.exit("ONNX verification FAILED")
        r = subprocess.run([sys.executable, os.path.join(here, "check_manifest.py"), outdir])
        if r.returncode:
            sys.exit("manifest check FAILED")
    os.makedirs(final, exist_ok=True)
    for f in ("combine.onnx",):
        if os.path.exists(os.path.join(final, f)) and not os.path.exists(os.path.join(outdir, f)):
            os.remove(os.path.join(final, f))
    for f in os.listdir(outdir):
        shutil.copy2(os.path.join(outdir, f), os.path.join(final, f))
    shutil.rmtree(outdir)
    for f in sorted(os.listdir(final)):
        print(f, os.path.getsize(os.path.join(final, f)))


if __name__ == "__main__":
    main()
