"""PyTorch CPU side of the LoRA section of `npm run bench:model` (bench/lora.ts): one GRPO step of a GPT-2-124M- or
Qwen2.5-0.5B-shaped model with random float32 weights, with a hand-written LoRA or with full fine-tuning.

One process measures one configuration, so that its peak resident memory belongs to that configuration alone:

  1. (--sample) sampling (after a 2-token warm-up): prompts x generations rows, random prompt tokens, new tokens
     at temperature 1 with a KV cache and no early stop (torch.no_grad);
  2. the update: the rows in micro-batches of --micro-tokens completion tokens (rows x new tokens, the measure of
     src/worker/memoryBudget.ts's microBatchTokens), each a forward over prompt + completion, the GRPO loss and a
     backward; then clipping at 1.0 and one Adam step on the trained parameters (the adapters, or everything).

The loss is TRL's clipped surrogate with beta = 0 (TRL's default: no reference model), summed over tokens and
divided by the step's token count (loss_type "dapo"), as the tfjs side computes it with computeGrpoLossTensors.

LoRA as PEFT computes it (huggingface/peft src/peft/tuners/lora/layer.py at b28a09c4, LoraLayer.update_layer,
reset_lora_parameters, Linear.forward): y = base(x) + lora_B(lora_A(dropout(x))) * lora_alpha / r, A Kaiming-uniform
(a = sqrt 5), B zero, the base layer frozen (requires_grad False: no gradient, no Adam state). GPT-2's Conv1D layers
are nn.Linear here: the same product, only the stored layout differs (PEFT's fan_in_fan_out).

Memory, two ways:
  - peak_tensor_mib: the most bytes of live tensors during the warm-up update (the first: Adam's moments are created
    in it, with every gradient alive). The parameters (and the step's inputs) are counted at the start; from there
    torch.profiler's memory events (profile_memory=True: every allocation and free of the CPU allocator, with its
    size and time) are summed in time order. This is what tf.profile's peakBytes is on the tfjs side.
  - peak_rss_mib: the peak resident set size (VmHWM in /proc/self/status) of each measured update, reset through
    /proc/self/clear_refs just before it, so that sampling and model building do not count. It is the whole
    process's memory: Python and libtorch, and what glibc's malloc keeps of freed blocks (its mmap threshold grows
    with the blocks freed), so it runs well above the live tensors; rss_before_mib is the resident size as the
    update starts.

Prints one JSON object per line. Usage:
  /usr/bin/python3 bench/lora_torch.py --shape gpt2-124m --mode lora --micro-tokens 256 --steps 1 --sample
"""
import argparse
import json
import math
import re
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint
from torch.profiler import ProfilerActivity, profile

SHAPES = {
    # GPT-2 small (openai-community/gpt2 config.json).
    "gpt2-124m": dict(family="gpt2", d=768, layers=12, heads=12, kv_heads=12, head_dim=64, d_ff=3072, vocab=50257, positions=1024),
    # Qwen/Qwen2.5-0.5B config.json: GQA 14/2 heads, tied embeddings, q/k/v biases, RoPE theta 1e6.
    "qwen2.5-0.5b": dict(family="qwen2", d=896, layers=24, heads=14, kv_heads=2, head_dim=64, d_ff=4864, vocab=151936, positions=32768, theta=1e6, eps=1e-6),
    # Small shapes of both families, to check the section quickly.
    "test-gpt2": dict(family="gpt2", d=64, layers=2, heads=4, kv_heads=4, head_dim=16, d_ff=256, vocab=512, positions=256),
    "test-qwen2": dict(family="qwen2", d=64, layers=2, heads=4, kv_heads=2, head_dim=16, d_ff=128, vocab=512, positions=256, theta=1e6, eps=1e-6),
}
# PEFT target_modules for each family: every projection of the blocks (c_proj matches GPT-2's attention and MLP ones).
TARGETS = {"gpt2": ["c_attn", "c_proj", "c_fc"], "qwen2": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]}
EPSILON = 0.2


def vm_kib(field):
    return int(re.search(rf"{field}:\s+(\d+) kB", open("/proc/self/status").read()).group(1))


