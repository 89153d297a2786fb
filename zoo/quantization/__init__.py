"""Layer 3: a float model to int8: backends (torch.ao eager and FX, torchao pt2e), fusion and the pipeline
(prepare, calibrate or QAT, convert). Beside it in the same layer: ``zoo.data``, ``zoo.training``,
``zoo.evaluation``, ``zoo.runtimes`` (and latency), ``zoo.checkpoints`` and ``zoo.state_dicts``."""
