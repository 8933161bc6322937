"""The `rules` command group: check, test and report, for the people who own the rules."""
import sys

import click

from cdss.authoring.check import check_rules
from cdss.authoring.examples import run_examples
from cdss.authoring.report import write_report
from cdss.loader import RuleFileError, load_rules


def default_rules_dir():
    """The configured rules directory (CDSS_RULES_DIR, else rules/)."""
    from cdss.config import load_config  # noqa: PLC0415

    return load_config()["RULES_DIR"]


rules_dir_option = click.option("--rules-dir", type=click.Path(exists=True, file_okay=False),
                                default=default_rules_dir, show_default="rules/ or CDSS_RULES_DIR",
                                help="The ruleset to work on.")


@click.group("rules")
def rules_group():
    """Tools for rule authors: check, test and report the knowledge base."""


@rules_group.command("check")
@rules_dir_option
def check_command(rules_dir):
    """Validate every rule file, value set and reference; exit 1 on any error."""
    problems = check_rules(rules_dir)
    for problem in problems:
        click.echo(str(problem), err=problem.level == "error")
    errors = sum(problem.level == "error" for problem in problems)
    warnings = len(problems) - errors
    click.echo(f"rules check: {errors} error(s), {warnings} warning(s)")
    sys.exit(1 if errors else 0)


@rules_group.command("test")
@rules_dir_option
@click.option("--rule", "prefix", default="", help="Only rules whose id starts with this.")
@click.option("--verbose", "-v", is_flag=True, help="List passing rules too.")
def test_command(rules_dir, prefix, verbose):
    """Run the examples every rule carries; report per rule; exit 1 on any failure."""
    outcomes = run_examples(load_or_fail(rules_dir), prefix)
    for outcome in outcomes:
        if verbose or not outcome.passed:
            click.echo(f"{'PASS' if outcome.passed else 'FAIL'} {outcome.topic}: {outcome.rule} "
                       f"({outcome.ran} examples)")
        for failure in outcome.failures:
            click.echo(f"    {failure}")
    failed = [outcome for outcome in outcomes if not outcome.passed]
    examples = sum(outcome.ran for outcome in outcomes)
    click.echo(f"rules test: {len(outcomes) - len(failed)} rules passed, {len(failed)} failed ({examples} examples)")
    sys.exit(1 if failed or not outcomes else 0)


@rules_group.command("report")
@rules_dir_option
@click.option("--output", "-o", "output_dir", type=click.Path(file_okay=False), default="rules-report",
              show_default=True, help="Directory for knowledge-base.html and knowledge-base.md.")
def report_command(rules_dir, output_dir):
    """Write the knowledge base as a standalone HTML and a Markdown document."""
    for path in write_report(load_or_fail(rules_dir), output_dir):
        click.echo(str(path))


def load_or_fail(rules_dir):
    """The loaded ruleset, or a clean exit naming the file and rule at fault."""
    try:
        return load_rules(rules_dir)
    except RuleFileError as error:
        raise click.ClickException(str(error)) from None
