"""``python -m retinaseg``, which is also how torchrun starts training on several
processes: ``torchrun --nproc_per_node N -m retinaseg train --config FILE``."""
import sys

from .cli import main

sys.exit(main())
