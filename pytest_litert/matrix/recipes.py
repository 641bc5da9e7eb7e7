"""The post-training quantization recipes and what each promises in the .tflite.

Pure data. The names are the ones used in test ids, options, reports and file names.
"""

from __future__ import annotations

import dataclasses

FP16_HINT = "reduced_precision_support"  # the metadata key of the fp16 recipes
FP16_ACCUMULATION = "fp16accfp16"  # its value when the converter was asked to accumulate in fp16


@dataclasses.dataclass(frozen=True)
class RecipeSpec:
    """What a recipe promises: graph input/output dtype, the dtype the layer's operator
    computes on, the stored weight dtype, and the metadata (key, value) the converter must add."""

    name: str
    description: str
    io_dtype: str
    activation_dtype: str
    weight_dtype: str
    weight_granularity: str
    metadata: tuple[tuple[str, str], ...] = ()
    calibrated: bool = False
    needs: str = ""

    @property
    def quantized_io(self) -> bool:
        return self.io_dtype in ("INT8", "INT16")


RECIPES: dict[str, RecipeSpec] = {
    spec.name: spec
    for spec in (
        RecipeSpec(
            "fp32",
            "no optimization: float32 weights and activations",
            "FLOAT32",
            "FLOAT32",
            "FLOAT32",
            "float",
        ),
        RecipeSpec(
            "fp16",
            "float16 weights behind DEQUANTIZE, plus the fp16-accumulation hint (seed recipe)",
            "FLOAT32",
            "FLOAT32",
            "FLOAT16",
            "float",
            metadata=((FP16_HINT, FP16_ACCUMULATION),),
        ),
        RecipeSpec(
            "fp16_weights",
            "float16 weights behind DEQUANTIZE, no accumulation hint: the seed table's FP32 x FP16 row",
            "FLOAT32",
            "FLOAT32",
            "FLOAT16",
            "float",
            metadata=((FP16_HINT, "fp16accfp32"),),
        ),
        RecipeSpec(
            "dynamic_int8",
            "dynamic-range: per-channel int8 weights, activations quantized at run time",
            "FLOAT32",
            "FLOAT32",
            "INT8",
            "per-channel",
        ),
        RecipeSpec(
            "dynamic_int8_per_tensor",
            "dynamic-range with the converter's per-channel switch off: one int8 weight scale",
            "FLOAT32",
            "FLOAT32",
            "INT8",
            "per-tensor",
        ),
        RecipeSpec(
            "static_int8",
            "full integer: int8 input/output and activations, per-channel int8 weights",
            "INT8",
            "INT8",
            "INT8",
            "per-channel",
            calibrated=True,
        ),
        RecipeSpec(
            "static_int8_per_tensor",
            "full integer with the converter's per-channel switch off: one int8 weight scale",
            "INT8",
            "INT8",
            "INT8",
            "per-tensor",
            calibrated=True,
        ),
        RecipeSpec(
            "int4",
            "per-channel int4 weights via ai-edge-quantizer (dynamic_wi4_afp32)",
            "FLOAT32",
            "FLOAT32",
            "INT4",
            "per-channel",
            needs="ai_edge_quantizer",
        ),
        RecipeSpec(
            "int4_weight_only",
            "per-channel int4 weights behind DEQUANTIZE via ai-edge-quantizer (weight_only_wi4_afp32)",
            "FLOAT32",
            "FLOAT32",
            "INT4",
            "per-channel",
            needs="ai_edge_quantizer",
        ),
        RecipeSpec(
            "int16x8",
            "int16 activations with int8 weights (not in the seed table)",
            "INT16",
            "INT16",
            "INT8",
            "per-channel",
            calibrated=True,
        ),
    )
}
