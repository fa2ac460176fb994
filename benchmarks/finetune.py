"""Full fine-tuning speed and memory: ctxembed against a plain PyTorch loop, same task, same run.

Both train minilm-l6 with a mean-pooled MLP head on the same SST-2 phrases (GLUE train), in
the same length-sorted batches in the same order, AdamW at the same learning rates, for
--steps steps; each run is its own process (peak memory is the process's), ctxembed and the
plain loop alternate, and the best of --repeats is kept. The plain loop tokenizes each batch
with the model's tokenizer and mean-pools the tokens, the sentence-transformers way; ctxembed
goes through its word pipeline (words -> subwords -> word vectors -> mean) and its loop
(checkpoint-free here, one tiny validation at the end).

    python benchmarks/finetune.py --steps 40 --batch-size 32 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def sst2_phrases(n: int):
    from ctxembed.train.tasks import TASKS

    train = TASKS["sst2"].read()["train"][:n]
    return train, [" ".join(e.texts[0]) for e in train], [e.label for e in train]


def run_ctxembed(args) -> float:
    import ctxembed
    from ctxembed.finetune.tuned import TuneConfig, fit
    from ctxembed.train.tasks import TASKS

    splits = TASKS["sst2"].read()
    data = {"train": splits["train"], "dev": splits["dev"][:32]}
    cfg = TuneConfig("sst2", "classify", mode="full", epochs=1, batch_size=args.batch_size)
    cfg.max_train, cfg.max_steps = args.steps * args.batch_size, args.steps
    out = fit(ctxembed.load("minilm-l6"), cfg, data, progress=False)
    hist = out.history
    return args.steps * args.batch_size / (hist.seconds - hist.valid_seconds)


def run_plain(args) -> float:
    import torch
    from torch import nn
    from transformers import AutoModel, AutoTokenizer

    from ctxembed.assets import ASSETS

    path = ASSETS["minilm-l6"].path() / "model"
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path, dtype=torch.float32)
    examples, texts, labels = sst2_phrases(args.steps * args.batch_size)
    names = sorted(set(labels))
    y = torch.tensor([names.index(t) for t in labels])
    torch.manual_seed(0)
    d = model.config.hidden_size
    head = nn.Sequential(
        nn.Dropout(0.1), nn.Linear(d, d), nn.Tanh(), nn.Dropout(0.1), nn.Linear(d, 2)
    )
    opt = torch.optim.AdamW(
        [{"params": model.parameters(), "lr": 2e-5}, {"params": head.parameters(), "lr": 1e-3}]
    )
    model.train()
    head.train()
    from ctxembed.finetune.tuned import batches_by_length  # the same batches as ctxembed's

    order = batches_by_length(examples, args.batch_size)
    start = time.perf_counter()
    for idx in order[: args.steps]:
        enc = tok([texts[i] for i in idx], padding=True, return_tensors="pt")
        h = model(**enc).last_hidden_state
        m = enc["attention_mask"].unsqueeze(-1).float()
        pooled = (h * m).sum(1) / m.sum(1)
        loss = nn.functional.cross_entropy(head(pooled), y[idx])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_([*model.parameters(), *head.parameters()], 1.0)
        opt.step()
    return args.steps * args.batch_size / (time.perf_counter() - start)


def child(args) -> None:
    rate = run_ctxembed(args) if args.child == "ctxembed" else run_plain(args)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rate": rate, "peak_mib": peak, "peak_gib": peak / 1024}))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--child", choices=("ctxembed", "plain"), default=None)
    p.add_argument("--out", default=None, help="write the results as JSON here")
    args = p.parse_args()
    if args.child:
        child(args)
        return 0
    best: dict[str, dict] = {}
    for _ in range(args.repeats):
        for who in ("ctxembed", "plain"):
            cmd = [sys.executable, __file__, "--child", who, "--steps", str(args.steps)]
            cmd += ["--batch-size", str(args.batch_size)]
            out = subprocess.run(cmd, capture_output=True, text=True, env=os.environ)
            if out.returncode != 0:
                print(out.stderr[-3000:], file=sys.stderr)
                return 1
            res = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"{who}: {res['rate']:.1f} examples/s, peak {res['peak_mib']:.0f} MiB", flush=True
            )
            if who not in best or res["rate"] > best[who]["rate"]:
                best[who] = res
    ratio = best["ctxembed"]["rate"] / best["plain"]["rate"]
    mem = best["ctxembed"]["peak_mib"] / best["plain"]["peak_mib"]
    print(f"ctxembed / plain loop: speed {ratio:.2f}x, peak memory {mem:.2f}x")
    if args.out:
        result = {"steps": args.steps, "batch_size": args.batch_size, **best}
        result["ratio"] = {"rate": ratio, "peak_gib": mem}  # ctxembed / plain
        result |= {
            "speed_ratio": ratio,
            "memory_ratio": mem,
            "threads": os.environ.get("OMP_NUM_THREADS"),
        }
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
