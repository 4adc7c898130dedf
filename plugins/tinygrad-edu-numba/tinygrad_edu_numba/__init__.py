"""tinygrad-edu-numba: compiled drop-in replacements for tinygrad_edu's ``relu`` and
``maxpool2d``.

Installed, the plugin is found through the entry-point group ``tinygrad_edu`` like any other;
its components declare ``replaces=`` and take over the standard names while it is enabled.
The kernels (:mod:`tinygrad_edu_numba.kernels`) are single-pass loops compiled by numba and
cached on disk, one core by default (TINYGRAD_EDU_NUMBA_PARALLEL=1: their multi-core versions
for large arrays). See README.md.
"""
__version__ = "0.1.0"
