"""The operator x recipe matrix: the seed document's support table as executable cells.

Pure data. Each cell carries the seed-table row it corresponds to (or says it is outside
the table), what the converted model must look like, whether XNNPACK is expected to take
it, and the known ways this toolchain departs from the table (findings) or cannot produce
the cell at all. Facts measured with TensorFlow 2.21 / ai-edge-litert 2.3.0 /
ai-edge-quantizer 0.10 are marked as such.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Iterable

from pytest_litert.matrix.ops import OPS, LayerShape, OpSpec
from pytest_litert.matrix.recipes import RECIPES, RecipeSpec
from pytest_litert.matrix.shapes import DEFAULT_SET, SHAPE_SETS, NamedShape


@dataclasses.dataclass(frozen=True)
class SeedRow:
    """One row of the seed's KleidiAI SME2 table, in its own words."""

    activations: str
    weights: str
    output: str

    def __str__(self) -> str:
        return f"{self.activations} x {self.weights} -> {self.output}"


@dataclasses.dataclass(frozen=True)
class Finding:
    """A known departure of this toolchain from what the seed table or a bound promises.

    It explains a structural mismatch (`attribute` = the mismatched attribute, `observed`
    its value) or a failed check (`attribute` = the check's name, `observed` a text its
    message contains, `max_units` the most error it may show). A finding turns that one
    failure into an expected failure; anything beyond it still fails. A finding whose check
    ran and passed no longer reproduces, and fails its cell (judge/verdict.py), unless `varies`
    says what else it depends on (the calibration data, the machine).
    """

    attribute: str
    observed: str
    text: str
    max_units: float | None = None
    condition: str = ""  # a key of SHAPE_CONDITIONS: the finding holds only for such shapes
    varies: str = ""  # why it may not reproduce on every run at a shape where it applies

    def applies(self, shape: LayerShape) -> bool:
        return not self.condition or SHAPE_CONDITIONS[self.condition](shape)


SHAPE_CONDITIONS: dict[str, Callable[[LayerShape], bool]] = {
    "odd k": lambda shape: shape.k % 2 == 1,
    "same padding, kernel < stride": lambda shape: shape.padding == "same" and shape.kernel < shape.stride,
    "more than one output channel": lambda shape: shape.n > 1,
}


@dataclasses.dataclass(frozen=True)
class Expectation:
    """What the converted model must contain for the cell to count as produced."""

    op_code: str
    io_dtype: str
    activation_dtype: str
    weight_dtype: str
    weight_granularity: str
    metadata: tuple[tuple[str, str], ...]
    xnnpack: bool


@dataclasses.dataclass(frozen=True)
class Cell:
    op: OpSpec
    recipe: RecipeSpec
    shape: LayerShape
    seed_row: SeedRow | None
    expected: Expectation
    not_produced: str = ""
    findings: tuple[Finding, ...] = ()
    weight_style: str = "uniform"
    shape_set: str = DEFAULT_SET
    shape_label: str = ""  # which shape of its set, where the set has several per operator

    @property
    def id(self) -> str:
        """`<op>-<recipe>`, plus the shape set (and shape) outside the default set: one id
        names one model whichever sets a run selects, so baselines and -k stay stable."""
        parts = [self.op.name, self.recipe.name]
        if self.shape_set != DEFAULT_SET:
            parts.append(self.shape_set)
        if self.shape_label:
            parts.append(self.shape_label)
        return "-".join(parts)

    @property
    def row(self) -> str:
        """The id without the recipe: the operator and its shape, a row of the matrix table."""
        return self.id.replace(f"-{self.recipe.name}", "", 1)

    @property
    def sme2(self) -> bool:
        """The seed lists this cell as accelerated by KleidiAI SME2 kernels."""
        return self.seed_row is not None

    @property
    def kernel_evidence(self) -> str:
        """The kernels this cell should show running on an SME2 CPU, in words: a seed cell's
        KleidiAI SME2 kernel (matrix/kernel_types.py names the profiler's operator for each), or
        for an operator outside the table what runs instead, so that no KleidiAI kernel is
        the expected outcome there, not a failure."""
        if self.op.name in KERNEL_EVIDENCE:
            return KERNEL_EVIDENCE[self.op.name]
        return "a KleidiAI SME2 kernel" if self.sme2 else "XNNPACK's default path; no KleidiAI kernel promised"

    @property
    def label(self) -> str:
        if self.seed_row is None:
            return "outside the seed table (XNNPACK default path)"
        return f"seed: {self.seed_row} [KleidiAI SME2]"

    def with_shape(self, shape: LayerShape, weight_style: str | None = None) -> Cell:
        self.op.validate(shape)
        return dataclasses.replace(self, shape=shape, weight_style=weight_style or self.weight_style)

    @property
    def variant(self) -> str:
        """The shape and weight style, for messages about non-default cells."""
        return f"{self.op.describe(self.shape)} weights={self.weight_style}"


