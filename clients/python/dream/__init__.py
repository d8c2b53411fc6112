"""Dream Engine Python SDK: action-conditioned video world models over HTTP.

    import dream
    client = dream.Client()                       # DREAM_API_KEY, DREAM_BASE_URL
    model = client.models.get("dream-reference-480p")   # in the default catalog, no weights to fetch
    rollout = model.predict(start_frame=frame, actions=actions)   # (480, 640, 3) uint8, (T, 384) float32
    rollout.save("rollout.mp4")
"""

from . import io
from .bulk import BulkSummary, CostEstimate, RowError
from .client import DEFAULT_BASE_URL, AsyncClient, AsyncModelHandle, AsyncSession, Client, __version__
from .errors import (
    AuthError,
    DecoderNotFoundError,
    DreamError,
    EngineError,
    InputValidationError,
    InsufficientCreditsError,
    ModelNotActiveError,
    ModelNotFoundError,
    RateLimitError,
    ServerError,
    TransportError,
    ValidationError,
)
from .io import RolloutSink, frames_from_dir
from .jobs import Job, JobTimeoutError
from .models import ModelHandle
from .planning import IterationStats, Plan, PlanRollout, PlanStream
from ._png import encode_png_rgb_bytes as png_from_rgb
from .retry import RetryPolicy
from .rollout import BatchRollout, Rollout
from .sessions import Session, SessionSummary, Step
from .stream import CandidateFrames, PredictStream, StreamChunk

__all__ = [
    "Client",
    "AsyncClient",
    "AsyncModelHandle",
    "RetryPolicy",
    "ModelHandle",
    "Rollout",
    "BatchRollout",
    "PredictStream",
    "StreamChunk",
    "CandidateFrames",
    "Plan",
    "IterationStats",
    "PlanRollout",
    "PlanStream",
    "Session",
    "AsyncSession",
    "BulkSummary",
    "CostEstimate",
    "RowError",
    "Job",
    "JobTimeoutError",
    "RolloutSink",
    "frames_from_dir",
    "io",
    "Step",
    "SessionSummary",
    "DreamError",
    "AuthError",
    "InsufficientCreditsError",
    "RateLimitError",
    "ModelNotFoundError",
    "ValidationError",
    "InputValidationError",
    "ServerError",
    "EngineError",
    "ModelNotActiveError",
    "TransportError",
    "DecoderNotFoundError",
    "png_from_rgb",
    "DEFAULT_BASE_URL",
    "__version__",
]
