/* Blazz UI behaviour. Dependency-free; everything works without it, it only makes things nicer.
   Load it in <head> without defer (it sets the theme before first paint; the rest waits for the DOM):
     <script src="/static/js/app.js"></script>
   Public API on window.Blazz:
     toast(message, level = "info", {timeout})   level: success | info | warning | error
     confirm(message, {title, label, danger}) -> Promise<boolean>
     shortcut(keys, description, handler) -> unregister()     keys: "n", "g i" (sequence), "mod+k"
     setTheme("light" | "dark" | "system")
     t(text, params) -> text in the page's language (strings are written in English, `%(name)s` placeholders)
   Declarative hooks: [data-nav-toggle] / .nav-toggle, [data-theme-toggle], [data-theme-set=light|dark|system],
     [data-confirm] (+ data-confirm-title, data-confirm-label), [data-copy] ("" copies the sibling <code>),
     [data-shortcut="g i"] (+ data-shortcut-label), [data-live-indicator] (+ data-label-open|error|closed),
     [data-expires-at] (ISO or epoch; optional data-ttl seconds; fires "expired"), [data-pane-show] in .inbox,
     server events: HX-Trigger: {"toast": {"message": "...", "level": "success"}}. */
(function () {
  "use strict";
  var doc = document, root = doc.documentElement, THEME_KEY = "blazz-theme";

  /* ---------- theme ---------- */
  function setTheme(mode) {  // "system" forgets the choice and follows the OS again
    var fixed = mode === "light" || mode === "dark";
    try { if (fixed) localStorage.setItem(THEME_KEY, mode); else localStorage.removeItem(THEME_KEY); } catch (e) { /* */ }
    if (fixed) root.setAttribute("data-theme", mode); else root.removeAttribute("data-theme");
  }
  function effectiveTheme() {
    return root.getAttribute("data-theme") || (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
  }
  try { var saved = localStorage.getItem(THEME_KEY); } catch (e) { /* storage disabled */ }
  if (saved === "light" || saved === "dark") root.setAttribute("data-theme", saved);

  /* ---------- translations: Blazz.t(englishText, {name: value}) from the page's #blazz-i18n catalog ---------- */
  var catalog = null;
  function t(text, params) {
    if (catalog === null) {
      try { catalog = JSON.parse((doc.getElementById("blazz-i18n") || {}).textContent || "{}"); } catch (e) { catalog = {}; }
    }
    var out = catalog[text] || text;
    return params ? out.replace(/%\((\w+)\)s/g, function (m, k) { return k in params ? params[k] : m; }) : out;
  }

  /* ---------- small helpers ---------- */
  function el(tag, cls, text) {
    var n = doc.createElement(tag);
    n.className = cls || "";
    if (text != null) n.textContent = text;
    return n;
  }
  function all(scope, sel) {  // scope itself (if it matches) plus its descendants
    var found = Array.prototype.slice.call(scope.querySelectorAll(sel));
    return scope.matches && scope.matches(sel) ? [scope].concat(found) : found;
  }
  function modalOpen() {
    try { return !!doc.querySelector("dialog:modal"); } catch (e) { return !!doc.querySelector("dialog[open]"); }
  }
  function isTyping(t) { return t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName)); }

  /* ---------- toasts ---------- */
  function toast(message, level, opts) {
    level = level || "info";
    var stack = doc.querySelector("body > .toast-stack") || doc.body.appendChild(el("div", "toast-stack"));
    stack.setAttribute("aria-live", "polite");
    var box = stack.appendChild(el("div", "toast toast-" + level));
    box.setAttribute("role", level === "error" ? "alert" : "status");
    box.appendChild(el("div", "toast-body", message));
    if (opts && opts.timeout) box.dataset.timeout = opts.timeout;
    wireToast(box);
    return box;
  }
  function wireToast(box) {
    if (box.dataset.wired) return; else box.dataset.wired = "1";
    if (!box.querySelector(".toast-close")) {
      var close = box.appendChild(el("button", "toast-close", "\u00d7"));
      close.type = "button";
      close.setAttribute("aria-label", t("Dismiss"));
    }
    box.querySelector(".toast-close").addEventListener("click", function () { dismiss(box); });
    var ms = +box.dataset.timeout || (box.classList.contains("toast-error") ? 8000 : 4500), timer;
    var start = function () { timer = setTimeout(function () { dismiss(box); }, ms); };
    box.addEventListener("mouseenter", function () { clearTimeout(timer); });
    box.addEventListener("mouseleave", start);
    start();
  }
  function dismiss(box) { box.classList.add("leaving"); setTimeout(function () { box.remove(); }, 220); }

  /* ---------- confirm dialog ---------- */
  var confirmDialog;
  function confirmAsk(message, opts) {
    opts = opts || {};
    if (!confirmDialog) {
      confirmDialog = doc.body.appendChild(el("dialog", "dialog"));
      confirmDialog.innerHTML = '<form method="dialog"><div class="dialog-header"><h2></h2></div>' +
        '<div class="dialog-body"><p></p></div><div class="dialog-footer">' +
        '<button class="btn" value="cancel"></button><button class="btn" value="ok"></button></div></form>';
      confirmDialog.querySelector('[value="cancel"]').textContent = t("Cancel");
    }
    var d = confirmDialog, ok = d.querySelector('[value="ok"]');
    d.querySelector("h2").textContent = opts.title || t("Are you sure?");
    d.querySelector("p").textContent = message;
    ok.textContent = opts.label || t("Confirm");
    ok.className = "btn " + (opts.danger ? "btn-danger" : "btn-primary");
    d.returnValue = "";
    d.showModal();
    return new Promise(function (resolve) {
      d.addEventListener("close", function () { resolve(d.returnValue === "ok"); }, { once: true });
    });
  }
  function confirmOpts(src) {
    return { title: src.dataset.confirmTitle, label: src.dataset.confirmLabel,
             danger: src.classList.contains("btn-danger") || "confirmDanger" in src.dataset };
  }
  // htmx-driven elements: htmx fires htmx:confirm before every request; hx-confirm also gets the nicer dialog.
  doc.addEventListener("htmx:confirm", function (e) {
    var d = e.detail, sub = d.triggeringEvent && d.triggeringEvent.submitter;
    var src = [sub, d.elt].filter(function (x) { return x && x.hasAttribute && x.hasAttribute("data-confirm"); })[0];
    var question = src ? src.dataset.confirm : d.question;
    if (!question) return;
    e.preventDefault();
    confirmAsk(question, confirmOpts(src || d.elt)).then(function (yes) { if (yes) d.issueRequest(true); });
  });
  // Plain forms and links (htmx already called preventDefault on its own ones).
  var confirmed = new WeakSet();
  doc.addEventListener("submit", function (e) {
    var form = e.target, src = e.submitter && e.submitter.hasAttribute("data-confirm") ? e.submitter
      : form.hasAttribute("data-confirm") ? form : null;
    if (e.defaultPrevented || !src) return;
    if (confirmed.has(form)) { confirmed.delete(form); return; }
    e.preventDefault();
    confirmAsk(src.dataset.confirm, confirmOpts(src)).then(function (yes) {
      if (yes) { confirmed.add(form); form.requestSubmit(e.submitter || undefined); }
    });
  });

  /* ---------- keyboard shortcuts ---------- */
  var shortcuts = [], pending = "", pendingTimer;
  function shortcut(keys, description, handler) {
    var s = { keys: keys, description: description, handler: handler };
    shortcuts.push(s);
    return function () { if (shortcuts.indexOf(s) >= 0) shortcuts.splice(shortcuts.indexOf(s), 1); };
  }
  function domShortcuts() {
    return Array.prototype.map.call(doc.querySelectorAll("[data-shortcut]"), function (n) {
      var label = n.dataset.shortcutLabel || n.getAttribute("aria-label") || n.title || n.placeholder || n.textContent;
      return { keys: n.dataset.shortcut, description: (label || "").trim(), handler: function () {
        if (isTyping(n)) n.focus(); else n.click();
      } };
    });
  }
  function allShortcuts() {
    var seen = {};
    return shortcuts.concat(domShortcuts()).filter(function (s) { return !seen[s.keys] && (seen[s.keys] = true); });
  }
  var helpDialog;
  function showHelp() {
    if (!helpDialog) {
      helpDialog = doc.body.appendChild(el("dialog", "dialog"));
      helpDialog.innerHTML = '<form method="dialog"><div class="dialog-header"><h2></h2>' +
        '<button class="btn btn-ghost btn-icon btn-sm">\u00d7</button></div>' +
        '<div class="dialog-body"><dl class="shortcut-list"></dl></div></form>';
      helpDialog.querySelector("h2").textContent = t("Keyboard shortcuts");
      helpDialog.querySelector("button").setAttribute("aria-label", t("Close"));
    }
    var list = helpDialog.querySelector("dl");
    list.textContent = "";
    allShortcuts().forEach(function (s) {
      var dt = el("dt");
      s.keys.split(" ").forEach(function (k, i) {
        if (i) dt.appendChild(doc.createTextNode(" " + t("then") + " "));
        dt.appendChild(el("kbd", "kbd", k.replace("mod+", /Mac|iPhone|iPad/.test(navigator.platform) ? "\u2318" : "Ctrl+")));
      });
      list.append(dt, el("dd", null, s.description));
    });
    helpDialog.showModal();
  }
  shortcut("?", t("Show keyboard shortcuts"), showHelp);
  doc.addEventListener("keydown", function (e) {
    if (e.key === "Escape") { closeNav(); closeDropdowns(); return; }
    if (e.defaultPrevented || isTyping(e.target) || modalOpen() || e.key.length > 1) return;
    var key = (e.ctrlKey || e.metaKey ? "mod+" : "") + (e.altKey ? "alt+" : "") + e.key.toLowerCase();
    var list = allShortcuts(), seq = pending ? pending + " " + key : key;
    var find = function (k) { return list.filter(function (s) { return s.keys === k; })[0]; };
    var hit = find(seq) || (pending && find(key));
    clearTimeout(pendingTimer);
    pending = "";
    if (hit) { e.preventDefault(); hit.handler(e); return; }
    if (list.some(function (s) { return s.keys.indexOf(seq + " ") === 0; })) {
      pending = seq;  // first key of a sequence such as "g i"
      pendingTimer = setTimeout(function () { pending = ""; }, 1200);
    }
  });

  /* ---------- navigation drawer, dropdowns, inbox panes ---------- */
  function setNav(open) {
    if (open) doc.body.setAttribute("data-nav-open", ""); else doc.body.removeAttribute("data-nav-open");
    doc.querySelectorAll(".nav-toggle, [data-nav-toggle]").forEach(function (b) { b.setAttribute("aria-expanded", String(open)); });
  }
  function closeNav() { if (doc.body.hasAttribute("data-nav-open")) setNav(false); }
  function closeDropdowns(except) {
    doc.querySelectorAll("details.dropdown[open], details.ws-switch[open]").forEach(function (d) {
      if (!except || !d.contains(except)) d.open = false;
    });
  }
  doc.addEventListener("click", function (e) {
    var t = e.target instanceof Element ? e.target : null, n, inbox;
    if (!t) return;
    closeDropdowns(t.closest(".dropdown-item") ? null : t);
    if (t.closest(".nav-toggle, [data-nav-toggle]")) setNav(!doc.body.hasAttribute("data-nav-open"));
    else if (t === doc.body || t.closest(".nav-item")) closeNav();
    if (t.closest("[data-theme-toggle]")) setTheme(effectiveTheme() === "dark" ? "light" : "dark");
    if ((n = t.closest("[data-theme-set]"))) setTheme(n.dataset.themeSet);
    if ((n = t.closest("[data-copy]"))) copy(n);
    if ((n = t.closest("[data-pane-show], .conv-item")) && (inbox = n.closest(".inbox"))) {
      inbox.dataset.pane = n.dataset.paneShow || "thread";  // phones show one pane at a time
      if (n.matches(".conv-item")) {
        inbox.querySelectorAll(".conv-item.active").forEach(function (c) { c.classList.remove("active"); });
        n.classList.add("active");
      }
    }
    if ((n = t.closest("a[data-confirm]")) && !e.defaultPrevented && !n.hasAttribute("hx-get")) {
      e.preventDefault();
      confirmAsk(n.dataset.confirm, confirmOpts(n)).then(function (yes) { if (yes) location.href = n.href; });
    }
  });

  /* ---------- copy to clipboard ---------- */
  function copy(n) {
    var src = n.dataset.copyTarget ? doc.querySelector(n.dataset.copyTarget) : null;
    var code = n.closest(".code");
    var text = n.dataset.copy || (src ? src.value || src.textContent : code ? code.querySelector("code, pre").textContent : "");
    var done = function () {
      n.classList.add("copied");
      setTimeout(function () { n.classList.remove("copied"); }, 1500);
      toast(n.dataset.copiedMessage || t("Copied to clipboard"), "success", { timeout: 2000 });
    };
    text = text.trim();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { if (legacyCopy(text)) done(); });
    } else if (legacyCopy(text)) done();
  }
  function legacyCopy(text) {
    // Plain http on a LAN address is not a secure context, so the async clipboard API is missing there.
    var ta = doc.body.appendChild(el("textarea")), ok = false;
    ta.value = text;
    ta.style.cssText = "position:fixed;opacity:0;top:0;left:0";
    ta.select();
    try { ok = doc.execCommand("copy"); } catch (err) { ok = false; }
    ta.remove();
    return ok;
  }

  /* ---------- live (SSE) indicator ---------- */
  var liveState;
  function liveLabel(state) {
    return state === "open" ? t("Live") : state === "error" ? t("Reconnecting\u2026") : t("Offline");
  }
  function setLive(state, scope) {
    liveState = state;
    all(scope || doc, "[data-live-indicator]").forEach(function (n) {
      [n].concat(all(n, ".status-dot")).forEach(function (x) {
        x.classList.toggle("online", state === "open");
        x.classList.toggle("warn", state === "error");
        x.classList.toggle("offline", state === "closed");
      });
      var label = n.dataset["label" + state.charAt(0).toUpperCase() + state.slice(1)] || liveLabel(state);
      n.dataset.live = state;
      n.title = label;
      if (n.querySelector("[data-live-label]")) n.querySelector("[data-live-label]").textContent = label;
    });
  }
  [["htmx:sseOpen", "open"], ["htmx:sseError", "error"], ["htmx:sseClose", "closed"]].forEach(function (p) {
    doc.addEventListener(p[0], function () { setLive(p[1]); });
  });
  window.addEventListener("offline", function () { setLive("error"); });

  /* ---------- QR / expiry countdowns ---------- */
  function parseTime(v) { return /^\d+(\.\d+)?$/.test(v) ? (+v < 1e12 ? +v * 1000 : +v) : Date.parse(v); }
  function tickCountdowns() {
    doc.querySelectorAll("[data-expires-at]:not(.expired)").forEach(function (n) {
      var left = Math.max(0, parseTime(n.dataset.expiresAt) - Date.now()), s = Math.ceil(left / 1000);
      var out = n.querySelector("[data-countdown]") || (n.hasAttribute("data-countdown") ? n : null);
      if (out) out.textContent = Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
      if (n.dataset.ttl) n.style.setProperty("--value", Math.min(100, (left / 10 / +n.dataset.ttl)).toFixed(1));
      n.classList.toggle("expiring", s <= 10);
      if (left <= 0) n.classList.add("expired"), n.dispatchEvent(new CustomEvent("expired", { bubbles: true }));
    });
  }

  /* ---------- composer, thread scrolling ---------- */
  var autoSize = !(window.CSS && CSS.supports("field-sizing", "content"));  // CSS grows it where supported
  doc.addEventListener("input", function (e) {
    var t = e.target;
    if (autoSize && t.matches(".composer textarea")) { t.style.height = "auto"; t.style.height = t.scrollHeight + 2 + "px"; }
  });
  doc.addEventListener("keydown", function (e) {
    var t = e.target;
    if (e.key === "Enter" && t.matches && t.matches(".composer textarea") && t.form &&
        (e.ctrlKey || e.metaKey || (t.form.hasAttribute("data-enter-sends") && !e.shiftKey && !e.isComposing))) {
      e.preventDefault();
      if (t.value.trim()) t.form.requestSubmit();
    }
  });
  // Keep a thread pinned to the newest message while the user is reading the bottom of it.
  var pinned = new WeakMap();
  doc.addEventListener("scroll", function (e) {
    var t = e.target;
    if (t.classList && t.classList.contains("thread-messages")) pinned.set(t, t.scrollHeight - t.scrollTop - t.clientHeight < 80);
  }, true);
  var observer = new MutationObserver(function (records) {
    records.forEach(function (r) { if (pinned.get(r.target) !== false) r.target.scrollTop = r.target.scrollHeight; });
  });

  /* ---------- enhance server-rendered or swapped-in content ---------- */
  function enhance(scope) {
    all(scope, ".toast").forEach(wireToast);
    all(scope, ".thread-messages").forEach(function (t) {
      t.scrollTop = t.scrollHeight;
      observer.observe(t, { childList: true });
    });
    if (liveState) setLive(liveState, scope);
    tickCountdowns();
  }
  doc.addEventListener("toast", function (e) { if (e.detail && e.detail.message) toast(e.detail.message, e.detail.level); });
  doc.addEventListener("htmx:load", function (e) { enhance(e.detail.elt); });
  doc.addEventListener("htmx:responseError", function (e) {
    var xhr = e.detail.xhr, trig = xhr.getResponseHeader("HX-Trigger") || "";
    if (trig.indexOf("toast") === -1) toast(t("Something went wrong (%(status)s). Please try again.", { status: xhr.status }), "error");
  });
  doc.addEventListener("htmx:sendError", function () { toast(t("Can't reach the server. Check that Blazz is running."), "error"); });
  doc.addEventListener("DOMContentLoaded", function () { enhance(doc); setInterval(tickCountdowns, 1000); });

  window.Blazz = { t: t, toast: toast, confirm: confirmAsk, shortcut: shortcut, setTheme: setTheme };
})();
