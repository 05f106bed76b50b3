"""Check a model directory: manifest keys, sha256s, and that groups/shapes match the ONNX graphs
(with "chunking": generator.onnx -> state [batch, state_size], the combine graph -> LoRA groups).

/usr/bin/python3 models/training/check_manifest.py models/generative-adapter-tiny
"""
import hashlib, json, os, sys
import onnx

TOP = {"id", "version", "method", "description", "generator", "sha256", "base_model", "condition",
       "inputs", "pad_token_id", "padding_side", "lora", "groups", "formats", "task_type", "base"}


def sha(p):
    return hashlib.sha256(open(p, "rb").read()).hexdigest()


def dims(vi):
    return [d.dim_param if d.dim_param else d.dim_value for d in vi.type.tensor_type.shape.dim]


def main(d):
    m = json.load(open(os.path.join(d, "manifest.json")))
    errs = []
    if set(m) - {"chunking"} != TOP:
        errs.append(f"top-level keys {sorted((set(m) - {'chunking'}) ^ TOP)}")
    ch = m.get("chunking")
    gp, bp = os.path.join(d, m["generator"]), os.path.join(d, m["base"]["file"])
    if sha(gp) != m["sha256"]:
        errs.append("generator sha256 mismatch")
    if sha(bp) != m["base"]["sha256"]:
        errs.append("base sha256 mismatch")
    for f in (m["condition"]["tokenizer"],):
        if not os.path.exists(os.path.join(d, f)):
            errs.append(f"missing {f}")
    g = onnx.load(gp, load_external_data=False).graph
    lora_graph = g          # the graph whose outputs are the LoRA tensors
    if ch is not None:
        # additive-state chunking: generator.onnx -> state [batch, S]; combine.onnx -> LoRA
        if set(ch) != {"mode", "max_chunks", "graph", "sha256", "state_size"}:
            errs.append(f"chunking keys {sorted(ch)}")
        if ch.get("mode") != "additive-state" or not isinstance(ch.get("max_chunks"), int) or ch["max_chunks"] < 1:
            errs.append("chunking mode / max_chunks")
        cp = os.path.join(d, ch["graph"])
        if sha(cp) != ch["sha256"]:
            errs.append("combine graph sha256 mismatch")
        lora_graph = onnx.load(cp, load_external_data=False).graph
        if [o.name for o in g.output] != ["state"] or dims(g.output[0]) != ["batch", ch["state_size"]]:
            errs.append(f"generator output must be state [batch, {ch['state_size']}]")
        if [i.name for i in lora_graph.input] != ["state"] or dims(lora_graph.input[0]) != ["batch", ch["state_size"]]:
            errs.append("combine input must be state [batch, state_size]")
    b = onnx.load(bp, load_external_data=False).graph
    gin = {i.name: i for i in g.input}
    gout = {o.name: o for o in lora_graph.output}
    for inp in m["inputs"]:
        if inp["name"] not in gin:
            errs.append(f"generator lacks input {inp['name']}")
        elif dims(gin[inp["name"]]) != inp["shape"]:
            errs.append(f"input {inp['name']} shape {dims(gin[inp['name']])} != {inp['shape']}")
        elif gin[inp["name"]].type.tensor_type.elem_type != onnx.TensorProto.INT64:
            errs.append(f"input {inp['name']} not int64")
        if inp["field"] not in m["condition"]["fields"]:
            errs.append(f"input {inp['name']} field {inp['field']} not a condition field")
    bin_ = {i.name: i for i in b.input}
    r = m["lora"]["r"]
    expect_out = set()
    for grp in m["groups"]:
        n = len(grp["modules"])
        for key, shape in ((grp["output_a"], ["batch", n, r, grp["in"]]),
                           (grp["output_b"], ["batch", n, grp["out"], r])):
            expect_out.add(key)
            if key not in gout:
                errs.append(f"generator lacks output {key}"); continue
            if dims(gout[key]) != shape:
                errs.append(f"generator output {key} shape {dims(gout[key])} != {shape}")
            if key not in bin_:
                errs.append(f"base lacks input {key}")
            elif dims(bin_[key]) != shape:
                errs.append(f"base input {key} shape {dims(bin_[key])} != {shape}")
        if grp["output_a"] != f"lora_A__{grp['name']}" or grp["output_b"] != f"lora_B__{grp['name']}":
            errs.append(f"group {grp['name']} output names")
    if set(gout) != expect_out:
        errs.append(f"generator outputs {sorted(set(gout) ^ expect_out)} not in manifest")
    if set(bin_) != expect_out | {"input_ids", "attention_mask"}:
        errs.append("base inputs differ from input_ids, attention_mask + groups")
    if [o.name for o in b.output] != ["logits"]:
        errs.append("base output must be logits")
    if m["base_model"]["num_layers"] < max(int(x.split(".")[2]) + 1 for grp in m["groups"] for x in grp["modules"]):
        errs.append("module layer index >= num_layers")
    if r not in (1, 8, 16, 32, 64, 128, 256, 320, 512):
        errs.append(f"r={r} not a vLLM rank")
    print(json.dumps({"dir": d, "ok": not errs, "errors": errs}))
    return 0 if not errs else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
