/* Lays out one evaluation as the CDS Hooks cards an EHR gets: indicator, summary, detail, the proposed
   orders, links and override reasons the cards carry, an expandable "why" and the citations; plus the
   classification, the threshold strip of the patient's group and what was missing or not recognised.
   Built with DOM nodes and textContent only. */
(function () {
  "use strict";
  const LABELS = { critical: "Critical", warning: "Warning", info: "Info" };
  const TYPES = { primary: "primary RLS", secondary: "secondary RLS", undetermined: "undetermined" };

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function factsTable(facts) {
    // The API's readable_facts: each fact as a clinician reads it ("Ferritin", "30 ng/mL"), never its key.
    const table = el("table", "facts");
    facts.forEach(function (fact) {
      const row = el("tr");
      row.dataset.fact = fact.fact;
      row.append(el("th", null, fact.label), el("td", null, fact.value));
      table.append(row);
    });
    return table;
  }

  function reasonItem(reason) {
    const item = el("li", "reason");
    const head = el("div", "reason-head");
    head.append(el("span", "reason-title", reason.title), document.createTextNode(" "),
                el("code", "rule-id", reason.rule), el("span", "version", " v" + reason.version));
    item.append(head, el("div", "statement", reason.statement));
    if ((reason.readable_facts || []).length) item.append(factsTable(reason.readable_facts));
    if (reason.chain && reason.chain.length) {
      const chain = el("ul", "chain");
      reason.chain.forEach(function (inner) { chain.append(reasonItem(inner)); });
      item.append(el("div", "chain-label", "which used:"), chain);
    }
    return item;
  }

  function why(reasoning, references, label) {
    const details = el("details", "why");
    details.append(el("summary", null, label));
    const list = el("ul", "reasons");
    reasoning.forEach(function (reason) { list.append(reasonItem(reason)); });
    details.append(list);
    if (references && references.length) {
      const refs = el("ul", "references");
      references.forEach(function (ref) {
        const item = el("li");
        item.append(/^https?:\/\//.test(ref.url) ? window.SafeMarkdown.link(ref.citation, ref.url)
                                                 : document.createTextNode(ref.citation));
        refs.append(item);
      });
      details.append(el("div", "refs-label", "Sources"), refs);
    }
    return details;
  }

  function cdsParts(node, cdsCard) {
    // What the CDS Hooks card carries besides its text: proposed orders, links and override reasons.
    (cdsCard.suggestions || []).forEach(function (suggestion) {
      const box = el("div", "suggestion");
      box.append(el("span", "suggestion-label", "Proposed order: " + suggestion.label),
                 el("span", "suggestion-note", " (not placed: order it in the EHR if you agree)"));
      const actions = el("ul", "suggestion-actions");
      (suggestion.actions || []).forEach(function (action) {
        const resource = action.resource ? " (" + action.resource.resourceType + ", " + action.resource.status + ")" : "";
        actions.append(el("li", null, action.description + resource));
      });
      box.append(actions);
      node.append(box);
    });
    if ((cdsCard.links || []).length) {
      const links = el("ul", "card-links");
      cdsCard.links.forEach(function (link) {
        const item = el("li");
        item.append(/^https?:\/\//.test(link.url) ? window.SafeMarkdown.link(link.label, link.url)
                                                : document.createTextNode(link.label));
        links.append(item);
      });
      node.append(el("div", "links-label", "Links"), links);
    }
    if ((cdsCard.overrideReasons || []).length) {
      const details = el("details", "overrides");
      details.append(el("summary", null, "Reasons a clinician may record for not following this advice"));
      const list = el("ul", "override-reasons");
      cdsCard.overrideReasons.forEach(function (reason) {
        const item = el("li", null, reason.display);
        item.dataset.code = reason.code;
        list.append(item);
      });
      details.append(list);
      node.append(details);
    }
  }

  function card(item, cdsCard) {
    const node = el("article", "card indicator-" + item.indicator);
    node.dataset.code = item.code;
    const source = el("div", "card-source");
    source.append(el("span", "indicator badge " + item.indicator, LABELS[item.indicator] || item.indicator),
                  el("span", "code-label", " " + item.label),
                  el("span", "source-label", " - RLS decision support"));
    const detail = el("div", "detail");
    detail.append(window.SafeMarkdown.render(item.detail));
    node.append(source, el("h3", "summary", item.title), detail, el("p", "strength", "Strength: " + item.strength));
    if (cdsCard) cdsParts(node, cdsCard);
    node.append(why(item.reasoning, item.references, "Why this advice"));
    return node;
  }

  function classification(result) {
    const box = el("div", "classification-box");
    const c = result.classification;
    const head = el("p", "classification-type");
    head.append(el("span", "label", "Classification: "), el("strong", "type", TYPES[c.type] || c.type));
    if (c.causes.length) {
      head.append(el("span", "causes", " (" + c.causes.map(function (cause) {
        return c.cause_labels[cause]; }).join(", ") + ")"));
    }
    box.append(head);
    if (c.associated_conditions.length) {
      box.append(el("p", "associated", "Associated conditions: " + c.associated_conditions.map(function (name) {
        return c.associated_condition_labels[name]; }).join(", ")));
    }
    if (c.reasoning.length) box.append(why(c.reasoning, [], "Why this classification"));
    return box;
  }

  function findFact(result, name) {
    const stack = result.classification.reasoning.slice();
    result.recommendations.forEach(function (item) { stack.push.apply(stack, item.reasoning); });
    while (stack.length) {
      const reason = stack.pop();
      if (reason.facts && typeof reason.facts[name] === "number") return reason.facts[name];
      (reason.chain || []).forEach(function (inner) { stack.push(inner); });
    }
    return null;
  }

  function labValue(result, context, test, spec) {
    // The canonical value the rules reasoned with; else the entered value when it is already in the
    // strip's unit (the page never converts units: that is the service's job).
    const reasoned = findFact(result, spec.fact);
    if (reasoned !== null) return reasoned;
    const lab = (context.labs || {})[test];
    return lab && typeof lab.value === "number" && lab.unit === spec.unit ? lab.value : null;
  }

  function position(value, bounds) {
    const clamped = Math.max(bounds[0], Math.min(value, bounds[bounds.length - 1]));
    for (let i = 0; i < bounds.length - 1; i += 1) {
      if (clamped <= bounds[i + 1]) {
        const within = (clamped - bounds[i]) / (bounds[i + 1] - bounds[i]);
        return 100 * (i + within) / (bounds.length - 1);  // equal width per band, so 50/75/100 stay legible
      }
    }
    return 100;
  }

  function bandOf(value, bands) {
    // A band holds values up to its bound (included when the rules say "at or below").
    return bands.find(function (band) { return band.inclusive ? value <= band.to : value < band.to; }) ||
      bands[bands.length - 1];
  }

  function scale(test, lab, bands, value) {
    const row = el("div", "scale-row");
    row.dataset.lab = test;
    const bounds = [0].concat(bands.map(function (band) { return band.to; }));
    const bar = el("div", "scale");
    bands.forEach(function (band, index) {
      const segment = el("span", "band band-" + band.kind);
      const left = position(bounds[index], bounds);
      segment.style.left = left + "%";
      segment.style.width = (position(bounds[index + 1], bounds) - left) + "%";
      segment.title = band.label;
      segment.dataset.to = band.to;
      bar.append(segment);
    });
    bounds.slice(1, -1).forEach(function (mark) {
      const tick = el("span", "tick", mark);
      tick.style.left = position(mark, bounds) + "%";
      bar.append(tick);
    });
    const label = el("span", "scale-label", lab.label + " (" + lab.unit + ")");
    if (value === null) {
      row.append(label, bar, el("span", "scale-value missing", "not available"));
      return row;
    }
    const marker = el("span", "marker");
    marker.style.left = position(value, bounds) + "%";
    marker.title = value + " " + lab.unit;
    bar.append(marker);
    const max = bounds[bounds.length - 1];
    const shown = el("span", "scale-value", value + " " + lab.unit + (value > max ? " (off scale)" : ""));
    const band = bandOf(value, bands);
    const meaning = el("span", "band-meaning band-text-" + band.kind, band.label);
    const cell = el("span", "scale-reading");
    cell.append(shown, meaning);
    row.append(label, bar, cell);
    return row;
  }

  function strip(result, context, thresholds, group) {
    const box = el("div", "strip-box");
    const spec = thresholds.groups[group];
    box.dataset.group = group;
    box.append(el("div", "strip-title", "Where the labs sit against the thresholds for: " + spec.label));
    Object.keys(thresholds.labs).forEach(function (test) {
      const lab = thresholds.labs[test];
      box.append(scale(test, lab, spec.bands[test], labValue(result, context, test, lab)));
    });
    return box;
  }

  function notes(result) {
    const box = el("div", "notes-box");
    if (result.missing.length) {
      box.append(el("p", "missing", "Not recorded: " + result.missing.map(function (item) {
        return result.missing_labels[item]; }).join(", ")));
    }
    Object.keys(result.unrecognized || {}).forEach(function (kind) {
      const line = el("p", "unrecognized");
      line.append(el("span", null, "Not recognised (" + kind + "): "));
      result.unrecognized[kind].forEach(function (name, index) {
        if (index) line.append(document.createTextNode(", "));
        line.append(el("span", "unrecognized-name", name));
      });
      box.append(line);
    });
    return box;
  }

  function render(answer, context, thresholds) {
    // answer: POST /advice - the evaluation, the CDS Hooks cards built from it, the patient's group.
    const result = answer.evaluation;
    const cdsCards = {};
    answer.cards.forEach(function (cdsCard) { cdsCards[cdsCard.code] = cdsCards[cdsCard.code] || cdsCard; });
    document.getElementById("classification").replaceChildren(classification(result));
    document.getElementById("strip").replaceChildren(strip(result, context, thresholds, answer.group));
    const cards = document.getElementById("cards");
    cards.replaceChildren();
    result.recommendations.forEach(function (item) { cards.append(card(item, cdsCards[item.code])); });
    if (!result.recommendations.length) cards.append(el("p", "placeholder", "No advice applies."));
    document.getElementById("notes").replaceChildren(notes(result));
    document.getElementById("ruleset").textContent = "Ruleset " + result.ruleset.id + " " +
      result.ruleset.version + " (" + result.ruleset.digest.slice(0, 19) + "...) - evaluation " + result.evaluation_id;
    document.getElementById("advice-placeholder").hidden = true;
    document.getElementById("results").hidden = false;
  }

  window.AdviceView = { render: render };
})();
