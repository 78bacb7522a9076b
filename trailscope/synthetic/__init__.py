"""Synthetic CloudTrail: the sample organization and benchmark trees, kept apart from the core.

Nothing in trailscope's analysis imports this package; the demo, the tests and the benchmarks
do. `generate` writes files in the S3 layout AWS delivers; `story` is the sample organization's
planted cases. Same arguments, same bytes.

    python -m trailscope.synthetic sample_logs/ --force        # the sample organization
    python -m trailscope.synthetic /tmp/bench --events 2000000 --background-only
"""

from trailscope.synthetic.generate import (
    PLANTED,
    SAMPLE_BACKGROUND,
    SAMPLE_SEED,
    GenerationSummary,
    PlantedCase,
    generate_background,
    generate_org,
    main,
    readme,
)

__all__ = [
    "PLANTED",
    "SAMPLE_BACKGROUND",
    "SAMPLE_SEED",
    "GenerationSummary",
    "PlantedCase",
    "generate_background",
    "generate_org",
    "main",
    "readme",
]
