"""Audio I/O, resampling, the synthetic speech corpus and the paired-folder data set."""

# Speed changes in training's augmentation (wux train --speed-range): up to about +-DEFAULT_SPEED_PERCENT %, as wux
# always drew; the resampler's grid (factors 50/k, wux.data.augment) steps by about 2 %, and 50 % is half or one and
# a half times the speed. Here, not in wux.data.augment, so that the command line reads them without numpy.
DEFAULT_SPEED_PERCENT = 10.0
SPEED_PERCENT_RANGE = (2.0, 50.0)
