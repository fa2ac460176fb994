"""Fine-tuning: task heads on any family's vectors, frozen or fully trained.

``data`` names the tasks and reads them, ``heads`` holds the layers and metrics, ``tuned``
trains (on ``train.loop``), saves, loads and predicts; ``command`` is the CLI.
"""
