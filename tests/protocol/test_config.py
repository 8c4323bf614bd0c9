"""protocol/config.py and protocol/secrets.py: loading --config values (inline JSON or file), errors that
name the field, and secrets that never show up in an error, a log line or a masked config."""
from __future__ import annotations

import pytest

from protocol.config import config_errors, connector_config_schema, load_config, load_json_arg
from protocol.errors import ConfigError
from protocol.secrets import (MASK, config_secret_values, mask_config, redact_message, redact_text,
                              secret_forms)

SCHEMA = {
    "type": "object", "required": ["api_key"], "additionalProperties": False,
    "properties": {
        "api_key": {"type": "string", "minLength": 8, "secret": True},
        "base_url": {"type": "string", "pattern": "^https?://", "default": "https://api.stripe.com"},
        "retries": {"type": "integer", "minimum": 0, "default": 3},
        "nested": {"type": "object", "properties": {"token": {"type": "string", "secret": True}}},
    },
}
KEY = "sk_test_conf1gTestKey99"


def test_inline_json_and_file_give_the_same_config(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(f'{{"api_key": "{KEY}"}}')
    inline = load_config(f' {{"api_key": "{KEY}"}}', SCHEMA)
    assert load_config(str(path), SCHEMA) == inline
    assert inline == {"api_key": KEY, "base_url": "https://api.stripe.com", "retries": 3}  # defaults applied


def test_missing_file_and_bad_json_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="--config: file not found: nope.json") as exc:
        load_json_arg("nope.json", "--config")
    assert exc.value.exit_code == 2 and exc.value.hint
    with pytest.raises(ConfigError, match=r"--catalog: inline JSON is not valid JSON \(.*line 1"):
        load_json_arg('{"streams": [}', "--catalog")
    bad = tmp_path / "bad.json"
    bad.write_bytes(b'{"api_key": "x",}')
    with pytest.raises(ConfigError, match=f"--config: {bad} is not valid JSON"):
        load_json_arg(str(bad), "--config")
    with pytest.raises(ConfigError, match="expected a JSON object, got list"):
        load_config("[1]", SCHEMA)


def test_wrong_type_names_the_field():
    with pytest.raises(ConfigError) as exc:
        load_config(f'{{"api_key": "{KEY}", "retries": "three", "colour": 1}}', SCHEMA)
    text = exc.value.message
    assert "retries: 'three' is not of type 'integer'" in text
    assert "'colour' was unexpected" in text
    assert config_errors({}, SCHEMA) == ["api_key: required field is missing"]
    assert config_errors({"api_key": KEY, "nested": {"token": 5}}, SCHEMA) == [
        "nested.token: does not satisfy 'type'"]


SECRET = "sk_test_goodKey12345"


@pytest.mark.parametrize("config,secret,field", [
    ({"api_key": "shrt123"}, "shrt123", "api_key: does not satisfy 'minLength'"),
    ({"api_key": [SECRET]}, SECRET, "api_key: does not satisfy 'type'"),
    ({"api_key": SECRET, "base_url": SECRET}, SECRET, "base_url: '****' does not match"),  # pasted elsewhere
    ({"api_key": SECRET, "nested": {"token": 12345678}, "retries": -1}, SECRET, "nested.token: does not"),
])
def test_a_secret_value_never_appears_in_the_error(config, secret, field):
    from protocol.jsonio import dumps

    with pytest.raises(ConfigError) as exc:
        load_config(dumps(config).decode(), SCHEMA)
    assert field in str(exc.value)
    assert secret not in str(exc.value)


def test_secret_forms_and_config_secret_values():
    url = "postgresql://sync:pw-secret-9@db.internal:5432/stripe"
    assert secret_forms(url) == [url, "pw-secret-9"]
    assert secret_forms("abc") == [] and secret_forms(None) == []
    config = {"api_key": KEY, "nested": {"token": "tok_abcdef"}, "base_url": "https://x"}
    assert config_secret_values(config, SCHEMA) == [KEY, "tok_abcdef"]


def test_redaction_and_masking():
    url = "postgresql://sync:another-pw-77@db:5432/stripe"
    load_config(f'{{"api_key": "{KEY}", "nested": {{"token": "{url}"}}}}', SCHEMA)  # registers both
    text = redact_text(f"failed with {KEY} on {url} (password another-pw-77) and sk_live_unknownKey1")
    assert KEY not in text and "another-pw-77" not in text and "unknownKey1" not in text
    assert MASK in text and "sk_live_" in text
    msg = redact_message({"type": "log",
                          "log": {"level": "error", "message": f"key {KEY}", "data": {KEY: [KEY]}}})
    assert KEY not in str(msg)
    masked = mask_config({"api_key": KEY, "nested": {"token": "whatever"}, "retries": 1}, SCHEMA)
    assert masked == {"api_key": MASK, "nested": {"token": MASK}, "retries": 1}
    assert redact_text("password=hunter22 host=x") == f"password={MASK} host=x"


@pytest.mark.parametrize("name", ["source-stripe", "destination-postgres"])
def test_connector_config_schemas_mark_their_secrets(name):
    schema = connector_config_schema(name)
    assert any(p.get("secret") for p in schema["properties"].values())


def test_guessed_secret_values_are_the_one_key_name_heuristic():
    from protocol.secrets import guessed_secret_values, looks_secret

    config = {"api_key": "sk_test_abcdef", "base_url": "http://localhost:1234", "nested": {"db_url":
              "postgresql://u:pw12345@h/db", "list": [{"token": "tok_12345"}]}, "name": "plain", "count": 3}
    assert guessed_secret_values(config) == ["sk_test_abcdef", "postgresql://u:pw12345@h/db", "tok_12345"]
    assert looks_secret("Credentials") and looks_secret("DSN") and not looks_secret("schema")


def test_a_url_with_an_unencoded_at_in_its_password_is_masked_whole():
    from protocol.secrets import register_secret, url_userinfo, userinfo_problem

    url = "postgresql://sync:p@ss_Kq81w/x@db.example:5432/stripe"
    assert url_userinfo(url) == "sync:p@ss_Kq81w/x" and "unencoded '@' and '/'" in userinfo_problem(url)
    assert secret_forms(url) == [url, "p@ss_Kq81w/x", "ss_Kq81w"]
    # unregistered: the whole user-info, up to the last @, is masked by shape
    assert redact_text(f"cannot connect to {url}") == "cannot connect to postgresql://****@db.example:5432/stripe"
    register_secret(url)
    # what libpq says when it splits at the first @: the rest of the password as a host name
    said = 'could not translate host name "ss_Kq81w/x@db.example" to address'
    assert "ss_Kq81w" not in redact_text(said)
    assert userinfo_problem("postgresql://sync:p%40ss@db/x?user=a@b") is None
