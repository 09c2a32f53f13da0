"""Everything ``vsslomo render`` does, without argparse.

* :mod:`.single` — the single-process render: the filter graph piped into the final encode;
* :mod:`.chunked` — the same render spread over local worker processes (:mod:`.workers`)
  or Ray actors (:mod:`.cluster`), chunk by chunk (:mod:`.chunks`, :mod:`.scheduler`,
  :mod:`.manifest`), joined losslessly (:mod:`.join`);
* shared by both: :mod:`.plan` (the request and its checks), :mod:`.source` (opening the
  input), :mod:`.probe` and :mod:`.streams` (what the input holds and how it is carried
  over), :mod:`.encode` (the ffmpeg encode and the atomic final name), :mod:`.ffmpeg`
  (finding and running ffmpeg), :mod:`.progress`.

Importing the package imports neither VapourSynth, torch nor Ray.
"""

from __future__ import annotations

from .errors import Interrupted, RenderError

__all__ = ["Interrupted", "RenderError"]
