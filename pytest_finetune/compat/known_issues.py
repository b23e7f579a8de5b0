"""Upstream bugs that make some of pytest-finetune's checks fail, kept as data.

Each entry names the package and the version range it breaks (a ``packaging``
``SpecifierSet``), the upstream report, and the checks it explains. The plugin applies the
table at collection time (``pytest_finetune.plugin.known_issues``):

- inside the range, an explained check is a *strict* xfail whose reason names the entry and
  its link: it must still fail (an unexpected pass fails the session, which says that the
  fix has landed and the range should end), and only with an ``AssertionError`` (a crash of
  the harness is not the known bug and fails as usual);
- outside the range the check runs as any other and must pass: an upgrade that brings the
  bug in shows up as a failing check on the old side turning into a known issue on the new.

A check is named by the end of its pytest node id, ``file.py::test_name`` (the file's name
without its folder, so the entry still matches when the suite is run from another folder
or from an installed package); a parametrized check matches all its parameters unless the
entry names one (``file.py::test_name[param]``). Users can also mark their own tests with
``@pytest.mark.finetune_known_issue("<id>")``.

No torch here: the table, and ``KnownIssue.applies``, read package metadata only.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from pytest_finetune.compat.versions import installed_version
from pytest_finetune.errors import ConfigError


@dataclass(frozen=True)
class KnownIssue:
    id: str
    package: str  # distribution name, as pip knows it
    affected: SpecifierSet  # the versions that have the bug
    url: str
    title: str
    checks: tuple[str, ...]  # node-id ends: "test_file.py::test_name"
    evidence: str = ""  # which versions were measured broken and fine, and how
    raises: tuple[type[BaseException], ...] = field(default=(AssertionError,))
    # The equivalence invariants it breaks (pytest_finetune.invariants), as (family, task level,
    # runner kind): a user's runner failing one of them in the range is told of this entry.
    invariants: tuple[tuple[str, str, str], ...] = ()
    remedy: str = ""  # what a user's own code can do about it

    def applies(self, version: str | None = None) -> bool:
        """Whether ``version`` of the package (default: the installed one) has the bug.
        Pre-releases and dev builds count (``5.25.0.dev0`` is inside ``>=5.0``); a package
        that is not installed, or an unreadable version string, has no bug."""
        if version is None:
            version = installed_version(self.package)
        if version is None:
            return False
        try:
            return self.affected.contains(Version(version), prereleases=True)
        except InvalidVersion:
            return False

    def explains(self, nodeid: str) -> bool:
        """Whether the check with pytest node id ``nodeid`` is one this entry explains."""
        bare = nodeid.split("[", 1)[0]
        return any(_same_check(candidate, check) for check in self.checks
                   for candidate in ((nodeid,) if "[" in check else (nodeid, bare)))

    def reason(self, version: str | None) -> str:
        """The xfail reason: entry, installed version, range, title and link on one line."""
        return (f"known upstream issue {self.id} ({self.package} {version or 'not installed'}, "
                f"affected {self.affected}): {self.title} ({self.url})")

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (reports, ``pytest-finetune upgrade``)."""
        return {"id": self.id, "package": self.package, "affected": str(self.affected),
                "url": self.url, "title": self.title, "checks": list(self.checks),
                "evidence": self.evidence, "invariants": [list(item) for item in self.invariants],
                "remedy": self.remedy}


def _same_check(nodeid: str, check: str) -> bool:
    return nodeid == check or nodeid.endswith("/" + check)


KNOWN_ISSUES: tuple[KnownIssue, ...] = (
    KnownIssue(
        id="transformers-47688",
        package="transformers",
        affected=SpecifierSet(">=5.0"),
        url="https://github.com/huggingface/transformers/issues/47688",
        title=("Heads that declare **kwargs but drop num_items_in_batch train with an inflated "
               "loss under gradient accumulation"),
        checks=("test_parity.py::test_trainer_gradient_accumulation_equals_large_batch",
                "test_invariant_families.py::test_builtin_runners_keep_the_invariant[accumulation-trainer-mrpc]",
                "test_distributed.py::test_builtin_runners_train_alike_on_two_processes[trainer-mrpc]"),
        evidence=("Trainer, tiny random BERT, no dropout, seed 42: batch 4 x GA 2 logs ~2x the "
                  "per-step loss of batch 8 x GA 1 (max diff 0.71) on 5.0.0, 5.12.1 and 5.24.0; "
                  "identical (max diff 0.0) on 4.57.6. BertForSequenceClassification.forward "
                  "takes **kwargs, so Trainer leaves the division by the accumulation steps to "
                  "the model, which ignores num_items_in_batch. The same on 2 processes (torchrun, "
                  "gloo): with average_tokens_across_devices (default True) Trainer.compute_loss "
                  "multiplies the loss by the number of processes for the model to divide by the "
                  "items of all of them, which BERT does not: 2.00x the loss of 1 process x batch 8 "
                  "from step 1, eval loss too, on 5.25.0 (the accumulation and distributed invariants)."),
        invariants=(("accumulation", "sequence", "trainer"), ("distributed", "sequence", "trainer")),
        remedy=("In your own compute_loss, divide the summed loss by num_items_in_batch when Trainer "
                "passes it (times the number of processes, as Trainer.compute_loss does), or set "
                "self.model_accepts_loss_kwargs = False after Trainer.__init__ so that Trainer divides "
                "by the accumulation steps itself."),
    ),
    KnownIssue(
        id="transformers-39241",
        package="transformers",
        affected=SpecifierSet(">=4.0"),
        url="https://github.com/huggingface/transformers/issues/39241",
        title=("Trainer's eval loss depends on the eval batch size: it is the mean of per-batch "
               "means weighted by examples, so a token-level loss weighs the tokens of batches of "
               "other lengths differently"),
        checks=("test_invariant_families.py::test_builtin_runners_keep_the_invariant[eval_batch-trainer-mrpc-lm]",),
        evidence=("Trainer, causal-LM task (tiny GPT-2, MRPC sentences, 32 eval examples), eval batch "
                  "7 vs 32: eval loss 0.99987x from epoch 1 (1.3e3 x the noise envelope) on 5.25.0, "
                  "while perplexity from token sums and the outputs are the same; the built-in loop's "
                  "token-weighted eval loss holds."),
        invariants=(("eval_batch", "token", "trainer"),),
        remedy=("Compute the eval loss yourself from token sums (compute_metrics with "
                "preprocess_logits_for_metrics, as this harness's perplexity does) rather than reading "
                "eval_loss."),
    ),
)


def known_issue(issue_id: str) -> KnownIssue:
    """The entry with this id; a ConfigError naming the known ids otherwise."""
    for issue in KNOWN_ISSUES:
        if issue.id == issue_id:
            return issue
    known = ", ".join(issue.id for issue in KNOWN_ISSUES) or "none"
    raise ConfigError(f"known issue {issue_id!r} is not in pytest-finetune's table (known: {known})")


def issues_explaining(nodeid: str) -> list[KnownIssue]:
    """The entries whose ``checks`` name this test, in table order."""
    return [issue for issue in KNOWN_ISSUES if issue.explains(nodeid)]
