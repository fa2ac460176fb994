"""BERTopic on documents and embeddings ctxembed computed, run in the peer's own venv
(``benchmarks/topics.py`` starts it): ``python bertopic_topics.py JOB.json EMB.npy OUT.jsonl``.

JOB holds the texts, the vocabulary every model of the comparison counts (so BERTopic's
c-TF-IDF picks its topic words from the same 2,000 words) and the (K, seed) runs. Defaults
otherwise (UMAP 5-d, HDBSCAN), with UMAP seeded and ``nr_topics`` K + 1 (the outlier topic
-1 is one of them; the K others are scored).
"""

import json
import re
import sys
import time

import numpy as np
from bertopic import BERTopic
from sklearn.feature_extraction.text import CountVectorizer
from umap import UMAP

TOKENS = r"(?u)\b[^\W\d_]{2,}\b"  # ctxembed's: words of two or more letters
job, emb_path, out_path = sys.argv[1:4]
with open(job) as f:
    spec = json.load(f)
emb = np.load(emb_path)
texts, vocab = spec["texts"], spec["vocab"]
# BERTopic drops every character but letters, digits and spaces before counting ("e-mail"
# becomes "email"): a vocabulary word it then never sees would divide by a zero document
# frequency in c-TF-IDF, so such words are left out of its vocabulary
seen = CountVectorizer(vocabulary=vocab, token_pattern=TOKENS).transform(
    [re.sub(r"[^A-Za-z0-9 ]+", "", t) for t in texts]
)
vocab = [w for w, n in zip(vocab, np.asarray((seen > 0).sum(0)).ravel(), strict=True) if n]
for k, seed in spec["runs"]:
    t0 = time.perf_counter()
    model = BERTopic(
        umap_model=UMAP(
            n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=seed
        ),
        vectorizer_model=CountVectorizer(vocabulary=vocab, token_pattern=TOKENS),
        nr_topics=k + 1,
        top_n_words=25,
    )
    model.fit_transform(texts, embeddings=emb)
    topics = [[w for w, _ in model.get_topic(t)] for t in sorted(model.get_topics()) if t != -1]
    seconds = round(time.perf_counter() - t0, 1)
    with open(out_path, "a") as f:
        f.write(json.dumps({"k": k, "seed": seed, "seconds": seconds, "topics": topics}) + "\n")
    print(f"bertopic K={k} seed={seed}: {len(topics)} topics, {seconds}s", flush=True)
