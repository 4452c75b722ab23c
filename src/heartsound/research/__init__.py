"""The research room: the studies that measure heartsound (``heartsound-lab``).

It may import the runtime (``heartsound``) and the training (``heartsound.training``);
nothing imports it but its own command.
"""

from pathlib import Path

# The checkout the studies run in: docs/, runs/ and benchmarks/ live beside src/.
REPO_ROOT = Path(__file__).resolve().parents[3]
