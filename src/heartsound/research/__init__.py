"""The research room: the studies that measure heartsound (``heartsound-lab``).

It may import the runtime (``heartsound``) and the training (``heartsound.training``);
nothing imports it but its own command.
"""
