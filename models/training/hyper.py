"""The two hypernetworks. Both embed a frozen copy of the base LM to read their condition.

GAGenerator (Generative Adapter, Chen et al. 2024), per adapted layer l and module type g:
    H   = RMSNorm(h^l_t) for the context tokens t (h^l = output of base layer l), masked
    K   = A2 H       [T, mk]      V = A3 H   [T, r]
    gate (optional): v_t scaled by sigmoid(w . H_t + b) per layer and module — a token decides
          how much it writes (fillers can write nothing); still additive
    S   = sum_t k_t v_t^T                      (ADDITIVE over tokens, hence over windows:
                                                the state of a document is the sum of its
                                                windows' states; v1 divided by n_tokens, which
                                                the Frobenius normalisation cancels anyway)
    S'  = g_l * sqrt(mk r) * S / sqrt(||S||_F^2 + eps)  (scale-normalised, learned gain)
          norm="growth": the same times (||S||_F / ref_l)^q_l, q_l learned (0 at the start, i.e.
          exactly the frobenius rule) and ref_l a fixed typical one-window norm: lets the adapter's
          magnitude grow with the amount of context summed into S, where "frobenius" pins it.
    lora_A = S'^T A1   [r, in]     lora_B = B  [out, r]   (B learned, context independent)
    => Delta W = lora_B lora_A = B S'^T A1 ; the base applies (lora_alpha / r) * Delta W.

IAGHyperNet (IMcQA implicit imagination): question -> pooled frozen-base features (mean of
RMS-normalised last hidden state over question tokens, concat mean of every layer) + learned
layer embedding -> MLP -> A [r, in] and B [out, r] per layer; tiny init, B scaled by 1/sqrt(r).
"""
import math
import torch
import torch.nn as nn
import torch.nn.functional as F
import lm