def tensor_peak_bytes(fn, baseline):
    """Runs fn under the profiler; baseline (the live tensor bytes at the start) plus the highest running sum of the
    allocator's allocations and frees."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [(e.start_us(), e.nbytes()) for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    live = peak = baseline
    for _, nbytes in sorted(events, key=lambda x: x[0]):  # stable: same-microsecond events keep their order
        live += nbytes
        peak = max(peak, live)
    return peak


def reset_peak_rss():
    # Linux >= 4.0: writing 5 resets VmHWM to the current resident size.
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


class LoraLinear(nn.Module):
    """A frozen nn.Linear plus PEFT's low-rank update."""

    def __init__(self, base, r, alpha, dropout):
        super().__init__()
        self.base = base
        base.weight.requires_grad_(False)
        if base.bias is not None:
            base.bias.requires_grad_(False)
        self.lora_A = nn.Linear(base.in_features, r, bias=False)
        self.lora_B = nn.Linear(r, base.out_features, bias=False)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.scaling = alpha / r

    def forward(self, x):
        return self.base(x) + self.lora_B(self.lora_A(self.dropout(x))) * self.scaling


def attention(q, k, v, T, S):
    """Causal attention of T new queries over S keys (the last T of them are the queries' own positions)."""
    mask = torch.ones(T, S, dtype=torch.bool).tril(S - T)
    att = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
    return att.masked_fill(~mask, float("-inf")).softmax(-1) @ v


def extend_cache(cache, k, v):
    if cache is not None:
        if "k" in cache:
            k, v = torch.cat([cache["k"], k], 2), torch.cat([cache["v"], v], 2)
        cache["k"], cache["v"] = k, v
    return k, v


class Gpt2Block(nn.Module):
    def __init__(self, s):
        super().__init__()
        d = s["d"]
        self.heads = s["heads"]
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.Module()
        self.attn.c_attn, self.attn.c_proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Module()
        self.mlp.c_fc, self.mlp.c_proj = nn.Linear(d, s["d_ff"]), nn.Linear(s["d_ff"], d)

    def forward(self, x, start, cache):
        B, T, d = x.shape
        q, k, v = self.attn.c_attn(self.ln_1(x)).split(d, dim=2)
        heads = lambda t: t.view(B, T, self.heads, d // self.heads).transpose(1, 2)
        k, v = extend_cache(cache, heads(k), heads(v))
        y = attention(heads(q), k, v, T, k.shape[2]).transpose(1, 2).reshape(B, T, d)
        x = x + self.attn.c_proj(y)
        return x + self.mlp.c_proj(F.gelu(self.mlp.c_fc(self.ln_2(x)), approximate="tanh"))


class RmsNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight, self.eps = nn.Parameter(torch.ones(d)), eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope(x, positions, theta):
    """Rotate-half RoPE (transformers' rotate_half / apply_rotary_pos_emb) of x [B, H, T, D] at positions [T]."""
    half = x.shape[-1] // 2
    inv = 1.0 / (theta ** (torch.arange(0, half, dtype=torch.float32) / half))
    angles = positions[:, None].float() * inv[None, :]
    cos, sin = torch.cat([angles.cos()] * 2, -1), torch.cat([angles.sin()] * 2, -1)
    rotated = torch.cat([-x[..., half:], x[..., :half]], -1)
    return x * cos + rotated * sin


class Qwen2Block(nn.Module):
    def __init__(self, s):
        super().__init__()
        d, hd = s["d"], s["head_dim"]
        self.s = s
        self.input_layernorm, self.post_attention_layernorm = RmsNorm(d, s["eps"]), RmsNorm(d, s["eps"])
        self.self_attn = nn.Module()
        self.self_attn.q_proj = nn.Linear(d, s["heads"] * hd)
        self.self_attn.k_proj = nn.Linear(d, s["kv_heads"] * hd)
        self.self_attn.v_proj = nn.Linear(d, s["kv_heads"] * hd)
        self.self_attn.o_proj = nn.Linear(s["heads"] * hd, d, bias=False)
        self.mlp = nn.Module()
        self.mlp.gate_proj, self.mlp.up_proj = nn.Linear(d, s["d_ff"], bias=False), nn.Linear(d, s["d_ff"], bias=False)
        self.mlp.down_proj = nn.Linear(s["d_ff"], d, bias=False)

    def forward(self, x, start, cache):
        B, T, _ = x.shape
        s, a = self.s, self.self_attn
        h = self.input_layernorm(x)
        split = lambda t, n: t.view(B, T, n, s["head_dim"]).transpose(1, 2)
        positions = torch.arange(start, start + T)
        q = rope(split(a.q_proj(h), s["heads"]), positions, s["theta"])
        k = rope(split(a.k_proj(h), s["kv_heads"]), positions, s["theta"])
        k, v = extend_cache(cache, k, split(a.v_proj(h), s["kv_heads"]))
        group = s["heads"] // s["kv_heads"]
        k, v = k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)
        y = attention(q, k, v, T, k.shape[2]).transpose(1, 2).reshape(B, T, -1)
        x = x + a.o_proj(y)
        h = self.post_attention_layernorm(x)
        return x + self.mlp.down_proj(F.silu(self.mlp.gate_proj(h)) * self.mlp.up_proj(h))


