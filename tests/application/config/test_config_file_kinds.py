"""Only a regular file of at most 1 MiB is read as the config or a secret: a FIFO must not hang."""
import contextlib
import json
import logging
import os
import threading

import pytest

from application.config.load import ConfigError, load_settings, permission_warnings
from tests.application.daemon import run
from tests.application.config.test_config import VALID, write
from tests.application.test_reload import daemon as reloading_daemon
from tests.application.test_reload import FakeQBittorrentModes


@contextlib.contextmanager
def fifo_that_cannot_hang(path):
    """A FIFO, plus a writer that opens and closes it once a reader comes: code that (wrongly) opens it
    blocking gets an empty read and fails the test instead of hanging it."""
    os.mkfifo(path)
    writer = threading.Thread(target=lambda: os.close(os.open(path, os.O_WRONLY)), daemon=True)
    writer.start()
    try:
        yield str(path)
    finally:
        while writer.is_alive():  # release the writer, whether or not it reached its open() yet
            os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
            writer.join(0.01)


@pytest.fixture
def fifo(tmp_path):
    with fifo_that_cannot_hang(tmp_path / "config.fifo") as path:
        yield path


def only_problem(path, environ=None):
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ or {})
    (line,) = info.value.problems
    return line


def test_a_fifo_as_the_config_is_refused(fifo):
    assert only_problem(fifo) == "%s: cannot read the config file: it is a FIFO (named pipe), not a regular file" % fifo


def test_a_device_as_the_config_is_refused():
    # /dev/null, not /dev/zero: a regression must not read an endless file into memory
    assert only_problem("/dev/null") == "/dev/null: cannot read the config file: it is a character device, not a regular file"


def test_a_directory_as_the_config_is_refused(tmp_path):
    assert only_problem(str(tmp_path)) == "%s: cannot read the config file: Is a directory" % tmp_path


def test_a_config_larger_than_1_mib_is_refused(tmp_path):
    path = write(tmp_path, json.dumps(VALID) + " " * (1024 * 1024))
    assert only_problem(path) == "%s: cannot read the config file: it is larger than 1 MiB" % path


def test_a_config_of_exactly_1_mib_is_read(tmp_path):
    text = json.dumps(VALID)
    path = write(tmp_path, text + " " * (1024 * 1024 - len(text)))
    assert load_settings(path, {}).plex_url == VALID["plex_url"]


def test_a_config_that_is_not_utf8(tmp_path):
    path = tmp_path / "config.json"
    path.write_bytes(b'{"plex_url": "\xff"}')
    assert "cannot read the config file: not UTF-8 text (byte 14)" in only_problem(str(path))


def test_deeply_nested_json_is_an_error_not_a_crash(tmp_path):
    path = write(tmp_path, "[" * 200_000 + "]" * 200_000)
    assert "not valid JSON" in only_problem(path)


def test_a_huge_integer_is_an_error_not_a_crash(tmp_path):
    path = write(tmp_path, '{"poll_interval_sec": %s}' % ("9" * 5000))
    assert "not valid JSON" in only_problem(path)


@pytest.mark.parametrize("variable", ["PLEX_TOKEN_FILE", "PLEX_HELPER_STATUS_TOKEN_FILE", "PLEX_HELPER_NOTIFY_FILE"])
def test_a_fifo_as_a_secret_file_is_refused(tmp_path, fifo, variable):
    line = only_problem(write(tmp_path, VALID), {variable: fifo})
    assert line == "%s: cannot read %s: it is a FIFO (named pipe), not a regular file" % (variable, fifo)


def test_permission_warnings_do_not_hang_on_a_fifo(fifo):
    assert permission_warnings(fifo, {}) == []


def test_the_daemon_exits_2_at_once_with_a_fifo_config(fifo):
    result = run("--config", fifo, "--once", timeout=20)
    assert result.returncode == 2, result.stderr
    assert "not a regular file" in result.stderr and "Traceback" not in result.stderr


def test_a_fifo_secret_file_does_not_hang_the_daemon(tmp_path, fifo):
    result = run("--config", write(tmp_path, VALID), "--check", timeout=20, PLEX_TOKEN_FILE=fifo)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == "PLEX_TOKEN_FILE: cannot read %s: it is a FIFO (named pipe), not a regular file" % fifo


