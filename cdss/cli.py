"""Command line: `cdss evaluate FILE.json` (also `flask --app wsgi evaluate FILE.json`)."""
import json
import sys
import textwrap

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext
from marshmallow import ValidationError

from cdss.authoring.commands import rules_group
from cdss.errors import flatten
from cdss.facts import UnknownConditionError
from cdss.screening import screen_command
from schemas.context import PatientContextSchema


def render(result):
    """An evaluation as text a clinician can read in a terminal."""
    classification = result["classification"]
    lines = [f"Classification: {classification['type']}"
             + (f" ({', '.join(classification['causes'])})" if classification["causes"] else "")]
    if classification["associated_conditions"]:
        lines.append(f"Associated conditions: {', '.join(classification['associated_conditions'])}")
    if result["missing"]:
        lines.append(f"Missing: {', '.join(result['missing'])}")
    for item in result["recommendations"]:
        lines += ["", f"[{item['indicator'].upper()}] {item['title']}  ({item['code']}; {item['strength']})"]
        lines += textwrap.wrap(item["detail"], 96, initial_indent="  ", subsequent_indent="  ")
        for why in item["reasoning"]:
            lines.append(f"  why: {why['rule']} {why['version']}: {why['statement']}")
        for reference in item["references"]:
            lines.append(f"  see: {reference['citation']}")
    lines += ["", f"Ruleset {result['ruleset']['id']} {result['ruleset']['version']} {result['ruleset']['digest']}"]
    return "\n".join(lines)


@click.command("evaluate")
@click.argument("path", type=click.File("r"))
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON instead of text.")
@with_appcontext
def evaluate_command(path, as_json):
    """Print the advisories for a patient context file (the native API's JSON)."""
    try:
        context = PatientContextSchema().load(json.load(path))
        result = current_app.extensions["cdss"].evaluate(context)
    except json.JSONDecodeError as error:
        raise click.ClickException(f"{path.name}: not valid JSON: {error}") from None
    except ValidationError as error:
        fields = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in flatten(error.messages).items())
        raise click.ClickException(f"{path.name}: invalid patient context: {fields}") from None
    except UnknownConditionError as error:
        raise click.ClickException(f"{path.name}: {error.fields}") from None
    click.echo(json.dumps(result, indent=2) if as_json else render(result))


def register(app):
    """Attach the commands to the Flask CLI."""
    app.cli.add_command(evaluate_command)
    app.cli.add_command(rules_group)
    app.cli.add_command(screen_command)


def create_cli_app():
    """The application the `cdss` console script runs against."""
    from cdss import create_app  # noqa: PLC0415

    return create_app()


def main():
    """Entry point of the `cdss` console script."""
    group = FlaskGroup(create_app=create_cli_app, add_default_commands=False, add_version_option=False,
                       load_dotenv=False, help="rls-cdss commands")
    group.add_command(evaluate_command)
    group.add_command(rules_group)
    group.add_command(screen_command)
    sys.exit(group.main())