# Measured on qemu-sme2 (QEMU translation log mapped to symbols, and the profiler on the host):
# depth multiplier 1 runs xnn_*_dwconv_* ("Convolution (NHWC, F32|QC8|F16) DWConv"), a larger
# multiplier XNNPACK's grouped xnn_*_igemm_* ("... IGEMM"), dynamic int8 the builtin hybrid kernel.
KERNEL_EVIDENCE: dict[str, str] = {
    "depthwise_conv2d": "XNNPACK's own dwconv, no KleidiAI (depth multiplier 1: xnn_*_dwconv_*; a larger "
                        "multiplier: XNNPACK's grouped igemm; dynamic int8: the builtin hybrid kernel)",
}

_FP32 = "FP32"
_INT8_PC = "Per-channel symmetric INT8 quantization"
_INT8_ANY = "Per-channel or per-tensor symmetric INT8 quantization"
_ASYM = "Asymmetric INT8 quantization"

# The seed's Fully Connected rows, by recipe.
_FC_ROWS: dict[str, SeedRow] = {
    "fp32": SeedRow(_FP32, _FP32, _FP32),
    "fp16": SeedRow(_FP32, "FP16", _FP32),
    "fp16_weights": SeedRow(_FP32, "FP16", _FP32),
    "dynamic_int8": SeedRow(_FP32, _INT8_PC, _FP32),
    "static_int8": SeedRow(_ASYM, _INT8_PC, _ASYM),
    "int4": SeedRow(_FP32, "Per-channel symmetric INT4 quantization", _FP32),
}

# (op, recipe) -> seed row, transcribed from seed/create-litert-models.md. A Dense on a 3-D
# input is the same FULLY_CONNECTED (measured: keep_num_dims, every recipe), so the FC rows
# hold for it too. DEPTHWISE_CONV_2D has no row: XNNPACK runs its own dwconv kernels.
SEED_TABLE: dict[tuple[str, str], SeedRow] = {
    **{(op, recipe): row for op in ("fully_connected", "fully_connected_3d") for recipe, row in _FC_ROWS.items()},
    ("batch_matmul", "fp32"): SeedRow(_FP32, _FP32, _FP32),
    ("batch_matmul", "fp16"): SeedRow("FP16", "FP16", "FP16"),
    ("batch_matmul_const", "fp32"): SeedRow(_FP32, _FP32, _FP32),
    ("batch_matmul_const", "fp16"): SeedRow("FP16", "FP16", "FP16"),
    ("batch_matmul_const", "dynamic_int8"): SeedRow(_FP32, _INT8_PC, _FP32),
    ("conv2d_pointwise", "fp32"): SeedRow(_FP32, "FP32, pointwise", _FP32),
    ("conv2d_pointwise", "fp16"): SeedRow(_FP32, "FP16, pointwise", _FP32),
    ("conv2d_pointwise", "fp16_weights"): SeedRow(_FP32, "FP16, pointwise", _FP32),
    **{
        (op, f"{recipe}{granularity}"): SeedRow(_FP32 if recipe == "dynamic_int8" else _ASYM, _INT8_ANY,
                                                _FP32 if recipe == "dynamic_int8" else _ASYM)
        for op, recipe in (("conv2d_pointwise", "dynamic_int8"), ("conv2d_pointwise", "static_int8"),
                           ("conv2d", "dynamic_int8"), ("conv2d", "static_int8"),
                           ("transpose_conv", "static_int8"))
        for granularity in ("", "_per_tensor")
    },
}

