"""`rules report`: the knowledge base as standalone HTML and Markdown, from the data of GET /api/v1/rules."""
from pathlib import Path

from flask import Flask, render_template
from markupsafe import Markup

from cdss.authoring.appendix import appendix_data, appendix_markdown
from cdss.evaluation import Evaluator


def knowledge_base(knowledge):
    """The knowledge base exactly as GET /api/v1/rules serves it, for this knowledge (no database needed)."""
    from cdss import api, web  # noqa: PLC0415

    app = Flask("cdss")
    app.extensions["cdss"] = Evaluator(knowledge, new_id=lambda: "report")
    app.register_blueprint(api.bp)
    app.register_blueprint(web.bp)
    with app.test_request_context():
        kb = web.knowledge_base_data()
        kb["appendix"] = appendix_data(knowledge)
        css = Path(web.bp.static_folder, "style.css").read_text(encoding="utf-8")
        appendix = Markup(render_template("appendix.html", data=kb["appendix"]))  # noqa: S704 - autoescaped template
        html = render_template("rules.html", kb=kb, topics=web.by_topic(kb["rules"]), standalone=True,
                               inline_css=Markup(css), appendix=appendix)  # noqa: S704 - our own stylesheet
    return kb, html


def markdown(kb):
    """The knowledge base as a Markdown document for a governance committee."""
    from cdss.web import by_topic  # noqa: PLC0415

    ruleset = kb["ruleset"]
    lines = [f"# Knowledge base: {ruleset['id']} {ruleset['version']}", "",
             f"Last reviewed {kb['last_reviewed']}; {len(kb['rules'])} rules; digest `{ruleset['digest']}`.", ""]
    for topic, rules in by_topic(kb["rules"]):
        lines += [f"## {topic}", ""]
        for rule in rules:
            lines += rule_markdown(rule, kb["last_reviewed"])
    if "appendix" in kb:
        lines += appendix_markdown(kb["appendix"])
    return "\n".join(lines)


def rule_markdown(rule, last_reviewed):
    """One rule as a Markdown section."""
    lines = [f"### `{rule['id']}` v{rule['version']}: {rule['title']}", "",
             f"- **When:** {rule['condition_text']}", f"- **Then:** {outputs_text(rule['outputs'])}",
             f"- **Strength:** {rule['strength']}"]
    if rule.get("rationale"):
        lines.append(f"- **Rationale:** {rule['rationale']}")
    lines.append("- **Citations:**")
    lines += [f"  - [{ref['citation']}]({ref['url']})" for ref in rule["citations"]]
    reviewed = (", ".join(rule.get("reviewed_for") or []) or "none of the special populations"
                if rule["outputs"].get("recommendation") else "not applicable (the rule gives no advice)")
    lines += [f"- **Reviewed for:** {reviewed}", f"- **Last reviewed:** {last_reviewed}", ""]
    return lines


def outputs_text(outputs):
    """A rule's outputs in one line."""
    parts = []
    if outputs.get("recommendation"):
        item = outputs["recommendation"]
        parts.append(f"recommend `{item['code']}` ({item['indicator']}): {item['title']}")
    for key, label in (("finding", "finding"), ("cause", "secondary cause"), ("classification", "classification")):
        if outputs.get(key):
            parts.append(f"{label} `{outputs[key]}`")
    if outputs.get("withhold_classification"):
        parts.append("withholds the classification")
    if outputs.get("missing"):
        parts.append("missing: " + ", ".join(outputs["missing"]))
    return "; ".join(parts)


def write_report(knowledge, directory):
    """Write knowledge-base.html and knowledge-base.md into `directory`; return their paths."""
    kb, html = knowledge_base(knowledge)
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    paths = target / "knowledge-base.html", target / "knowledge-base.md"
    paths[0].write_text(html, encoding="utf-8")
    paths[1].write_text(markdown(kb) + "\n", encoding="utf-8")
    return paths