def test_a_reload_pointed_at_a_fifo_keeps_the_running_config(tmp_path, caplog):
    fake = FakeQBittorrentModes()
    path, runner, reload = reloading_daemon(tmp_path, fake, [[]], poll_interval_sec=7)
    before = reload.settings
    os.unlink(path)
    with fifo_that_cannot_hang(path), caplog.at_level(logging.ERROR, logger="plex_helper.test"):
        assert reload() is False
    assert reload.settings is before and runner.interval_sec == 0
    assert any("keeping the running config" in r.getMessage() and "not a regular file" in r.getMessage()
               for r in caplog.records)


# --- secrets as systemd credentials: %d/ and $CREDENTIALS_DIRECTORY/ -------------------------------

def entries_with_secret_files(token_file, password_file):
    return {
        "media_servers": [{"name": "plex", "type": "plex", "url": "http://192.168.1.10:32400", "token_file": token_file}],
        "download_clients": [{"name": "seedbox", "type": "qbittorrent", "url": "http://192.168.1.10:8080",
                              "username": "admin", "password_file": password_file}],
    }


@pytest.fixture
def credentials(tmp_path):
    directory = tmp_path / "credentials"
    directory.mkdir()
    (directory / "plex_token").write_text("tok-credential\n")
    (directory / "qbittorrent_password").write_text("pw-credential\n")
    return directory


def test_file_fields_name_the_credentials_directory(tmp_path, credentials):
    config = entries_with_secret_files("%d/plex_token", "$CREDENTIALS_DIRECTORY/qbittorrent_password")
    settings = load_settings(write(tmp_path, config), {"CREDENTIALS_DIRECTORY": str(credentials)})
    assert settings.media_servers[0].token == "tok-credential"
    assert settings.download_clients[0].password == "pw-credential"


def test_file_variables_name_the_credentials_directory(tmp_path, credentials):
    config = dict(VALID)
    del config["plex_token"]
    environ = {"CREDENTIALS_DIRECTORY": str(credentials), "PLEX_TOKEN_FILE": "${CREDENTIALS_DIRECTORY}/plex_token"}
    assert load_settings(write(tmp_path, config), environ).plex_token == "tok-credential"


def test_the_credentials_directory_unset_is_a_clear_error(tmp_path):
    path = write(tmp_path, entries_with_secret_files("%d/plex_token", "/etc/plex-helper/qbittorrent_password-absent"))
    with pytest.raises(ConfigError) as info:
        load_settings(path, {})
    token_line = [line for line in info.value.problems if "token_file" in line]
    assert token_line == ["%s: media_servers[0].token_file: %%d/plex_token names systemd's credentials directory, but "
                          "CREDENTIALS_DIRECTORY is not set (it is under a unit with LoadCredential=; to check the "
                          "config outside it, set CREDENTIALS_DIRECTORY to the directory that holds those files, "
                          "e.g. /etc/plex-helper)" % path]


def test_check_as_root_warns_about_files_the_service_could_not_read(tmp_path, credentials):
    from application.config.service_access import service_access_warnings

    private = tmp_path / "qbittorrent_password"
    private.write_text("pw\n")
    os.chmod(private, 0o600)
    config = entries_with_secret_files("%d/plex_token", str(private))
    config["media_servers"][0]["ca_file"] = "/home/someone/ca.pem"
    warnings = service_access_warnings(write(tmp_path, config), {"CREDENTIALS_DIRECTORY": str(credentials)})
    assert warnings == [  # the credential is fine; the root-only file and the home directory are not
        "media_servers[0].ca_file: /home/someone/ca.pem is under a home directory, which the service cannot see "
        "(ProtectHome=); move it, e.g. to /etc/plex-helper/ca.pem",
        "download_clients[0].password_file: the service could not read %s (it runs as a dynamic user, and the file "
        "is not readable by everyone); hand it over as a credential: LoadCredential=qbittorrent_password:%s in the "
        "unit, and password_file %%d/qbittorrent_password in the config" % (private, private),
    ]
