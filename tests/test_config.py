"""Config loading: the example loads, paths resolve, and every error names file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.config.load import load_config
from digest.errors import ConfigError
from tests.cli_helpers import run_cli
from tests.conftest import ROOT

GOOD = """
[email]
sender = "Paper Digest <digest@example.org>"

[[sources]]
name = "a"
url = "listings/a.xml"

[[subscribers]]
name = "Ada"
email = "ada@example.org"
keywords = ["pruning"]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_loads() -> None:
    """config.example.toml is a valid config."""
    config = load_config(ROOT / "config.example.toml")
    assert config.settings.sources and config.subscribers


def test_demo_config_loads() -> None:
    """examples/demo.toml is a valid config whose sources are bundled files."""
    config = load_config(ROOT / "examples" / "demo.toml")
    for source in config.settings.sources:
        assert Path(config.source_location(source.url)).is_file()


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    """Store, outbox and local source paths are relative to the config file, not the cwd."""
    config = load_config(_write(tmp_path, GOOD))
    assert config.store_url == f"sqlite:///{tmp_path / 'state' / 'digest.sqlite3'}"
    assert config.outbox == tmp_path / "outbox"
    assert config.source_location("listings/a.xml") == str(tmp_path / "listings" / "a.xml")
    assert config.source_location("https://x.org/f") == "https://x.org/f"


@pytest.mark.parametrize(
    ("edit", "key", "words"),
    [
        (('email = "ada@example.org"', 'email = "bob@"'), "subscribers[0].email", "'bob@'"),
        (
            ('keywords = ["pruning"]', 'keywords = "pruning"'),
            "subscribers[0].keywords",
            "expected a list",
        ),
        (
            ('keywords = ["pruning"]', 'keywords = ["pruning"]\ncolour = 3'),
            "subscribers[0].colour",
            "unknown key",
        ),
        (('name = "a"', 'name = "a"\ntype = "gopher"'), "sources[0].type", "found 'gopher'"),
        (
            ('sender = "Paper Digest <digest@example.org>"', 'sender = "nobody"'),
            "email.sender",
            "'nobody'",
        ),
        (
            ('keywords = ["pruning"]', 'keywords = ["pruning"]\nmax_papers = "ten"'),
            "subscribers[0].max_papers",
            "'ten'",
        ),
        (
            ('name = "Ada"', 'name = "Ada\\r\\nBcc: x@evil.example"'),
            "subscribers[0].name",
            "control",
        ),
    ],
)
def test_errors_name_file_key_expected_and_found(
    tmp_path: Path, edit: tuple[str, str], key: str, words: str
) -> None:
    """Each invalid value is reported with the file, the key path and what was found."""
    path = _write(tmp_path, GOOD.replace(*edit, 1))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {key}: ")
    assert words in message
    assert info.value.key == key


def test_missing_sections_are_named(tmp_path: Path) -> None:
    """A config without subscribers says that key is required."""
    text = GOOD.split("[[subscribers]]")[0]
    with pytest.raises(ConfigError, match=r"subscribers: required key is missing"):
        load_config(_write(tmp_path, text))


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    """A TOML syntax error names the file and the line."""
    with pytest.raises(ConfigError, match=r"not valid TOML.*line"):
        load_config(_write(tmp_path, "[email\n"))


