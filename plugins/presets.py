"""The built-in quantization presets: one per engine and method, for torch.ao and for torchao's pt2e.

The two fbgemm static presets are the two qconfigs of the seed notebook's
comparison table: per-tensor min-max (torch's ``default_qconfig``) and
histogram activations with per-channel weights (``get_default_qconfig('fbgemm')``).
"""

from zoo import Observer, Preset, hookimpl

# Activations are unsigned 8-bit; fbgemm and x86 use 7 bits (0..127, what torch's
# reduce_range means) to avoid overflow in their int16 accumulation, qnnpack the full range.
MINMAX_7BIT = Observer("minmax", quant_min=0, quant_max=127)
HISTOGRAM_7BIT = Observer("histogram", quant_min=0, quant_max=127)
MINMAX_8BIT = Observer("minmax")
HISTOGRAM_8BIT = Observer("histogram")
WEIGHT_PER_TENSOR = Observer("minmax", dtype="qint8", symmetric=True)
WEIGHT_PER_CHANNEL = Observer("per_channel_minmax", dtype="qint8", symmetric=True)

QAT_ACT_7BIT = Observer("moving_average_minmax", quant_min=0, quant_max=127)
QAT_ACT_8BIT = Observer("moving_average_minmax", quant_min=0, quant_max=255)
QAT_WEIGHT_PER_CHANNEL = Observer("moving_average_per_channel_minmax", dtype="qint8", symmetric=True,
                                  quant_min=-128, quant_max=127)
QAT_WEIGHT_PER_TENSOR = Observer("moving_average_minmax", dtype="qint8", symmetric=True,
                                 quant_min=-128, quant_max=127)

PRESETS = (
    Preset("fbgemm-minmax", "fbgemm", "static", activation=MINMAX_7BIT, weight=WEIGHT_PER_TENSOR,
           description="server x86: min-max activations, per-tensor weights (torch's default_qconfig)"),
    Preset("fbgemm-histogram", "fbgemm", "static", activation=HISTOGRAM_7BIT, weight=WEIGHT_PER_CHANNEL,
           description="server x86: histogram activations, per-channel weights (get_default_qconfig('fbgemm'))"),
    Preset("qnnpack-minmax", "qnnpack", "static", activation=MINMAX_8BIT, weight=WEIGHT_PER_TENSOR,
           description="ARM/mobile: min-max activations, per-tensor weights"),
    Preset("qnnpack-histogram", "qnnpack", "static", activation=HISTOGRAM_8BIT, weight=WEIGHT_PER_TENSOR,
           description="ARM/mobile: histogram activations, per-tensor weights (get_default_qconfig('qnnpack'))"),
    Preset("x86-histogram", "x86", "static", activation=HISTOGRAM_7BIT, weight=WEIGHT_PER_CHANNEL,
           description="x86 with VNNI/AMX kernels: histogram activations, per-channel weights"),
    Preset("fbgemm-qat", "fbgemm", "qat", activation=QAT_ACT_7BIT, weight=QAT_WEIGHT_PER_CHANNEL,
           description="quantization-aware training for fbgemm (get_default_qat_qconfig('fbgemm'))"),
    Preset("qnnpack-qat", "qnnpack", "qat", activation=QAT_ACT_8BIT, weight=QAT_WEIGHT_PER_TENSOR,
           description="quantization-aware training for qnnpack (get_default_qat_qconfig('qnnpack'))"),
    Preset("x86-qat", "x86", "qat", activation=QAT_ACT_7BIT, weight=QAT_WEIGHT_PER_CHANNEL,
           description="quantization-aware training for x86 (get_default_qat_qconfig('x86'))"),
    # torchao pt2e with X86InductorQuantizer: 8-bit activations, narrowed to 7 bits on CPUs without VNNI.
    Preset("x86-pt2e", "x86_inductor", "static", activation=HISTOGRAM_8BIT, weight=WEIGHT_PER_CHANNEL,
           description="x86 via torchao pt2e (X86InductorQuantizer): histogram activations, per-channel weights"),
    Preset("x86-pt2e-qat", "x86_inductor", "qat", activation=QAT_ACT_8BIT, weight=QAT_WEIGHT_PER_CHANNEL,
           description="quantization-aware training via torchao pt2e (X86InductorQuantizer)"),
    Preset("dynamic-int8", "x86", "dynamic", dynamic_modules=("torch.nn.Linear", "torch.nn.LSTM"),
           description="dynamic: int8 weights for nn.Linear and nn.LSTM, activations quantized at run time"),
)


@hookimpl
def register_presets(register):
    for preset in PRESETS:
        register(preset)
