"""Model calls: litellm for every provider, with cache, budget, limits, retries and fallbacks.

Importing this package does not import litellm (slow); the first model call does.
"""

from alphaflow.errors import BudgetExceeded
from alphaflow.models.budget import Budget
from alphaflow.models.cache import Cache, default_cache_path
from alphaflow.models.errors import ModelCallError
from alphaflow.models.router import ModelRouter, Usage, build_router
from alphaflow.models.types import Backend, BackendResult, Completion, CompletionRequest, Target

__all__ = [
    "Backend",
    "BackendResult",
    "Budget",
    "BudgetExceeded",
    "Cache",
    "Completion",
    "CompletionRequest",
    "ModelCallError",
    "ModelRouter",
    "Target",
    "Usage",
    "build_router",
    "default_cache_path",
]
