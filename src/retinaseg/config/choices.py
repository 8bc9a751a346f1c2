"""The names a training config may choose from, for the parts that training builds.

They live here, below training, so that the config's rules can check a name
without importing the code that builds it (``train.losses``, ``train.optim``).
"""
LOSSES = ("bce", "weighted_bce", "dice", "bce+dice")
OPTIMIZERS = ("sgd", "sgd_momentum", "sgd_nesterov", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine", "poly", "plateau", "onecycle")
