"""Layer 4, the artifact (installed as ``zoo_registry``): card and config schemas, the safetensors codec, the four
files of a version, the SQLite-indexed store and loading a version back into a model. Storage and loading only:
what computes and then records is in ``zoo.jobs``."""
