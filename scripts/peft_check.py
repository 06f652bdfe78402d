#!/usr/bin/env python3
"""Cross-checks a LoRA adapter (or a merged model) with the real transformers + PEFT: prints the logits they compute.

Use it on the adapters GRPO Studio writes (issue 14) to see that `PeftModel.from_pretrained` loads them and computes
what GRPO Studio computes, or on a merged folder from `grpo-studio export --merge`.

    python scripts/peft_check.py BASE_DIR ADAPTER_DIR [--ids 1,2,3[;4,5,6]] [--expect-logits FILE.json]
    python scripts/peft_check.py --merged DIR [--ids ...] [--expect-logits FILE.json]

Prints one JSON line: the ids, the logits [rows, positions, vocab] (all of the vocabulary up to --print-vocab
columns), and with --expect-logits the max |difference| to that file's logits; exits 1 when it exceeds --tol (1e-4),
when the adapter's tensors do not match the modules PEFT wrapped (PEFT itself only warns about missing keys and would
run with random LoRA weights), or when loading fails. --out FILE writes the full logits as JSON ({"ids", "logits"}),
a file --expect-logits reads back.

--expect-logits reads a JSON object with "ids" and logits under --key, or by default the first present of
"peft_logits" (adapter mode) / "merged_logits" (--merged mode) and "logits". test/fixtures/peft/*/expected.json are
such files. Without --ids the file's "ids" are used.

Environment (no internet needed; the wheels are in the local store):

    /usr/bin/python3 -m venv --system-site-packages /work/peft-venv
    /work/peft-venv/bin/pip install --no-index --find-links /opt/pypi/files \
        peft==0.21.0 transformers==5.17.0 safetensors==0.8.0
    /work/peft-venv/bin/python scripts/peft_check.py test/fixtures/peft/gpt2/base test/fixtures/peft/gpt2/adapter \
        --expect-logits test/fixtures/peft/gpt2/expected.json

(pip pulls torch 2.13.0+cpu into the venv, since accelerate needs torch >= 2; checked with peft 0.21.0,
transformers 5.17.0, torch 2.13.0+cpu. Computation is float32 on the CPU.)
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

DEFAULT_TOL = 1e-4


def parse_ids(text: str) -> list[list[int]]:
    """'1,2,3;4,5,6' -> [[1, 2, 3], [4, 5, 6]]; every row the same length (no padding is applied)."""
    rows: list[list[int]] = []
    for r, row in enumerate(text.split(";")):
        try:
            ids = [int(x) for x in row.split(",") if x.strip() != ""]
        except ValueError as err:
            raise argparse.ArgumentTypeError(f"row {r + 1}: not a comma-separated list of integers ({err})")
        if not ids:
            raise argparse.ArgumentTypeError(f"row {r + 1} is empty")
        rows.append(ids)
    if len({len(r) for r in rows}) != 1:
        raise argparse.ArgumentTypeError(f"rows have different lengths {[len(r) for r in rows]}; no padding is applied")
    return rows


def read_expected(file: Path, key: str | None, mode: str) -> tuple[list[list[int]], list, str]:
    try:
        data = json.loads(file.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise SystemExit(f"{file}: cannot read as JSON ({err})")
    if not isinstance(data, dict):
        raise SystemExit(f"{file}: expected a JSON object")
    keys = [key] if key else (["peft_logits", "logits"] if mode == "adapter" else ["merged_logits", "logits"])
    found = next((k for k in keys if k in data), None)
    if found is None:
        raise SystemExit(f"{file}: no field {' or '.join(repr(k) for k in keys)}")
    if "ids" not in data:
        raise SystemExit(f"{file}: no field 'ids'")
    return data["ids"], data[found], found


def max_abs_diff(got, want, where: str = "logits") -> float:
    """Max |got - want| over nested lists of the same shape; a shape mismatch is an error naming the position."""
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            raise SystemExit(f"--expect-logits: shape differs at {where}: expected {len(want)} entries, "
                             f"computed {len(got) if isinstance(got, list) else 'a number'}")
        return max((max_abs_diff(g, w, f"{where}[{i}]") for i, (g, w) in enumerate(zip(got, want))), default=0.0)
    d = abs(float(got) - float(want))
    return math.inf if math.isnan(d) else d


def adapter_mismatches(model, adapter_dir: Path) -> list[str]:
    """Tensors of the adapter file PEFT did not load into a LoRA module, or LoRA weights the file did not set."""
    import torch
    from peft.utils import get_peft_model_state_dict
    from safetensors.torch import load_file

    file = adapter_dir / "adapter_model.safetensors"
    saved = load_file(str(file))
    state = get_peft_model_state_dict(model)
    problems = [f"{file}: no tensor '{k}' for a LoRA module PEFT created (it runs with random init)"
                for k in sorted(set(state) - set(saved))]
    problems += [f"{file}: tensor '{k}' matches no LoRA module (target_modules / names?)" for k in sorted(set(saved) - set(state))]
    problems += [f"{file}: tensor '{k}' differs from what PEFT loaded (shape {list(saved[k].shape)})"
                 for k in sorted(set(saved) & set(state)) if not torch.equal(state[k].to(saved[k].dtype), saved[k])]
    return problems


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("base", nargs="?", help="base model folder (Hugging Face layout)")
    ap.add_argument("adapter", nargs="?", help="adapter folder (adapter_config.json + adapter_model.safetensors)")
    ap.add_argument("--merged", metavar="DIR", help="a full Hugging Face folder to run instead of base + adapter")
    ap.add_argument("--ids", type=parse_ids, help="token ids: '1,2,3' or rows '1,2,3;4,5,6' (equal lengths)")
    ap.add_argument("--expect-logits", metavar="FILE.json", type=Path, help="compare with this file's logits")
    ap.add_argument("--key", help="field of --expect-logits holding the logits (default: see above)")
    ap.add_argument("--tol", type=float, default=DEFAULT_TOL, help=f"max abs difference allowed (default {DEFAULT_TOL})")
    ap.add_argument("--print-vocab", type=int, default=1024, metavar="N",
                    help="print at most the first N vocabulary columns of the logits (default 1024)")
    ap.add_argument("--out", type=Path, metavar="FILE.json", help="write the full logits here")
    args = ap.parse_args(argv)

    mode = "merged" if args.merged else "adapter"
    if args.merged and (args.base or args.adapter):
        ap.error("give either BASE_DIR ADAPTER_DIR or --merged DIR, not both")
    if not args.merged and not (args.base and args.adapter):
        ap.error("BASE_DIR and ADAPTER_DIR are required (or --merged DIR)")

    expected = key = None
    ids = args.ids
    if args.expect_logits:
        file_ids, expected, key = read_expected(args.expect_logits, args.key, mode)
        if ids is None:
            ids = file_ids
        elif ids != file_ids:
            raise SystemExit(f"--ids {ids} differ from {args.expect_logits}'s ids {file_ids}")
    if ids is None:
        ap.error("--ids is required without --expect-logits")

    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    result: dict = {"mode": mode, "ids": ids}
    try:
        if mode == "merged":
            result["merged"] = args.merged
            model = AutoModelForCausalLM.from_pretrained(args.merged, dtype=torch.float32)
        else:
            from peft import PeftModel

            result.update(base=args.base, adapter=args.adapter)
            base = AutoModelForCausalLM.from_pretrained(args.base, dtype=torch.float32)
            model = PeftModel.from_pretrained(base, args.adapter)
            problems = adapter_mismatches(model, Path(args.adapter))
            if problems:
                result.update(ok=False, error=problems)
                print(json.dumps(result))
                return 1
            from peft.tuners.lora import LoraLayer

            result["lora_modules"] = sorted(n.removeprefix("base_model.model.") for n, m in model.named_modules()
                                            if isinstance(m, LoraLayer))
        model.eval()
        vocab = model.config.get_text_config().vocab_size
        bad = [i for row in ids for i in row if not 0 <= i < vocab]
        if bad:
            raise SystemExit(f"--ids: {bad} outside the vocabulary [0, {vocab})")
        with torch.no_grad():
            logits = model(input_ids=torch.tensor(ids, dtype=torch.long)).logits.to(torch.float32)
            if mode == "adapter":
                with model.disable_adapter():
                    base_logits = model(input_ids=torch.tensor(ids, dtype=torch.long)).logits.to(torch.float32)
                # How far the adapter moves the logits: 0 means the check cannot tell adapter from base (B = 0).
                result["max_abs_vs_base"] = float((logits - base_logits).abs().max())
    except (OSError, ValueError, RuntimeError, KeyError) as err:
        result.update(ok=False, error=f"{type(err).__name__}: {err}")
        print(json.dumps(result))
        return 1

    full = logits.tolist()
    result["logits_shape"] = list(logits.shape)
    if logits.shape[-1] > args.print_vocab:
        result["logits_columns_printed"] = args.print_vocab
    result["logits"] = logits[..., : args.print_vocab].tolist()
    if args.out:
        args.out.write_text(json.dumps({"ids": ids, "logits": full}) + "\n")
    ok = True
    if expected is not None:
        diff = max_abs_diff(full, expected)
        ok = diff <= args.tol
        result.update(expect_logits=str(args.expect_logits), expect_key=key, max_abs_diff=diff, tol=args.tol)
    result["ok"] = ok
    print(json.dumps(result))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
