"""Audio I/O, resampling, the synthetic speech corpus and the paired-folder data set."""
