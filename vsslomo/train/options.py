"""The options of ``vsslomo train`` and recipe files.

Precedence: command line, then the recipe (``--recipe FILE``), then the family's defaults
(:data:`vsslomo.train.families.FAMILIES`), then the parser's. A recipe is a TOML file whose
keys are option names (``crop = 224``, ``rec-loss = "psnr"``; ``sources``/``synthetic`` are
lists of paths). Strings may use ``~`` and ``${VAR}``; a ``[env]`` table gives defaults for
variables the environment does not set. The recipes that made the shipped weights are in
``recipes/``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

from .errors import TrainError
from .families import FAMILIES
from .losses import REC_NORMS, ROBUST_BETA
from .synthetic import SPRITE_SIZE, SPRITES, WAVELENGTH

DEFAULT_PHOTOS = "/usr/share/backgrounds/gnome"
"""Photos for ``--synthetic`` without a folder (Debian's gnome-backgrounds)."""


def parse_widths(text: str) -> tuple[int, ...]:
    """``full``, ``compact`` or six comma-separated integers (Super SloMo U-Net widths)."""
    from ..models.superslomo import COMPACT_WIDTHS, FULL_WIDTHS

    named = {"full": FULL_WIDTHS, "compact": COMPACT_WIDTHS}
    if text in named:
        return named[text]
    try:
        widths = tuple(int(v) for v in str(text).split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"widths must be 'full', 'compact' or six integers, got {text!r}") from None
    if len(widths) != 6 or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"need six positive widths, got {text!r}")
    return widths


