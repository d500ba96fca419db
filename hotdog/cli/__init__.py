"""The ``hotdog`` command line. Nothing in the package imports it; it imports the rest.

  main            the parser, logging, errors as one line
  options         options made from TrainConfig's fields, and the ones commands share
  data_commands   download, show, synth
  train_commands  train, compare, bench
  model_commands  predict, evaluate, zeroshot
  serve_command   serve (a page to try a model; the web libraries are an optional extra)
"""
from .main import main

__all__ = ["main"]
