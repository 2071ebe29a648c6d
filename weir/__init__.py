"""weir: a data platform in a box for retail and e-commerce data teams."""

from weir.errors import WeirError
from weir.workspace import Project, init_project

__version__ = "0.1.0"

__all__ = ["Project", "WeirError", "__version__", "init_project"]
