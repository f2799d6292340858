"""``lltd evaluate``: accuracy of a classifier on clean, attacked and defended images.

Importing this package is light; the submodules import torch, foolbox and matplotlib.
"""