# Measured: XNNPACK (ai-edge-litert 2.3.0) leaves these to the builtin kernels.
_NOT_DELEGATED: dict[tuple[str, str], str] = {
    **{(op, "int16x8"): "XNNPACK has no int16x8 kernels" for op in OPS},
    **{("batch_matmul", r): (
        "XNNPACK takes int8 BATCH_MATMUL of two runtime inputs only when the right-hand input's zero point "
        "is 0, which depends on the calibration data (measured: LiteRT 2.1.3 to 2.3.0; 2.1.2 and earlier took "
        "it with zero point -1 and computed it wrong)")
       for r in ("static_int8", "static_int8_per_tensor")},
    **{("depthwise_conv2d", r): (
        "XNNPACK does not take a dynamic-range (hybrid) DEPTHWISE_CONV_2D, float input with INT8 weights: "
        "the builtin hybrid kernel runs it") for r in ("dynamic_int8", "dynamic_int8_per_tensor")},
    ("conv2d", "int4"): "XNNPACK does not take CONV_2D with INT4 weights",
    ("conv2d_pointwise", "int4"): "XNNPACK does not take CONV_2D with INT4 weights",
    **{
        (op, "int4_weight_only"): (
            f"XNNPACK does not take {code} with INT4 weights behind DEQUANTIZE (weight-only): "
            "the builtin float kernel runs it"
        )
        for op, code in (("fully_connected", "FULLY_CONNECTED"), ("fully_connected_3d", "FULLY_CONNECTED"),
                         ("conv2d_pointwise", "CONV_2D"), ("conv2d", "CONV_2D"))
    },
}

_NO_WEIGHTS = "both BATCH_MATMUL operands are runtime inputs: there are no weights to quantize"
_NOT_PRODUCED: dict[tuple[str, str], str] = {
    ("batch_matmul", "dynamic_int8"): _NO_WEIGHTS + "; the model stays FLOAT32",
    **{("batch_matmul", r): _NO_WEIGHTS + "; the model stays FLOAT32"
       for r in ("int4", "int4_weight_only", "dynamic_int8_per_tensor")},
    ("batch_matmul", "fp16_weights"): _NO_WEIGHTS + "; without the fp16 hint the model stays FLOAT32",
    ("batch_matmul_const", "int4"): (
        "ai-edge-quantizer's dynamic_wi4_afp32 silently skips a 3-D BATCH_MATMUL constant"
    ),
    **{(op, r): f"ai-edge-quantizer silently skips {code} weights"
       for op, code in (("transpose_conv", "TRANSPOSE_CONV"), ("depthwise_conv2d", "DEPTHWISE_CONV_2D"))
       for r in ("int4", "int4_weight_only")},
}

_PER_TENSOR_BMM = Finding(
    "weight_granularity",
    "per-tensor",
    "the converter quantizes a 3-D BATCH_MATMUL constant per-tensor, not per-channel",
    condition="more than one output channel",  # with one, one scale is both (structure.same_granularity)
)
_BMM_ZERO_POINT = Finding(
    "delegation",
    "expected to take the op",
    "XNNPACK refuses int8 BATCH_MATMUL when the converter gives the per-tensor constant a "
    "nonzero zero point (asymmetric weights; 24 of 40 seeds)",
    varies="the calibration data decides the zero point",
)


def _not_delegated(text: str, condition: str) -> tuple[Finding, ...]:
    """XNNPACK refusing the op for some shapes; then no SME2 kernel can run either."""
    return (
        Finding("delegation", "expected to take the op", text, condition=condition),
        Finding("sme2 kernel", "no SME2 kernel ran", text, condition=condition),
    )


