"""The parts of the knowledge base that are not rules, for `rules report` (issue 11): how codes relate, the
populations a rule is reviewed for, and the value sets (medication classes with their evidence tiers,
conditions with their codes), as plain data, as Markdown and (through appendix.html) as HTML."""


def appendix_data(knowledge):
    """Code relations, causes, populations and value sets of a loaded ruleset, labelled for a reader."""
    manifest, labels = knowledge.manifest, knowledge.codes["recommendations"]
    tiers = knowledge.facts["medication"]["evidence"].get("value_labels", {})

    def code(name):
        return {"code": name, "label": labels[name]["label"]}

    return {
        "conflicting": [[code(a), code(b)] for a, b in manifest["relations"]["conflicting"]],
        "supersedes": [[code(a), code(b)] for a, b in manifest["relations"]["supersedes"]],
        "causes": [{"cause": name, "label": knowledge.codes["causes"][name]["label"],
                    "advice": [code(item) for item in spec["advice"]],
                    "contradicted_by": [code(item) for item in spec["contradicted_by"]]}
                   for name, spec in manifest["causes"].items()],
        "populations": [{"name": name, "pattern": pattern,
                         "rules": [rule.id for rule in knowledge.rules if name in rule.reviewed_for]}
                        for name, pattern in manifest["populations"].items()],
        "medications": [{"class": name, "label": spec["label"], "worsens_rls": spec["worsens_rls"],
                         "evidence": spec["evidence"], "evidence_label": tiers.get(spec["evidence"], spec["evidence"]),
                         "alternatives": spec["alternatives"],
                         "ingredients": [ingredient_entry(ingredient, entry)
                                         for ingredient, entry in spec["ingredients"].items()]}
                        for name, spec in knowledge.medications.items()],
        "conditions": [{"name": name, "label": spec["label"], "role": spec["role"], "cause": spec.get("cause") or "",
                        "icd10cm": spec["icd10cm"], "icd10cm_exclude": spec["icd10cm_exclude"],
                        "snomed": spec["snomed"], "snomed_sets": spec["snomed_sets"], "synonyms": spec["synonyms"]}
                       for name, spec in knowledge.conditions.items()],
    }


def appendix_markdown(data):
    """The appendix as Markdown lines."""
    pair = lambda item: f"`{item['code']}` ({item['label']})"  # noqa: E731 - one line, used four times
    lines = ["## Code relations", "", "Every pair not listed is compatible. Conflicting pairs are never shown "
             "together (`rules check` proves no patient reaches both; the first is kept):", ""]
    lines += [f"- {pair(a)} / {pair(b)}" for a, b in data["conflicting"]]
    lines += ["", "When both fire, the first replaces the second:", ""]
    lines += [f"- {pair(a)} replaces {pair(b)}" for a, b in data["supersedes"]]
    lines += ["", "## Causes and their advice", ""]
    for cause in data["causes"]:
        advice = ", ".join(f"`{item['code']}`" for item in cause["advice"]) or "none required"
        against = ", ".join(f"`{item['code']}`" for item in cause["contradicted_by"]) or "none"
        lines.append(f"- `{cause['cause']}` ({cause['label']}): with one of {advice}; never with {against}")
    lines += ["", "## Populations (reviewed-for flags)", ""]
    for population in data["populations"]:
        lines.append(f"- **{population['name']}** (`{population['pattern']}`): {len(population['rules'])} rules "
                     f"reviewed for it: {', '.join(population['rules']) or 'none'}")
    lines += ["", "## Value set: medications", "",
              "| Class | Label | Worsens RLS | Evidence | Alternatives | Ingredients (RxNorm; other names) |",
              "|---|---|---|---|---|---|"]
    for spec in data["medications"]:
        ingredients = "; ".join(item["text"] for item in spec["ingredients"])
        lines.append(f"| `{spec['class']}` | {spec['label']} | {'yes' if spec['worsens_rls'] else 'no'} | "
                     f"{spec['evidence']}: {spec['evidence_label']} | {spec['alternatives'] or '-'} | {ingredients} |")
    lines += ["", "## Value set: conditions", "",
              "| Condition | Label | Role | Cause | ICD-10-CM roots | SNOMED CT | Synonyms |", "|---|---|---|---|---|---|---|"]
    for spec in data["conditions"]:
        icd = ", ".join(spec["icd10cm"]) + (f" (minus {', '.join(spec['icd10cm_exclude'])})" if spec["icd10cm_exclude"] else "")
        snomed = ", ".join(spec["snomed"] + [f"set {name}" for name in spec["snomed_sets"]])
        lines.append(f"| `{spec['name']}` | {spec['label']} | {spec['role']} | {spec['cause'] or '-'} | {icd or '-'} | "
                     f"{snomed or '-'} | {', '.join(spec['synonyms']) or '-'} |")
    return lines + [""]


def ingredient_entry(name, entry):
    """One ingredient of a medication class, with its text for the tables."""
    item = {"name": name, "rxnorm": entry.get("rxnorm", ""), "names": [*entry["brands"], *entry.get("aliases", [])],
            "products": entry.get("products", [])}
    return dict(item, text=ingredient_text(item))


def ingredient_text(item):
    """'sertraline 36437 (Zoloft)'; product codes when the entry claims some."""
    text = item["name"] + (f" {item['rxnorm']}" if item["rxnorm"] else "")
    extra = item["names"] + [f"products {', '.join(item['products'])}"] * bool(item["products"])
    return text + (f" ({', '.join(extra)})" if extra else "")
