"""pyrch.onnx: export traced models to ONNX, and run ONNX models as pyrch Modules.

    import pyrch.onnx
    pyrch.onnx.export(model, (x,), "model.onnx", input_names=["x"],
                      dynamic_axes={"x": {0: "batch"}})
    m = pyrch.onnx.load("model.onnx")          # an nn.Module; m(x) runs in pyrch

`export` records one eager run of the model with the pyrch tracer (in eval
mode unless `training=TrainingMode.TRAINING/PRESERVE`, without grad) and maps
each op of the traced graph to standard ONNX ops (opset 13 and up; 17 by
default). Parameters become initializers (graph inputs with
`export_params=False`).
`load` (alias `import_model`) turns an ONNX graph, including one written by
`torch.onnx.export`, into a Module whose float initializers are parameters.

Needs the optional `onnx` package (`pip install pyrch[onnx]`); importing
`pyrch` itself never imports it.
"""
try:
    import onnx as _onnx  # noqa: F401
except ImportError as e:     # pragma: no cover - exercised only without the extra
    raise ImportError("pyrch.onnx needs the `onnx` package: pip install 'pyrch[onnx]'") from e

from .export import export, ExportError, TrainingMode  # noqa: F401,E402
from ._export_ops import SUPPORTED_OPS  # noqa: F401,E402
from .import_ import load, import_model, OnnxModule  # noqa: F401,E402
from .import_ import ImportError_ as OnnxImportError  # noqa: F401,E402

__all__ = ["export", "load", "import_model", "OnnxModule", "ExportError", "OnnxImportError",
           "SUPPORTED_OPS", "TrainingMode"]
