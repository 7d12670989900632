"""A model card next to a run's best checkpoint: ``MODEL_CARD.md``.

What someone who is handed the checkpoint needs to know, from the run's own
record: the network, the data and how it was held out, the recipe, each head's
validation figures, the preprocessing prediction must repeat, and what the model
is (and is not) for. Rewritten each time the best checkpoint is.
"""

from __future__ import annotations

from ..data.transforms import Preprocessing
from ..i18n import _, pgettext
from ..network.presets import network_name
from .events import EpochEvent, StartEvent

CARD = "MODEL_CARD.md"


def model_card(run_id: str, start: StartEvent, best: EpochEvent, pre: Preprocessing) -> str:
    """The card's markdown, in the active language (the training process's: its job's)."""
    config, recipe = start.model_config, start.train_config
    heads = {h.name: h for h in start.aux_heads}
    rows = []
    for score in best.val:
        if score.head == "main":
            role = _("the classifier (global average pooling, FC): use this one")
        else:
            head = heads.get(score.head)
            after = head.after if head else "?"
            if head and head.in_loss:
                role = _(
                    "auxiliary head after {after}, loss weight {weight:g}; for training, drop it "
                    "to deploy"
                ).format(after=after, weight=head.weight)
            else:
                role = _(
                    "auxiliary head after {after}, not in the loss; for training, drop it to deploy"
                ).format(after=after)
        rows.append(f"| {score.head} | {score.acc:.2%} | {score.loss:.4f} | {role} |")
    classes = ", ".join(start.classes)
    mean = ", ".join(f"{m:.4f}" for m in pre.mean)
    std = ", ".join(f"{s:.4f}" for s in pre.std)
    augmentation = (
        pgettext("augmentation", "on") if recipe.augment else pgettext("augmentation", "off")
    )
    return "\n".join(
        [
            _("# Model card: {run}").format(run=run_id),
            "",
            _(
                "A GoogLeNet ({network}: {params:,} parameters with its aux heads, {macs:,} MACs "
                "per image) trained by googlenet_core for teaching and demonstration."
            ).format(network=network_name(config), params=start.params, macs=start.macs),
            "",
            _("## Data"),
            "",
            f"- {start.dataset_description}",
            _("- {train:,} training images; validation: {validation} ({val:,} images).").format(
                train=start.train_images, validation=start.val_description, val=start.val_images
            ),
            _("- {n} classes: {classes}").format(n=len(start.classes), classes=classes),
            "",
            _("## Recipe"),
            "",
            _(
                "- {epoch} of {epochs} epochs at the best checkpoint, batch {batch}, {optimizer} "
                "(peak rate {lr:g}, {schedule}), weight decay {weight_decay:g}, augmentation "
                "{augmentation}, seed {seed}."
            ).format(
                epoch=best.epoch,
                epochs=recipe.epochs,
                batch=recipe.batch_size,
                optimizer=recipe.optimizer,
                lr=recipe.lr,
                schedule=recipe.schedule,
                weight_decay=recipe.weight_decay,
                augmentation=augmentation,
                seed=recipe.seed,
            ),
            _(
                "- Aux-loss weights {w1:g} / {w2:g}; {device}, {precision}; {seconds:.1f} s of "
                "training."
            ).format(
                w1=recipe.aux_weight1,
                w2=recipe.aux_weight2,
                device=start.device,
                precision=start.precision,
                seconds=best.train_seconds,
            ),
            _("- Started from {init}; frozen: {freeze}.").format(
                init=recipe.init, freeze=recipe.freeze
            )
            if recipe.init
            else _("- Started from random weights."),
            "",
            _("## Validation, at the best epoch"),
            "",
            _("| head | accuracy | loss | role |"),
            "|---|---|---|---|",
            *rows,
            "",
            _("## Preprocessing (prediction must repeat it)"),
            "",
            _(
                "Resize to {side} x {side}, {channels} channel(s), scale to [0, 1], subtract mean "
                "({mean}), divide by std ({std}). The checkpoint records this; "
                "`python -m googlenet_core predict --checkpoint best.pt` applies it."
            ).format(side=pre.input_size, channels=pre.in_channels, mean=mean, std=std),
            "",
            _("## Intended use"),
            "",
            _(
                "Teaching and demonstrating GoogLeNet: its Inception blocks and auxiliary "
                "classifiers, on small data sets. Not for decisions about people, and not "
                "evaluated beyond the validation split above: images unlike the training data "
                "(other writers, other cameras) score lower."
            ),
            "",
        ]
    )
