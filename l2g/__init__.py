"""l2g: LLM2LLM to Gemmini.

Sub-packages (each maps onto one top-level folder of the repository):

- ``l2g.augment``         the LLM2LLM data-augmentation loop (augment/)
- ``l2g.frontend``        Hugging Face / ONNX -> Relax import (frontend/)
- ``l2g.passes``          Relax passes: calibration, quantization, integer-only ops, fusion, tiling (passes/)
- ``l2g.codegen.gemmini`` C emission against Gemmini's RoCC ISA (codegen/gemmini/)
- ``l2g.runtime``         cross-compilation and Spike execution on the host side (runtime/)
"""

__version__ = "0.1.0"
