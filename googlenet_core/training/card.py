"""A model card next to a run's best checkpoint: ``MODEL_CARD.md``.

What someone who is handed the checkpoint needs to know, from the run's own
record: the network, the data and how it was held out, the recipe, each head's
validation figures, the preprocessing prediction must repeat, and what the model
is (and is not) for. Rewritten each time the best checkpoint is.
"""

from __future__ import annotations

from ..data.transforms import Preprocessing
from ..network.presets import network_name
from .events import EpochEvent, StartEvent

CARD = "MODEL_CARD.md"


def model_card(run_id: str, start: StartEvent, best: EpochEvent, pre: Preprocessing) -> str:
    config, recipe = start.model_config, start.train_config
    heads = {h.name: h for h in start.aux_heads}
    rows = []
    for score in best.val:
        if score.head == "main":
            role = "the classifier (global average pooling, FC): use this one"
        else:
            head = heads.get(score.head)
            after = head.after if head else "?"
            weight = f"loss weight {head.weight:g}" if head and head.in_loss else "not in the loss"
            role = f"auxiliary head after {after}, {weight}; for training, drop it to deploy"
        rows.append(f"| {score.head} | {score.acc:.2%} | {score.loss:.4f} | {role} |")
    classes = ", ".join(start.classes)
    mean = ", ".join(f"{m:.4f}" for m in pre.mean)
    std = ", ".join(f"{s:.4f}" for s in pre.std)
    return "\n".join(
        [
            f"# Model card: {run_id}",
            "",
            f"A GoogLeNet ({network_name(config)}: {start.params:,} parameters with its aux "
            f"heads, {start.macs:,} MACs per image) trained by googlenet_core for teaching "
            "and demonstration.",
            "",
            "## Data",
            "",
            f"- {start.dataset_description}",
            f"- {start.train_images:,} training images; validation: {start.val_description} "
            f"({start.val_images:,} images).",
            f"- {len(start.classes)} classes: {classes}",
            "",
            "## Recipe",
            "",
            f"- {best.epoch} of {recipe.epochs} epochs at the best checkpoint, batch "
            f"{recipe.batch_size}, {recipe.optimizer} (peak rate {recipe.lr:g}, "
            f"{recipe.schedule}), weight decay {recipe.weight_decay:g}, augmentation "
            f"{'on' if recipe.augment else 'off'}, seed {recipe.seed}.",
            f"- Aux-loss weights {recipe.aux_weight1:g} / {recipe.aux_weight2:g}; "
            f"{start.device}, {start.precision}; {best.train_seconds:.1f} s of training.",
            "",
            "## Validation, at the best epoch",
            "",
            "| head | accuracy | loss | role |",
            "|---|---|---|---|",
            *rows,
            "",
            "## Preprocessing (prediction must repeat it)",
            "",
            f"Resize to {pre.input_size} x {pre.input_size}, {pre.in_channels} channel(s), "
            f"scale to [0, 1], subtract mean ({mean}), divide by std ({std}). The checkpoint "
            "records this; `python -m googlenet_core predict --checkpoint best.pt` applies it.",
            "",
            "## Intended use",
            "",
            "Teaching and demonstrating GoogLeNet: its Inception blocks and auxiliary "
            "classifiers, on small data sets. Not for decisions about people, and not "
            "evaluated beyond the validation split above: images unlike the training data "
            "(other writers, other cameras) score lower.",
            "",
        ]
    )
