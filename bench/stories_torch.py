"""PyTorch CPU reference for the stories260K section of `npm run bench:model`: the shipped Llama checkpoint
(examples/models/stories260K, HF layout) in a plain PyTorch forward, doing the same work as bench/model.ts's tfjs side.

Phases, each the median of --reps runs after one warm-up:
  sample  the rollouts' prompts, --new tokens each at temperature 1 with a KV cache, no early stop;
  grpo    one GRPO step on the rollouts bench/model.ts wrote (same token ids, old log-probs and advantages):
          reference log-probs (no grad), policy forward + backward of the clipped-ratio loss with β·k3 KL
          (token mean over the response mask), gradient clipping at 1.0, one Adam step.
With --check FILE (tfjs's logits for a fixed sequence) it first prints the largest logit difference to tfjs and a
greedy decode of 20 tokens from BOS.

Prints one JSON object per line. Usage:
  /usr/bin/python3 bench/stories_torch.py --model examples/models/stories260K --rollouts R.json --threads 2 --reps 5
"""
import argparse
import json
import math
import os
import statistics
import struct
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from model_torch import median_ms


def load_safetensors(path):
    """name → float32 tensor: an 8-byte little-endian header length, a JSON header, then the raw tensor bytes."""
    with open(path, "rb") as f:
        data = bytearray(f.read())
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len])
    base = 8 + header_len
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", f"{name}: only float32 checkpoints are read here, got {info['dtype']}"
        start, end = info["data_offsets"]
        flat = torch.frombuffer(data, dtype=torch.float32, count=(end - start) // 4, offset=base + start)
        tensors[name] = flat.reshape(info["shape"]).clone()
    return tensors


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight, self.eps = nn.Parameter(torch.ones(d)), eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], -1)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, self.heads, self.kv_heads, self.head_dim = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
        self.q_proj = nn.Linear(d, self.heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(d, self.kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(d, self.kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.heads * self.head_dim, d, bias=False)

    def forward(self, x, cos, sin, cache):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.kv_heads, self.head_dim).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        if cache is not None:
            if "k" in cache:
                k, v = torch.cat([cache["k"], k], 2), torch.cat([cache["v"], v], 2)
            cache["k"], cache["v"] = k, v
        # GQA: query head h reads key/value head h // (heads / kv_heads), as HF's repeat_kv.
        k = k.repeat_interleave(self.heads // self.kv_heads, dim=1)
        v = v.repeat_interleave(self.heads // self.kv_heads, dim=1)
        S = k.shape[2]
        att = (q @ k.transpose(-2, -1)) / math.sqrt(self.head_dim)
        if T > 1:
            att = att.masked_fill(~torch.ones(T, S, dtype=torch.bool).tril(S - T), float("-inf"))
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, self.heads * self.head_dim)
        return self.o_proj(y)


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, ff = c["hidden_size"], c["intermediate_size"]
        self.gate_proj, self.up_proj = nn.Linear(d, ff, bias=False), nn.Linear(d, ff, bias=False)
        self.down_proj = nn.Linear(ff, d, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.input_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.mlp = MLP(c)

    def forward(self, x, cos, sin, cache):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, cache)
        return x + self.mlp(self.post_attention_layernorm(x))


class Llama(nn.Module):
    """HF LlamaForCausalLM's parameter names under `model.`; the output head is the embedding (tied)."""

    def __init__(self, c):
        super().__init__()
        assert c["tie_word_embeddings"], "this bench reads tied-embedding checkpoints only"
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList(Layer(c) for _ in range(c["num_hidden_layers"]))
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        hd = c["head_dim"]
        self.register_buffer("inv_freq", 1.0 / c["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd), persistent=False)

    def forward(self, ids, start=0, caches=None, logits_from=0):
        """Logits [B, T − logits_from, V] for tokens at positions start … start + T − 1."""
        freqs = torch.outer(torch.arange(start, start + ids.shape[1], dtype=torch.float32), self.inv_freq)
        emb = torch.cat([freqs, freqs], -1)  # rotate-half layout: the two halves share frequencies
        cos, sin = emb.cos(), emb.sin()
        x = self.embed_tokens(ids)
        for i, layer in enumerate(self.layers):
            x = layer(x, cos, sin, None if caches is None else caches[i])
        return self.norm(x[:, logits_from:]) @ self.embed_tokens.weight.T


def load_model(directory):
    with open(os.path.join(directory, "config.json")) as f:
        config = json.load(f)
    model = Llama(config)
    state = {name.removeprefix("model."): t for name, t in load_safetensors(os.path.join(directory, "model.safetensors")).items()}
    model.load_state_dict(state)
    return model


def decode(directory, ids):
    """SentencePiece pieces from tokenizer.json: '▁' is a space, <0xNN> a raw byte."""
    with open(os.path.join(directory, "tokenizer.json")) as f:
        vocab = {i: piece for piece, i in json.load(f)["model"]["vocab"].items()}
    out = bytearray()
    for i in ids:
        piece = vocab[i]
        if piece.startswith("<0x") and piece.endswith(">"):
            out.append(int(piece[3:-1], 16))
        else:
            out += piece.replace("\u2581", " ").encode()
    return out.decode("utf-8", errors="replace").removeprefix(" ")


def sample(model, prompts, new_tokens, temperature=1.0):
    """KV-cache sampling, no early stop: [B, new_tokens] token ids (temperature 0 = greedy)."""
    caches = [dict() for _ in model.layers]
    logits = model(prompts, 0, caches)[:, -1]
    out = []
    for step in range(new_tokens):
        if temperature == 0:
            token = logits.argmax(-1, keepdim=True)
        else:
            token = torch.multinomial(torch.softmax(logits / temperature, -1), 1)
        out.append(token)
        if step < new_tokens - 1:
            logits = model(token, prompts.shape[1] + step, caches)[:, -1]
    return torch.cat(out, 1)


def response_log_probs(model, ids, prompt_len, with_entropy=False):
    """log π of each response token [B, R] (and the entropy of each next-token distribution, without gradient)."""
    logp = torch.log_softmax(model(ids[:, :-1], logits_from=prompt_len - 1), -1)
    picked = logp.gather(-1, ids[:, prompt_len:, None]).squeeze(-1)
    if not with_entropy:
        return picked, None
    with torch.no_grad():
        entropy = -(logp.exp() * logp).sum(-1)
    return picked, entropy


def check(model, directory, check_file):
    with open(check_file) as f:
        expected = json.load(f)
    ids = torch.tensor([expected["ids"]])
    with torch.no_grad():
        logits = model(ids)[0]
        diff = (logits - torch.tensor(expected["logits"])).abs().max().item()
        print(json.dumps({"check": "logits", "tokens": ids.shape[1], "max_abs_diff": diff, "max_abs_logit": logits.abs().max().item()}), flush=True)
        greedy = sample(model, torch.tensor([[1]]), 20, temperature=0)[0].tolist()
    text = decode(directory, greedy)
    print(json.dumps({"check": "greedy", "ids": greedy, "text": text, "ok": text.startswith("Once upon a time, there was a little girl named Lily.")}), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--rollouts", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--check")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    policy = load_model(args.model)
    if args.check:
        check(policy, args.model, args.check)

    with open(args.rollouts) as f:
        r = json.load(f)
    prompt_len = len(r["promptIds"][0])
    assert all(len(p) == prompt_len for p in r["promptIds"]), "the bench's rollouts share one prompt length (no padding here)"
    ids = torch.tensor([p + t for p, t in zip(r["promptIds"], r["responseIds"])])
    old = torch.tensor(r["oldLogProbs"])
    advantages = torch.tensor(r["advantages"])[:, None]
    mask = torch.ones_like(old)  # no early stop: every response token is active
    eps, beta = r["epsilon"], r["beta"]
    reference = load_model(args.model).requires_grad_(False)
    optimizer = torch.optim.Adam(policy.parameters(), lr=r["learningRate"], eps=1e-8)
    parts = {"reference": [], "fwd_bwd": [], "clip_adam": []}

    def generate():
        with torch.no_grad():
            sample(policy, ids[:, :prompt_len], r["newTokens"])

    def grpo_step():
        t0 = time.perf_counter()
        with torch.no_grad():
            ref, _ = response_log_probs(reference, ids, prompt_len)
        t1 = time.perf_counter()
        optimizer.zero_grad()
        logp, entropy = response_log_probs(policy, ids, prompt_len, with_entropy=True)
        ratio = torch.exp(logp - old)
        surrogate = -torch.min(ratio * advantages, ratio.clamp(1 - eps, 1 + eps) * advantages)
        d = ref - logp
        kl = torch.exp(d) - d - 1  # k3
        loss = ((surrogate + beta * kl) * mask).sum() / mask.sum().clamp(min=1)  # token mean (bnpo)
        loss.backward()
        # What the trainer reports: the loss, clip fractions, KL and entropy means.
        with torch.no_grad():
            [loss.item(), (ratio < 1 - eps).float().mean().item(), (kl * mask).mean().item(), entropy.mean().item()]
        t2 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
        optimizer.step()
        t3 = time.perf_counter()
        for key, value in zip(parts, (t1 - t0, t2 - t1, t3 - t2)):
            parts[key].append(value * 1000)

    print(json.dumps({"shape": "stories260K", "phase": "sample", "ms": median_ms(generate, args.reps)}), flush=True)
    ms = median_ms(grpo_step, args.reps)
    medians = {key: statistics.median(values[1:]) for key, values in parts.items()}  # without the warm-up
    print(json.dumps({"shape": "stories260K", "phase": "grpo", "ms": ms, "parts": medians}), flush=True)


if __name__ == "__main__":
    main()
