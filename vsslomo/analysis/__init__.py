"""Clip analysis: scene cuts and held drawings, from one pass over small luma thumbnails.

The rules are pure numpy and never import VapourSynth:

* :mod:`.features` -- the thumbnail geometry and the numbers measured on each frame pair;
* :mod:`.cuts` -- which pairs are scene cuts;
* :mod:`.holds` -- which frames are held copies of a drawing, and where the drawings start;
* :mod:`.measurements` -- everything one pass measured over a clip, and the decisions made
  from it for given thresholds;
* :mod:`.sidecar` -- that record as a file users keep next to their video, so that re-running
  a script does not rescan.

:mod:`.vsadapter` is the only module that touches VapourSynth: it makes the thumbnails,
feeds them to the rules (lazily per frame for cut marks, or in one scan at filter creation
for re-timing held animation) and checks a sidecar against the clip.
"""
