"""Training: the config, one step, the epoch loop and its hooks, whole strategies, checkpoints, devices,
several machines.

  config       TrainConfig: every setting, its default and help (the command line is made from it)
  step         the data-parallel step, a training pass, an evaluation pass
  optim        seeding, learning-rate schedules, the Trainer
  hooks        progress, divergence stop, distributed sync, best weights, checkpoints, early stopping
  loop         train(): a run set up from its config, then the epoch loop with its hooks
  recipes      run_strategy(): a strategy's stages one after the other
  run_dir      what a run writes (checkpoints with a commit point, history, config.json) and reads back
  devices      which GPUs or CPU contexts
  distributed  several machines: parameter server (dist_sync) or Horovod
"""
from .._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "TrainConfig": "config", "PRETRAINED_LR": "config", "SCRATCH_LR": "config",
    "train": "loop", "Run": "loop", "run_strategy": "recipes",
    "Hook": "hooks", "TrainingDiverged": "hooks",
    "choose_contexts": "devices", "seed_everything": "optim",
})
