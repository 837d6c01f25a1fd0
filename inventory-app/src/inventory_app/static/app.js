/* inventory-app web UI: progressive enhancement of the document forms.
 *
 * Without this script every form is a plain HTML form post (POST/redirect/GET). With it, a
 * document form is sent with fetch() to the JSON API (POST /api/documents) with an
 * Idempotency-Key, so that an edge cache in front of the app can queue it while the cloud is
 * offline: 202 -> "queued, will sync", 201/200 -> posted, 4xx -> the problem details.
 *
 * Pages are the same HTML for every user (an edge cache keeps one copy and serves it offline),
 * so the per-user parts come from cookies: who is signed in (inventory_user, display only) and
 * the session's CSRF token (inventory_csrf). A tiny per-user request (GET /web/me, no-store)
 * tells whether the cloud is reachable and how many changes wait in the edge's outbox.
 */
(function () {
  "use strict";

  var messagesNode = document.getElementById("ui-messages");
  var messages = messagesNode ? JSON.parse(messagesNode.textContent || "{}") : {};

  function cookie(name) {
    var found = null;
    document.cookie.split(";").forEach(function (part) {
      var i = part.indexOf("=");
      if (i > 0 && part.slice(0, i).trim() === name) { found = part.slice(i + 1).trim(); }
    });
    return found;
  }

  function csrfToken() {
    return cookie("inventory_csrf") || "";
  }

  /* inventory_user: base64url JSON {"n": name, "r": role} (display only). */
  function signedInUser() {
    var raw = cookie("inventory_user");
    if (!raw) { return null; }
    try {
      var b64 = raw.replace(/-/g, "+").replace(/_/g, "/");
      while (b64.length % 4) { b64 += "="; }
      var bytes = atob(b64);
      var text = decodeURIComponent(Array.prototype.map.call(bytes, function (c) {
        return "%" + ("0" + c.charCodeAt(0).toString(16)).slice(-2);
      }).join(""));
      var data = JSON.parse(text);
      return { name: String(data.n || ""), role: String(data.r || "") };
    } catch (e) {
      return null;
    }
  }

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
        "X-CSRF-Token": csrfToken()
      },
      body: JSON.stringify(built.payload)
    }).then(function (response) {
      return readJson(response).then(function (body) {
        if (response.status === 202) {
          var depth = body.outbox_depth !== undefined ? body.outbox_depth
            : response.headers.get("X-Edge-Outbox-Depth");
          show(form, "queued", msg("js.queued"), depth !== undefined && depth !== null ?
            [msg("js.outbox_depth", { n: depth })] : []);
          resetForNext(form, built.rows);
          checkEdge();
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

  /* The header: who is signed in; the forms are hidden from roles that cannot post. */
  function showUser() {
    var user = signedInUser();
    var box = document.querySelector("[data-user]");
    if (user && box) {
      box.querySelector("[data-user-name]").textContent = user.name;
      box.querySelector("[data-user-role]").textContent = msg("role." + user.role);
      box.title = msg("role." + user.role);
      box.hidden = false;
    }
    if (user && user.role !== "admin" && user.role !== "clerk") {
      document.querySelectorAll("[data-needs-post]").forEach(function (el) { el.hidden = true; });
    }
  }

  function showEdgeStatus(offline, depth) {
    var box = document.querySelector("[data-edge-status]");
    if (!box) { return; }
    var lines = [];
    if (offline) { lines.push(msg("js.offline")); }
    else if (depth > 0) { lines.push(msg("js.syncing")); }
    if (depth > 0) { lines.push(msg("js.outbox_depth", { n: depth })); }
    box.textContent = lines.join(" ");
    box.hidden = lines.length === 0;
    box.setAttribute("data-state", offline ? "offline" : (depth > 0 ? "syncing" : "online"));
    if (depth > 0) { box.setAttribute("data-outbox-depth", String(depth)); }
    else { box.removeAttribute("data-outbox-depth"); }
  }

  /* Through an edge cache every answer carries X-Edge-Outbox-Depth; while the cloud is
   * unreachable the edge answers this no-store request 503 at once. */
  function checkEdge() {
    if (!window.fetch || !document.querySelector("[data-edge-status]")) { return; }
    fetch("/web/me", { credentials: "same-origin", cache: "no-store",
                       headers: { "Accept": "application/json" } })
      .then(function (response) {
        var depth = Number(response.headers.get("X-Edge-Outbox-Depth") || "0") || 0;
        var viaEdge = response.headers.get("X-Edge-Cache") !== null;
        showEdgeStatus(viaEdge && response.status === 503, depth);
      })
      .catch(function () { showEdgeStatus(true, 0); });
  }

  /* Plain form posts (sign-out, and the forms when fetch is missing) carry the CSRF token. */
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form || String(form.method).toLowerCase() !== "post") { return; }
    var field = form.querySelector("input[name='csrf_token']");
    if (field && !field.value) { field.value = csrfToken(); }
  }, true);

  /* A language link also becomes the remembered choice (for URLs that name no language). */
  document.querySelectorAll("a[data-lang]").forEach(function (link) {
    link.addEventListener("click", function () {
      document.cookie = "inventory_lang=" + link.dataset.lang +
        "; path=/; max-age=31536000; samesite=lax";
    });
  });

  document.querySelectorAll("form[data-document-form]").forEach(function (form) {
    // A shared page holds no per-document value: each document gets its own client UUID.
    var idField = form.querySelector("[name='client_id']");
    if (idField && !idField.value) { idField.value = uuid4(); }
    form.addEventListener("submit", submitDocument);
    form.dataset.enhanced = "true";
  });
  document.querySelectorAll("button[data-add-line]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", addLine);
  });
  showUser();
  checkEdge();
})();
