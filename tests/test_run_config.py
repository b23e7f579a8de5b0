"""What defines a run (``runs.config.RunConfig``, ``profile_config``): every value that changes
the numbers is in the run's key, of the type it will be used as, under a name that exists."""
import pytest

from pytest_finetune.errors import ConfigError, ModelError
from pytest_finetune.mrpc.modeling import check_config_fields
from pytest_finetune.runs.config import RunConfig, profile_config


def test_config_overrides_given_as_a_dict_are_part_of_the_run_key():
    """Two dropouts are two runs: one cached run must not answer for both."""
    low = RunConfig(config_overrides={"hidden_dropout_prob": 0.0})
    high = RunConfig(config_overrides={"hidden_dropout_prob": 0.3})
    assert low.key() != high.key()
    assert low.to_dict()["config_overrides"] == [["hidden_dropout_prob", 0.0]]
    assert RunConfig.from_dict(low.to_dict()) == low
    assert RunConfig(config_overrides={"b": 1, "a": 2}) == RunConfig(config_overrides=[("a", 2), ("b", 1)])


@pytest.mark.parametrize("overrides, message", [
    ("hidden_dropout_prob", "config_overrides: expected a dict of model config fields"),
    ({"hidden_dropout_prob": [0.1]}, r"config_overrides: hidden_dropout_prob=\[0\.1\]: expected a finite number"),
    ({"x": float("nan")}, "config_overrides: x=nan: expected a finite number"),
    ({1: 0.1}, "config_overrides: 1 is not a config field name"),
    ([("a", 1), ("a", 2)], "config_overrides: a is given twice"),
])
def test_config_overrides_are_field_value_pairs(overrides, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig(config_overrides=overrides)


def test_a_config_field_the_model_does_not_have_is_refused_with_the_nearest_one():
    """transformers would set the typo as an attribute nobody reads: the run trains unchanged."""
    check_config_fields(None, ["hidden_dropout_prob", "layer_norm_eps"])
    with pytest.raises(ModelError, match=r"config_overrides: hiden_dropout_prob is not a field of the config "
                                         r"of .* \(bert\); did you mean hidden_dropout_prob\?"):
        check_config_fields(None, ["hiden_dropout_prob"])


@pytest.mark.parametrize("field, value", [("lr", "1e-4"), ("weight_decay", "0"), ("dropout", "0.1"),
                                          ("max_grad_norm", True)])
def test_run_numbers_must_be_numbers_not_text(field, value):
    """Text passed the finiteness check and crashed inside AdamW after everything had loaded."""
    with pytest.raises(ConfigError, match=rf"{field}: expected a number, got "):
        RunConfig(**{field: value})


def test_an_unknown_run_setting_lists_the_valid_names():
    with pytest.raises(ConfigError) as info:
        profile_config("tiny", learning_rate=1e-4)
    message = str(info.value)
    assert message.startswith("unknown run setting(s) learning_rate (did you mean lr?); expected some of: ")
    assert "batch_size" in message and "config_overrides" in message
