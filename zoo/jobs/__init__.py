"""Layer 6: the jobs, the only code that both computes and records in the registry: quantize, train, pull
(published weights or the Hub), re-evaluate, bench and export. Each takes a ``zoo.context.Context``."""
