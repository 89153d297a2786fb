"""Common module chains that eager mode fuses, for models without a fuse_model of their own."""

from zoo import FusionPattern, hookimpl

PATTERNS = (
    FusionPattern("conv-bn-relu", ("torch.nn.Conv2d", "torch.nn.BatchNorm2d", "torch.nn.ReLU"),
                  "Conv2d → BatchNorm2d → ReLU into one ConvReLU2d"),
    FusionPattern("conv-bn", ("torch.nn.Conv2d", "torch.nn.BatchNorm2d"),
                  "Conv2d → BatchNorm2d: BN folded into the convolution"),
    FusionPattern("conv-relu", ("torch.nn.Conv2d", "torch.nn.ReLU"), "Conv2d → ReLU"),
    FusionPattern("conv1d-bn-relu", ("torch.nn.Conv1d", "torch.nn.BatchNorm1d", "torch.nn.ReLU"),
                  "Conv1d → BatchNorm1d → ReLU"),
    FusionPattern("conv1d-bn", ("torch.nn.Conv1d", "torch.nn.BatchNorm1d"), "Conv1d → BatchNorm1d"),
    FusionPattern("linear-relu", ("torch.nn.Linear", "torch.nn.ReLU"), "Linear → ReLU"),
    FusionPattern("linear-bn", ("torch.nn.Linear", "torch.nn.BatchNorm1d"), "Linear → BatchNorm1d"),
    FusionPattern("bn-relu", ("torch.nn.BatchNorm2d", "torch.nn.ReLU"), "BatchNorm2d → ReLU"),
)


@hookimpl
def register_fusion_patterns(register):
    for pattern in PATTERNS:
        register(pattern)
