"""engine.configs (configs from options or the environment, secrets registered, sync identity) and
engine.connectors.ArgFile (configs handed to children without touching the disk)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from engine.sync.configs import destination_config, identity, source_config, strip_url_password
from engine.sync.children import ArgFile
from protocol.errors import ConfigError
from protocol.secrets import redact_text


def test_configs_from_the_environment_with_overrides():
    env = {"STRIPE_API_KEY": "sk_test_fromEnv123456", "DATABASE_URL": "postgresql://me:hunter22@db/x"}
    assert source_config(None, env, "http://127.0.0.1:1") == {"api_key": "sk_test_fromEnv123456",
                                                              "base_url": "http://127.0.0.1:1"}
    assert destination_config(None, env, "stripe_copy") == {"url": "postgresql://me:hunter22@db/x",
                                                            "schema": "stripe_copy"}
    assert "hunter22" not in redact_text("connect postgresql://me:hunter22@db/x failed: hunter22")
    assert "fromEnv" not in redact_text("key sk_test_fromEnv123456")


def test_given_configs_win_and_missing_ones_are_a_clear_usage_error():
    assert source_config('{"api_key": "rk_test_given1234"}', {"STRIPE_API_KEY": "sk_test_other"}) == \
        {"api_key": "rk_test_given1234"}
    with pytest.raises(ConfigError, match="STRIPE_API_KEY"):
        source_config(None, {})
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        destination_config(None, {})
    with pytest.raises(ConfigError, match="expected a JSON object"):
        destination_config("[1]", {})


def test_identity_keeps_no_secret():
    config = {"url": "postgresql://u:pw123@h:5/db", "schema": "s", "api_key": "sk_live_x", "batch_size": 5,
              "nested": {"a": 1}}
    assert identity(config) == {"url": "postgresql://u@h:5/db", "schema": "s", "batch_size": 5}
    assert strip_url_password("postgresql://h/db") == "postgresql://h/db"


def test_arg_file_is_readable_by_a_child_as_a_path_and_not_on_disk():
    arg = ArgFile({"api_key": "sk_test_abc"}, "config")
    try:
        assert arg.path.startswith("/dev/fd/")
        read = subprocess.run([sys.executable, "-c", "import sys; print(open(sys.argv[1]).read())", arg.path],
                              pass_fds=arg.pass_fds, capture_output=True, text=True, check=True)
        assert read.stdout.strip() == '{"api_key":"sk_test_abc"}'
    finally:
        arg.close()
