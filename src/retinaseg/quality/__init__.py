"""Is a photo fit to measure: the gate (is it a fundus photo at all), the signals
(sharpness, exposure, FOV cut-off) and the verdict (good, usable, reject)."""
