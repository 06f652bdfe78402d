#!/usr/bin/env python3
"""
Reads the per-token columns of a GRPO Studio run (token blocks, docs/run-format.md) with numpy and the standard
library only:

    python3 scripts/read_token_blocks.py <run folder> [step]

prints each step's rollouts with their first tokens; import it and call read_step(run_dir, step) for the columns.
Values are the stored float32 / float64 ones (a record rounds them to 6 significant digits).
"""
import json, math, struct, zlib
import numpy as np

def kl_penalty(logp, ref, c):
    """klPenaltyValue (src/protocol/klPenalty.ts) on arrays."""
    clamp = lambda x, b: np.clip(x, -b, b) if b > 0 else x
    e = c["estimator"]
    if e in ("kl", "k1", "k1+"): return logp - ref
    if e == "abs": return np.abs(logp - ref)
    if e in ("mse", "k2"): return 0.5 * (logp - ref) ** 2
    d = clamp(ref - logp, c["log_ratio_clamp"])
    k3 = np.exp(d) - d - 1
    return k3 if e == "k3" else clamp(k3, c["value_clamp"])


def read_block(run_dir, ref):
    """The per-token columns of one step: a list (one per rollout, in record order) of {column: list}."""
    with open(f"{run_dir}/{ref['file']}", "rb") as f:
        f.seek(ref["offset"])
        block = f.read(ref["length"])
    magic, version, codec, _, length, crc = struct.unpack("<4sBBHII", block[:16])
    assert magic == b"GRPT" and version == 1 and len(block) == 16 + length
    assert zlib.crc32(block[16:]) == crc, "damaged block"
    assert codec == 1, "brotli block: use the brotli package"
    payload = zlib.decompress(block[16:], -15)          # raw deflate
    (header_len,) = struct.unpack("<I", payload[:4])
    header = json.loads(payload[4:4 + header_len])
    at = 4 + header_len
    def take(n):
        nonlocal at
        at += n
        return payload[at - n:at]
    def planes(raw, dtype, count):                       # byte-stream split → values
        width = np.dtype(dtype).itemsize
        return np.frombuffer(raw, np.uint8).reshape(width, count).T.copy().view(dtype).ravel()
    lengths = header["lengths"]
    total = sum(lengths)
    idx = planes(take(header["text_bytes"]), {1: "<u1", 2: "<u2", 4: "<u4"}[header["piece_bytes"]], total)
    starts = np.cumsum([0] + lengths)
    rows = [{"text": [header["pieces"][i] for i in idx[starts[r]:starts[r + 1]]]} for r in range(len(lengths))]
    def patches(raw, count):
        pos = np.cumsum(planes(raw[:4 * count], "<u4", count)) if count else np.array([], int)
        return pos, planes(raw[4 * count:], "<f8", count) if count else np.array([])
    def apply(values, present, count, raw):
        pos, vals = patches(raw, count)
        flat = np.concatenate([values[r] for r in present]) if present else np.array([])
        flat[pos] = vals
        k = 0
        for r in present:
            values[r] = flat[k:k + lengths[r]]; k += lengths[r]
    cols = {}
    for c in header["columns"]:
        present = c.get("rows", list(range(len(lengths))))
        section = take(c.get("bytes", 0))
        n = sum(lengths[r] for r in present)
        if c["type"] == "bits":
            bits = np.unpackbits(np.frombuffer(section, np.uint8), bitorder="little")[:n].astype(bool)
            k = 0
            for r in present:
                rows[r][c["name"]] = bits[k:k + lengths[r]].tolist(); k += lengths[r]
            continue
        values = {}
        if c["type"] == "f32":
            const = c.get("constant_rows", [])
            nf = sum(lengths[r] for r in present if r not in const)
            floats = planes(section[:4 * nf], "<f4", nf).astype(np.float64)
            consts = planes(section[4 * nf:4 * nf + 8 * len(const)], "<f8", len(const)) if const else []
            k = 0; ci = 0
            for r in present:
                if r in const: values[r] = np.full(lengths[r], consts[ci]); ci += 1
                else: values[r] = floats[k:k + lengths[r]]; k += lengths[r]
            apply(values, present, c.get("patches", 0), section[4 * nf + 8 * len(const):])
        elif c["name"] == "logprob":                     # old + log ratio
            for r in present: values[r] = cols["old_logprob"][r] + np.log(cols["ratio"][r])
            apply(values, present, c.get("patches", 0), section)
        elif c["name"] == "kl":
            for r in present: values[r] = kl_penalty(cols["logprob"][r], cols["ref_logprob"][r], c)
            apply(values, present, c.get("patches", 0), section)
        else:
            raise ValueError(f"column {c['name']} cannot be derived")
        cols[c["name"]] = values
        for r in present: rows[r][c["name"]] = values[r].tolist()
    return rows

def read_step(run_dir, step, file="rollouts.jsonl"):
    """The step's record with each rollout's `tokens`, as GRPO Studio reads it (the last line of a step wins)."""
    found = None
    with open(f"{run_dir}/{file}", encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                break                                    # a torn last line: being written, or cut by a crash
            record = json.loads(line)
            if record.get("step") == step:
                found = record
    if found is None or "token_block" not in found:
        return found                                     # runs written before token blocks hold `tokens` inline
    rows = iter(read_block(run_dir, found.pop("token_block")))
    for group in found["groups"]:
        for rollout in group["rollouts"]:
            rollout["tokens"] = next(rows)
    return found


if __name__ == "__main__":
    import sys
    run = sys.argv[1]
    steps = [int(sys.argv[2])] if len(sys.argv) > 2 else sorted({json.loads(l)["step"] for l in open(f"{run}/rollouts.jsonl") if l.endswith("\n")})
    for step in steps:
        record = read_step(run, step)
        rollouts = [r for g in record["groups"] for r in g["rollouts"]]
        first = rollouts[0]["tokens"]
        print(f"step {step}: {len(rollouts)} rollouts, {sum(len(r['tokens']['text']) for r in rollouts)} tokens; first: "
              + ", ".join(f"{k} {first[k][:3]}" for k in first))
