"""Living with several releases of the libraries pytest-finetune guards.

- ``versions``: every API difference between the supported releases (transformers 4.57
  through 5.x), as small functions the runners call instead of testing versions.
- ``known_issues``: upstream bugs that make some checks fail in some releases, as data
  (``KNOWN_ISSUES``), which the plugin turns into strict xfails inside the affected range.

Importable without torch, transformers or datasets (package metadata only), so the
``upgrade`` command and the plugin's startup can use it anywhere.
"""
from pytest_finetune.compat.known_issues import KNOWN_ISSUES, KnownIssue, issues_explaining, known_issue
from pytest_finetune.compat.versions import arrow_cache_tag, installed_version, length_grouping_arguments

__all__ = ["KNOWN_ISSUES", "KnownIssue", "arrow_cache_tag", "installed_version", "issues_explaining",
           "known_issue", "length_grouping_arguments"]
