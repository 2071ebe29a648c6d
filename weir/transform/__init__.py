"""The transform component: SQL models, their graph, kinds, audits, runs and lineage."""

from weir.transform.dag import ModelGraph
from weir.transform.model import Model, ModelHeader, load_models
from weir.transform.runner import PlannedBuild, Runner, RunResult
from weir.transform.state import ModelBuild, RunLog

__all__ = [
    "Model",
    "ModelBuild",
    "ModelGraph",
    "ModelHeader",
    "PlannedBuild",
    "RunLog",
    "RunResult",
    "Runner",
    "load_models",
]
