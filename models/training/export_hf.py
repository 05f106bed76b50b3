"""Writes a text model's base LM in Hugging Face format: models/<id>/hf/.

    /usr/bin/python3 models/training/export_hf.py --model generative-adapter-tiny
    /usr/bin/python3 models/training/export_hf.py --model iag-tiny --same-as generative-adapter-tiny

The weights come from the shipped base.onnx itself (the artefact the service runs), not from a
checkpoint, so a fresh clone can re-export: named initializers keep their torch names; the
projection matrices, which torch's exporter stores transposed under anonymous names, are
recovered from the MatMul node that consumes them (/base/<module>[_<layer>]/MatMul).
lm.py is HF llama (rotate-half RoPE, RMSNorm, SwiGLU, tied embeddings), so the files load with
`LlamaForCausalLM`; `hf_check.py` verifies that they reproduce base.onnx.
"""
import argparse, json, os, re, shutil, struct
import numpy as np
import onnx
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MODULES = {"q_proj": "self_attn", "k_proj": "self_attn", "v_proj": "self_attn", "o_proj": "self_attn",
           "gate_proj": "mlp", "up_proj": "mlp", "down_proj": "mlp"}


def weights_from_onnx(path):
    """{HF parameter name: float32 array} of a base.onnx exported from lm.TinyLM."""
    g = onnx.load(path).graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    out = {}
    for name, arr in inits.items():
        if name.startswith("base.model."):
            out[name[len("base."):]] = arr
    for node in g.node:
        if node.op_type != "MatMul":
            continue
        w = next((x for x in node.input if x in inits and not x.startswith("base.")), None)
        if w is None:
            continue
        m = re.fullmatch(r"/base/(\w+?_proj)(?:_(\d+))?/MatMul", node.name)
        if m:
            layer = int(m.group(2) or 0)
            out[f"model.layers.{layer}.{MODULES[m.group(1)]}.{m.group(1)}.weight"] = inits[w].T
        elif not np.array_equal(inits[w].T, inits["base.model.embed_tokens.weight"]):
            raise SystemExit(f"{path}: unexpected MatMul weight {w} in {node.name} (only the tied lm_head may remain)")
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sorted(out.items())}


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    off = 0
    for k, v in tensors.items():
        header[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [off, off + v.nbytes]}
        off += v.nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for v in tensors.values():
            f.write(v.astype("<f4").tobytes())


def hf_config(w, manifest, tokenizer):
    d = w["model.embed_tokens.weight"].shape[1]
    n_layers = 1 + max(int(k.split(".")[2]) for k in w if k.startswith("model.layers."))
    heads = manifest["base_model"].get("num_heads", 4)
    vocab = len(tokenizer["model"]["vocab"])
    assert w["model.embed_tokens.weight"].shape[0] == vocab, "embedding rows != tokenizer vocab"
    special = {t["content"]: t["id"] for t in tokenizer["added_tokens"]}
    return {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "vocab_size": vocab, "hidden_size": d, "intermediate_size": w["model.layers.0.mlp.gate_proj.weight"].shape[0],
        "num_hidden_layers": n_layers, "num_attention_heads": heads, "num_key_value_heads": heads,
        "head_dim": d // heads, "hidden_act": "silu", "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "rope_scaling": None, "max_position_embeddings": 512, "tie_word_embeddings": True,
        "attention_bias": False, "attention_dropout": 0.0, "mlp_bias": False, "initializer_range": 0.02,
        "pretraining_tp": 1, "use_cache": True, "torch_dtype": "float32",
        "bos_token_id": special["[BOS]"], "eos_token_id": special["[EOS]"], "pad_token_id": special["[PAD]"],
    }


def link(model_id, other):
    """models/<id>/hf -> ../<other>/hf, for a model whose base.onnx is <other>'s (same sha256)."""
    mine, theirs = (json.load(open(os.path.join(ROOT, m, "manifest.json")))["base"]["sha256"] for m in (model_id, other))
    if mine != theirs:
        raise SystemExit(f"{model_id}'s base.onnx is not {other}'s ({mine[:12]} vs {theirs[:12]}): export it on its own")
    out = os.path.join(ROOT, model_id, "hf")
    if os.path.islink(out):
        os.unlink(out)
    else:
        shutil.rmtree(out, ignore_errors=True)
    os.symlink(os.path.join("..", other, "hf"), out)
    print(f"{out} -> ../{other}/hf (the same base)")


def export(model_id):
    mdir = os.path.join(ROOT, model_id)
    manifest = json.load(open(os.path.join(mdir, "manifest.json")))
    base = manifest["base"]
    tokenizer = json.load(open(os.path.join(mdir, manifest["condition"]["tokenizer"])))
    w = weights_from_onnx(os.path.join(mdir, base["file"]))
    cfg = hf_config(w, manifest, tokenizer)
    out = os.path.join(mdir, "hf")
    if os.path.islink(out):
        os.unlink(out)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    write_safetensors(os.path.join(out, "model.safetensors"), w,
                      {"format": "pt", "source": f"{base['file']} sha256 {base['sha256']}",
                       "base_model": manifest["base_model"]["name_or_path"]})
    json.dump(cfg, open(os.path.join(out, "config.json"), "w"), indent=2)
    json.dump({"bos_token_id": cfg["bos_token_id"], "eos_token_id": base["eos_token_id"], "pad_token_id": cfg["pad_token_id"],
               "do_sample": False, "max_new_tokens": base.get("max_new_tokens", 8)},
              open(os.path.join(out, "generation_config.json"), "w"), indent=2)
    shutil.copyfile(os.path.join(mdir, manifest["condition"]["tokenizer"]), os.path.join(out, "tokenizer.json"))
    # No post-processor in tokenizer.json: prompts get no special tokens, as in the service.
    json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "pad_token": "[PAD]", "unk_token": "[UNK]",
               "bos_token": "[BOS]", "eos_token": "[EOS]", "model_max_length": cfg["max_position_embeddings"],
               "padding_side": manifest.get("padding_side", "right"), "clean_up_tokenization_spaces": False},
              open(os.path.join(out, "tokenizer_config.json"), "w"), indent=2)
    print(f"wrote {out}: {sum(v.size for v in w.values())} parameters, {len(w)} tensors")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--same-as", help="link to this model's hf/ instead (their base.onnx must be identical)")
    a = ap.parse_args()
    link(a.model, a.same_as) if a.same_as else export(a.model)
