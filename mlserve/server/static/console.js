// The mlserve console: polls the stats route, draws every model version with its live
// figures, and builds a try-it form from each model's metadata. Plain JavaScript, no library:
// the page must work air-gapped. Every text from the server goes in through textContent.
"use strict";

(() => {
  const STATS_URL = document.body.dataset.stats;
  const KEY_STORE = "mlserve.apiKey"; // sessionStorage: kept for this tab's session only
  const POLL_MS = 2000;
  const SVG_NS = "http://www.w3.org/2000/svg";
  const STATE_TEXT = { ready: "ready", loading: "loading", failed: "failed", not_loaded: "not loaded" };
  const FIGURES = [
    ["requests_per_s", "requests/s", (v) => fmt(v, 1)],
    ["p50_ms", "p50 latency", (v) => (v == null ? "–" : `${fmt(v, 1)} ms`)],
    ["p99_ms", "p99 latency", (v) => (v == null ? "–" : `${fmt(v, 1)} ms`)],
    ["mean_batch_rows", "mean batch rows", (v) => (v == null ? "–" : fmt(v, 1))],
    ["queue_depth", "queue depth", (v) => fmt(v, 0)],
    ["errors", "errors", errorText],
  ];

  const $ = (id) => document.getElementById(id);
  let stats = null; // the last answer of the stats route
  let timer = null;
  let formSignature = null; // what the try-it form was built from
  let fields = {}; // input name -> {input, error}

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props)) {
      if (value == null || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    node.append(...children.filter((c) => c != null));
    return node;
  }

  function fmt(value, digits) {
    return value == null ? "–" : Number(value).toLocaleString(undefined, { maximumFractionDigits: digits });
  }

  function errorText(errors) {
    const parts = Object.entries(errors || {}).map(([code, n]) => `${n}×${code}`);
    return parts.length ? parts.join(" ") : "0";
  }

  function authHeaders() {
    const key = sessionStorage.getItem(KEY_STORE);
    return key ? { Authorization: `Bearer ${key}` } : {};
  }

  function setStatus(text) {
    $("status-line").textContent = text;
  }

  // ---- key prompt ----------------------------------------------------------------------

  function showPrompt(message) {
    clearTimeout(timer);
    $("console").hidden = true;
    $("key-prompt").hidden = false;
    $("key-message").textContent = message;
    $("key-input").value = "";
    $("key-input").setAttribute("aria-invalid", message ? "true" : "false");
    $("key-input").focus();
    setStatus("");
  }

  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("key-input").value.trim();
    if (!key) {
      $("key-message").textContent = "Enter the API key.";
      return;
    }
    sessionStorage.setItem(KEY_STORE, key);
    poll();
  });

  // ---- polling ---------------------------------------------------------------------------

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(poll, POLL_MS);
  }

  async function poll() {
    let response;
    try {
      response = await fetch(STATS_URL, { headers: authHeaders(), cache: "no-store" });
    } catch {
      setStatus("The server does not answer; trying again…");
      schedule();
      return;
    }
    if (response.status === 401) {
      const hadKey = sessionStorage.getItem(KEY_STORE) !== null;
      sessionStorage.removeItem(KEY_STORE);
      showPrompt(hadKey ? "That key was refused: check it and enter it again." : "");
      return;
    }
    if (!response.ok) {
      setStatus(`The stats route answered HTTP ${response.status}; trying again…`);
      schedule();
      return;
    }
    stats = await response.json();
    $("key-prompt").hidden = true;
    $("console").hidden = false;
    render();
    setStatus(`Updated at ${new Date().toLocaleTimeString()}`);
    schedule();
  }

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && !$("console").hidden) poll();
  });

  // ---- models --------------------------------------------------------------------------

  function render() {
    const recent = (6 * stats.slot_s) | 0;
    $("server-line").textContent =
      `version ${stats.server.version} · process ${stats.server.pid}` +
      (stats.default_model ? ` · default model ${stats.default_model}` : "");
    $("window-line").textContent =
      `Figures: the last ${recent} s. Charts: the last ${stats.window_s / 60} minutes, ` +
      `one point per ${stats.slot_s} s.`;
    $("models").replaceChildren(...stats.models.map(modelCard));
    renderTryModels();
  }

  function modelCard(m) {
    const id = `m-${m.model}-${m.version}`.replace(/[^A-Za-z0-9_-]/g, "_");
    const header = el(
      "header",
      {},
      el("h3", { id, text: `${m.model} ${m.version}` }),
      el("span", { class: `badge state-${m.status}`, text: STATE_TEXT[m.status] || m.status }),
      m.default && versionsOf(m.model) > 1 ? el("span", { class: "tag", text: "default version" }) : null,
      ...Object.keys(m.aliases || {}).map((a) => el("span", { class: "tag", text: `alias ${a}` })),
    );
    const facts = el("dl", { class: "facts" });
    const runtime = m.framework ? `${m.runtime} (${m.framework} ${m.framework_version || ""})` : m.runtime;
    const rows = [
      ["runtime", runtime],
      ["device", m.device || "–"],
      ["loaded in", seconds(m.load_seconds)],
      ["loads", m.load],
    ];
    for (const [name, value] of rows) facts.append(el("dt", { text: name }), el("dd", { text: value }));
    const reason = m.status === "failed" ? el("p", { class: "reason", text: `Failed: ${m.reason}` }) : null;
    const figures = el("div", { class: "figures" });
    for (const [key, name, format] of FIGURES) {
      figures.append(
        el(
          "div",
          { class: "figure", "data-figure": key },
          el("span", { class: "name", text: name }),
          el("span", { class: "value", text: format(m.live[key]) }),
          sparkline(m.live.series[key], `${name}, last ${stats.window_s / 60} minutes`),
          el("span", { class: "scale", text: scaleText(m.live.series[key], key === "errors" ? (v) => fmt(v, 0) : format) }),
        ),
      );
    }
    return el(
      "article",
      { class: "model", "aria-labelledby": id, "data-model": m.model, "data-version": m.version },
      header,
      facts,
      reason,
      figures,
    );
  }

  function versionsOf(name) {
    return stats.models.filter((m) => m.model === name).length;
  }

  function seconds(value) {
    if (value == null) return "–";
    return value < 1 ? `${fmt(value * 1000, 0)} ms` : `${fmt(value, 2)} s`;
  }

  // A chart's scale: its top is the window's peak (the bottom is zero).
  function scaleText(values, format) {
    const numbers = values.filter((v) => v != null);
    return numbers.length ? `peak ${format(Math.max(...numbers))}` : "no data yet";
  }

  function sparkline(values, label) {
    const svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 100 28");
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("class", "spark");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", label);
    const numbers = values.map((v) => (v == null ? 0 : v));
    const top = Math.max(...numbers, 1e-9);
    const step = 100 / Math.max(numbers.length - 1, 1);
    const line = document.createElementNS(SVG_NS, "polyline");
    line.setAttribute(
      "points",
      numbers.map((v, i) => `${(i * step).toFixed(2)},${(27 - (v / top) * 25).toFixed(2)}`).join(" "),
    );
    svg.append(line);
    return svg;
  }

  // ---- try it ----------------------------------------------------------------------------

  function tryable() {
    return stats.models.filter((m) => m.status !== "failed");
  }

  function selected() {
    const [name, version] = ($("try-model").value || "\n").split("\n");
    return stats.models.find((m) => m.model === name && m.version === version) || null;
  }

  function renderTryModels() {
    const select = $("try-model");
    const before = select.value;
    const options = tryable().map((m) =>
      el("option", { value: `${m.model}\n${m.version}`, text: `${m.model} ${m.version}${m.default && versionsOf(m.model) > 1 ? " (default version)" : ""}` }),
    );
    const same =
      options.length === select.options.length &&
      options.every((o, i) => o.value === select.options[i].value && o.textContent === select.options[i].textContent);
    if (!same) {
      select.replaceChildren(...options);
      if (options.some((o) => o.value === before)) select.value = before;
      else {
        // First draw: the model a request without a name gets, at its default version.
        const first = tryable().find((m) => m.model === stats.default_model && m.default);
        if (first) select.value = `${first.model}\n${first.version}`;
      }
    }
    buildForm(false);
  }

  $("try-model").addEventListener("change", () => buildForm(true));

  function formKind(m) {
    if (m.input_kind === "text") return "text";
    if (m.input_kind === "image") return "image";
    return m.inputs && m.inputs.length ? "named" : "features";
  }

  function buildForm(force) {
    const m = selected();
    const signature = m && JSON.stringify([m.model, m.version, m.input_kind, m.inputs, m.n_features]);
    if (!force && signature === formSignature) return;
    formSignature = signature;
    fields = {};
    const box = $("try-fields");
    $("try-error").textContent = "";
    $("result").replaceChildren();
    $("try-submit").disabled = !m;
    if (!m) {
      box.replaceChildren(el("p", { class: "muted", text: "No model can be tried right now." }));
      return;
    }
    const kind = formKind(m);
    const made = [];
    // The manifest's `example` for this model fills the form in, ready to send.
    const example = m.example;
    if (kind === "named") {
      m.inputs.forEach((f, i) => {
        const value = example && !Array.isArray(example) && typeof example === "object" ? example[f.name] : Array.isArray(example) ? example[i] : null;
        made.push(numberField(f, i, value));
      });
    } else if (kind === "features") {
      const count = m.n_features ? `${m.n_features} numbers` : "numbers";
      const value = Array.isArray(example) ? example.join(", ") : "";
      made.push(field("features", "Features", `${count}, separated by commas or spaces`, (id, described) =>
        el("input", { id, name: "features", type: "text", inputmode: "decimal", autocomplete: "off", "aria-describedby": described, value, placeholder: value || "e.g. 0, 1.5, 2" }),
      ));
    } else if (kind === "text") {
      const value = typeof example === "string" ? example : "";
      made.push(field("text", "Text", "one text to classify", (id, described) => {
        const box = el("textarea", { id, name: "text", rows: 3, "aria-describedby": described, placeholder: value });
        box.value = value;
        return box;
      }));
    } else {
      made.push(imageField());
    }
    box.replaceChildren(...made);
    $("try-submit").textContent = kind === "text" ? "Classify" : "Predict";
  }

  function field(name, labelText, hint, makeInput) {
    const id = `try-${name}`.replace(/[^A-Za-z0-9_-]/g, "_") + `-${Object.keys(fields).length}`;
    const errorId = `${id}-error`;
    const input = makeInput(id, errorId);
    const error = el("p", { class: "error", id: errorId, "aria-live": "polite" });
    fields[name] = { input, error };
    return el(
      "div",
      { class: "field" },
      el("label", { for: id }, labelText, hint ? el("span", { class: "hint", text: ` (${hint})` }) : null),
      input,
      error,
    );
  }

  function numberField(spec, index, example) {
    const bounds = [];
    if (spec.min != null) bounds.push(`≥ ${spec.min}`);
    if (spec.max != null) bounds.push(`≤ ${spec.max}`);
    const hint = [spec.type || "float", ...bounds].join(", ");
    return field(spec.name, spec.name, hint, (id, described) =>
      el("input", {
        id,
        name: spec.name,
        type: "number",
        step: spec.type === "int" ? "1" : "any",
        min: spec.min,
        max: spec.max,
        inputmode: spec.type === "int" ? "numeric" : "decimal",
        "aria-describedby": described,
        "data-index": index,
        value: example == null ? "" : String(example),
        placeholder: example == null ? "" : String(example),
      }),
    );
  }

  function imageField() {
    const wrapper = field("file", "Image", "drop a file here or choose one", (id, described) =>
      el("input", { id, name: "file", type: "file", accept: "image/*", "aria-describedby": described }),
    );
    wrapper.classList.add("drop");
    const input = fields.file.input;
    wrapper.addEventListener("dragover", (event) => {
      event.preventDefault();
      wrapper.classList.add("over");
    });
    wrapper.addEventListener("dragleave", () => wrapper.classList.remove("over"));
    wrapper.addEventListener("drop", (event) => {
      event.preventDefault();
      wrapper.classList.remove("over");
      if (event.dataTransfer.files.length) input.files = event.dataTransfer.files;
    });
    return wrapper;
  }

  function clearErrors() {
    $("try-error").textContent = "";
    for (const { input, error } of Object.values(fields)) {
      error.textContent = "";
      input.removeAttribute("aria-invalid");
    }
  }

  function fieldError(name, message) {
    const target = fields[name] || (Object.keys(fields).length === 1 ? Object.values(fields)[0] : null);
    if (!target) {
      $("try-error").textContent = message;
      return;
    }
    target.error.textContent = message;
    target.input.setAttribute("aria-invalid", "true");
    target.input.focus();
  }

  // The request for the form's values, or null after marking the field that is wrong.
  function buildRequest(m) {
    const kind = formKind(m);
    const ops = stats.routes.operations;
    const base = stats.routes.model_version
      .replace("{name}", encodeURIComponent(m.model))
      .replace("{version}", encodeURIComponent(m.version));
    if (kind === "named") {
      const features = {};
      for (const spec of m.inputs) {
        const raw = fields[spec.name].input.value.trim();
        if (raw === "" || !Number.isFinite(Number(raw))) {
          fieldError(spec.name, "Enter a number.");
          return null;
        }
        features[spec.name] = Number(raw);
      }
      return json(base + ops.predict, { features });
    }
    if (kind === "features") {
      const raw = fields.features.input.value.trim();
      const numbers = raw.split(/[\s,]+/).filter(Boolean).map(Number);
      if (!numbers.length || numbers.some((n) => !Number.isFinite(n))) {
        fieldError("features", "Enter numbers separated by commas.");
        return null;
      }
      return json(base + ops.predict, { features: numbers });
    }
    if (kind === "text") {
      const text = fields.text.input.value;
      if (!text.trim()) {
        fieldError("text", "Enter a text.");
        return null;
      }
      return json(base + ops.classify, { text });
    }
    const file = fields.file.input.files[0];
    if (!file) {
      fieldError("file", "Choose or drop an image file.");
      return null;
    }
    const form = new FormData();
    form.append("file", file, file.name);
    return [base + ops.predict_image, { method: "POST", body: form, headers: authHeaders() }];
  }

  function json(url, body) {
    const headers = { ...authHeaders(), "Content-Type": "application/json" };
    return [url, { method: "POST", body: JSON.stringify(body), headers }];
  }

  $("try-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    const m = selected();
    if (!m) return;
    const request = buildRequest(m);
    if (!request) return;
    $("try-submit").disabled = true;
    $("result").replaceChildren(el("p", { class: "muted", text: "Waiting for the answer…" }));
    const started = performance.now();
    try {
      const response = await fetch(...request);
      const ms = performance.now() - started;
      const body = await response.json().catch(() => null);
      if (response.status === 401) {
        sessionStorage.removeItem(KEY_STORE);
        showPrompt("The server refused the key: enter it again.");
        return;
      }
      if (!response.ok) {
        $("result").replaceChildren();
        const message = (body && body.message) || `HTTP ${response.status}`;
        fieldError(body && body.field, `${response.status}: ${message}`);
        return;
      }
      showAnswer(body, ms, response.headers.get("x-request-id"));
    } catch {
      $("result").replaceChildren();
      $("try-error").textContent = "The server does not answer.";
    } finally {
      $("try-submit").disabled = false;
    }
  });

  function showAnswer(body, ms, requestId) {
    const facts = [
      body.confidence == null ? null : `confidence ${fmt(body.confidence * 100, 1)} %`,
      `answered by ${body.model} ${body.version}`,
      `${fmt(ms, 1)} ms`,
      requestId ? `request ${requestId}` : null,
    ].filter(Boolean);
    const out = [
      el("p", { class: "answer", "data-answer": "" }, "Prediction: ", el("output", { text: String(body.prediction) })),
      el("p", { class: "muted", text: facts.join(" · ") }),
    ];
    if (body.probabilities) {
      const bars = el("div", { class: "bars", "aria-label": "probabilities" });
      const ranked = Object.entries(body.probabilities).sort((a, b) => b[1] - a[1]);
      for (const [label, p] of ranked) {
        const fill = el("span");
        fill.style.width = `${Math.max(0, Math.min(1, p)) * 100}%`;
        bars.append(
          el("span", { text: label }),
          el("div", { class: "bar", "aria-hidden": "true" }, fill),
          el("span", { class: "num", text: `${fmt(p * 100, 1)} %` }),
        );
      }
      out.push(bars);
    }
    $("result").replaceChildren(...out);
  }

  poll();
})();
