/* inventory-app web UI: progressive enhancement of the document forms.
 *
 * Without this script every form is a plain HTML form post (POST/redirect/GET). With it, a
 * document form is sent with fetch() to the JSON API (POST /api/documents) with an
 * Idempotency-Key, so that an edge cache in front of the app can queue it while the cloud is
 * offline: 202 -> "queued, will sync", 201/200 -> posted, 4xx -> the problem details.
 */
(function () {
  "use strict";

  var messagesNode = document.getElementById("ui-messages");
  var messages = messagesNode ? JSON.parse(messagesNode.textContent || "{}") : {};

  function msg(key, params) {
    var text = messages[key] || key;
    if (params) {
      Object.keys(params).forEach(function (name) {
        text = text.split("{" + name + "}").join(String(params[name]));
      });
    }
    return text;
  }

  /* crypto.randomUUID() exists only in secure contexts (https or localhost); an edge node is
   * often reached over plain http on a LAN address, so fall back to getRandomValues(). */
  function uuid4() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      try { return window.crypto.randomUUID(); } catch (e) { /* fall through */ }
    }
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); });
    return h.slice(0, 4).join("") + "-" + h.slice(4, 6).join("") + "-" + h.slice(6, 8).join("") +
      "-" + h.slice(8, 10).join("") + "-" + h.slice(10).join("");
  }

  function value(root, name) {
    var el = root.querySelector("[name='" + name + "']");
    return el ? String(el.value).trim() : "";
  }

  function asNumber(text) {
    if (text === "") { return null; }
    var n = Number(text);
    return isFinite(n) ? n : text;  // let the server reject what is not a number
  }

  function asId(text) {
    if (text === "") { return null; }
    var n = Number(text);
    return isFinite(n) && String(Math.trunc(n)) === text ? n : text;
  }

  function buildPayload(form) {
    var payload = { id: value(form, "client_id"), type: form.dataset.documentType, post: true };
    ["warehouse_id", "to_warehouse_id", "partner_id"].forEach(function (name) {
      var v = value(form, name);
      if (v !== "") { payload[name] = asId(v); }
    });
    var reason = value(form, "reason");
    if (reason !== "") { payload.reason = reason; }
    var rows = [];
    payload.lines = [];
    form.querySelectorAll("[data-line]").forEach(function (row) {
      var product = value(row, "product_id");
      var qty = value(row, "qty");
      var counted = value(row, "counted_qty");
      var isCount = !!row.querySelector("[name='counted_qty']");
      if (isCount ? counted === "" : (product === "" && qty === "")) { return; }
      var line = { product_id: asId(product) };
      if (isCount) {
        // Stocktake: counted and expected travel; the server posts the difference.
        line.counted_qty = asNumber(counted);
        line.expected_qty = asNumber(value(row, "expected_qty"));
      } else {
        line.qty = asNumber(qty);
      }
      var price = value(row, "unit_price");
      if (price !== "") { line.unit_price = asNumber(price); }
      payload.lines.push(line);
      rows.push(row);
    });
    return { payload: payload, rows: rows };
  }

  /* The same checks as the server's form handler, so most mistakes are explained in the
   * user's language before anything is sent. Returns [[element, message], ...]. */
  function validate(form, built) {
    var problems = [];
    var need = function (name) {
      var el = form.querySelector("[name='" + name + "']");
      if (el && el.type !== "hidden" && String(el.value).trim() === "") {
        problems.push([el, msg("error.required")]);
      }
    };
    need("warehouse_id");
    if (form.querySelector("[name='to_warehouse_id']")) {
      need("to_warehouse_id");
      if (value(form, "to_warehouse_id") !== "" &&
          value(form, "to_warehouse_id") === value(form, "warehouse_id")) {
        problems.push([form.querySelector("[name='to_warehouse_id']"), msg("error.same_warehouse")]);
      }
    }
    built.rows.forEach(function (row, i) {
      var line = function (text) { return msg("error.line", { n: i + 1, message: text }); };
      var product = row.querySelector("select[name='product_id']");
      if (product && product.value === "") {
        problems.push([product, line(msg("error.required"))]);
      }
      var qty = row.querySelector("[name='qty']");
      var counted = row.querySelector("[name='counted_qty']");
      var price = row.querySelector("[name='unit_price']");
      if (qty && !/^\s*\d+\s*$/.test(qty.value)) {
        problems.push([qty, line(/^\s*-?\d+\s*$/.test(qty.value) ? msg("error.positive")
          : msg("error.not_a_number"))]);
      } else if (qty && Number(qty.value) <= 0) {
        problems.push([qty, line(msg("error.positive"))]);
      }
      if (counted && !/^\s*\d+\s*$/.test(counted.value)) {
        problems.push([counted, line(/^\s*-\d+\s*$/.test(counted.value)
          ? msg("error.not_negative") : msg("error.not_a_number"))]);
      }
      if (price && price.value.trim() !== "" &&
          !(/^\s*\d+([.,]\d+)?\s*$/.test(price.value))) {
        problems.push([price, line(msg("error.bad_price"))]);
      }
    });
    return problems;
  }

  function fieldLabel(form, field) {
    var name = field.split(/[.\[\]]/).filter(Boolean).pop() || field;
    var label = form.querySelector("label[for='" + name + "']");
    return label ? label.textContent.trim() : field;
  }

  function clearErrors(form) {
    form.querySelectorAll("[aria-invalid='true']").forEach(function (el) {
      el.removeAttribute("aria-invalid");
    });
  }

  function markErrors(form, rows, errors) {
    (errors || []).forEach(function (err) {
      var field = String(err.field || "");
      var m = /lines\D*(\d+)\D+(\w+)$/.exec(field);
      var el = null;
      if (m && rows[Number(m[1])]) {
        el = rows[Number(m[1])].querySelector("[name='" + m[2] + "']");
      } else {
        var name = field.split(/[.\[\]]/).filter(Boolean).pop();
        if (name) { el = form.querySelector("[name='" + name + "']"); }
      }
      if (el) { el.setAttribute("aria-invalid", "true"); }
    });
  }

  function show(form, kind, title, items) {
    var box = form.querySelector("[data-form-status]");
    if (!box) { return; }
    box.className = "notice " + kind;
    box.textContent = title;
    if (items && items.length) {
      var ul = document.createElement("ul");
      items.forEach(function (text) {
        var li = document.createElement("li");
        li.textContent = text;
        ul.appendChild(li);
      });
      box.appendChild(ul);
    }
    box.hidden = false;
    box.setAttribute("data-state", kind);
  }

  function resetForNext(form, rows) {
    // A stocktake row that was just posted now expects what was counted.
    rows.forEach(function (row) {
      var counted = row.querySelector("[name='counted_qty']");
      var expected = row.querySelector("[name='expected_qty']");
      var shown = row.querySelector("[data-expected]");
      if (counted && expected && counted.value.trim() !== "") {
        expected.value = counted.value.trim();
        if (shown) { shown.textContent = counted.value.trim(); }
      }
    });
    form.querySelectorAll("[data-line] input:not([type='hidden'])").forEach(function (el) {
      el.value = "";
    });
    form.querySelectorAll("[data-line] select").forEach(function (el) { el.value = ""; });
    var idField = form.querySelector("[name='client_id']");
    if (idField) { idField.value = uuid4(); }
    delete form.dataset.idempotencyKey;
  }

  function readJson(response) {
    return response.text().then(function (text) {
      try { return text ? JSON.parse(text) : {}; } catch (e) { return {}; }
    });
  }

  function productName(form, id) {
    var option = form.querySelector("select[name='product_id'] option[value='" + String(id) + "']");
    if (option) { return option.textContent.trim(); }
    var hidden = form.querySelector("input[name='product_id'][value='" + String(id) + "']");
    var row = hidden ? hidden.closest("[data-line]") : null;
    return row && row.dataset.label ? row.dataset.label : String(id);
  }

  /* The lines to show for an application/problem+json body (RFC 9457). */
  function problemItems(form, body) {
    if (Array.isArray(body.shortfalls) && body.shortfalls.length) {
      return body.shortfalls.map(function (s) {
        return msg("js.insufficient", { product: productName(form, s.product_id),
          available: s.available, requested: s.requested });
      });
    }
    var items = [];
    (body.errors || []).forEach(function (err) {
      items.push((err.field ? fieldLabel(form, String(err.field)) + ": " : "") + err.message);
    });
    if (!items.length && (body.detail || body.title)) {
      items.push(String(body.detail || body.title));
    }
    return items;
  }

  function submitDocument(event) {
    var form = event.currentTarget;
    if (!window.fetch || !window.crypto) { return; }  // plain form post
    event.preventDefault();
    var built = buildPayload(form);
    clearErrors(form);
    var problems = validate(form, built);
    if (problems.length) {
      problems.forEach(function (p) { p[0].setAttribute("aria-invalid", "true"); });
      show(form, "error", msg("js.check_form"), problems.map(function (p) { return p[1]; }));
      return;
    }
    if (!built.payload.lines.length) {
      show(form, "error", msg("js.no_lines"));
      return;
    }
    // One key per attempt: a retry after a network error reuses it, so it cannot post twice.
    if (!form.dataset.idempotencyKey) { form.dataset.idempotencyKey = uuid4(); }
    var button = form.querySelector("button[type='submit']");
    if (button) { button.disabled = true; }
    clearErrors(form);
    show(form, "pending", msg("js.sending"));
    fetch(form.dataset.apiUrl || "/api/documents", {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json, application/problem+json",
        "Idempotency-Key": form.dataset.idempotencyKey,
        "X-CSRF-Token": value(form, "csrf_token")
      },
      body: JSON.stringify(built.payload)
    }).then(function (response) {
      return readJson(response).then(function (body) {
        if (response.status === 202) {
          show(form, "queued", msg("js.queued"), body.outbox_depth !== undefined ?
            [msg("js.outbox_depth", { n: body.outbox_depth })] : []);
          resetForNext(form, built.rows);
        } else if (response.status === 200 || response.status === 201) {
          show(form, "success", msg("js.posted", { number: body.number || body.id || "" }));
          resetForNext(form, built.rows);
        } else if (response.status === 401) {
          show(form, "error", msg("js.login_again"));
        } else if (response.status >= 400 && response.status < 500) {
          show(form, "error", msg("js.rejected", { status: response.status }),
            problemItems(form, body));
          markErrors(form, built.rows, body.errors);
          // The server rejected this body; an edited body needs a new key (same key → 422).
          if (!(response.status === 409 && response.headers.get("Retry-After"))) {
            delete form.dataset.idempotencyKey;
          }
        } else {
          show(form, "error", msg("js.server_error", { status: response.status }));
        }
      });
    }).catch(function () {
      show(form, "error", msg("js.network_error"));
    }).then(function () {
      if (button) { button.disabled = false; }
    });
  }

  function addLine(event) {
    var form = event.currentTarget.form;
    var rows = form.querySelectorAll("[data-line]");
    var last = rows[rows.length - 1];
    if (!last) { return; }
    var copy = last.cloneNode(true);
    copy.querySelectorAll("input, select").forEach(function (el) {
      el.value = "";
      el.removeAttribute("aria-invalid");
    });
    last.parentNode.appendChild(copy);
  }

  document.querySelectorAll("form[data-document-form]").forEach(function (form) {
    form.addEventListener("submit", submitDocument);
    form.dataset.enhanced = "true";
  });
  document.querySelectorAll("button[data-add-line]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", addLine);
  });
})();
