"""Every ``genomlab`` command spells the acting person and the data node the same way.

The test walks the whole command tree through click (no source text is read): an option counts
as a person option or a node option when its parameter name or one of its flags is one of the
words used for them anywhere. No command takes a person by name (issue 15: people act by their
credentials file, ``--credentials``); each node option is exactly ``--node`` (parameter
``node_id``).
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator

import click
import pytest

from genomlab.cli import COMMAND_PACKAGES, LAZY_COMMANDS, main
from genomlab.cli_context import CREDENTIALS_OPTION, NODE_OPTION

PERSON_WORDS = {"user", "actor", "as", "acting_user", "by", "requester", "person", "who"}
NODE_WORDS = {"node", "node_id", "nodeid", "grz", "kdk", "grz_id", "kdk_id", "data_node"}
INSTITUTION_PACKAGES = ("genomlab.trust_center", "genomlab.genome_center",
                        "genomlab.clinical_node", "genomlab.platform", "genomlab.data_service",
                        "genomlab.workspace", "genomlab.airlock")


def walk_commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[
        tuple[tuple[str, ...], click.Command]]:
    """Every command below ``group`` with its path of names (groups included)."""
    commands = main.load_all_commands() if group is main else group.commands
    for name, command in commands.items():
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from walk_commands(command, (*path, name))


def _words(option: click.Option) -> set[str]:
    flags = {flag.lstrip("-").replace("-", "_") for flag in option.opts + option.secondary_opts}
    return {*flags, option.name or ""}


def find_options(words: set[str]) -> dict[str, click.Option]:
    """``"genomlab a b --flag"`` → option, for every option that uses one of ``words``."""
    found = {}
    for path, command in walk_commands(main):
        for param in command.params:
            if isinstance(param, click.Option) and _words(param) & words:
                found[" ".join(("genomlab", *path, *param.opts))] = param
    return found


@pytest.mark.parametrize(("words", "flag", "name", "groups"), [
    ({"credentials"}, CREDENTIALS_OPTION, "credentials",
     {"platform", "trust-center", "data-service", "airlock", "workspace"}),
    (NODE_WORDS, NODE_OPTION, "node_id", {"grz", "kdk", "trust-center"}),
], ids=["credentials", "node"])
def test_find_options__credentials_and_node_are_spelled_one_way_in_every_group(
        words: set[str], flag: str, name: str, groups: set[str]) -> None:
    options = find_options(words)
    wrong = {where: (o.opts, o.name) for where, o in options.items()
             if (o.opts, o.secondary_opts, o.name) != ([flag], [], name)}
    assert wrong == {}
    assert groups <= {where.split()[1] for where in options}


def test_command_packages__each_institution_has_one_top_level_group() -> None:
    for package in INSTITUTION_PACKAGES:
        assert package in COMMAND_PACKAGES
        commands = importlib.import_module(f"{package}.cli").commands
        assert [type(c) for c in commands] == [click.Group], package
        assert main.load_all_commands()[commands[0].name] is commands[0]


def test_lazy_commands__name_every_command_the_packages_export_with_its_own_help() -> None:
    exported: dict[str | None, list[str]] = {"demo": ["genomlab.demo"]}
    for package in COMMAND_PACKAGES:
        for command in importlib.import_module(f"{package}.cli").commands:
            exported.setdefault(command.name, []).append(f"{package}.cli")
    assert {name: lazy.modules[0] for name, lazy in LAZY_COMMANDS.items()} == {
        name: modules[0] for name, modules in exported.items()}
    assert all(set(modules) <= set(LAZY_COMMANDS[str(name)].modules)
               for name, modules in exported.items())
    loaded = main.load_all_commands()
    for name, lazy in LAZY_COMMANDS.items():  # what `genomlab --help` lists before loading
        stub = click.Command(name, help=lazy.summary)
        for limit in (45, 80, 200):
            assert stub.get_short_help_str(limit) == loaded[name].get_short_help_str(limit), name


def test_main__trust_center_alone_has_the_consent_propagation() -> None:
    # genomlab.intake.cli adds it to the trust centre's group; loaded with `trust-center` only
    code = ("from genomlab.cli import main\n"
            "try:\n    main(['trust-center', 'consent', '--help'])\nexcept SystemExit:\n"
            "    pass")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert "withdraw-everywhere" in run.stdout, run.stdout
    assert "delete-everywhere" in run.stdout, run.stdout


def test_main__serve_loads_only_its_own_command() -> None:
    # each `genomlab serve` and each CLI call in a test paid 3-8 s for jsonschema (its IRI
    # format checker builds a grammar on import), pandas and the other groups' modules
    code = ("import sys; from genomlab.cli import main\n"
            "try:\n    main(['serve', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('jsonschema', 'pandas', 'hail', 'genomlab.federation',"
            " 'genomlab.platform.cli', 'genomlab.intake.cli') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert "Serve institution KIND" in run.stdout
    assert run.stdout.splitlines()[-1] == "[]", run.stdout


def test_users_group__holds_user_administration_and_review_does_not() -> None:
    platform = main.load_all_commands()["platform"]
    assert isinstance(platform, click.Group)
    users, review = platform.commands["users"], platform.commands["review"]
    assert isinstance(users, click.Group)
    assert isinstance(review, click.Group)
    admin = {"bootstrap-admin", "add", "grant", "withdraw", "entitlements"}
    assert admin <= set(users.commands)
    assert not {"bootstrap-admin", "add-user", "grant", "withdraw", "entitlements"} & set(
        review.commands)


LISTING_NAMES = {"list", "status", "queue", "history", "clients", "entitlements", "select-qc"}
"""Command names that list records; ``register show`` and ``ledger show`` list too."""
LISTING_PATHS = {("platform", "register", "show"), ("ledger", "show"), ("glossary",)}


def get_listing_commands() -> dict[tuple[str, ...], click.Command]:
    """Every command of the tree that lists records (by its name)."""
    return {path: command for path, command in walk_commands(main)
            if not isinstance(command, click.Group)
            and (path[-1] in LISTING_NAMES or path in LISTING_PATHS)}


def test_listing_commands__each_takes_format_table_or_json() -> None:
    from genomlab.cli_output import FORMAT_OPTION

    listing = get_listing_commands()
    assert len(listing) >= 14
    missing = {}
    for path, command in listing.items():
        options = [p for p in command.params if isinstance(p, click.Option)
                   and FORMAT_OPTION in p.opts]
        if not (options and options[0].name == "output_format"
                and isinstance(options[0].type, click.Choice)
                and list(options[0].type.choices) == ["table", "json"]
                and options[0].default == "table"):
            missing[" ".join(path)] = [p.opts for p in command.params]
    assert missing == {}


def test_find_options__no_command_takes_a_person_by_name() -> None:
    """People act by their credentials file (``--credentials``), never by a name (issue 15):
    no option of any ``genomlab …`` command is a person option (``--user``, ``--as``, …)."""
    assert sorted(find_options(PERSON_WORDS)) == []
    credentials = [where for where in find_options({"credentials"})
                   if where.split()[1] == "platform"]
    assert "genomlab platform review approve --credentials" in credentials
    assert all(where.endswith(CREDENTIALS_OPTION) for where in credentials)