def test_cli_exits_2_with_one_line_for_config_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI prints one line naming file and key and exits 2; a missing file too."""
    path = _write(tmp_path, GOOD.replace('email = "ada@example.org"', 'email = "bob@"'))
    result = run_cli(capsys, "run", "--once", "--config", path)
    assert result.code == 2
    assert result.err.strip().count("\n") == 0
    assert "subscribers[0].email" in result.err and str(path) in result.err
    missing = run_cli(capsys, "run", "--once", "--config", tmp_path / "nope.toml")
    assert missing.code == 2
    assert "config file not found" in missing.err


def test_missing_password_variable_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """password_env naming an unset variable fails clearly instead of logging in blank; the
    variable is read once, when the config is loaded."""
    monkeypatch.delenv("DIGEST_TEST_PW", raising=False)
    config = load_config(_write(tmp_path, GOOD + '\n[smtp]\npassword_env = "DIGEST_TEST_PW"\n'))
    with pytest.raises(ConfigError, match="DIGEST_TEST_PW is not set"):
        config.smtp_password()
    monkeypatch.setenv("DIGEST_TEST_PW", "s3cret")
    config = load_config(_write(tmp_path, GOOD + '\n[smtp]\npassword_env = "DIGEST_TEST_PW"\n'))
    assert config.smtp_password() == "s3cret"


def test_subscriber_ranking_settings_load_and_validate(tmp_path: Path) -> None:
    """exclude, authors, categories and min_score reach the Subscriber; a bad category is named."""
    extra = 'exclude = ["medical"]\nauthors = ["Ada Lovelace"]\ncategories = ["cs.LG", "stat"]\nmin_score = 1\n'
    config = load_config(
        _write(
            tmp_path, GOOD.replace('keywords = ["pruning"]\n', 'keywords = ["pruning"]\n' + extra)
        )
    )
    (sub,) = config.subscribers
    assert (sub.exclude, sub.authors, sub.categories, sub.min_score) == (
        ("medical",),
        ("Ada Lovelace",),
        ("cs.LG", "stat"),
        1.0,
    )
    bad = _write(
        tmp_path,
        GOOD.replace(
            'keywords = ["pruning"]\n', 'keywords = ["pruning"]\ncategories = ["CS LG"]\n'
        ),
    )
    with pytest.raises(
        ConfigError, match=r"subscribers\[0\]\.categories\[0\]: expected an arXiv category"
    ):
        load_config(bad)


@pytest.mark.parametrize(
    ("edit", "key", "words"),
    [
        (
            ('keywords = ["pruning"]', 'keywrds = ["pruning"]'),
            "subscribers[0].keywrds",
            "did you mean 'keywords'?",
        ),
        (("[email]", '[email]\nsendr = "x@y.org"'), "email.sendr", "did you mean 'sender'?"),
        (('name = "a"', 'name = "a"\nurll = "b"'), "sources[0].urll", "did you mean 'url'?"),
        (("[email]", "[smtp]\nprot = 25\n\n[email]"), "smtp.prot", "did you mean 'port'?"),
    ],
)
def test_unknown_keys_come_first_with_the_closest_valid_key(
    tmp_path: Path, edit: tuple[str, str], key: str, words: str
) -> None:
    """A misspelt key is the error reported (before the missing key it leaves behind), and the
    message suggests the valid key it is closest to."""
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, GOOD.replace(*edit, 1)))
    assert info.value.key == key
    assert words in str(info.value)


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (
            ('keywords = ["pruning"]', 'keywords = ["pruning"]\nmax_papers = 0'),
            "expected a number at least 1, found 0",
        ),
        (
            ('keywords = ["pruning"]', 'keywords = ["pruning"]\nmax_papers = 2.5'),
            "expected a whole number, found 2.5",
        ),
        (('keywords = ["pruning"]', "keywords = []"), "must not be empty, found ()"),
        (
            ("[email]", '[smtp]\nsecurity = "ssl"\n\n[email]'),
            "expected one of 'starttls', 'tls', 'none', found 'ssl'",
        ),
        (
            ("[email]", '[ranking]\nsemantic = "yes"\n\n[email]'),
            "expected true, false or \"auto\", found 'yes'",
        ),
        (("[email]", "store = 3\n\n[email]"), "expected a table, found 3"),
    ],
)
def test_validator_jargon_is_said_in_the_configs_words(
    tmp_path: Path, edit: tuple[str, str], words: str
) -> None:
    """Pydantic's wording ("Input should be ...") never reaches the user."""
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, GOOD.replace(*edit, 1)))
    assert words in str(info.value), str(info.value)
    assert "Input should" not in str(info.value)


def test_templates_folder_and_ca_file_are_checked_at_load(tmp_path: Path) -> None:
    """A missing [email] templates folder or [smtp] ca_file is a config error when loading,
    so `check` and `run` agree; an existing folder is resolved against the config."""
    with pytest.raises(ConfigError, match=r"email\.templates: no such folder"):
        load_config(_write(tmp_path, GOOD.replace("[email]", '[email]\ntemplates = "mine"', 1)))
    (tmp_path / "mine").mkdir()
    config = load_config(
        _write(tmp_path, GOOD.replace("[email]", '[email]\ntemplates = "mine"', 1))
    )
    assert config.templates == tmp_path / "mine"
    ca = GOOD.replace("[email]", '[smtp]\nca_file = "absent.pem"\n\n[email]', 1)
    with pytest.raises(ConfigError, match=r"smtp\.ca_file: cannot load"):
        load_config(_write(tmp_path, ca))


SUBSCRIBER = '[[subscribers]]\nname = "{name}"\nemail = "{email}"\nkeywords = ["x"]\n'


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (
            [("A", "a@example.org"), ("A", "b@example.org")],
            "subscribers[1].name: duplicate name 'A'",
        ),
        (
            [("A", "a@example.org"), ("B", "A@EXAMPLE.org")],
            "subscribers[1].email: 'A@EXAMPLE.org' is also subscribers[0] ('A'); one address "
            "gets one digest, so merge the two entries",
        ),
        (
            [("A", "bad"), ("", "b@example.org"), ("C", "c@example.org")],
            "subscribers[0].email: ",
        ),
    ],
)
def test_subscriber_problems_name_the_entry(
    tmp_path: Path, entries: list[tuple[str, str]], message: str
) -> None:
    """Subscribers validated one by one still report the entry's index, duplicates across
    entries, and how many more problems the file has."""
    text = GOOD.split("[[subscribers]]")[0] + "".join(
        SUBSCRIBER.format(name=n, email=e) for n, e in entries
    )
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: {message}")
    if entries[0][1] == "bad":
        assert str(info.value).endswith("(and 1 more problem(s))")


def test_an_empty_subscriber_list_is_named(tmp_path: Path) -> None:
    """`subscribers = []` says the list must not be empty, in the file's own words."""
    path = _write(tmp_path, "subscribers = []\n" + GOOD.split("[[subscribers]]")[0])
    with pytest.raises(ConfigError, match=r"subscribers: must not be empty, found \[\]"):
        load_config(path)


def test_many_subscribers_load_in_order_with_shared_schedules(tmp_path: Path) -> None:
    """Two thousand entries become Subscriber values in file order, one Slot object shared."""
    text = GOOD.split("[[subscribers]]")[0] + "".join(
        SUBSCRIBER.format(name=f"R{i}", email=f"r{i}@example.org") for i in range(2000)
    )
    config = load_config(_write(tmp_path, text))
    assert [s.name for s in config.subscribers] == [f"R{i}" for i in range(2000)]
    assert len({id(slot) for slot in config.slots}) == 1
    assert config.settings.subscribers == ()
