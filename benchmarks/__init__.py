"""Benchmarks of pytest-finetune (not part of the installed package); see README.md here."""
