"""PyTorch CPU reference for `npm run bench:model`: the same GPT-2 shapes and phases as bench/model.ts.

Prints one JSON object per line: {"shape", "phase", "ms"} with the median time of each phase.
Usage: /usr/bin/python3 bench/model_torch.py --threads 2 --reps 5
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

SHAPES = {"small": dict(d=128, layers=4), "base": dict(d=256, layers=6)}
VOCAB, HEADS, POSITIONS = 64, 4, 256
BATCH, PROMPT, NEW = 32, 32, 32


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.c_attn, self.c_proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.c_fc, self.mlp_proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x, cache=None):
        B, T, d = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
        heads = lambda t: t.view(B, T, HEADS, d // HEADS).transpose(1, 2)
        q, k, v = heads(q), heads(k), heads(v)
        if cache is not None:
            if "k" in cache:
                k, v = torch.cat([cache["k"], k], 2), torch.cat([cache["v"], v], 2)
            cache["k"], cache["v"] = k, v
        S = k.shape[2]
        mask = torch.ones(T, S, dtype=torch.bool).tril(S - T)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(d // HEADS)
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, d)
        x = x + self.c_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, d, layers):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(VOCAB, d), nn.Embedding(POSITIONS, d)
        self.h = nn.ModuleList(Block(d) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)

    def forward(self, ids, start=0, caches=None):
        pos = torch.arange(start, start + ids.shape[1])
        x = self.wte(ids) + self.wpe(pos)
        for i, block in enumerate(self.h):
            x = block(x, None if caches is None else caches[i])
        return self.ln_f(x) @ self.wte.weight.T


def response_log_probs(model, ids):
    logits = model(ids[:, :-1])[:, PROMPT - 1 :]
    return torch.log_softmax(logits, -1).gather(-1, ids[:, PROMPT:, None]).squeeze(-1)


def sample(model, prompts, new_tokens):
    caches = [dict() for _ in model.h]
    logits = model(prompts, 0, caches)[:, -1]
    out = []
    for step in range(new_tokens):
        token = torch.multinomial(torch.softmax(logits, -1), 1)
        out.append(token)
        if step < new_tokens - 1:
            logits = model(token, PROMPT + step, caches)[:, -1]
    return torch.cat(out, 1)


def median_ms(fn, reps):
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--shapes", default="small,base")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    for name in args.shapes.split(","):
        model = GPT(**SHAPES[name])
        ids = torch.randint(0, VOCAB, (BATCH, PROMPT + NEW))
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

        def forward():
            with torch.no_grad():
                response_log_probs(model, ids)

        def train():
            optimizer.zero_grad()
            (-response_log_probs(model, ids).mean()).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()

        def generate():
            with torch.no_grad():
                sample(model, ids[:, :PROMPT], NEW)

        for phase, fn in (("forward", forward), ("train", train), ("sample", generate)):
            print(json.dumps({"shape": name, "phase": phase, "ms": median_ms(fn, args.reps)}), flush=True)


if __name__ == "__main__":
    main()