_TCONV_NOT_DELEGATED = _not_delegated(
    "XNNPACK does not take TRANSPOSE_CONV with SAME padding and a kernel smaller than the stride "
    "(found by the property suite: kernel 1 stride 2; kernel 2 stride 3 likewise; VALID is taken)",
    "same padding, kernel < stride",
)
_CONV_DYNAMIC_NEON = Finding(
    "sme2 kernel",
    "no SME2 kernel ran",
    "on an SME2 CPU, XNNPACK runs a 3x3 dynamically quantized CONV_2D with the NEON i8mm "
    "igemm (xnn_qd8_f32_qc8w_igemm_..._neoni8mm), not a KleidiAI SME2 kernel (LiteRT 2.3.0)",
)
_DEPTHWISE_PER_TENSOR_HYBRID = tuple(
    Finding(
        name,
        "",  # any failure of these checks: the garbage differs from run to run
        "LiteRT's hybrid DEPTHWISE_CONV_2D (builtin optimized and reference kernels alike) reads the filter "
        "scale per output channel, but the converter stores one per-tensor scale: channel 0 is right, every "
        "other channel is computed from memory past the scale array (measured: 127 of 128 channels wrong, "
        "outputs up to 3e38, different on every run; Prepare only checks the scale count against the filter's "
        "dimension 0, which is 1)",
        condition="more than one output channel",
        varies="the kernels read memory past the one stored scale: what it holds, and so whether an output "
               "leaves its bound, differs from run to run",
    )
    for name in ("xnnpack vs keras", "reference vs keras", "neon vs keras", "numpy vs reference", "xnnpack vs numpy",
                 "neon vs numpy")
)
_FINDINGS: dict[tuple[str, str], tuple[Finding, ...]] = {
    ("depthwise_conv2d", "dynamic_int8_per_tensor"): _DEPTHWISE_PER_TENSOR_HYBRID,
    **{("transpose_conv", r): _TCONV_NOT_DELEGATED
       for r in ("fp32", "fp16", "fp16_weights", "dynamic_int8", "dynamic_int8_per_tensor", "static_int8",
                 "static_int8_per_tensor")},
    ("batch_matmul_const", "dynamic_int8"): (_PER_TENSOR_BMM,),
    ("batch_matmul_const", "static_int8"): (_PER_TENSOR_BMM, _BMM_ZERO_POINT),
    ("batch_matmul_const", "static_int8_per_tensor"): (_BMM_ZERO_POINT,),
    ("batch_matmul_const", "fp16"): (
        *(
            Finding(
                name,
                "failed to delegate BATCH_MATMUL",
                "on aarch64 XNNPACK fails to prepare BATCH_MATMUL with a FLOAT16 constant "
                "right-hand side under the fp16 hint, and the Interpreter then refuses the model",
                varies="" if name == "neon run" else "aarch64 only: on x86 XNNPACK ignores the fp16 hint",
            )
            for name in ("xnnpack run", "neon run", "sme2 run")  # sme2: the plain-host lane beside host-nosme
        ),
        Finding(
            "fp16 run",
            "Failed to invoke",
            "CompiledModel with XNNPACK FORCE_FP16 fails to invoke a BATCH_MATMUL whose constant "
            "right-hand side is stored FLOAT16 (status 3, runtime failure); the Interpreter runs it",
        ),
    ),
    **{(op, "int4"): _not_delegated(
        "XNNPACK does not take FULLY_CONNECTED with INT4 weights when the input size K is odd "
        "(found by the property suite: shrunk to m=1 k=3; k=63, 65, 127 likewise; the 3-D layer too, "
        "shrunk to batch=1 m=1 k=3)",
        "odd k",
    ) for op in ("fully_connected", "fully_connected_3d")},
    **{("conv2d", r): (_CONV_DYNAMIC_NEON,) for r in ("dynamic_int8", "dynamic_int8_per_tensor")},
    ("conv2d_pointwise", "static_int8_per_tensor"): (
        Finding(
            "sme2 kernel",
            "no SME2 kernel ran",
            "on an SME2 CPU, XNNPACK runs a per-tensor static int8 1x1 CONV_2D with the NEON i8mm gemm "
            "(xnn_qs8_qc8w_gemm_..._neoni8mm); per-channel it takes the KleidiAI SME2 kernel (LiteRT 2.3.0)",
        ),
    ),
    ("batch_matmul_const", "int16x8"): (
        _PER_TENSOR_BMM,
        Finding(
            "weight_dtype",
            "INT16",
            "int16x8 stores a 3-D BATCH_MATMUL constant as an INT16 activation, not INT8 weights",
        ),
    ),
}