class CausalLM(nn.Module):
    """Token embedding, blocks, final norm, tied output head."""

    def __init__(self, s, checkpointing=False):
        super().__init__()
        self.s = s
        # transformers' gradient_checkpointing: each block recomputed in the backward pass (training forwards only).
        self.checkpointing = checkpointing
        self.wte = nn.Embedding(s["vocab"], s["d"])
        gpt2 = s["family"] == "gpt2"
        self.wpe = nn.Embedding(s["positions"], s["d"]) if gpt2 else None
        self.h = nn.ModuleList((Gpt2Block if gpt2 else Qwen2Block)(s) for _ in range(s["layers"]))
        self.norm = nn.LayerNorm(s["d"]) if gpt2 else RmsNorm(s["d"], s["eps"])
        with torch.no_grad():
            # GPT-2's initializer range; the values only have to give finite, non-degenerate logits.
            for p in self.parameters():
                if p.dim() == 2:
                    p.normal_(0, 0.02)

    def forward(self, ids, start=0, caches=None, logits_from=0):
        x = self.wte(ids)
        if self.wpe is not None:
            x = x + self.wpe(torch.arange(start, start + ids.shape[1]))
        for i, block in enumerate(self.h):
            if self.checkpointing and caches is None and torch.is_grad_enabled():
                x = torch.utils.checkpoint.checkpoint(block, x, start, None, use_reentrant=False)
            else:
                x = block(x, start, None if caches is None else caches[i])
        # Only the positions whose next token is scored get logits (a vocabulary-wide row each).
        return self.norm(x[:, logits_from:]) @ self.wte.weight.T


def add_lora(model, targets, r, alpha, dropout):
    """Freezes every parameter, then wraps the nn.Linear modules whose name ends in a target (PEFT's suffix match)."""
    for p in model.parameters():
        p.requires_grad_(False)
    wrapped = 0
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            full = f"{name}.{child_name}" if name else child_name
            if isinstance(child, nn.Linear) and any(full == t or full.endswith("." + t) for t in targets):
                setattr(module, child_name, LoraLinear(child, r, alpha, dropout))
                wrapped += 1
    return wrapped


def sample(model, prompts, new_tokens):
    caches = [dict() for _ in model.h]
    logits = model(prompts, 0, caches)[:, -1]
    out = []
    for step in range(new_tokens):
        token = torch.multinomial(torch.softmax(logits, -1), 1)
        out.append(token)
        if step < new_tokens - 1:
            logits = model(token, prompts.shape[1] + step, caches)[:, -1]
    return torch.cat(out, 1)


def response_log_probs(model, ids, prompt):
    logits = model(ids[:, :-1], logits_from=prompt - 1)
    return torch.log_softmax(logits, -1).gather(-1, ids[:, prompt:, None]).squeeze(-1)


