"""A GRZ's own S3 in ``genomlab.toml`` (``[grz_s3.<GRZ id>]``): validation and credentials by
reference (issue 17). The intake against such an S3 is tested in
``tests/genome_center/test_official_intake_own_s3.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from genomlab.config import ConfigError, GenomlabConfig, load_config

GOOD = """
[grz_s3.GRZK00001]
endpoint_url = "https://s3.grz.example.org:9000/"
region = "eu-central-1"
inbox_bucket = "grzk00001-inbox"
archive_consented_bucket = "grzk00001-archive-consented"
archive_non_consented_bucket = "grzk00001-archive-non-consented"
"""


def _load(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> GenomlabConfig:
    path = tmp_path / "genomlab.toml"
    path.write_text(text)
    return load_config(path, environ={"GENOMLAB_HOME": str(tmp_path), **(environ or {})})


def _credentials(tmp_path: Path, mode: int, text: str = 'access_key = "AK"\n'
                 'secret_key = "SK"\n') -> Path:
    path = tmp_path / "s3.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_grz_s3__configured_by_file_and_by_environment_variables(tmp_path: Path) -> None:
    creds = _credentials(tmp_path, 0o600)
    cfg = _load(tmp_path, GOOD + f'credentials_file = "{creds}"\n'
                f'ca_bundle = "{tmp_path / "ca.pem"}"\n')
    s3 = cfg.grz_s3["GRZK00001"]
    assert s3.endpoint_url == "https://s3.grz.example.org:9000"  # trailing slash dropped
    assert (s3.region, s3.inbox_bucket, s3.ca_bundle) == ("eu-central-1", "grzk00001-inbox",
                                                           tmp_path / "ca.pem")
    assert s3.get_credentials("GRZK00001") == ("AK", "SK")
    assert "GRZK00002" not in cfg.grz_s3  # another GRZ: the local moto inbox

    by_env = _load(tmp_path, GOOD + 'access_key_env = "GRZ1_KEY"\nsecret_key_env = "GRZ1_SECRET"\n')
    assert by_env.grz_s3["GRZK00001"].get_credentials(
        "GRZK00001", {"GRZ1_KEY": "ak", "GRZ1_SECRET": "sk"}) == ("ak", "sk")
    with pytest.raises(ConfigError, match=r"^grz_s3\.GRZK00001\.secret_key_env: environment "
                                          r"variable GRZ1_SECRET is not set$"):
        by_env.grz_s3["GRZK00001"].get_credentials("GRZK00001", {"GRZ1_KEY": "ak"})


def test_grz_s3__environment_overrides_name_the_grz_in_upper_case(tmp_path: Path) -> None:
    creds = _credentials(tmp_path, 0o400)
    cfg = _load(tmp_path, GOOD + f'credentials_file = "{creds}"\n', {
        "GENOMLAB_GRZ_S3__GRZK00001__INBOX_BUCKET": "other-inbox"})
    assert cfg.grz_s3["GRZK00001"].inbox_bucket == "other-inbox"
    with pytest.raises(ConfigError, match=r"^GENOMLAB_GRZ_S3__GRZK00001__ENDPOINT_URL: "
                                          r"grz_s3\.GRZK00001\.endpoint_url: expected an http"):
        _load(tmp_path, GOOD + f'credentials_file = "{creds}"\n', {
            "GENOMLAB_GRZ_S3__GRZK00001__ENDPOINT_URL": "s3.example.org"})


@pytest.mark.parametrize(("extra", "message"), [
    ('credentials_file = "/etc/s3.toml"\nendpoint_url = "ftp://x"\n', None),  # duplicate key
    ('access_key_env = "K"\n', "grz_s3.GRZK00001: missing credentials"),
    ('credentials_file = "/etc/s3.toml"\naccess_key_env = "K"\nsecret_key_env = "S"\n',
     "grz_s3.GRZK00001: give credentials_file or access_key_env"),
    ('credentials_file = "s3.toml"\n', "grz_s3.GRZK00001.credentials_file: expected an absolute"),
    ('access_key_env = "AKIA-1234/secret"\nsecret_key_env = "S"\n',
     "grz_s3.GRZK00001.access_key_env: expected the name of an environment variable"),
    ('credentials_file = "/etc/s3.toml"\nsecret = "x"\n', "grz_s3.GRZK00001.secret: unknown key"),
])
def test_grz_s3__invalid_settings_name_the_grz_and_key(tmp_path: Path, extra: str,
                                                       message: str | None) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, GOOD + extra)
    if message is None:
        assert "not valid TOML" in str(info.value)
    else:
        assert str(info.value).startswith(f"{tmp_path / 'genomlab.toml'}: {message}"), info.value
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("replace", "message"), [
    (('"https://s3.grz.example.org:9000/"', '"https://s3.grz.example.org/bucket"'),
     "grz_s3.GRZK00001.endpoint_url: expected an http:// or https:// URL"),
    (('"grzk00001-inbox"', '"GRZK00001_Inbox"'),
     "grz_s3.GRZK00001.inbox_bucket: expected an S3 bucket name"),
    (('"grzk00001-archive-consented"', '"grzk00001-inbox"'),
     "grz_s3.GRZK00001: inbox_bucket, archive_consented_bucket and "
     "archive_non_consented_bucket must be three different buckets"),
    (("[grz_s3.GRZK00001]", "[grz_s3.GRZ1]"), "grz_s3: GRZ id 'GRZ1' does not match"),
    (('region = "eu-central-1"\n', ""), None),  # region has a default
    (('inbox_bucket = "grzk00001-inbox"\n', ""),
     "grz_s3.GRZK00001.inbox_bucket: missing required key"),
    (('"https://s3.grz.example.org:9000/"', '"http://127.0.0.1:9000"'),
     "grz_s3.GRZK00001: ca_bundle is given but endpoint_url is not https://"),
])
def test_grz_s3__invalid_values_name_the_grz_and_key(tmp_path: Path, replace: tuple[str, str],
                                                     message: str | None) -> None:
    text = GOOD.replace(*replace) + 'credentials_file = "/etc/s3.toml"\nca_bundle = "/ca.pem"\n'
    if message is None:
        assert _load(tmp_path, text).grz_s3["GRZK00001"].region == "us-east-1"
        return
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, text)
    assert str(info.value).startswith(f"{tmp_path / 'genomlab.toml'}: {message}"), info.value


@pytest.mark.parametrize(("mode", "text", "message"), [
    (0o644, None, r"readable or writable by others \(mode 0644\)"),
    (0o640, None, r"readable or writable by others \(mode 0640\)"),
    (0o602, None, r"readable or writable by others \(mode 0602\)"),
    (0o600, 'access_key = "AK"\n', "secret_key missing"),
    (0o600, 'access_key = "AK"\nsecret_key = 3\n', "secret_key missing or not a non-empty"),
    (0o600, "access_key = \n", "not a readable TOML file"),
])
def test_grz_s3__bad_credentials_file_is_refused_naming_it(tmp_path: Path, mode: int,
                                                          text: str | None,
                                                          message: str) -> None:
    creds = _credentials(tmp_path, mode) if text is None else _credentials(tmp_path, mode, text)
    cfg = _load(tmp_path, GOOD + f'credentials_file = "{creds}"\n')
    with pytest.raises(ConfigError, match=rf"^grz_s3\.GRZK00001\.credentials_file: "
                                          rf"{creds}: {message}"):
        cfg.grz_s3["GRZK00001"].get_credentials("GRZK00001")


def test_grz_s3__missing_credentials_file_is_named(tmp_path: Path) -> None:
    cfg = _load(tmp_path, GOOD + f'credentials_file = "{tmp_path / "gone.toml"}"\n')
    with pytest.raises(ConfigError, match=rf"^grz_s3\.GRZK00001\.credentials_file: "
                                          rf"{tmp_path / 'gone.toml'}: cannot read it"):
        cfg.grz_s3["GRZK00001"].get_credentials("GRZK00001")
