"""release.adapters.build_secrets: the --secret arguments of a build, against moto's SSM and
Secrets Manager (server mode, on 127.0.0.1) and with env and file sources."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from release.adapters.aws.clients import AwsClients
from release.adapters.build_secrets import secret_args
from release.config.model import AwsAccount, BuildSecret
from release.errors import ReleaseError

REGION = "eu-west-1"
ACCOUNT = "123456789012"
VALUE = "s3cr3t-VALUE-never-printed"


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsClients]:
    for name in ("ACTIONS_ID_TOKEN_REQUEST_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    clients = AwsClients(AwsAccount(REGION, ACCOUNT, f"arn:aws:iam::{ACCOUNT}:role/r",
                                    endpoint_url=moto_endpoint))
    yield clients
    clients.close()


def _secret_files(args: list[str]) -> list[Path]:
    return [Path(a.split("src=", 1)[1]) for a in args if "src=" in a]


def test_env_and_file_sources_become_secret_arguments(tmp_path: Path) -> None:
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "netrc").write_text(VALUE)
    secrets = (BuildSecret("tok", env="PIP_TOKEN"), BuildSecret("netrc", file="ci/netrc"))
    with secret_args(secrets, root=tmp_path, environ={"PIP_TOKEN": VALUE}) as args:
        real = os.path.realpath(tmp_path / "ci" / "netrc")
        assert args == ["--secret", "id=tok,env=PIP_TOKEN", "--secret", f"id=netrc,src={real}"]
    assert VALUE not in " ".join(args)


def test_a_missing_env_variable_is_named_never_its_value(tmp_path: Path) -> None:
    secrets = (BuildSecret("tok", env="PIP_TOKEN"),)
    with pytest.raises(ReleaseError) as caught, secret_args(secrets, root=tmp_path, environ={}):
        pass
    assert "PIP_TOKEN is not set" in caught.value.message
    assert "secrets.PIP_TOKEN" in (caught.value.hint or "")
    with pytest.raises(ReleaseError, match="PIP_TOKEN is empty"), secret_args(
            secrets, root=tmp_path, environ={"PIP_TOKEN": ""}):
        pass


@pytest.mark.parametrize(("make", "message"), [
    (lambda root: None, "does not exist"),
    (lambda root: (root / "ci" / "netrc").mkdir(), "is a directory"),
    (lambda root: (root / "ci" / "netrc").symlink_to("/etc/hostname"), "leads outside"),
    (lambda root: (root / "ci" / "netrc").symlink_to("/dev/zero"), "leads outside"),
    (lambda root: os.mkfifo(root / "ci" / "netrc"), "not a regular file"),
], ids=["missing", "directory", "link-outside", "device", "fifo"])
def test_a_file_source_must_be_a_regular_file_inside_the_repository(
        tmp_path: Path, make: object, message: str) -> None:
    (tmp_path / "ci").mkdir()
    make(tmp_path)  # type: ignore[operator]
    with pytest.raises(ReleaseError, match=message), secret_args(
            (BuildSecret("netrc", file="ci/netrc"),), root=tmp_path, environ={}):
        pass


def test_a_path_with_a_comma_is_quoted_as_the_cli_reads_it(tmp_path: Path) -> None:
    (tmp_path / "a,b").mkdir()
    (tmp_path / "a,b" / "f").write_text(VALUE)
    with secret_args((BuildSecret("x", file="a,b/f"),), root=tmp_path, environ={}) as args:
        assert args[1] == f'id=x,"src={os.path.realpath(tmp_path / "a,b" / "f")}"'


def test_secrets_manager_and_ssm_values_go_to_private_files_removed_on_exit(
        tmp_path: Path, aws: AwsClients, capsys: pytest.CaptureFixture[str]) -> None:
    arn = aws.client("secretsmanager").create_secret(Name="ci/hub-token",
                                                     SecretString=VALUE)["ARN"]
    aws.client("ssm").put_parameter(Name="/ci/model-key", Value=VALUE + "-ssm",
                                    Type="SecureString")
    secrets = (BuildSecret("hub", aws_secret=arn), BuildSecret("model", ssm="/ci/model-key"))
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    with secret_args(secrets, root=tmp_path, environ={"RUNNER_TEMP": str(temp)},
                     aws_clients=aws) as args:
        files = _secret_files(args)
        assert [f.read_text() for f in files] == [VALUE, VALUE + "-ssm"]
        assert args[1].startswith("id=hub,src=")
        assert args[3].startswith("id=model,src=")
        directory = files[0].parent
        assert directory.parent == temp
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        assert {stat.S_IMODE(f.stat().st_mode) for f in files} == {0o600}
        assert VALUE not in " ".join(args)
    assert not directory.exists()
    out, err = capsys.readouterr()
    assert VALUE not in out + err  # not under Actions: nothing printed at all


def test_values_are_masked_first_under_github_actions(
        tmp_path: Path, aws: AwsClients, capsys: pytest.CaptureFixture[str]) -> None:
    aws.client("ssm").put_parameter(Name="/ci/masked", Value="masked-" + VALUE,
                                    Type="SecureString")
    secrets = (BuildSecret("tok", env="PIP_TOKEN"), BuildSecret("m", ssm="/ci/masked"))
    environ = {"GITHUB_ACTIONS": "true", "PIP_TOKEN": "env-" + VALUE}
    with secret_args(secrets, root=tmp_path, environ=environ, aws_clients=aws,
                     temp_dir=tmp_path):
        out = capsys.readouterr().out
    assert f"::add-mask::env-{VALUE}" in out
    assert f"::add-mask::masked-{VALUE}" in out


def test_the_private_directory_goes_even_when_the_build_fails(
        tmp_path: Path, aws: AwsClients) -> None:
    aws.client("ssm").put_parameter(Name="/ci/fail", Value=VALUE, Type="SecureString")
    made: list[Path] = []
    with pytest.raises(RuntimeError), secret_args(  # noqa: PT012 - the block is the build
            (BuildSecret("m", ssm="/ci/fail"),), root=tmp_path, environ={},
            aws_clients=aws, temp_dir=tmp_path) as args:
        made.extend(_secret_files(args))
        raise RuntimeError("docker build failed")
    assert made
    assert not made[0].exists()
    assert not made[0].parent.exists()


def test_a_secret_that_cannot_be_read_names_the_aws_error_code(
        tmp_path: Path, aws: AwsClients) -> None:
    arn = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ci/absent-AbCdEf"
    with pytest.raises(ReleaseError) as caught, secret_args(
            (BuildSecret("hub", aws_secret=arn),), root=tmp_path, environ={},
            aws_clients=aws, temp_dir=tmp_path):
        pass
    assert "build secret 'hub': reading " + arn in caught.value.message
    assert "ResourceNotFoundException" in caught.value.message
    assert list(tmp_path.iterdir()) == []  # nothing left behind
    with pytest.raises(ReleaseError, match="ParameterNotFound"), secret_args(
            (BuildSecret("m", ssm="/ci/absent"),), root=tmp_path, environ={},
            aws_clients=aws, temp_dir=tmp_path):
        pass


def test_an_aws_source_without_an_aws_account_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ReleaseError, match="no AWS account"), secret_args(
            (BuildSecret("m", ssm="/ci/x"),), root=tmp_path, environ={}):
        pass