def make_cell(op: OpSpec, recipe: RecipeSpec, shape: LayerShape | None = None, shape_set: str = DEFAULT_SET,
              shape_label: str = "") -> Cell:
    key = (op.name, recipe.name)
    weight_dtype, granularity = recipe.weight_dtype, recipe.weight_granularity
    if not op.constant_weights and key not in _NOT_PRODUCED:  # weights = 2nd runtime input
        weight_dtype = recipe.activation_dtype
        granularity = "per-tensor" if recipe.quantized_io else "float"
    expected = Expectation(
        op_code=op.op_code,
        io_dtype=recipe.io_dtype,
        activation_dtype=recipe.activation_dtype,
        weight_dtype=weight_dtype,
        weight_granularity=granularity,
        metadata=recipe.metadata,
        xnnpack=key not in _NOT_DELEGATED,
    )
    return Cell(
        op=op,
        recipe=recipe,
        shape=shape or op.default_shape,
        seed_row=SEED_TABLE.get(key),
        expected=expected,
        not_produced=_NOT_PRODUCED.get(key, ""),
        findings=_FINDINGS.get(key, ()),
        shape_set=shape_set,
        shape_label=shape_label,
    )


def not_delegated_reason(cell: Cell) -> str:
    return _NOT_DELEGATED.get((cell.op.name, cell.recipe.name), "")


def all_cells() -> list[Cell]:
    return [make_cell(op, recipe) for op in OPS.values() for recipe in RECIPES.values()]


def parse_names(value: str | Iterable[str] | None, valid: Iterable[str], what: str) -> list[str]:
    """Split a comma list and check every name; ValueError names the valid values."""
    valid = list(valid)
    if value is None or value in {"", "all"}:
        return valid
    names = [v.strip() for v in (value.split(",") if isinstance(value, str) else value)]
    names = [name for name in names if name]
    unknown = [name for name in names if name not in valid]
    if unknown:
        hints = [hint for hint in (_suggestion(name, valid) for name in unknown) if hint]
        hint = f" (did you mean {', '.join(hints)}?)" if hints else ""
        raise ValueError(f"unknown {what} {', '.join(map(repr, unknown))}{hint}; valid: {', '.join(valid)}")
    return names


# What users call an operator elsewhere: the Keras layer or the TFLite op code.
_ALIASES = {"dense": "fully_connected", "linear": "fully_connected", "matmul": "batch_matmul",
            "conv": "conv2d", "conv2dtranspose": "transpose_conv", "deconv": "transpose_conv",
            "depthwiseconv2d": "depthwise_conv2d", "depthwise": "depthwise_conv2d"}


def _suggestion(name: str, valid: list[str]) -> str:
    """The valid name a mistyped or foreign one most likely meant, else ''."""
    key = name.lower().replace("-", "_")
    for candidate in (_ALIASES.get(key.replace("_", "")), _ALIASES.get(key), key):
        if candidate in valid:
            return candidate
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    return close[0] if close else ""


def select_cells(ops: str | Iterable[str] | None = None, recipes: str | Iterable[str] | None = None,
                 shapes: str | Iterable[str] | None = DEFAULT_SET) -> list[Cell]:
    """Every op x recipe of every named shape set (each set's shapes in turn)."""
    op_names = parse_names(ops, OPS, "op")
    recipe_names = parse_names(recipes, RECIPES, "recipe")
    set_names = parse_names(shapes, SHAPE_SETS, "shape set")
    return [
        make_cell(OPS[o], RECIPES[r], named.shape, set_name, named.label)
        for set_name in set_names for o in op_names for named in SHAPE_SETS[set_name][o] for r in recipe_names
    ]


def is_primary(cell: Cell, shape_sets: tuple[str, ...]) -> bool:
    """The first cell of its op x recipe in a selection: the one property tests run under
    (they draw their own shapes, so one per op x recipe is enough)."""
    first: NamedShape = SHAPE_SETS[shape_sets[0]][cell.op.name][0]
    return cell.shape_set == shape_sets[0] and cell.shape_label == first.label
