"""What each side of an upgrade installs (``upgrade.specs``): a side that would silently test
versions nobody named, or two sides that are one environment, stop the command with one line."""
import pytest

from pytest_finetune.upgrade.specs import UpgradeInputError, build_sides


@pytest.mark.parametrize("spec", ['transformers==5.18.0; python_version < "3"',
                                  'transformers==5.18.0; sys_platform == "win32" and os_name == "nt"'])
def test_a_requirement_its_environment_marker_drops_is_refused(spec):
    """pip skips it without a word and installs the newest transformers instead."""
    with pytest.raises(UpgradeInputError) as info:
        build_sides(["transformers==4.57.6"], [spec])
    message = str(info.value)
    assert message.startswith(f"--new: {spec}: its environment marker (") and "is false for this Python" in message
    assert message.endswith("drop the marker") and "\n" not in message


def test_a_marker_that_holds_here_is_kept():
    _, new = build_sides(["transformers==4.57.6"], ['transformers==5.18.0; python_version >= "3"'])
    assert 'transformers==5.18.0; python_version >= "3"' in new.requirements


@pytest.mark.parametrize("old, new", [(["transformers==5.25.0"], ["transformers==5.25.0"]),
                                      (["transformers==5.25.0", "accelerate==1.3"], ["accelerate==1.3.0 transformers==5.25"])])
def test_identical_sides_are_refused_the_verdict_would_compare_nothing(old, new):
    with pytest.raises(UpgradeInputError, match=r"^--old and --new name the same requirements \(.*\): both sides "
                                                r"would be one environment"):
        build_sides(old, new)
