"""``lltd attack``: adversarial examples against torchvision classifiers (needs the [attack] extra).

Importing this package is cheap; :mod:`lltd.attack.attacks` and :mod:`lltd.attack.run` import
torch and foolbox.
"""

from __future__ import annotations
