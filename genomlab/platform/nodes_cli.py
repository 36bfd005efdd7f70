"""``genomlab platform nodes`` and the Meldebestätigung key, check, status, billing and CSV.

``verify-confirmation`` needs nothing but the file and the platform's public key (PEM), so a
health insurer runs it offline; it exits non-zero for a Meldebestätigung that is not billable.
``confirmation-status`` and ``bill-confirmation`` are the insurer's lookup at the platform
(billable, not billable, revoked, already billed) and its double-billing guard;
``meldebestaetigung-csv`` writes a hospital's CSV as BfArM delivers it.

Every command here is an operator command of the platform: it runs with access to the
platform's folder and store, and the ledger records the OS account (``operator:<account>``).
"""

from __future__ import annotations

from pathlib import Path

import click

from genomlab.cli_context import CliContext, pass_cli
from genomlab.cli_output import OutputFormat, echo_rows, format_option


def operator() -> str:
    """The ledger actor of these operator commands: ``operator:<OS account>``. The operator's
    credential is access to the platform's folder and store; no typed name counts."""
    from genomlab.platform.person_credentials import get_operator_actor

    return get_operator_actor()


@click.group("nodes")
def nodes() -> None:
    """Genome data centres, clinical nodes and data services known to the platform."""


@nodes.command("apply")
@click.argument("node_id")
@click.option("--name", required=True, help="Name of the institution running the node.")
@pass_cli
def nodes_apply(cli: CliContext, node_id: str, name: str) -> None:
    """Record an application for NODE_ID (GRZ…, KDK… or DS…)."""
    from genomlab.platform.nodes import NodeRegistry

    NodeRegistry(cli.config).apply(node_id, name=name, actor=operator())
    click.echo(f"{node_id}: applied")


def _decision(name: str, doc: str) -> click.Command:
    @click.argument("node_id")
    @click.option("--reason", default="", required=name != "approve",
                  help="Why (recorded in the platform ledger).")
    @pass_cli
    def command(cli: CliContext, node_id: str, reason: str) -> None:
        from genomlab.platform.nodes import NodeRegistry

        registry = NodeRegistry(cli.config)
        getattr(registry, name)(node_id, actor=operator(), reason=reason)
        click.echo(f"{node_id}: {registry.get_node(node_id)['status']}")

    command.__doc__ = doc
    return nodes.command(name)(command)


_decision("approve", "Approve NODE_ID (also re-approves a suspended node).")
_decision("suspend", "Suspend NODE_ID: its Prüfberichte are refused until approved again.")
_decision("revoke", "Revoke NODE_ID for good: its Prüfberichte are refused.")


@nodes.command("list")
@format_option()
@pass_cli
def nodes_list(cli: CliContext, output_format: OutputFormat) -> None:
    """List registered nodes with their status."""
    from genomlab.platform.nodes import NodeRegistry

    echo_rows(NodeRegistry(cli.config).list_nodes(),
              [("node_id", "Node"), ("kind", "Kind"), ("status", "Status"), ("name", "Name")],
              output_format)


@nodes.command("seed")
@pass_cli
def nodes_seed(cli: CliContext) -> None:
    """Register (approved) the nodes BfArM's project page lists; ids already present are kept."""
    from genomlab.platform.node_seed import get_seed_source, seed_nodes

    added = seed_nodes(cli.config, actor=operator())
    source = get_seed_source()
    click.echo(f"{len(added)} node(s) registered from {source['url']} ({source['as_of']}): "
               f"{', '.join(added) or 'none new'}")


@nodes.command("issue-client")
@click.argument("node_id")
@click.option("--replace", is_flag=True, help="Revoke the node's current client and issue anew.")
@click.option("--save", is_flag=True,
              help="Write the credentials into the node's instance folder in this home "
                   "(<instance>/platform-client.json, 0600) instead of showing the secret: the "
                   "embedded default, where one home holds every institution.")
@pass_cli
def nodes_issue_client(cli: CliContext, node_id: str, replace: bool, save: bool) -> None:
    """Issue the OAuth client of approved NODE_ID; the secret is shown only this once."""
    from genomlab.platform.oauth_clients import issue_client

    issued = issue_client(cli.config, node_id, actor=operator(),
                          replace=replace)
    if not save:
        click.echo(f"client_id: {issued.client_id}\nclient_secret: {issued.client_secret}\n"
                   f"scope: {issued.scope}")
        return
    from genomlab.clients.oauth import (
        ClientCredentials,
        get_credentials_path,
        save_client_credentials,
    )
    from genomlab.institution import Institution
    from genomlab.platform.nodes import get_node_kind

    kind = get_node_kind(node_id)
    institution = (Institution(cli.config, kind, node_id) if kind in ("grz", "kdk")
                   else Institution(cli.config, kind))
    path = get_credentials_path(institution.directory)
    save_client_credentials(path, ClientCredentials(issued.client_id, issued.client_secret,
                                                    node_id))
    click.echo(f"client_id: {issued.client_id}\nscope: {issued.scope}\nsaved to {path}")


