/*
 * Web chat widget. Embed with:
 *   <script src="https://HOST/widget.js" data-key="wk_..." async></script>
 *
 * One file, no framework, no CDN. Everything the visitor or staff wrote is shown with textContent,
 * never parsed as HTML. The visitor token lives in localStorage, so the conversation survives page
 * loads. Live updates come over Server-Sent Events (read with fetch, so the token travels in a
 * header, not the URL); while the stream is down the widget polls.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script) {
    var tagged = document.querySelectorAll("script[data-key]");
    script = tagged[tagged.length - 1];
  }
  if (!script || window.__conversationsWidget) return;
  window.__conversationsWidget = true;

  var KEY = script.getAttribute("data-key");
  var BASE = new URL(script.src, window.location.href).origin;
  var API = BASE + "/widget/v1/" + encodeURIComponent(KEY);
  var STORE = "conversations-widget:" + KEY;
  var POLL_MS = 3000;
  var TYPING_SEND_MS = 3000;
  var TYPING_SHOW_MS = 5000;

  var state = {
    config: null,
    token: null,
    conversationId: null,
    lastMessageId: null,
    lastEventId: null,
    readUpTo: null,
    rows: {},            // message id -> {item, status}
    streaming: false,
    pollTimer: null,
    streamAbort: null,
    lastTypingSent: 0,
    typingTimer: null,
    open: false
  };

  // --- storage --------------------------------------------------------------------------------

  function load() {
    try {
      var saved = JSON.parse(window.localStorage.getItem(STORE) || "null");
      if (saved && saved.token && saved.conversationId) {
        state.token = saved.token;
        state.conversationId = saved.conversationId;
      }
    } catch (e) { /* private mode or junk: start afresh */ }
  }

  function save() {
    try {
      if (state.token) {
        window.localStorage.setItem(STORE, JSON.stringify({ token: state.token, conversationId: state.conversationId }));
      } else {
        window.localStorage.removeItem(STORE);
      }
    } catch (e) { /* storage unavailable: the chat still works for this page */ }
  }

  // --- HTTP -----------------------------------------------------------------------------------

  function call(method, path, body) {
    var headers = { "Accept": "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (state.token) headers["Authorization"] = "Bearer " + state.token;
    return fetch(API + path, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      mode: "cors"
    }).then(function (response) {
      if (response.status === 204) return { status: 204, data: null };
      return response.json().catch(function () { return {}; }).then(function (json) {
        return { status: response.status, data: json.data, error: json.error };
      });
    });
  }

  function conversationPath(suffix) {
    return "/conversations/" + state.conversationId + (suffix || "");
  }

  // --- DOM ------------------------------------------------------------------------------------

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // A speech bubble drawn as SVG: no icon font or emoji font needed on the visitor's machine.
  function chatIcon() {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "28");
    svg.setAttribute("height", "28");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("fill", "currentColor");
    path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm3 6.5a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3z");
    svg.appendChild(path);
    return svg;
  }

  var host = el("div", { id: "conversations-widget" });
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  var style = el("style");
  style.textContent = [
    ":host{all:initial}",
    "[hidden]{display:none!important}",
    "*{box-sizing:border-box;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}",
    ".launcher{position:fixed;right:20px;bottom:20px;width:60px;height:60px;border-radius:50%;border:0;display:flex;align-items:center;justify-content:center;",
    "background:var(--accent);color:#fff;font-size:28px;cursor:pointer;box-shadow:0 4px 16px rgba(0,0,0,.25);z-index:2147483000}",
    ".launcher:focus-visible,button:focus-visible,textarea:focus-visible,input:focus-visible{outline:3px solid #111;outline-offset:2px}",
    ".panel{position:fixed;right:20px;bottom:92px;width:min(370px,calc(100vw - 24px));height:min(560px,calc(100vh - 112px));",
    "display:flex;flex-direction:column;background:#fff;color:#111;border-radius:14px;overflow:hidden;",
    "box-shadow:0 8px 32px rgba(0,0,0,.28);z-index:2147483000;font-size:15px}",
    "header{background:var(--accent);color:#fff;padding:12px 14px;display:flex;align-items:center;gap:8px}",
    "header h2{font-size:16px;margin:0;flex:1}",
    "header button{background:transparent;border:0;color:#fff;font-size:22px;cursor:pointer;min-width:44px;min-height:44px}",
    ".log{list-style:none;margin:0;padding:12px;flex:1;overflow-y:auto;display:flex;flex-direction:column;gap:8px;background:#f6f7f9}",
    ".log li{max-width:82%;display:flex;flex-direction:column}",
    ".bubble{padding:8px 12px;border-radius:14px;white-space:pre-wrap;word-wrap:break-word;line-height:1.35}",
    ".mine{align-self:flex-end;align-items:flex-end}.mine .bubble{background:var(--accent);color:#fff}",
    ".theirs{align-self:flex-start}.theirs .bubble{background:#fff;border:1px solid #e2e4e8}",
    ".greeting .bubble{background:#fff;border:1px dashed #c9ccd2}",
    ".meta{font-size:12px;color:#555;margin:2px 4px}",
    ".typing{min-height:22px;padding:0 14px;font-size:13px;color:#444}",
    ".dots span{display:inline-block;width:6px;height:6px;margin:0 1px;border-radius:50%;background:#777;animation:b 1s infinite}",
    ".dots span:nth-child(2){animation-delay:.15s}.dots span:nth-child(3){animation-delay:.3s}",
    "@keyframes b{0%,80%,100%{opacity:.3}40%{opacity:1}}",
    "@media (prefers-reduced-motion:reduce){.dots span{animation:none}}",
    "form.compose{display:flex;gap:8px;padding:10px;border-top:1px solid #e2e4e8}",
    "textarea{flex:1;resize:none;border:1px solid #c9ccd2;border-radius:10px;padding:9px;font-size:15px;min-height:44px;max-height:120px}",
    "button.primary{background:var(--accent);color:#fff;border:0;border-radius:10px;padding:0 16px;min-height:44px;font-size:15px;cursor:pointer}",
    "form.prechat{padding:14px;display:flex;flex-direction:column;gap:10px;overflow-y:auto}",
    "form.prechat label{display:flex;flex-direction:column;gap:4px;font-size:14px}",
    "form.prechat input{border:1px solid #c9ccd2;border-radius:8px;padding:9px;font-size:15px;min-height:44px}",
    ".error{color:#b00020;font-size:13px;min-height:1em;padding:0 14px}",
    ".status{font-size:12px;color:#555;padding:0 14px}",
    ".status,.error{margin:0}.status:empty,.error:empty{display:none}",
    ".sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}",
    "@media (max-width:480px){.panel{right:0;bottom:0;width:100vw;height:100vh;height:100dvh;border-radius:0}",
    ".panel:not([hidden])~.launcher{display:none}}"
  ].join("");
  root.appendChild(style);

  var panel = el("section", { "class": "panel", role: "dialog", "aria-modal": "false", "aria-labelledby": "cw-title", id: "cw-panel", hidden: "" });
  var launcher = el("button", { "class": "launcher", type: "button", "aria-label": "Open chat", "aria-expanded": "false", "aria-controls": "cw-panel" });
  launcher.appendChild(chatIcon());
  var header = el("header");
  var title = el("h2", { id: "cw-title" }, "Chat with us");
  var closeButton = el("button", { type: "button", "aria-label": "Close chat" }, "\u00D7");
  header.appendChild(title);
  header.appendChild(closeButton);

  var connection = el("p", { "class": "status", role: "status", "aria-live": "polite" });
  var log = el("ol", { "class": "log", role: "log", "aria-live": "polite", "aria-label": "Messages" });
  var typing = el("div", { "class": "typing", "aria-live": "polite" });
  var errorLine = el("p", { "class": "error", role: "alert" });

  var prechat = el("form", { "class": "prechat", "aria-label": "Before we start", hidden: "" });
  var compose = el("form", { "class": "compose", "aria-label": "Write a message" });
  var inputLabel = el("label", { "for": "cw-input", "class": "sr-only" }, "Your message");
  var input = el("textarea", { id: "cw-input", rows: "1", maxlength: "2000", placeholder: "Write a message\u2026", autocomplete: "off" });
  var sendButton = el("button", { type: "submit", "class": "primary" }, "Send");
  compose.appendChild(inputLabel);
  compose.appendChild(input);
  compose.appendChild(sendButton);

  panel.appendChild(header);
  panel.appendChild(connection);
  panel.appendChild(log);
  panel.appendChild(prechat);
  panel.appendChild(typing);
  panel.appendChild(errorLine);
  panel.appendChild(compose);
  root.appendChild(panel);
  root.appendChild(launcher);

  // --- rendering ------------------------------------------------------------------------------

  function statusText(message) {
    if (message.direction !== "inbound") return message.sender_name || "Staff";
    if (message.pending) return "Sending\u2026";
    if (message.failed) return "Not sent";
    if (state.readUpTo && message.id && message.id <= state.readUpTo) return "Read";
    return message.delivery_status === "read" ? "Read" : "Delivered";
  }

  function addGreeting(text) {
    if (!text) return;
    var item = el("li", { "class": "theirs greeting" });
    item.appendChild(el("span", { "class": "bubble" }, text));
    log.appendChild(item);
  }

  function render(message) {
    if (message.id && state.rows[message.id]) {
      state.rows[message.id].message = message;
      state.rows[message.id].meta.textContent = statusText(message);
      return;
    }
    var mine = message.direction === "inbound";
    var item = el("li", { "class": mine ? "mine" : "theirs", "data-message-id": message.id || "" });
    var who = el("span", { "class": "sr-only" }, mine ? "You said: " : (message.sender_name || "Staff") + " said: ");
    var bubble = el("span", { "class": "bubble" }, message.body);
    var meta = el("span", { "class": "meta" }, statusText(message));
    item.appendChild(who);
    item.appendChild(bubble);
    item.appendChild(meta);
    log.appendChild(item);
    var row = { item: item, meta: meta, message: message };
    if (message.id) {
      state.rows[message.id] = row;
      if (!state.lastMessageId || message.id > state.lastMessageId) state.lastMessageId = message.id;
    }
    log.scrollTop = log.scrollHeight;
    return row;
  }

  function refreshStatuses() {
    Object.keys(state.rows).forEach(function (id) {
      var row = state.rows[id];
      row.meta.textContent = statusText(row.message);
    });
  }

  function showTyping(name) {
    typing.textContent = "";
    typing.appendChild(el("span", { "class": "sr-only" }, ""));
    var dots = el("span", { "class": "dots", "aria-hidden": "true" });
    dots.appendChild(el("span"));
    dots.appendChild(el("span"));
    dots.appendChild(el("span"));
    typing.appendChild(dots);
    typing.appendChild(document.createTextNode(" " + (name || "Staff") + " is typing\u2026"));
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(function () { typing.textContent = ""; }, TYPING_SHOW_MS);
  }

  // --- the conversation -----------------------------------------------------------------------

  function applyHistory(data) {
    if (!data) return;
    if (data.read_up_to) state.readUpTo = Math.max(state.readUpTo || 0, data.read_up_to);
    data.messages.forEach(render);
    refreshStatuses();
  }

  function resetConversation() {
    state.token = null;
    state.conversationId = null;
    state.lastMessageId = null;
    state.lastEventId = null;
    save();
  }

  function loadHistory() {
    return call("GET", conversationPath("/messages")).then(function (result) {
      if (result.status === 404 || result.status === 401) { resetConversation(); return; }
      applyHistory(result.data);
      connect();
    });
  }

  function poll() {
    if (!state.conversationId) return Promise.resolve();
    var after = state.lastMessageId ? "?after=" + state.lastMessageId : "";
    return call("GET", conversationPath("/messages" + after)).then(function (result) {
      if (result.status === 200) applyHistory(result.data);
    }).catch(function () { /* offline: try again on the next tick */ });
  }

  function startPolling() {
    if (state.pollTimer) return;
    connection.textContent = "Reconnecting\u2026 (messages still arrive every few seconds)";
    state.pollTimer = setInterval(poll, POLL_MS);
  }

  function stopPolling() {
    if (state.pollTimer) clearInterval(state.pollTimer);
    state.pollTimer = null;
    connection.textContent = "";
  }

  function handleEvent(type, data, id) {
    if (id) state.lastEventId = id;
    if (type === "message.created") {
      render(data);
      if (data.direction !== "inbound") typing.textContent = "";
    } else if (type === "typing") {
      showTyping(data.name);
    } else if (type === "conversation.read") {
      if (data.read_up_to) state.readUpTo = Math.max(state.readUpTo || 0, data.read_up_to);
      refreshStatuses();
    } else if (type === "reconnect") {
      return "reconnect";
    }
  }

  // SSE over fetch: EventSource cannot send the token in a header.
  function connect(attempt) {
    attempt = attempt || 0;
    if (!state.conversationId || !window.fetch || !window.ReadableStream || state.streaming) return;
    var controller = window.AbortController ? new AbortController() : null;
    state.streamAbort = controller;
    state.streaming = true;
    var headers = { "Authorization": "Bearer " + state.token, "Accept": "text/event-stream" };
    if (state.lastEventId) headers["Last-Event-ID"] = state.lastEventId;
    fetch(API + conversationPath("/events"), { headers: headers, signal: controller && controller.signal, mode: "cors", credentials: "omit" })
      .then(function (response) {
        if (!response.ok || !response.body) throw new Error("stream " + response.status);
        stopPolling();
        poll(); // anything sent while we were not listening
        attempt = 0;
        var reader = response.body.getReader();
        var decoder = new TextDecoder();
        var buffer = "";
        function pump() {
          return reader.read().then(function (chunk) {
            if (chunk.done) return;
            buffer += decoder.decode(chunk.value, { stream: true });
            var frames = buffer.split("\n\n");
            buffer = frames.pop();
            for (var i = 0; i < frames.length; i++) {
              var fields = { data: "" };
              frames[i].split("\n").forEach(function (line) {
                var at = line.indexOf(": ");
                var name = at < 0 ? line : line.slice(0, at);
                var value = at < 0 ? "" : line.slice(at + 2);
                if (name === "id" || name === "event") fields[name] = value;
                if (name === "data") fields.data += value;
              });
              if (!fields.event) continue;
              var data = null;
              try { data = JSON.parse(fields.data || "null"); } catch (e) { continue; }
              if (handleEvent(fields.event, data, fields.id) === "reconnect") return;
            }
            return pump();
          });
        }
        return pump();
      })
      .catch(function () { /* network error or refused: fall back to polling below */ })
      .then(function () {
        state.streaming = false;
        if (!state.conversationId) return;
        startPolling();
        var delay = Math.min(30000, 1000 * Math.pow(2, attempt)) + Math.random() * 500;
        setTimeout(function () { connect(attempt + 1); }, delay);
      });
  }

  function ensureConversation(fields) {
    if (state.conversationId) return Promise.resolve(true);
    return call("POST", "/conversations", fields || {}).then(function (result) {
      if (result.status !== 201) {
        showError(result);
        return false;
      }
      state.token = result.data.visitor_token;
      state.conversationId = result.data.conversation.id;
      save();
      connect();
      return true;
    });
  }

  function showError(result) {
    var error = (result && result.error) || {};
    var detail = error.fields ? Object.keys(error.fields).map(function (name) {
      return name + ": " + [].concat(error.fields[name]).join(" ");
    }).join("; ") : "";
    errorLine.textContent = (error.message || "Something went wrong. Please try again.") + (detail ? " (" + detail + ")" : "");
  }

  function send(text) {
    errorLine.textContent = "";
    var draft = { body: text, direction: "inbound", pending: true };
    var row = render(draft);
    return ensureConversation().then(function (ok) {
      if (!ok) { draft.pending = false; draft.failed = true; row.meta.textContent = statusText(draft); return; }
      return call("POST", conversationPath("/messages"), { message: text }).then(function (result) {
        if (result.status !== 201) {
          draft.pending = false; draft.failed = true; row.meta.textContent = statusText(draft);
          showError(result);
          return;
        }
        var message = result.data;
        if (state.rows[message.id]) {           // the stream was quicker than our own answer
          row.item.parentNode.removeChild(row.item);
          return;
        }
        row.message = message;
        row.item.setAttribute("data-message-id", message.id);
        state.rows[message.id] = row;
        if (!state.lastMessageId || message.id > state.lastMessageId) state.lastMessageId = message.id;
        row.meta.textContent = statusText(message);
      });
    }).catch(function () {
      draft.pending = false; draft.failed = true; row.meta.textContent = statusText(draft);
      errorLine.textContent = "You seem to be offline. Please try again.";
    });
  }

  // --- the pre-chat form ----------------------------------------------------------------------

  var PRECHAT_LABELS = { name: ["Your name", "text", "name"], email: ["Email", "email", "email"], phone: ["Phone", "tel", "tel"] };

  function buildPrechat(fields) {
    var asked = Object.keys(PRECHAT_LABELS).filter(function (name) { return fields[name] && fields[name] !== "off"; });
    if (!asked.length) return false;
    prechat.textContent = "";
    prechat.appendChild(el("p", {}, "Tell us who you are, and we'll get right back to you."));
    asked.forEach(function (name) {
      var spec = PRECHAT_LABELS[name];
      var required = fields[name] === "required";
      var label = el("label", {}, spec[0] + (required ? " (required)" : " (optional)"));
      var field = el("input", { name: name, type: spec[1], autocomplete: spec[2] });
      if (required) field.setAttribute("required", "");
      label.appendChild(field);
      prechat.appendChild(label);
    });
    prechat.appendChild(el("button", { type: "submit", "class": "primary" }, "Start chat"));
    return true;
  }

  function showPrechat(visible) {
    if (visible) { prechat.removeAttribute("hidden"); compose.setAttribute("hidden", ""); }
    else { prechat.setAttribute("hidden", ""); compose.removeAttribute("hidden"); }
  }

  prechat.addEventListener("submit", function (event) {
    event.preventDefault();
    var fields = {};
    Array.prototype.forEach.call(prechat.querySelectorAll("input"), function (field) { fields[field.name] = field.value.trim() || null; });
    ensureConversation(fields).then(function (ok) {
      if (ok) { showPrechat(false); errorLine.textContent = ""; input.focus(); }
    });
  });

  // --- opening, closing, keyboard -------------------------------------------------------------

  function setOpen(open) {
    state.open = open;
    launcher.setAttribute("aria-expanded", String(open));
    launcher.setAttribute("aria-label", open ? "Close chat" : "Open chat");
    if (open) {
      panel.removeAttribute("hidden");
      var first = prechat.hasAttribute("hidden") ? input : prechat.querySelector("input");
      (first || input).focus();
    } else {
      panel.setAttribute("hidden", "");
      launcher.focus();
    }
  }

  launcher.addEventListener("click", function () { setOpen(!state.open); });
  closeButton.addEventListener("click", function () { setOpen(false); });
  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") setOpen(false);
  });

  compose.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value;
    if (!text.trim()) return;
    input.value = "";
    send(text);
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      compose.requestSubmit ? compose.requestSubmit() : compose.dispatchEvent(new Event("submit", { cancelable: true }));
    }
  });
  input.addEventListener("input", function () {
    var now = Date.now();
    if (!state.conversationId || now - state.lastTypingSent < TYPING_SEND_MS) return;
    state.lastTypingSent = now;
    call("POST", conversationPath("/typing")).catch(function () {});
  });

  // --- start ----------------------------------------------------------------------------------

  function start() {
    load();
    document.body.appendChild(host);
    call("GET", "/config").then(function (result) {
      if (result.status !== 200) { launcher.setAttribute("hidden", ""); return; }
      var config = result.data;
      state.config = config;
      host.style.setProperty("--accent", config.color);
      title.textContent = "Chat with " + config.name;
      addGreeting(config.greeting);
      if (state.conversationId) {
        loadHistory();
      } else if (buildPrechat(config.prechat_fields)) {
        showPrechat(true);
      }
    }).catch(function () { launcher.setAttribute("hidden", ""); });
  }

  if (document.body) start(); else document.addEventListener("DOMContentLoaded", start);
})();