class GAGenerator(nn.Module):
    def __init__(self, base, groups, r=8, mk=64, norm="frobenius", gate=False, prenorm=False, topk=0,
                 shift=False, ctx=-1, zkeys=False, vnext=False, ls="", ls_lam=10.0, off="", ctxb=False):
        super().__init__()
        self.prenorm = prenorm   # each window's state Frobenius-normalised before the sum (experiment)
        self.topk = topk         # keep each token's topk largest |key| entries, zero the rest (experiment)
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        c = base.c
        self.groups, self.r, self.mk, self.norm = list(groups), r, mk, norm
        L, d = c.n_layers, c.d
        self.A1, self.A2, self.A3, self.B = (nn.ParameterDict() for _ in range(4))
        self.gain = nn.ParameterDict()
        for g in self.groups:
            fin, fout = c.module_dims(g)
            self.A2[g] = nn.Parameter(torch.randn(L, d, mk) / math.sqrt(d))
            self.A3[g] = nn.Parameter(torch.randn(L, d, r) / math.sqrt(d))
            self.A1[g] = nn.Parameter(torch.randn(L, mk, fin) / math.sqrt(fin))
            self.B[g] = nn.Parameter(torch.zeros(L, fout, r))
            self.gain[g] = nn.Parameter(torch.ones(L, 1, 1))
        if gate:   # per-token write gate: v_t scaled by sigmoid(w . H_t + b), open (0.98) at the start
            self.gate_w = nn.ParameterDict({g: nn.Parameter(torch.zeros(L, d, 1)) for g in self.groups})
            self.gate_b = nn.ParameterDict({g: nn.Parameter(torch.full((L, 1, 1), 4.0)) for g in self.groups})
        self.gate = gate
        # Token-shift keys: k_t = A2 H_t + A2s H_{t-1}, A2s shared by a layer's modules and zero
        # at the start (the same function). A linear memory keyed by the token itself cannot
        # store "what follows X" (a surname after its first name); a key that also sees the
        # previous token can, as an induction head's does.
        self.shift = shift
        if shift:
            self.A2s = nn.Parameter(torch.zeros(L, d, mk))
        # Contextual keys and values: every layer's k_t and v_t also read layer `ctx`'s output
        # (K += A2c H_ctx, shared by a layer's modules; V += A3c[g] H_ctx), zero at the start.
        # The adapter's answers come from layer 0's LoRA, whose keys see one attention layer of
        # context; the base's binding loss put the entity a fact belongs to into layer 2's output.
        self.ctx = ctx
        if ctx >= 0:
            self.A2c = nn.Parameter(torch.zeros(L, d, mk))
            self.A3c = nn.ParameterDict({g: nn.Parameter(torch.zeros(L, d, r)) for g in self.groups})
        # Product keys for down_proj: K += A2z Z_t, Z the base's own MLP activations silu(gate) * up
        # at that layer — the space down_proj's LoRA query (A1 z) reads. A product of two
        # projections of the residual holds entity x attribute terms, which a key linear in H
        # cannot: the linear read of H adds an entity match and an attribute match (a
        # distractor's half-match wins half the time); a read in z can multiply them. Zero at the start.
        # Tried from 2.3.0 (600 steps): no better binding (V2-STATUS, 2026-12-08).
        self.zkeys = zkeys
        if zkeys:
            self.A2z = nn.Parameter(torch.zeros(L, c.ffn, mk))
        # Look-ahead values: v_t also reads the NEXT token, V += A3n H_{t+1} (zero at the start; the
        # generator reads the whole window, so nothing makes it causal). A two-token value ("F S")
        # is read back through the first token's slot: the query of the second answer step is the
        # first step's (the question's context dominates layer 0's MLP input), so it finds F's
        # slot again, and only that slot can hold S. Tried from 2.3.0 (300 steps, --new_lr 10): the
        # base does not turn such a slot into S after F (V2-STATUS, 2026-12-08).
        self.vnext = vnext
        if vnext:
            self.A3n = nn.ParameterDict({g: nn.Parameter(torch.zeros(L, d, r)) for g in self.groups})
        # Layers whose LoRA is switched off (lora_A zero), e.g. "0": the read must happen deeper,
        # where the base's states carry the entity a fact or question is about (experiment).
        self.off = [int(x) for x in off.split(",")] if off else []
        # Context-dependent B (experiment): B = B0 + bgain * T, T = sum_t u_t v_t^T with u_t = U H_t
        # (an additive state of the module's output size), scaled to B0's norm. With B fixed, every
        # document's values must be written as 8-number codes that one B decodes for all documents;
        # with T the output directions come from the document (the value tokens themselves). bgain
        # is zero at the start: the same function. Tried from 2.3.0 (450 steps): bgain stayed near 0.
        self.ctxb = ctxb
        if ctxb:
            self.U = nn.ParameterDict({g: nn.Parameter(torch.randn(L, d, c.module_dims(g)[1]) / math.sqrt(d))
                                       for g in self.groups})
            self.bgain = nn.ParameterDict({g: nn.Parameter(torch.zeros(L, 1, 1)) for g in self.groups})
        # Least-squares read (experiment): at the layers/modules of `ls` ("0:gate_proj,up_proj"), the
        # state is read as S = (G + lam I)^-1 C with C = sum_t k_t v_t^T (the Hebbian state) and G =
        # sum_t g_t k_t k_t^T (both additive over windows), lam = exp(loglam) * tr(G)/mk. The Hebbian
        # read scores every fact by its key's overlap with the query, so a fact sharing only the
        # attribute with the asked one scores half; whitening by G suppresses the directions many
        # keys share (the attribute, the generic token) and keeps the distinctive ones (the
        # entity) — the delta rule's advantage over linear attention. Large lam is the Hebbian read
        # (the solution is rescaled to C's norm, so the start is the same function). Tried from 2.3.0 at layer
        # 0, and at layers 1-3 with layer 0 off: no binding; at layers 1-3 with layer 0 off and --ctx 2
        # keys, the first run that moved the distractor split (V2-STATUS, 2026-12-08 ninth). Not
        # exportable yet: ONNX has no solve.
        self.ls_at = {}
        if ls:
            layers, mods = ls.split(":")
            self.ls_at = {g: [int(x) for x in layers.split(",")] for g in mods.split(",")}
            self.loglam = nn.ParameterDict({g: nn.Parameter(torch.full((len(ls_l), 1, 1), math.log(ls_lam)))
                                            for g, ls_l in self.ls_at.items()})
        if norm == "growth":
            self.growth = nn.ParameterDict({g: nn.Parameter(torch.zeros(L, 1, 1)) for g in self.groups})
            # fixed (not trained): set once from data by set_reference()
            self.ref = nn.ParameterDict({g: nn.Parameter(torch.ones(L, 1, 1), requires_grad=False)
                                         for g in self.groups})

    @torch.no_grad()
    def set_reference(self, S):
        """ref_l = median Frobenius norm of one-window states S {group: [b, L, mk, r]}."""
        for g in self.groups:
            fro = torch.sqrt((S[g] * S[g]).sum(dim=(-1, -2)) + 1e-6)          # [b, L]
            self.ref[g].data.copy_(fro.median(dim=0).values.reshape(-1, 1, 1))

    def states(self, input_ids, attention_mask, hs=None):
        """Additive partial states {group: [b, L, mk, r]} of a batch of windows (padded
        positions contribute exactly zero: H is multiplied by the mask). hs: the frozen base's
        hidden states of these windows when the caller already has them (training's --retr)."""
        if hs is None or self.zkeys:
            with torch.no_grad():
                _, hs, zs = self.base(input_ids, attention_mask, return_hidden=True, return_mlp=True)
        m = attention_mask.to(torch.float32)[:, None, :, None]          # [b,1,T,1]
        H = torch.stack([lm.rms(h) for h in hs], dim=1) * m              # [b,L,T,d]
        if self.vnext:   # H_{t+1} (zero at a window's last token: padded positions are zero in H)
            Hn = torch.cat([H[:, :, 1:], torch.zeros_like(H[:, :, :1])], dim=2)
        if self.zkeys:
            Kz = torch.matmul(torch.stack([lm.rms(z) for z in zs], dim=1) * m, self.A2z)   # [b,L,T,mk]
        out = {}
        if self.shift:   # H_{t-1} (zero at a window's first token; padded rows write nothing: V = 0)
            Hp = torch.cat([torch.zeros_like(H[:, :, :1]), H[:, :, :-1]], dim=2)
            Ks = torch.matmul(Hp, self.A2s)                               # [b,L,T,mk]
        if self.ctx >= 0:
            Hc = H[:, self.ctx:self.ctx + 1]                              # [b,1,T,d]
            Kc = torch.matmul(Hc, self.A2c)                               # [b,L,T,mk]
        for g in self.groups:
            K = torch.matmul(H, self.A2[g])                               # [b,L,T,mk]
            if self.shift:
                K = K + Ks
            if self.ctx >= 0:
                K = K + Kc
            if self.zkeys and g == "down_proj":
                K = K + Kz
            if self.topk:   # sparse keys: fewer tokens share a key dimension, less interference
                idx = K.abs().topk(self.topk, dim=-1).indices
                K = torch.zeros_like(K).scatter(-1, idx, K.gather(-1, idx))
            V = torch.matmul(H, self.A3[g])                               # [b,L,T,r]
            if self.ctx >= 0:
                V = V + torch.matmul(Hc, self.A3c[g])
            if self.vnext:
                V = V + torch.matmul(Hn, self.A3n[g])
            if self.gate:
                V = V * self.write_gate(H, g)
            out[g] = torch.matmul(K.transpose(-1, -2), V)                 # [b,L,mk,r]
            if self.ctxb:   # the output directions' state, [b,L,out,r]
                out[g + "@T"] = torch.matmul(torch.matmul(H, self.U[g]).transpose(-1, -2), V)
            if g in self.ls_at:   # the keys' Gram at the least-squares layers, [b,nl,mk,mk]
                Kl = K[:, self.ls_at[g]]
                w = self.write_gate(H, g)[:, self.ls_at[g]] if self.gate else 1.0
                out[g + "@G"] = torch.matmul(Kl.transpose(-1, -2), Kl * w)
            if self.prenorm:   # every window weighs the same in the sum, whatever its length
                out[g] = out[g] * (math.sqrt(self.mk * self.r) / torch.sqrt((out[g] * out[g]).sum(dim=(-1, -2), keepdim=True) + 1e-6))
        return out

    def write_gate(self, H, g):
        """Each token's write gate for group g: sigmoid(w . H_t + b), [b, L, T, 1]."""
        return torch.sigmoid(torch.matmul(H, self.gate_w[g]) + self.gate_b[g])

    # flat state layout: groups in self.groups order, each [L, mk, r] row-major, concatenated
    def state_size(self):
        return len(self.groups) * self.base.c.n_layers * self.mk * self.r

    def flatten(self, S):
        extra = set(S) - set(self.groups)
        if extra:   # the --ls / --ctxb experiments' states: export does not carry them
            raise NotImplementedError(f"no flat layout for the states {sorted(extra)}")
        b = next(iter(S.values())).shape[0]
        return torch.cat([S[g].reshape(b, -1) for g in self.groups], dim=1)

    def unflatten(self, flat):
        b, L, n = flat.shape[0], self.base.c.n_layers, self.base.c.n_layers * self.mk * self.r
        return {g: flat[:, i * n:(i + 1) * n].reshape(b, L, self.mk, self.r)
                for i, g in enumerate(self.groups)}

    def from_states(self, S_sum):
        """LoRA {group: (A [b,L,r,in], B [b,L,out,r])} from (summed) states."""
        b = next(iter(S_sum.values())).shape[0]
        res = {}
        for g in self.groups:
            S = S_sum[g]
            if g in self.ls_at:
                S = self.ls_read(g, S, S_sum[g + "@G"])
            if self.norm in ("frobenius", "growth"):
                fro = torch.sqrt((S * S).sum(dim=(-1, -2), keepdim=True) + 1e-6)
                S = S * (math.sqrt(self.mk * self.r) / fro)
                if self.norm == "growth":
                    S = S * torch.exp(self.growth[g] * torch.log(fro / self.ref[g]))
            S = S * self.gain[g]
            A = torch.matmul(S.transpose(-1, -2), self.A1[g])             # [b,L,r,in]
            if self.off:
                keep = torch.ones(1, A.shape[1], 1, 1)
                keep[:, self.off] = 0
                A = A * keep
            B = self.B[g].unsqueeze(0).expand(b, -1, -1, -1)               # [b,L,out,r]
            if self.ctxb:
                T = S_sum[g + "@T"]
                T = T * (torch.sqrt((self.B[g] * self.B[g]).sum((-1, -2), keepdim=True)) /
                         torch.sqrt((T * T).sum((-1, -2), keepdim=True) + 1e-12))
                B = B + self.bgain[g] * T
            res[g] = (A, B)
        return res

    def ls_read(self, g, C, G):
        """C with its least-squares layers replaced by (G + lam I)^-1 C, rescaled to C's norm."""
        at = self.ls_at[g]
        Cl = C[:, at]
        mk = G.shape[-1]
        scale = torch.diagonal(G, dim1=-2, dim2=-1).sum(-1)[..., None, None] / mk + 1e-6
        X = torch.linalg.solve(G + torch.exp(self.loglam[g]) * scale * torch.eye(mk), Cl)
        X = X * torch.sqrt((Cl * Cl).sum((-1, -2), keepdim=True) / ((X * X).sum((-1, -2), keepdim=True) + 1e-12))
        C = C.clone()
        C[:, at] = X
        return C

    def sum_windows(self, S, doc_index, n_docs):
        """Sum window states into their documents' states: doc_index [n_windows] -> [n_docs]."""
        return {g: torch.zeros((n_docs,) + s.shape[1:], dtype=s.dtype).index_add(0, doc_index, s)
                for g, s in S.items()}

    def forward(self, input_ids, attention_mask):
        """One adapter per row (each row one window / whole context)."""
        return self.from_states(self.states(input_ids, attention_mask))


