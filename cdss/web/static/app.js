/* The advice page: reads the form into the native patient context, posts it to /api/v1/evaluate (the
   API an EHR calls) and shows the answer as CDS Hooks-style cards. No clinical logic lives here: every
   decision comes from the API; the page only lays it out. All text goes in through textContent. */
(function () {
  "use strict";
  const API = "/api/v1/evaluate";
  const form = document.getElementById("context-form");
  const THRESHOLDS = JSON.parse(document.getElementById("thresholds").textContent);
  // Labels of the orders a recommendation proposes; the page never places them (the EHR does).
  const ORDERS = {
    order_iron_studies: "iron studies (ferritin, serum iron, TIBC, TSAT)",
    oral_iron: "oral iron supplementation",
    iv_iron: "IV iron infusion",
  };

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function setPath(target, path, value) {
    const keys = path.split(".");
    let node = target;
    keys.slice(0, -1).forEach(function (key) { node = node[key] = node[key] || {}; });
    node[keys[keys.length - 1]] = value;
  }

  function getPath(source, path) {
    return path.split(".").reduce(function (node, key) { return node == null ? undefined : node[key]; }, source);
  }

  function typed(input, raw) {
    if (input.dataset.kind === "boolean") return raw === "true";
    if (input.inputMode === "decimal" || input.dataset.field === "pregnancy.trimester") {
      const number = Number(raw);
      return raw !== "" && Number.isFinite(number) ? number : raw;  // the API names what is wrong
    }
    return raw;
  }

  function fixedFields() {
    return Array.from(form.querySelectorAll("[data-field]")).filter(function (input) {
      return !input.closest("[data-list]");
    });
  }

  function readContext() {
    const context = {};
    fixedFields().forEach(function (input) {
      const raw = input.value.trim();
      if (raw !== "") setPath(context, input.dataset.field, typed(input, raw));
    });
    Object.keys(context.labs || {}).forEach(function (test) {
      if (!("value" in context.labs[test])) delete context.labs[test];  // a unit alone is no result
    });
    context.medications = listValues("medications").map(function (text) {
      return /^\d+$/.test(text) ? { rxnorm: text } : { name: text };
    });
    context.conditions = listValues("conditions").map(function (text) {
      const parts = text.split("|");
      return parts.length === 2 ? { system: parts[0].trim(), code: parts[1].trim() } : { name: text };
    });
    return context;
  }

  function listValues(name) {
    return Array.from(document.querySelectorAll('[data-list="' + name + '"] input'))
      .map(function (input) { return input.value.trim(); })
      .filter(function (text) { return text !== ""; });
  }

  function addRow(name, value) {
    const list = document.querySelector('[data-list="' + name + '"]');
    const index = list.children.length;
    const row = el("div", "list-row");
    const input = el("input");
    input.type = "text";
    input.value = value || "";
    input.dataset.field = name + "." + index;
    input.setAttribute("aria-label", name + " " + (index + 1));
    if (name === "conditions") input.setAttribute("list", "condition-names");
    const remove = el("button", "small secondary", "Remove");
    remove.type = "button";
    remove.addEventListener("click", function () { row.remove(); renumber(name); });
    const error = el("p", "field-error");
    error.dataset.errorFor = name + "." + index;
    row.append(input, remove, error);
    list.append(row);
    return input;
  }

  function renumber(name) {
    document.querySelectorAll('[data-list="' + name + '"] .list-row').forEach(function (row, index) {
      row.querySelector("input").dataset.field = name + "." + index;
      row.querySelector(".field-error").dataset.errorFor = name + "." + index;
    });
  }

  function clearForm() {
    fixedFields().forEach(function (input) {
      if (input.tagName === "SELECT" && input.id.startsWith("unit-")) input.selectedIndex = 0;
      else input.value = "";
    });
    ["medications", "conditions"].forEach(function (name) {
      document.querySelector('[data-list="' + name + '"]').replaceChildren();
    });
    clearErrors();
  }

  function fillForm(context) {
    clearForm();
    fixedFields().forEach(function (input) {
      const value = getPath(context, input.dataset.field);
      if (value === undefined || value === null) return;
      if (input.tagName === "SELECT" && !Array.from(input.options).some(function (o) { return o.value === String(value); })) {
        input.append(new Option(String(value), String(value)));  // a unit spelled as the EHR sent it
      }
      input.value = String(value);
    });
    (context.medications || []).forEach(function (item) { addRow("medications", item.name || item.rxnorm); });
    (context.conditions || []).forEach(function (item) {
      addRow("conditions", item.name || item.system + "|" + item.code);
    });
  }

  function clearErrors() {
    form.querySelectorAll(".field-error").forEach(function (node) { node.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach(function (node) { node.removeAttribute("aria-invalid"); });
    document.getElementById("form-error").textContent = "";
  }

  function errorSlot(path) {
    const slots = Array.from(form.querySelectorAll("[data-error-for]"));
    for (let keys = path.split("."); keys.length; keys.pop()) {
      const prefix = keys.join(".");
      const slot = slots.find(function (node) { return node.dataset.errorFor === prefix; });
      if (slot) return slot;
    }
    return document.getElementById("form-error");
  }

  function showErrors(error) {
    clearErrors();
    const fields = error.fields || {};
    Object.keys(fields).forEach(function (path) {
      const slot = errorSlot(path);
      const text = fields[path].join(" ");
      slot.textContent = slot.textContent ? slot.textContent + " " + text : text;
      const input = fixedFields().concat(Array.from(form.querySelectorAll("[data-list] input")))
        .find(function (node) { return node.dataset.field === path || path.startsWith(node.dataset.field + "."); });
      if (input) input.setAttribute("aria-invalid", "true");
    });
    if (!Object.keys(fields).length) document.getElementById("form-error").textContent = error.message;
  }

  async function evaluate() {
    const response = await fetch(API, {
      method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(readContext()),
    });
    const body = await response.json();
    if (!response.ok) {
      showErrors(body.error || { message: "the service answered " + response.status });
      document.getElementById("results").hidden = true;
      document.getElementById("advice-placeholder").hidden = false;
      return;
    }
    clearErrors();
    window.AdviceView.render(body, readContext(), THRESHOLDS, ORDERS);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    evaluate().catch(function () {
      document.getElementById("form-error").textContent = "The service could not be reached.";
    });
  });
  document.getElementById("add-medication").addEventListener("click", function () { addRow("medications").focus(); });
  document.getElementById("add-condition").addEventListener("click", function () { addRow("conditions").focus(); });
  document.getElementById("clear").addEventListener("click", clearForm);
  document.getElementById("example").addEventListener("change", async function (event) {
    if (!event.target.value) return;
    const response = await fetch("/examples/" + encodeURIComponent(event.target.value) + ".json");
    fillForm(await response.json());
    form.requestSubmit();
  });
  fetch("/api/v1/vocabulary").then(function (r) { return r.json(); }).then(function (vocabulary) {
    const list = document.getElementById("condition-names");
    Object.keys(vocabulary.conditions).forEach(function (name) {
      const option = new Option(vocabulary.conditions[name].label, name);
      list.append(option);
    });
  }).catch(function () { /* suggestions are a convenience only */ });
  addRow("medications");
  addRow("conditions");
})();
