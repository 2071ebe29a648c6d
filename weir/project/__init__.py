"""The project component: a project folder's files, loaded and validated."""

from weir.project.config import ColumnConfig, ProjectConfig, RuleConfig, SourceConfig
from weir.project.loader import ProjectFiles, find_root, load_project

__all__ = [
    "ColumnConfig",
    "ProjectConfig",
    "ProjectFiles",
    "RuleConfig",
    "SourceConfig",
    "find_root",
    "load_project",
]
