"""Fine-tuning: task heads on any family's vectors, frozen or fully trained.

The tasks (``train.tasks``) and the heads' layers and metrics (``train.heads``) live below
the families, which share them (CVT's tagger). ``tuned`` trains (on ``train.loop``), saves,
loads and predicts; ``command`` is the CLI.
"""