@nodes.command("revoke-client")
@click.argument("client_id")
@click.option("--reason", required=True, help="Why (recorded in the platform ledger).")
@pass_cli
def nodes_revoke_client(cli: CliContext, client_id: str, reason: str) -> None:
    """Revoke CLIENT_ID: no more tokens, and its unexpired tokens stop working."""
    from genomlab.platform.oauth_clients import revoke_client

    revoke_client(cli.config, client_id, actor=operator(), reason=reason)
    click.echo(f"{client_id}: revoked")


@nodes.command("clients")
@format_option()
@pass_cli
def nodes_clients(cli: CliContext, output_format: OutputFormat) -> None:
    """List the OAuth clients issued to nodes (never their secrets)."""
    from genomlab.platform.oauth_clients import list_clients

    echo_rows(list_clients(cli.config), [("client_id", "Client"), ("node_id", "Node"),
                                         ("status", "Status"), ("scope", "Scope")],
              output_format)


@click.command("confirmation-key")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the PEM here (default: print it).")
@pass_cli
def confirmation_key(cli: CliContext, out: Path | None) -> None:
    """Export the platform's public key that verifies Meldebestätigungen."""
    from genomlab.platform.confirmations import get_confirmation_public_key_pem

    pem = get_confirmation_public_key_pem(cli.config)
    if out is None:
        click.echo(pem.decode(), nl=False)
    else:
        out.write_bytes(pem)
        click.echo(str(out))


@click.command("verify-confirmation")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--public-key", "public_key", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The platform's public confirmation key (PEM).")
def verify_confirmation(file: Path, public_key: Path) -> None:
    """Verify a Meldebestätigung FILE with only the platform's public key.

    Exits 1 if any byte was altered, and 1 if it is genuine but not billable (quality check
    failed, test submission).
    """
    from genomlab.errors import ValidationFailed
    from genomlab.platform.billing import get_billing_problem
    from genomlab.platform.confirmations import verify_confirmation_bytes

    body = verify_confirmation_bytes(file.read_bytes(), public_key.read_bytes())
    problem = get_billing_problem(qc_passed=bool(body["complete"]),
                                  submission_type=str(body["meldung_type"]))
    if problem:
        raise ValidationFailed(f"{file}: genuine Meldebestätigung {body['confirmation_id']} is "
                               f"not billable: {problem}")
    click.echo(f"valid: {body['confirmation_id']} of {body['date']}: {body['meldung_type']} "
               f"({body['data_category']}, {body['indication']}, {body['sequencing_type']}, "
               f"{'complete' if body['complete'] else 'incomplete'}) for IK "
               f"{body['submitter_id']} via {body['data_node_id']}")



@click.command("confirmation-status")
@click.argument("reference")
@pass_cli
def confirmation_status(cli: CliContext, reference: str) -> None:
    """Billing status of a Meldebestätigung (MB id or IBE code); exit 1 unless billable."""
    from genomlab.errors import ValidationFailed
    from genomlab.platform.billing import get_confirmation_status

    status = get_confirmation_status(cli.config, reference)
    line = f"{status['confirmation_id']}: {status['status']}"
    if status["status"] != "billable":
        raise ValidationFailed(f"{line}: {status['reason']}")
    click.echo(line)


@click.command("bill-confirmation")
@click.argument("reference")
@click.option("--insurer", "insurer_ik", required=True, help="The billing insurer's IK (9 digits).")
@pass_cli
def bill_confirmation(cli: CliContext, reference: str, insurer_ik: str) -> None:
    """Record the billing of a Meldebestätigung; a second billing of it is refused."""
    from genomlab.platform.billing import record_billing

    record_billing(cli.config, reference, insurer_ik=insurer_ik,
                   actor=operator())
    click.echo(f"{reference}: billed by {insurer_ik}")


@click.command("meldebestaetigung-csv")
@click.argument("submitter_id")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write (default: <home>/hospitals/<IK>/Meldebestaetigungen_<IK>.csv).")
@pass_cli
def meldebestaetigung_csv(cli: CliContext, submitter_id: str, out: Path | None) -> None:
    """Write hospital SUBMITTER_ID's Meldebestätigungen as BfArM's CSV (Vorgangsnummer;IBE)."""
    from genomlab.platform.mb_delivery import write_hospital_mb_csv

    click.echo(str(write_hospital_mb_csv(cli.config, submitter_id, out)))
