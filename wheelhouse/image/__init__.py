"""The image's stand-in and its start: image-env (a virtual environment of the target's
interpreter with the profile's packages, from the wheelhouse only) and run (the image's
start script emulated: AZUREML_EXTRA_PYTHON_LIB_PATH or AZUREML_EXTRA_REQUIREMENTS_TXT, then
init() and run()).

Imports: store (the wheelhouse it reads), model and base (interpreters).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wheelhouse._lazy import exported, lazy_exports

if TYPE_CHECKING:
    from wheelhouse.image.imageenv import ImageEnv as ImageEnv
    from wheelhouse.image.imageenv import build_image_env as build_image_env
    from wheelhouse.image.run import RunResult as RunResult
    from wheelhouse.image.run import run_score as run_score

_EXPORTS = {
    "imageenv": "ImageEnv build_image_env",
    "run": "RunResult run_score",
}
__all__ = exported(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
