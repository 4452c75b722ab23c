"""The training room: networks, recipes, cross-validation, export, int8 and calibration.

It needs torch (the ``train`` extra) and imports the runtime (``heartsound``) only.
"""
