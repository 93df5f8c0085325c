"""numpy, used when installed: without it arrays are memoryviews.

Code tests ``HAVE_NUMPY`` before it touches ``np``: a flag rather than ``np is None`` keeps both
branches type-checked (a checker takes ``np`` for the module and would skip the other branch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

__all__ = ["HAVE_NUMPY", "np"]

if TYPE_CHECKING:
    from numpy.typing import NDArray

    #: An array in shared or local memory: numpy's when installed, else a memoryview.
    Array: TypeAlias = "NDArray[Any] | memoryview[Any]"

try:
    import numpy as np

    HAVE_NUMPY = True
except ImportError:
    np = None  # type: ignore[assignment]  # every use is behind HAVE_NUMPY
    HAVE_NUMPY = False
