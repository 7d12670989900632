"""Training a GoogLeNet: from the user's choices to a run folder with checkpoints.

What one training process needs, from the command line or a dashboard's worker; it
knows nothing of the UI or of a server (who owns a run, what the host has left:
:mod:`googlenet_core.service`), and imports nothing from there::

    config.py       TrainConfig: the recipe, validated (what is allowed, what a weight means)
    plan.py         plan_training: what a run will train, and why (what is chosen)
    loss.py         the paper's main + w1 * aux1 + w2 * aux2, with its parts
    events.py       typed, versioned records of a run (start, step, epoch, end)
    distributed.py  device, precision, torchrun's ranks
    evaluation.py   evaluate: every head's loss and accuracy on held-out images
    measure.py      loss windows and per-stage gradient norms as the loop runs
    optim.py        the optimiser and the learning-rate schedule
    trainer.py      Trainer: the loop, which knows nothing of the UI
    train.py        train(): from a plan to an outcome, never raises
    estimate.py     this machine's training rate, and how long a plan takes at it
    flow.py         one batch's gradient per stage from each loss, without a training run
    status.py       queued, running, completed, cancelled, diverged, failed, interrupted
    runs.py         the run store: one folder per run; how every list names a run
    card.py         MODEL_CARD.md beside a run's best checkpoint
    tensorboard.py  the same curves as TensorBoard event files in the run folder
    compare.py      A/B pairs, which settings differ, gradient ratios between runs
    transfer.py     a start from trained weights (trunk exactly, heads where they fit)
    features.py     frozen stages' features computed once per image, stored by content
    confusion.py    the best epoch's confusion matrix and thumbnails of its mistakes

Everywhere in the package ``config`` is the network (GoogLeNetConfig) and
``train_config`` the recipe (TrainConfig).
"""