class _Parser(argparse.ArgumentParser):
    """argparse that raises :class:`TrainError` instead of exiting (``--help`` still exits)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise TrainError(message)


def build_parser(prog: str = "python -m vsslomo.train") -> argparse.ArgumentParser:
    """Command-line options of ``vsslomo train`` (defaults that depend on the family are ``None``)."""
    p = _Parser(
        prog=prog,
        description="Train or fine-tune an interpolation model (" + ", ".join(FAMILIES) + ") on videos / frame "
        "folders and/or synthetic scenes. Multi-GPU: torchrun --nproc_per_node=N -m vsslomo.train ...",
    )
    p.add_argument("sources", nargs="*", type=Path, help="video files (.gz too) or folders of numbered frames")
    p.add_argument("--model", choices=tuple(FAMILIES), default=None, help="model family (default superslomo)")
    p.add_argument("--recipe", type=Path, help="TOML file of options (see recipes/); the command line overrides it")
    p.add_argument("--out", type=Path, help="folder for last.pt / best.pt")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt if it exists")
    p.add_argument("--init", type=Path, help="start from these weights (fine-tuning)")
    p.add_argument("--export", nargs=2, type=Path, metavar=("CHECKPOINT", "DEST"),
                   help="write an inference-only float16 copy of a training checkpoint and exit")
    p.add_argument("--synthetic", nargs="?", action="append", const=DEFAULT_PHOTOS, default=None, metavar="PHOTO_DIR",
                   help=f"add synthetic scenes made from the photos in PHOTO_DIR (repeatable; default {DEFAULT_PHOTOS})")
    p.add_argument("--synthetic-fraction", type=float, default=0.5, help="share of synthetic samples when mixing")
    p.add_argument("--max-motion", type=float, default=24.0, help="synthetic sprite motion between inputs, pixels")
    p.add_argument("--zoom-change", type=float, default=0.05, help="synthetic camera: largest relative zoom change")
    p.add_argument("--rotation", type=float, default=0.0, help="synthetic camera: largest rotation, degrees")
    p.add_argument("--still-fraction", type=float, default=0.0,
                   help="share of synthetic scenes whose camera stands still (only the sprites move)")
    p.add_argument("--texture-fraction", type=float, default=0.0,
                   help="share of synthetic scenes over a periodic wave texture instead of a photo")
    p.add_argument("--wavelength", type=float, nargs=2, default=list(WAVELENGTH), metavar=("MIN", "MAX"),
                   help="wave textures: least and largest wavelength, photo pixels")
    p.add_argument("--sensor-noise", type=float, default=0.0,
                   help="synthetic frames: independent Gaussian noise per frame, standard deviation up to this (8-bit levels)")
    p.add_argument("--sprites", type=int, nargs=2, default=list(SPRITES), metavar=("MIN", "MAX"),
                   help="synthetic scenes: how many sprites move over the background")
    p.add_argument("--sprite-size", type=float, nargs=2, default=list(SPRITE_SIZE), metavar=("MIN", "MAX"),
                   help="synthetic sprites' radius, a fraction of --crop")
    p.add_argument("--photo-side", type=int, default=1024, help="shrink photos to this longer side")
    g = p.add_argument_group("model (Super SloMo)")
    g.add_argument("--widths", type=parse_widths, default=None,
                   help="'full', 'compact' (default) or six integers; with --init, grow its U-Nets to these")
    g.add_argument("--refine-widths", type=parse_widths, default=None, help="widths of U-Net 2 (default: --widths)")
    g = p.add_argument_group("data")
    g.add_argument("--samples-per-epoch", type=int, default=4000)
    g.add_argument("--batch", type=int, default=8, help="batch per process")
    g.add_argument("--crop", type=int, default=256, help="square training crop (a multiple of 32; 16 for IFRNet)")
    g.add_argument("--window", type=int, default=9, help="frames per window; ends are the inputs")
    g.add_argument("--min-span", type=int, default=None, help="also train on shorter spans down to this")
    g.add_argument("--motion-crops", type=int, default=4,
                   help="crop candidates per video sample; the one with most change is used (1: uniform)")
    g.add_argument("--balance-sources", action="store_true",
                   help="draw every video equally often (default: in proportion to its training frames)")
    g.add_argument("--no-reverse", action="store_true", help="disable random frame-order reversal")
    g.add_argument("--vflip", action="store_true", help="also flip vertically at random")
    g.add_argument("--channel-swap", action="store_true", help="also permute the RGB channels at random")
    g.add_argument("--max-side", type=int, default=None, help="shrink source frames to this longer side")
    g.add_argument("--val-fraction", type=float, default=0.1, help="held-out final part of each source")
    g.add_argument("--val-windows", type=int, default=8, help="validation windows per source")
    g.add_argument("--val-span", type=int, default=2, help="validation inputs are this many frames apart")
    g.add_argument("--val-size", type=int, default=256, help="centre crop of validation frames (0: whole)")
    g.add_argument("--workers", type=int, default=0, help="data loader worker processes")
    g.add_argument("--teacher", choices=("none", "exact", "rife"), default=None,
                   help="flows to distil from: exact (synthetic scenes' true motion only) or rife (also our RIFE HDv3 "
                   "on real windows, cached in --cache); none turns distillation off")
    g.add_argument("--teacher-scale", type=float, default=1.0,
                   help="RIFE runs at this fraction of the frame size for teacher flows (0.5: 4x cheaper)")
    g.add_argument("--cache", type=Path, default=None, help="teacher-flow cache folder (default OUT/../teacher-cache)")
    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", type=int, default=50)
    g.add_argument("--optimizer", choices=("adam", "adamw"), default=None, help="default: the family's")
    g.add_argument("--weight-decay", type=float, default=None)
    g.add_argument("--schedule", choices=("restarts", "cosine"), default=None,
                   help="restarts: cosine with warm restarts per epoch; cosine: one cosine per iteration to --lr-end")
    g.add_argument("--lr", type=float, default=None)
    g.add_argument("--lr-end", type=float, default=None, help="final learning rate of --schedule cosine (default lr/10)")
    g.add_argument("--ema", type=float, default=0.999,
                   help="decay of the weight average that is validated and saved (0: save the raw weights)")
    g.add_argument("--restart-epochs", type=int, default=10, help="epochs until the first warm restart")
    g.add_argument("--restart-mult", type=int, default=2, help="period multiplier after each restart")
    g.add_argument("--rec-loss", choices=REC_NORMS, default="l1",
                   help="reconstruction loss: l1 (the papers'; Charbonnier for IFRNet), or l2 / psnr (per-sample PSNR)")
    g.add_argument("--rec-weight", type=float, default=None, help="reconstruction weight (default: the family's)")
    g.add_argument("--perc-weight", type=float, default=0.005)
    g.add_argument("--warp-weight", type=float, default=102.0)
    g.add_argument("--smooth-weight", type=float, default=1.0)
    g.add_argument("--census-weight", type=float, default=1.0, help="IFRNet: census (ternary) reconstruction term")
    g.add_argument("--geometry-weight", type=float, default=0.01, help="IFRNet: geometry consistency of features")
    g.add_argument("--distill-weight", type=float, default=None,
                   help="robust flow distillation per term (default: 2 Super SloMo, 0.01 IFRNet)")
    g.add_argument("--distill-beta", type=float, default=ROBUST_BETA,
                   help=f"IFRNet: sharpness of the distillation's trust in the teacher, exp(-beta * EPE) against "
                        f"the student's final flow (default {ROBUST_BETA}, the paper's); 0 trusts it everywhere")
    g.add_argument("--distill-fine", type=float, default=0.0,
                   help="IFRNet: also distil decoder 1's full-size flows, at this weight relative to each coarse "
                        "level (0: the paper, which leaves the final flows free)")
    g.add_argument("--flow-gain", type=float, default=1.0,
                   help="IFRNet: the optimiser's updates of the decoders' flow outputs are scaled by this "
                        "(1: the paper; 4 lets flows learned from scratch start within a few thousand steps)")
    g.add_argument("--vgg", type=Path, help="torchvision vgg16 state dict for the perceptual loss (no download)")
    g = p.add_argument_group("run")
    g.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    g.add_argument("--no-amp", action="store_true", help="disable mixed precision on CUDA")
    g.add_argument("--bf16", action="store_true", help="bfloat16 autocast on CPU (fast with AVX-512 BF16 / AMX)")
    g.add_argument("--channels-last", action="store_true", help="channels-last memory layout (faster with --bf16)")
    g.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--max-minutes", type=float, default=0, help="stop (and save) after this long")
    g.add_argument("--plain", action="store_true", help="plain log lines even on a terminal")
    g.add_argument("--log-every", type=int, default=20, help="steps between plain log lines")
    return p


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand(value: Any, env: dict[str, str], recipe: Path) -> Any:
    if isinstance(value, list):
        return [_expand(v, env, recipe) for v in value]
    if not isinstance(value, str):
        return value

    def var(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in os.environ:
            return os.environ[name]
        if name in env:
            return str(env[name])
        raise TrainError(f"recipe {recipe} uses ${{{name}}}: set that environment variable or give it in its [env] table")

    return os.path.expanduser(_VAR.sub(var, value))


def read_recipe(path: Path, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """The options of a recipe file as ``{dest: value}`` (checked against the parser's options)."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise TrainError(f"recipe {path} does not exist") from None
    except IsADirectoryError:
        raise TrainError(f"recipe {path} is a directory; pass a .toml file") from None
    except tomllib.TOMLDecodeError as exc:
        raise TrainError(f"recipe {path} is not valid TOML: {exc}") from None
    env = data.pop("env", {})
    data.pop("about", None)
    if not isinstance(env, dict) or not all(isinstance(v, str) and str(k).isupper() for k, v in env.items()):
        raise TrainError(f"recipe {path}: [env] must hold only VARIABLE = \"value\" lines (put it last: "
                         "every key after a [table] line belongs to that table)")
    actions = {a.dest: a for a in parser._actions}
    out: dict[str, Any] = {}
    for key, raw in data.items():
        dest = key.replace("-", "_")
        action = actions.get(dest)
        if action is None or dest in ("recipe", "help", "export"):
            raise TrainError(f"recipe {path}: unknown option {key!r}")
        value = _expand(raw, {str(k): str(v) for k, v in env.items()}, path)
        out[dest] = _convert(action, value, key, path)
    return out


def _convert(action: argparse.Action, value: Any, key: str, path: Path) -> Any:
    """A recipe value as the parser would have made it (types, lists, flags)."""
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        if not isinstance(value, bool):
            raise TrainError(f"recipe {path}: {key} must be true or false")
        return value
    if action.nargs in ("*", "+") or isinstance(action, argparse._AppendAction):
        items = value if isinstance(value, list) else [value]
        return [_convert_one(action, v, key, path) for v in items]
    if isinstance(action.nargs, int):
        if not isinstance(value, list) or len(value) != action.nargs:
            raise TrainError(f"recipe {path}: {key} takes a list of {action.nargs} values, e.g. [1, 4]")
        return [_convert_one(action, v, key, path) for v in value]
    if isinstance(value, list):
        raise TrainError(f"recipe {path}: {key} takes one value, not a list")
    return _convert_one(action, value, key, path)


def _convert_one(action: argparse.Action, value: Any, key: str, path: Path) -> Any:
    kind = action.type
    try:
        converted = kind(value) if callable(kind) and not isinstance(value, bool) else value
    except (TypeError, ValueError, argparse.ArgumentTypeError) as exc:
        raise TrainError(f"recipe {path}: {key} = {value!r}: {exc}") from None
    if action.choices is not None and converted not in action.choices:
        raise TrainError(f"recipe {path}: {key} must be one of {', '.join(map(str, action.choices))}, got {value!r}")
    return converted


def parse_args(argv: list[str] | None, prog: str = "python -m vsslomo.train") -> argparse.Namespace:
    """Parse the command line over the recipe over the family's defaults."""
    parser = build_parser(prog)
    argv = list(sys.argv[1:] if argv is None else argv)
    first = parser.parse_args(argv)
    if first.recipe is not None:
        parser.set_defaults(**read_recipe(first.recipe, parser))
        first = parser.parse_args(argv)  # a repeatable option given here adds to the recipe's list
    args = first
    args.model = args.model or "superslomo"
    for key, value in FAMILIES[args.model].defaults.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.lr_end is None:
        args.lr_end = args.lr / 10
    if args.weight_decay is None:
        args.weight_decay = 0.0
    if args.val_size == 0:
        args.val_size = None
    return args
