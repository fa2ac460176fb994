"""Write data/squad/split.tsv: SQuAD v1.1 dev (the only split staged here) cut by article into
train / dev / test for `ctxembed finetune squad`. Articles are shuffled with seed 0; test takes
articles until it holds 20% of the questions, dev (early stopping) the next 6%, train the rest.
Run once; the committed file is what every run reads."""

import gzip
import json
import random
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data" / "squad"


def main() -> None:
    with gzip.open(DATA / "dev-v1.1.json.gz", "rt", encoding="utf-8") as f:
        articles = json.load(f)["data"]
    counts = {a["title"]: sum(len(p["qas"]) for p in a["paragraphs"]) for a in articles}
    total = sum(counts.values())
    titles = sorted(counts)
    random.Random(0).shuffle(titles)
    split, held = {}, {"test": 0, "dev": 0}
    for t in titles:
        if held["test"] < 0.20 * total:
            split[t] = "test"
        elif held["dev"] < 0.06 * total:
            split[t] = "dev"
        else:
            split[t] = "train"
        held[split[t]] = held.get(split[t], 0) + counts[t]
    rows = [f"{t}\t{split[t]}\t{counts[t]}\n" for t in sorted(split)]
    (DATA / "split.tsv").write_text("title\tsplit\tquestions\n" + "".join(rows))
    print({k: (sum(1 for s in split.values() if s == k), v) for k, v in held.items()})


if __name__ == "__main__":
    main()
