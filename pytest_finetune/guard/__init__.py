"""The guard suite: the regression checks of a user's fine-tuning stack, shipped in the package.

Collated shapes and padding properties on the real tokenizer, runner parity (gradient
accumulation included), tiny runs against the packaged baselines, drift fingerprints, and
the ``full`` and ``gpu`` runs under their markers. A user runs it after
``pip install pytest-finetune``, without this repository::

    pytest-finetune check [--profile tiny|full|gpu] [--report FILE] [-- extra pytest args]
    pytest --pyargs pytest_finetune.guard          # plain pytest, the user's ini applies

The modules here are ordinary pytest modules using the plugin's fixtures; this
``__init__`` stays empty of imports so that collecting the package costs nothing.
"""
