/* The advice page: reads the form into the native patient context, posts it to /advice (the evaluation
   /api/v1/evaluate returns, with the CDS Hooks cards built from it) and shows the cards. No clinical logic
   lives here: every decision comes from the service; the page only lays it out. All text goes in through
   textContent. */
(function () {
  "use strict";
  const API = "/advice";  // the native evaluation plus the CDS Hooks cards built from it
  const form = document.getElementById("context-form");
  const THRESHOLDS = JSON.parse(document.getElementById("thresholds").textContent);
  // What a list row's sub-fields are called on the page (the API names them by their JSON keys).
  const LIST_ITEMS = { medications: "Medication", conditions: "Condition" };
  const SUBFIELDS = { name: "name", rxnorm: "RxNorm code", system: "code system", code: "code" };
  let submittedRows = { medications: [], conditions: [] };  // body index -> row, for the last request
  // With authentication on, the page sends the user's API key. It lives in sessionStorage: this tab only,
  // gone when the tab closes, never in a cookie (so no other site's form can post with it: no CSRF).
  const KEY_STORE = "cdss.apiKey";
  const keyInput = document.getElementById("api-key");

  function apiHeaders(headers) {
    const key = keyInput ? keyInput.value.trim() : "";
    if (key) headers["X-API-Key"] = key;
    return headers;
  }

  function rememberKey() {
    if (!keyInput) return;
    document.getElementById("api-key-error").textContent = "";
    keyInput.removeAttribute("aria-invalid");
    if (keyInput.value.trim()) sessionStorage.setItem(KEY_STORE, keyInput.value.trim());
  }

  function refuseKey() {
    sessionStorage.removeItem(KEY_STORE);
    const message = keyInput && keyInput.value.trim() ? "The API key was refused: enter a valid key."
      : "Enter your API key to get advice.";
    document.getElementById("form-error").textContent = message;
    if (!keyInput) return;
    document.getElementById("api-key-error").textContent = message;
    keyInput.setAttribute("aria-invalid", "true");
    keyInput.focus();
  }

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

  function filledRows(name) {
    // Empty rows are not sent, so the API's index n is the n-th filled row, not the n-th row.
    return Array.from(document.querySelectorAll('[data-list="' + name + '"] .list-row'))
      .filter(function (row) { return row.querySelector("input").value.trim() !== ""; });
  }

  function listValues(name) {
    return filledRows(name).map(function (row) { return row.querySelector("input").value.trim(); });
  }

  function addRow(name, value) {
    const list = document.querySelector('[data-list="' + name + '"]');
    const index = list.children.length;
    const row = el("div", "list-row");
    const input = el("input");
    input.type = "text";
    input.value = value || "";
    input.dataset.field = name + "." + index;
    input.setAttribute("aria-label", LIST_ITEMS[name] + " " + (index + 1));
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
      const input = row.querySelector("input");
      input.dataset.field = name + "." + index;
      input.setAttribute("aria-label", LIST_ITEMS[name] + " " + (index + 1));
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

  function hideAdvice() {
    // Advice belongs to the patient it was given for: never leave it next to another form's content.
    ["classification", "strip", "cards", "notes", "ruleset"].forEach(function (id) {
      document.getElementById(id).replaceChildren();
    });
    document.getElementById("results").hidden = true;
    document.getElementById("advice-placeholder").hidden = false;
  }

  function clearAll() {
    clearForm();
    hideAdvice();
    document.getElementById("example").value = "";
    addRow("medications");
    addRow("conditions");
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

  function listTarget(path) {
    // "medications.2.rxnorm" -> the row sent as item 2, and "Medication 3, RxNorm code".
    const match = /^(medications|conditions)\.(\d+)(?:\.(\w+))?/.exec(path);
    if (!match) return null;
    const row = submittedRows[match[1]][Number(match[2])];
    if (!row) return null;
    const position = Array.from(row.parentNode.children).indexOf(row) + 1;
    const sub = match[3] && SUBFIELDS[match[3]] ? ", " + SUBFIELDS[match[3]] : "";
    return { slot: row.querySelector(".field-error"), input: row.querySelector("input"),
             name: LIST_ITEMS[match[1]] + " " + position + sub };
  }

  function fieldName(path, input) {
    // The field as the form labels it: "Ferritin", "Ferritin unit", "Trimester".
    const label = input && input.id ? form.querySelector('label[for="' + input.id + '"]') : null;
    if (label) return label.textContent.trim() + (/\.unit$/.test(path) ? " unit" : "");
    const unit = input && input.getAttribute("aria-label");
    return unit || null;
  }

  function clinicalMessage(text) {
    // Messages written for integrators point at the API; the page has its own suggestions list.
    return text.replace(/;?\s*see GET \S+/g, " (pick one from the suggestions)");
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
    let first = null;
    Object.keys(fields).forEach(function (path) {
      const text = clinicalMessage(fields[path].join(" "));
      const inList = listTarget(path);
      const input = inList ? inList.input : fixedFields().find(function (node) {
        return node.dataset.field === path || path.startsWith(node.dataset.field + ".");
      });
      const slot = inList ? inList.slot : errorSlot(path);
      const name = inList ? inList.name : fieldName(path, input);
      const line = name ? name + ": " + text : text;
      slot.textContent = slot.textContent ? slot.textContent + " " + line : line;
      if (input) {
        input.setAttribute("aria-invalid", "true");
        first = first || input;
      }
    });
    const summary = document.getElementById("form-error");
    if (!Object.keys(fields).length) summary.textContent = error.message;
    else summary.textContent = "No advice shown: fix the highlighted field" +
      (Object.keys(fields).length > 1 ? "s" : "") + ", then press \"Get advice\" again.";
    if (first) first.focus();
  }

  async function evaluate() {
    const context = readContext();
    submittedRows = { medications: filledRows("medications"), conditions: filledRows("conditions") };
    hideAdvice();  // the previous patient's advice never stays up while this request is answered
    rememberKey();
    const response = await fetch(API, {
      method: "POST", headers: apiHeaders({ "Content-Type": "application/json", Accept: "application/json" }),
      body: JSON.stringify(context),
    });
    if (response.status === 401) {
      refuseKey();
      return;
    }
    const body = await response.json();
    if (!response.ok) {
      showErrors(body.error || { message: "The service answered " + response.status + "." });
      return;
    }
    clearErrors();
    window.AdviceView.render(body, context, THRESHOLDS);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    evaluate().catch(function () {
      document.getElementById("form-error").textContent = "The service could not be reached.";
    });
  });
  document.getElementById("add-medication").addEventListener("click", function () { addRow("medications").focus(); });
  document.getElementById("add-condition").addEventListener("click", function () { addRow("conditions").focus(); });
  document.getElementById("clear").addEventListener("click", clearAll);
  document.getElementById("example").addEventListener("change", async function (event) {
    if (!event.target.value) return;
    const response = await fetch("/examples/" + encodeURIComponent(event.target.value) + ".json");
    fillForm(await response.json());
    form.requestSubmit();
  });
  if (keyInput) {
    keyInput.value = sessionStorage.getItem(KEY_STORE) || "";
    document.getElementById("forget-key").addEventListener("click", function () {
      sessionStorage.removeItem(KEY_STORE);
      keyInput.value = "";
      keyInput.focus();
    });
  }
  fetch("/api/v1/vocabulary", { headers: apiHeaders({}) }).then(function (r) { return r.json(); }).then(function (vocabulary) {
    const list = document.getElementById("condition-names");
    Object.keys(vocabulary.conditions).forEach(function (name) {
      const option = new Option(vocabulary.conditions[name].label, name);
      list.append(option);
    });
  }).catch(function () { /* suggestions are a convenience only */ });
  addRow("medications");
  addRow("conditions");
})();
