"""The learning-rate range test's arithmetic, without MXNet: the rates tried, the smoothed loss, the
divergence stop and the suggestions. ``lr_find`` runs the test; the command line reads the defaults
here, so ``hotdog lr-find --help`` stays instant.

The test (Leslie Smith, "Cyclical Learning Rates", 2015; fastai's ``lr_find``) trains for a few dozen
mini-batches with the learning rate rising exponentially, one rate per batch, and records the loss. The
loss first barely moves (the rate is too small to matter), then falls, then blows up; a good rate is
well inside the falling part.
"""
import math

import numpy as np

from ..errors import ConfigError, ConfigErrors

DEFAULT_START_LR = 1e-6
# 10, not 1: with SGD on the per-example mean loss these nets often still train at 1 (the chapter's scratch
# rate is 0.1), and a range that ends before the loss turns up leaves its minimum at the edge, where the
# minimum says nothing. The stop at divergence makes the extra decade cost nothing when the loss blows up
# earlier (Adam, fine-tuning), and only 1/7 of the resolution otherwise.
DEFAULT_END_LR = 10.0
DEFAULT_ITERATIONS = 100
SMOOTHING = 0.98          # fastai's: the average remembers ~50 batches, enough to see through batch noise
DIVERGENCE_FACTOR = 4.0   # fastai's: stop once the smoothed loss is 4 times its minimum
# A smoothed loss that never fell by this fraction of its starting level has no real minimum: its lowest
# point is batch noise (seen on the offline demo: frozen features that did not help fell by 0.5%).
MIN_FALL = 0.05

# The TrainConfig settings a range test does not use: it sets the rate itself at every step, runs a fixed
# number of steps, and never evaluates.
UNUSED_SETTINGS = ("epochs", "lr", "lr_schedule", "lr_steps", "lr_factor", "warmup_epochs", "patience")

SUGGESTED_METHOD = "minimum/10"
METHODS = {
    "minimum/10": "a tenth of the learning rate at which the smoothed loss was lowest",
    "steepest": "the learning rate at which the smoothed loss fell fastest (its most negative slope against "
                "log(lr))",
}
# Why the suggestion is minimum/10 and not the steepest point, for the JSON and the help text.
WHY_MINIMUM = ("the minimum is one robust reading of a short, noisy curve, where a slope (a difference of "
               "neighbours) is not; the smoothing lags the raw loss, so the smoothed minimum sits late, and a "
               "whole run moves the weights much further than these few steps: a tenth of it leaves room")


def check_range(start_lr, end_lr, iterations):
    """Refuse a range that cannot be tested, naming every parameter that is wrong."""
    problems = []
    for name, value in (("start_lr", start_lr), ("end_lr", end_lr)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            problems.append(ConfigError(name, "must be a positive number (got {})".format(value)))
    if not problems and start_lr >= end_lr:
        problems.append(ConfigError("end_lr", "must be above start_lr (got {:g} and {:g})".format(end_lr, start_lr)))
    if not (isinstance(iterations, int) and iterations >= 2):
        # Two rates are the fewest that make a range (and a slope).
        problems.append(ConfigError("iterations", "must be at least 2 (got {})".format(iterations)))
    ConfigErrors.raise_if_any(problems)


def lr_schedule(start_lr, end_lr, iterations):
    """The rates tried, one per step: evenly spaced in log(lr) from ``start_lr`` to ``end_lr``, both included."""
    return [float(lr) for lr in np.geomspace(start_lr, end_lr, iterations)]


class SmoothedLoss:
    """An exponential moving average of the loss with bias correction, as fastai and Adam do it.

    The average starts at 0, so without the correction (dividing by 1 - beta**n) its first values would
    be pulled far below the losses, and the first steps would look like a steep fall.
    """

    def __init__(self, beta=SMOOTHING):
        self.beta, self.average, self.count = beta, 0.0, 0

    def add(self, loss):
        """Take one step's loss; return the smoothed loss so far."""
        self.count += 1
        self.average = self.beta * self.average + (1 - self.beta) * loss
        return self.average / (1 - self.beta ** self.count)


def diverged(smoothed, lowest, factor=DIVERGENCE_FACTOR):
    """Whether the test should stop: the smoothed loss is ``factor`` times its lowest value so far."""
    return smoothed > factor * lowest


def read_curve(lrs, smoothed, stopped_early):
    """What the smoothed curve says: {"min_loss_lr", "fall", "suggestions": {method: lr or None}, "notes": [...]}.

    The first tenth of the steps is left out of both readings (fastai leaves it out too): there the
    bias-corrected average rests on a handful of losses, and one lucky first batch would pass for the
    minimum, its noise for a steep fall. ``fall``: how far the smoothed loss fell, as a fraction of its
    level where the readings start. ``notes``: plain-words reasons not to trust the curve (empty when it
    looks right); a reading is None when the curve does not give it.
    """
    lrs, smoothed = np.asarray(lrs, dtype=float), np.asarray(smoothed, dtype=float)
    skip = len(lrs) // 10
    lowest = skip + int(np.argmin(smoothed[skip:]))
    down = slice(skip, lowest + 1)
    found = {"minimum/10": float(lrs[lowest] / 10), "steepest": _steepest(lrs[down], smoothed[down])}
    fall = float(1 - smoothed[lowest] / smoothed[skip])
    notes = []
    if found["minimum/10"] < lrs[0]:
        found["minimum/10"] = None
        notes.append("the smoothed loss was lowest less than a decade above the start of the range, so a tenth "
                     "of that rate was never tried: start the range lower")
    elif fall < MIN_FALL:
        found = dict.fromkeys(found)
        notes.append("the smoothed loss fell by only {:.1%}: its lowest point is noise, not a minimum (too few "
                     "steps or images to learn from, or features that do not help)".format(fall))
    elif lowest == len(lrs) - 1 and not stopped_early:
        notes.append("the smoothed loss was still falling at the end of the range, so its minimum is only the "
                     "edge of the range: end the range higher")
    return {"min_loss_lr": float(lrs[lowest]), "fall": fall, "suggestions": found, "notes": notes}


def _steepest(lrs, smoothed):
    """The rate of the most negative slope of ``smoothed`` against log(lr); None if it never falls.

    Given the curve up to its minimum only: past it the loss is blowing up, and a dip in that noise is no
    place to train at.
    """
    if len(lrs) < 2:
        return None
    slopes = np.gradient(smoothed, np.log(lrs))
    return float(lrs[int(np.argmin(slopes))]) if slopes.min() < 0 else None
