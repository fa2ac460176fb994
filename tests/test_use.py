import numpy as np
import pytest
import torch

from ctxembed import InputError
from ctxembed.cli import main
from ctxembed.models.use import (
    UseConfig,
    UseTrainConfig,
    bigram_bucket,
    neighbour_pairs,
    sick_nli,
    stsb_train,
    train_use,
)

from .conftest import wiki_lines
from .contract import EmbedderContract

SMALL = dict(dim=48, hidden=96, n_layers=2, n_heads=2, ff_dim=96, n_buckets=4000, dropout=0.0)


def tiny(variant: str, tasks=("neighbour", "nli", "sts"), epochs: int = 3):
    torch.set_num_threads(1)
    cfg = UseTrainConfig(epochs=epochs, batch_size=32, min_count=1, tasks=tasks)
    out = train_use(
        wiki_lines(120),
        UseConfig(variant=variant, **SMALL),
        cfg,
        sick_nli()[:256],
        stsb_train()[:256],
        progress=False,
    )
    torch.set_num_threads(2)
    return out


@pytest.fixture(scope="module", params=["dan", "transformer"])
def trained(request):
    return tiny(request.param)


class TestContract(EmbedderContract):
    @pytest.fixture
    def embedder(self, trained):
        return trained[0]


@pytest.mark.parametrize("variant", ["dan", "transformer"])
@pytest.mark.parametrize("task", ["neighbour", "nli", "sts"])
def test_each_task_loss_falls(variant, task):
    _, hist = tiny(variant, (task,), epochs=6)
    n = len(hist.losses) // 6  # the same batches each epoch, in another order
    first, last = np.mean(hist.losses[:n]), np.mean(hist.losses[-n:])
    assert last < 0.95 * first, (first, last)


def test_layers_per_variant(trained):
    emb = trained[0]
    assert emb.n_layers == (1 if emb.cfg.variant == "dan" else 3)
    (wv,) = emb.embed_words(["a man plays the guitar"], layers="all", return_layers=True)
    assert wv.layers.shape == (emb.n_layers, 5, 48)


def test_training_data_is_real():
    pairs = neighbour_pairs(wiki_lines(50), 64)
    assert len(pairs) > 50 and all(a[-1] in ".!?" for a, _ in pairs[:20])
    nli = sick_nli()
    assert len(nli) == 4500 and {y for *_, y in nli} == {0, 1, 2}
    sts = stsb_train()
    assert len(sts) == 5749 and min(s for *_, s in sts) >= 0 and max(s for *_, s in sts) <= 1
    assert bigram_bucket("new", "york", 1000) == bigram_bucket("new", "york", 1000)


def test_bad_input():
    with pytest.raises(InputError, match="variant"):
        tiny("lstm")
    with pytest.raises(InputError, match="no training data"):
        train_use(
            [["one"]], UseConfig(**SMALL), UseTrainConfig(tasks=("neighbour",)), progress=False
        )


def test_cli_trains(tmp_path, wiki_text_file, capsys):
    out = tmp_path / "use"
    args = ["train", "use", "--variant", "transformer", "--corpus", str(wiki_text_file)]
    assert main([*args, "--out", str(out), "--max-steps", "3", "--quiet", "--dim", "32"]) == 0
    assert "use (transformer" in capsys.readouterr().out
