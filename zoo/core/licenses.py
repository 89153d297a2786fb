"""The licence identifiers the Hugging Face Hub accepts in a model card's ``license`` field.

The Hub refuses a README.md whose ``license`` is not one of these (its
validate-yaml answers ``"license" must be one of [...]``); SPDX expressions
such as ``GPL-2.0-or-later`` are not accepted as such. zoo writes only these:
weights and plugins name one, and a package's SPDX licence is mapped to one
where the Hub has it (else ``other``).
"""

from __future__ import annotations

HUB_LICENSES = (
    "apache-2.0", "mit", "openrail", "bigscience-openrail-m", "creativeml-openrail-m", "bigscience-bloom-rail-1.0",
    "bigcode-openrail-m", "afl-3.0", "artistic-2.0", "bsl-1.0", "bsd", "bsd-2-clause", "bsd-3-clause",
    "bsd-3-clause-clear", "c-uda", "cc", "cc0-1.0", "cc-by-2.0", "cc-by-2.5", "cc-by-3.0", "cc-by-4.0",
    "cc-by-sa-3.0", "cc-by-sa-4.0", "cc-by-nc-2.0", "cc-by-nc-3.0", "cc-by-nc-4.0", "cc-by-nd-4.0",
    "cc-by-nc-nd-3.0", "cc-by-nc-nd-4.0", "cc-by-nc-sa-2.0", "cc-by-nc-sa-3.0", "cc-by-nc-sa-4.0",
    "cdla-sharing-1.0", "cdla-permissive-1.0", "cdla-permissive-2.0", "wtfpl", "ecl-2.0", "epl-1.0", "epl-2.0",
    "etalab-2.0", "eupl-1.1", "eupl-1.2", "agpl-3.0", "gfdl", "gpl", "gpl-2.0", "gpl-3.0", "lgpl", "lgpl-2.1",
    "lgpl-3.0", "isc", "h-research", "intel-research", "lppl-1.3c", "ms-pl", "apple-ascl", "apple-amlr", "mpl-2.0",
    "odc-by", "odbl", "openmdw-1.0", "openrail++", "osl-3.0", "postgresql", "ofl-1.1", "ncsa", "unlicense", "zlib",
    "pddl", "lgpl-lr", "deepfloyd-if-license", "fair-noncommercial-research-license", "llama2", "llama3",
    "llama3.1", "llama3.2", "llama3.3", "llama4", "grok2-community", "gemma", "unknown", "other",
)

# What zoo records when neither the weights nor the architecture's plugin say.
UNKNOWN = "unknown"


def from_spdx(expression: str | None) -> str | None:
    """The Hub identifier for a package's SPDX licence (``BSD-3-Clause`` → ``bsd-3-clause``): the same name
    lower-cased where the Hub has it, ``other`` for any other licence, None for no licence given."""
    if not expression or not expression.strip():
        return None
    lowered = expression.strip().lower()
    return lowered if lowered in HUB_LICENSES else "other"


def package_license(distribution: str | None) -> str | None:
    """The Hub identifier of an installed distribution's licence (its License-Expression, else License field)."""
    if not distribution:
        return None
    from importlib import metadata

    try:
        meta = metadata.metadata(distribution)
    except metadata.PackageNotFoundError:
        return None
    expression = meta["License-Expression"] or meta["License"]  # None for a field the package lacks
    # Some packages put the whole licence text in License; only a short name is an identifier.
    return from_spdx(expression) if expression and "\n" not in expression.strip() else None
