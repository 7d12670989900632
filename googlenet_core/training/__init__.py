"""Training a GoogLeNet: from the user's choices to a run folder with checkpoints.

::

    config.py       TrainConfig: the recipe, validated (what is allowed)
    plan.py         plan_training: what a run will train, and why (what is chosen)
    loss.py         the paper's main + w1 * aux1 + w2 * aux2, with its parts
    events.py       typed, versioned records of a run (start, step, epoch, end)
    distributed.py  device, precision, torchrun's ranks
    evaluation.py   evaluate: every head's loss and accuracy on held-out images
    trainer.py      Trainer and train(): the loop, which knows nothing of the UI
    estimate.py     how long a run will take here
    status.py       queued, running, completed, cancelled, diverged, failed, interrupted
    runs.py         the run store: one folder per run
    jobs.py         background jobs for the dashboard: a bounded number run at once

Everywhere in the package ``config`` is the network (GoogLeNetConfig) and
``train_config`` the recipe (TrainConfig).
"""
