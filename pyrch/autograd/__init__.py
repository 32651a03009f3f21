"""Reverse-mode automatic differentiation: backward, grad, grad modes."""
from .engine import backward, grad  # noqa: F401
from .grad_mode import (no_grad, enable_grad, set_grad_enabled, inference_mode,  # noqa: F401
                        is_grad_enabled)
from .node import Node  # noqa: F401
from .gradcheck import gradcheck, gradgradcheck, GradcheckError  # noqa: F401
from .function import Function, FunctionCtx, BackwardCFunction, once_differentiable  # noqa: F401
from .anomaly import (set_detect_anomaly, detect_anomaly, is_anomaly_enabled,  # noqa: F401
                      is_anomaly_check_nan_enabled)
from . import function, anomaly  # noqa: F401
from .grad_mode import is_inference_mode_enabled  # noqa: F401
from . import functional  # noqa: F401,E402
