"""PyTorch CUDA eager counterpart of bench/gpu.ts: the same GPT-2 shapes and GRPO step phases.

Called by `npm run bench:gpu` (dist/bench-gpu.js); prints one JSON line of rows on its last line.
    python3 bench/gpu_torch.py --models small,base,gpt2-124m --steps 20 --shapes '{"prompts":8,...}'

Model: pre-LayerNorm GPT-2 (learned positions, GELU MLP of 4·d, tied embeddings, biases), as src/model/gpt2.ts.
Phases per step, as in the TypeScript benchmark: greedy sampling with a KV cache (one host read of the chosen
tokens per decoded token, as the sampler does), reference log-probs without gradient, and a μ = 1 GRPO-Clip
update (forward + backward + Adam) over micro-batches. fp32 everywhere, to match tfjs.
"""
import argparse
import json
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # no PyTorch here: one skip row, so the TypeScript report still prints
    print(json.dumps([dict(model="small", backend="pytorch", parameters=0, note="skipped: PyTorch is not installed")]))
    raise SystemExit(0)

SHAPES = {
    "small": dict(vocab=64, d=128, layers=4, heads=4, positions=256),
    "base": dict(vocab=64, d=256, layers=6, heads=4, positions=256),
    "gpt2-124m": dict(vocab=50257, d=768, layers=12, heads=12, positions=1024),
}


class Block(torch.nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln1 = torch.nn.LayerNorm(d, eps=1e-5)
        self.qkv = torch.nn.Linear(d, 3 * d)
        self.proj = torch.nn.Linear(d, d)
        self.ln2 = torch.nn.LayerNorm(d, eps=1e-5)
        self.fc = torch.nn.Linear(d, 4 * d)
        self.out = torch.nn.Linear(4 * d, d)

    def forward(self, x, cache=None):
        B, T, d = x.shape
        h = self.heads
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        q, k, v = (t.view(B, T, h, d // h).transpose(1, 2) for t in (q, k, v))
        if cache is not None and cache.get("k") is not None:
            k = torch.cat([cache["k"], k], dim=2)
            v = torch.cat([cache["v"], v], dim=2)
        if cache is not None:
            cache["k"], cache["v"] = k, v
        S = k.shape[2]
        mask = torch.ones(T, S, dtype=torch.bool, device=x.device).tril(S - T)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        x = x + self.proj(a.transpose(1, 2).reshape(B, T, d))
        return x + self.out(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class Gpt2(torch.nn.Module):
    def __init__(self, vocab, d, layers, heads, positions):
        super().__init__()
        self.wte = torch.nn.Embedding(vocab, d)
        self.wpe = torch.nn.Embedding(positions, d)
        self.blocks = torch.nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln = torch.nn.LayerNorm(d, eps=1e-5)

    def forward(self, ids, start=0, caches=None):
        pos = torch.arange(start, start + ids.shape[1], device=ids.device)
        x = self.wte(ids) + self.wpe(pos)
        for i, block in enumerate(self.blocks):
            x = block(x, None if caches is None else caches[i])
        return self.ln(x) @ self.wte.weight.T


def prompts_for(rows, length, vocab, salt, device):
    ids = [[1 + ((r * 131 + t * 31 + salt) % (min(vocab, 64) - 2)) for t in range(length)] for r in range(rows)]
    return torch.tensor(ids, device=device)


@torch.no_grad()
def sample(model, prompts, new_tokens):
    caches = [dict() for _ in model.blocks]
    logits = model(prompts, 0, caches)[:, -1]
    out = []
    for step in range(new_tokens):
        chosen = logits.argmax(-1)
        out.append(chosen.tolist())  # the host reads each token, as the sampler does
        if step == new_tokens - 1:
            break
        logits = model(chosen[:, None], prompts.shape[1] + step, caches)[:, -1]
    return torch.tensor(out, device=prompts.device).T


def response_log_probs(model, prompts, completions):
    seq = torch.cat([prompts, completions], dim=1)
    logits = model(seq[:, :-1])[:, prompts.shape[1] - 1 :]
    return torch.log_softmax(logits, -1).gather(-1, completions[..., None])[..., 0]


def grpo_steps(model, shapes, steps, device):
    rows = shapes["prompts"] * shapes["generations"]
    prompts = prompts_for(rows, shapes["promptLength"], model.wte.num_embeddings, 7, device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-5)
    mb = shapes["microBatch"]
    times = []
    for step in range(steps + 1):
        sync = torch.cuda.synchronize
        t0 = time.perf_counter()
        completions = sample(model, prompts, shapes["completionLength"])
        sync()
        t1 = time.perf_counter()
        with torch.no_grad():
            old = [response_log_probs(model, prompts[i : i + mb], completions[i : i + mb]) for i in range(0, rows, mb)]
        sync()
        t2 = time.perf_counter()
        n = len(old)
        for j, i in enumerate(range(0, rows, mb)):
            logp = response_log_probs(model, prompts[i : i + mb], completions[i : i + mb])
            adv = torch.tensor([[1.0 if r % 2 == 0 else -1.0] for r in range(logp.shape[0])], device=device)
            ratio = torch.exp(logp - old[j])
            loss = -torch.min(ratio * adv, ratio.clamp(0.8, 1.2) * adv).mean(-1).mean() / n
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            loss.item()
        sync()
        t3 = time.perf_counter()
        if step > 0:
            times.append((t1 - t0, t2 - t1, t3 - t2))
    med = lambda k: sorted(t[k] for t in times)[len(times) // 2]
    generated = rows * shapes["completionLength"]
    scored = rows * (shapes["promptLength"] + shapes["completionLength"])
    return dict(
        sampleTokensPerSecond=generated / med(0),
        referenceTokensPerSecond=scored / med(1),
        trainTokensPerSecond=scored / med(2),
        stepSeconds=med(0) + med(1) + med(2),
    )


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--models", default="small,base,gpt2-124m")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--shapes", required=True)
    args = p.parse_args()
    shapes = json.loads(args.shapes)
    if not torch.cuda.is_available():
        print(json.dumps([dict(model="small", backend="pytorch", parameters=0, note="skipped: CUDA is not available")]))
        return
    device = "cuda"
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 like tfjs
    torch.backends.cudnn.allow_tf32 = False
    rows = []
    for name in args.models.split(","):
        torch.manual_seed(1)
        model = Gpt2(**SHAPES[name]).to(device)
        params = sum(p.numel() for p in model.parameters())
        phases = grpo_steps(model, shapes, args.steps, device)
        rows.append(dict(model=name, backend=f"pytorch {torch.__version__} CUDA eager ({torch.cuda.get_device_name()})", parameters=params, phases=phases))
        del model
        torch.cuda.empty_cache()
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