def grpo_update(model, optimizer, params, ids, old, advantages, prompt, rows_per_micro):
    """One optimizer step over all rows, rows_per_micro at a time; the loss normalised by the step's token count."""
    tokens = old.numel()
    for i in range(0, ids.shape[0], rows_per_micro):
        sl = slice(i, i + rows_per_micro)
        logp = response_log_probs(model, ids[sl], prompt)
        ratio = torch.exp(logp - old[sl])
        adv = advantages[sl, None]
        per_token = -torch.min(ratio * adv, ratio.clamp(1 - EPSILON, 1 + EPSILON) * adv)
        (per_token.sum() / tokens).backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", required=True, choices=sorted(SHAPES))
    parser.add_argument("--mode", required=True, choices=["lora", "full"])
    parser.add_argument("--micro-tokens", type=int, default=256)
    parser.add_argument("--steps", type=int, default=1, help="measured update steps after one warm-up")
    parser.add_argument("--sample", action="store_true", help="measure sampling too (a 2-token warm-up, then one measured call)")
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--generations", type=int, default=4)
    parser.add_argument("--prompt-len", type=int, default=32)
    parser.add_argument("--new", type=int, default=64)
    parser.add_argument("--r", type=int, default=16)
    parser.add_argument("--alpha", type=float, default=32)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--checkpointing", action="store_true", help="gradient checkpointing: recompute each block in the backward pass")
    args = parser.parse_args()
    if args.micro_tokens % args.new != 0:
        raise SystemExit(f"--micro-tokens {args.micro_tokens} must be a multiple of --new {args.new} (whole rows per micro-batch)")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    s = SHAPES[args.shape]
    model = CausalLM(s, args.checkpointing)
    parameters = sum(p.numel() for p in model.parameters())
    wrapped = add_lora(model, TARGETS[s["family"]], args.r, args.alpha, args.dropout) if args.mode == "lora" else 0
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=1e-5)
    rows = args.prompts * args.generations
    record = dict(shape=args.shape, mode=args.mode, micro_tokens=args.micro_tokens, torch=torch.__version__, threads=torch.get_num_threads(),
                  checkpointing=args.checkpointing)
    prompts = torch.randint(0, s["vocab"], (rows, args.prompt_len))

    if args.sample:
        with torch.no_grad():
            sample(model, prompts, 2)  # warm-up: a few tokens do it, a whole call would double the cost
            t0 = time.perf_counter()
            completions = sample(model, prompts, args.new)
            ms = (time.perf_counter() - t0) * 1000
        print(json.dumps({**record, "phase": "sample", "ms": ms, "tokens": rows * args.new}), flush=True)
    else:
        completions = torch.randint(0, s["vocab"], (rows, args.new))
    ids = torch.cat([prompts, completions], 1)
    with torch.no_grad():
        old = response_log_probs(model, ids, args.prompt_len)
    # Group-normalised stand-in advantages: the step costs the same whatever their values.
    rewards = torch.rand(args.prompts, args.generations)
    advantages = ((rewards - rewards.mean(1, keepdim=True)) / (rewards.std(1, keepdim=True) + 1e-4)).reshape(-1)

    rows_per_micro = args.micro_tokens // args.new
    update = lambda: grpo_update(model, optimizer, params, ids, old, advantages, args.prompt_len, rows_per_micro)
    inputs = sum(t.numel() * t.element_size() for t in [*model.parameters(), ids, old, advantages])
    peak_tensors = tensor_peak_bytes(update, inputs)  # the warm-up, profiled (its times are not taken)
    times, peaks, before = [], [], []
    for _ in range(args.steps):
        before.append(vm_kib("VmRSS"))
        reset_peak_rss()
        t0 = time.perf_counter()
        update()
        times.append((time.perf_counter() - t0) * 1000)
        peaks.append(vm_kib("VmHWM"))
    print(json.dumps({
        **record, "phase": "update", "ms": statistics.median(times), "tokens": rows * (args.prompt_len + args.new),
        "micro_batches": math.ceil(rows / rows_per_micro), "parameters": parameters, "trainable": sum(p.numel() for p in params),
        "lora_modules": wrapped, "peak_tensor_mib": peak_tensors / 2**20, "peak_rss_mib": max(peaks) / 1024, "rss_before_mib": min(before) / 1024,
    }), flush=True)


if __name__ == "__main__":
    main()
