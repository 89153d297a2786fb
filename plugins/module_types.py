"""The module classes zoo's own presets and fusion patterns may name.

Presets travel inside downloaded config.json files, so zoo resolves a module
type only if a plugin registered it here (or in its own plugin): a name no
plugin allows is refused without importing anything.
"""

from zoo import ModuleType, hookimpl

MODULE_TYPES = (
    # dynamic quantization (torch quantizes the weights of these ahead, activations at run time)
    ModuleType("torch.nn.Linear", "fully connected layer; dynamic quantization and fusion"),
    ModuleType("torch.nn.LSTM", "LSTM; dynamic quantization"),
    ModuleType("torch.nn.GRU", "GRU; dynamic quantization"),
    # what the built-in fusion patterns chain
    ModuleType("torch.nn.Conv1d", "1-D convolution; fusion"),
    ModuleType("torch.nn.Conv2d", "2-D convolution; fusion"),
    ModuleType("torch.nn.Conv3d", "3-D convolution; fusion"),
    ModuleType("torch.nn.BatchNorm1d", "batch norm; fusion"),
    ModuleType("torch.nn.BatchNorm2d", "batch norm; fusion"),
    ModuleType("torch.nn.BatchNorm3d", "batch norm; fusion"),
    ModuleType("torch.nn.ReLU", "ReLU; fusion"),
)


@hookimpl
def register_module_types(register):
    for module_type in MODULE_TYPES:
        register(module_type)
