"""Interpolation networks as pure ``torch.nn.Module``s (no VapourSynth here).

Submodules are imported on demand (``vsslomo.models.rife``, ``vsslomo.models.superslomo``);
this package itself imports nothing heavy.
"""