class IAGHyperNet(nn.Module):
    def __init__(self, base, groups, r=8, hidden=64, emb=32, init_scale=1e-3):
        super().__init__()
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        c = base.c
        self.groups, self.r = list(groups), r
        L, d = c.n_layers, c.d
        self.layer_emb = nn.Parameter(torch.randn(L, emb) * 0.02)
        feat = d * (L + 1)
        self.trunk = nn.Sequential(nn.Linear(feat + emb, hidden * 2), nn.GELU(),
                                   nn.Linear(hidden * 2, hidden), nn.GELU())
        self.headA = nn.ModuleDict()
        self.headB = nn.ModuleDict()
        for g in self.groups:
            fin, fout = c.module_dims(g)
            self.headA[g] = nn.Linear(hidden, r * fin)
            self.headB[g] = nn.Linear(hidden, fout * r)
            for h in (self.headA[g], self.headB[g]):
                nn.init.normal_(h.weight, std=init_scale)
                nn.init.zeros_(h.bias)
            # A starts like a PEFT lora_A (random, question-independent part in the bias);
            # B starts at ~0, so the adapted model starts as the base.
            nn.init.normal_(self.headA[g].bias, std=1.0 / math.sqrt(fin))
        self.L = L

    def forward(self, input_ids, attention_mask):
        c = self.base.c
        with torch.no_grad():
            _, hs = self.base(input_ids, attention_mask, return_hidden=True)
        m = attention_mask.to(torch.float32)[:, :, None]
        n = m.sum(1).clamp(min=1.0)
        pooled = [(lm.rms(h) * m).sum(1) / n for h in hs]                # L x [b,d]
        last = (self.base.model.norm(hs[-1]) * m).sum(1) / n
        f = torch.cat(pooled + [last], dim=-1)                            # [b, d(L+1)]
        b = f.shape[0]
        fe = torch.cat([f[:, None, :].expand(b, self.L, f.shape[-1]),
                        self.layer_emb[None].expand(b, -1, -1)], dim=-1)  # [b,L,feat+emb]
        z = self.trunk(fe)                                                # [b,L,hidden]
        res = {}
        for g in self.groups:
            fin, fout = c.module_dims(g)
            A = self.headA[g](z).view(b, self.L, self.r, fin)
            B = self.headB[g](z).view(b, self.L, fout, self.r) / math.sqrt(self.r)
            res[g] = (A, B)
        return res
