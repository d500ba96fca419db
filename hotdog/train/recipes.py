"""Running a whole strategy: its stages one after the other, each from the previous one's model.

A one-stage strategy trains straight into OUT. A strategy in stages (two-stage: frozen, then finetune)
trains each into OUT/stageN, every stage a complete run folder with its own checkpoints (so ``--resume``
continues whichever stage was interrupted), and OUT gets the merged history (with a ``stage`` column), the
final model and its config.json.
"""
import logging
import os
import shutil
from dataclasses import replace

from .._io import atomic_save
from ..data.check import require_usable
from ..data.folders import dataset_root
from ..errors import HotdogError
from .loop import train
from .run_dir import write_history, write_model_config

log = logging.getLogger(__name__)


def run_strategy(config, out_dir, contexts, pretrained=None, resume=False, quiet=False, kvstore=None, cluster=None,
                 exclude=None):
    """Train ``config.strategy`` with all its stages into ``out_dir``; return the summary of ``train`` plus
    ``stage2_epoch`` (the first epoch of the second stage, or None). ``exclude``: see ``loop.train``."""
    if not config.strategy_spec.stage_plan:
        result = train(config, out_dir, contexts, pretrained=pretrained, resume=resume, quiet=quiet, kvstore=kvstore,
                       cluster=cluster, exclude=exclude)
        return dict(result, stage2_epoch=None)
    if cluster:
        raise HotdogError("{} training runs on one machine for now; train the stages as two runs (--strategy "
                          "frozen, then finetune from its model) or drop --kvstore".format(config.strategy))
    if exclude is None:  # checked once for all the stages
        exclude = require_usable(dataset_root(config.data_dir), config.image_size, config.skip_bad_images)
    stages = config.strategy_spec.stages(config.epochs, config.lr)
    history, best, result, model, offset = [], None, None, None, 0
    for number, (strategy, epochs, lr) in enumerate(stages, start=1):
        stage_config = replace(config, strategy=strategy, epochs=epochs, lr=lr)
        if number > 1:
            log.info("stage %d: %s, learning rate %g", number, strategy, lr)
        result = train(stage_config, os.path.join(out_dir, "stage{}".format(number)), contexts,
                       pretrained=pretrained if model is None else None, init_params=model, resume=resume,
                       quiet=quiet, kvstore=kvstore, stage=number, exclude=exclude)
        history += [dict(record, epoch=record["epoch"] + offset) for record in result["history"]]
        if best is None or result["best"]["val_loss"] < best["val_loss"]:
            best = dict(result["best"], epoch=result["best"]["epoch"] + offset)
        model, offset = result["model"], offset + epochs
    write_history(out_dir, history)
    final_model = os.path.join(out_dir, "model.params")
    atomic_save(lambda tmp: shutil.copyfile(model, tmp), final_model)
    write_model_config(out_dir, stage_config, stage_config.strategy_spec.saved_name, best, result["classes"],
                       result["split"])
    return dict(result, history=history, best=best, model=final_model,
                stage2_epoch=stages[0][1] + 1 if len(stages) > 1 else None)
