"""Per-document LoRA fine-tuning by gradient descent (the baseline the generators replace).

Same rank / alpha / target modules as the generated adapters; PEFT initialisation
(A ~ kaiming-uniform(a=sqrt(5)) i.e. U(-1/sqrt(in), 1/sqrt(in)), B = 0); LM loss on the
document text alone; Adam, full-batch (the one document) per step."""
import math, time
import torch
import common


def init_lora(base, groups, gen):
    c = base.c
    lora = {}
    for g in groups:
        fin, fout = c.module_dims(g)
        bound = 1.0 / math.sqrt(fin)
        A = (torch.rand(1, c.n_layers, common.LORA_R, fin, generator=gen) * 2 - 1) * bound
        B = torch.zeros(1, c.n_layers, fout, common.LORA_R)
        lora[g] = (A.requires_grad_(), B.requires_grad_())
    return lora


def finetune(base, groups, doc_ids, steps, lr, seed=0, snapshots=()):
    """Returns {k: (lora copy, seconds to reach step k)} for k in snapshots (+ steps)."""
    return finetune_windows(base, groups, [doc_ids], steps, lr, seed=seed, snapshots=snapshots)


def finetune_windows(base, groups, windows, steps, lr, seed=0, snapshots=()):
    """Like finetune, for a multi-window document: each step is one Adam step on the LM loss
    of ALL its windows (one padded batch of rows, one shared LoRA)."""
    gen = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    lora = init_lora(base, groups, gen)
    params = [p for ab in lora.values() for p in ab]
    opt = torch.optim.Adam(params, lr=lr)
    ids, mask, labels, w = common.lm_batch([(x, [], 1.0) for x in windows])
    n = ids.shape[0]
    scaling = common.LORA_ALPHA / common.LORA_R
    out, want = {}, set(snapshots) | {steps}
    for s in range(1, steps + 1):
        lo = {g: (A.expand(n, -1, -1, -1), B.expand(n, -1, -1, -1)) for g, (A, B) in lora.items()}
        loss = common.weighted_ce(base(ids, mask, lora=lo, scaling=scaling), labels, w)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if s in want:
            out[s] = ({g: (A.detach().clone(), B.detach().clone()) for g, (A, B) in lora.items()},
                      time.perf_counter() - t0)
    return out
