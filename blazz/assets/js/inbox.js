/* Blazz inbox: the live conversation list and thread, the composer, notifications and shortcuts.
   Loaded by inbox/index.html after app.js and htmx. The page works without it (links and forms), this makes it live.

   Live updates: the workspace's event stream (htmx SSE extension on .app) delivers inbox events to
   #inbox-events as JSON with ids only; this script fetches, for its own tab, the lines and list items it may see:
     GET  {base}/items?ids=1,2&<filters>&open=ID   conversation items (absent = no longer in this list)
     GET  {base}/{id}/lines?ids=...                  thread lines
     GET  {base}/{id}/messages?before=|after=        older / newer pages
     GET  {base}/{id}/header                         the thread header (status, assignee)
     GET  {base}/{id}/canned                         canned replies filled for the contact (JSON)
     POST {base}/{id}/read, {base}/presence */
(function () {
  "use strict";
  var doc = document;
  var box = doc.getElementById("inbox");
  if (!box) return;
  var base = "/w/" + box.dataset.slug + "/inbox", me = +box.dataset.me;
  var RANK = { queued: 0, sending: 1, sent: 2, delivered: 3, read: 4 };
  var NOTIFY_KEY = "blazz-inbox-notify";
  var team = {};
  try { team = JSON.parse(doc.getElementById("inbox-team").textContent); } catch (e) { /* no teammates */ }

  /* ---------- helpers ---------- */
  function csrf() {
    try { return JSON.parse(doc.body.getAttribute("hx-headers"))["x-csrftoken"]; } catch (e) { return ""; }
  }
  function get(url) {
    return fetch(url, { credentials: "same-origin", headers: { "HX-Request": "true" } }).then(function (r) {
      if (!r.ok) throw r;
      return r.text();
    });
  }
  function post(url, fields) {
    var body = new FormData();
    Object.keys(fields || {}).forEach(function (k) { body.append(k, fields[k]); });
    return fetch(url, { method: "POST", body: body, credentials: "same-origin",
                        headers: { "x-csrftoken": csrf(), "HX-Request": "true" } });
  }
  function parse(html) {
    var t = doc.createElement("template");
    t.innerHTML = html;
    return t.content;
  }
  function activate(node) { if (window.htmx) htmx.process(node); }
  function list() { return doc.getElementById("conv-list"); }
  function thread() { return doc.getElementById("thread-messages"); }
  function openId() {
    var t = doc.querySelector("#thread .thread");
    return t ? +t.dataset.conversation : null;
  }
  function filterQuery() {
    var f = doc.getElementById("inbox-filters");
    var q = f ? new URLSearchParams(new FormData(f)) : new URLSearchParams();
    if (openId()) q.set("open", openId());
    return q;
  }
  function batcher(delay, run) {  // collect ids for a moment, then handle them together
    var ids = {}, timer = null;
    return function (more) {
      (more || []).forEach(function (id) { if (id) ids[id] = true; });
      clearTimeout(timer);
      timer = setTimeout(function () {
        var all = Object.keys(ids).map(Number);
        ids = {};
        if (all.length) run(all);
      }, delay);
    };
  }

  /* ---------- the conversation list ---------- */
  function searching() { return !!(list() && list().querySelector("[data-search]")); }
  function firstVisible(scope, except) {
    var top = scope.getBoundingClientRect().top, items = scope.querySelectorAll(".conv-item[data-id]");
    for (var i = 0; i < items.length; i++) {
      if (!except[items[i].dataset.id] && items[i].getBoundingClientRect().bottom > top) return items[i];
    }
    return null;
  }
  function place(scope, item) {
    // The server's order: last activity, then (same second) the last message's id.
    var at = +item.dataset.at, last = +item.dataset.last, before = null;
    var items = scope.querySelectorAll(".conv-item[data-id]");
    for (var i = 0; i < items.length; i++) {
      var x = items[i], xa = +x.dataset.at;
      if (xa < at || (xa === at && +x.dataset.last < last)) { before = x; break; }
    }
    var more = scope.querySelector("[data-more]");
    if (!before && more) return false;  // older than everything loaded: it arrives with its page
    scope.insertBefore(item, before || more);
    return true;
  }
  var refreshList = batcher(120, function (ids) {
    if (!list() || searching()) return;
    var q = filterQuery();
    q.set("ids", ids.join(","));
    get(base + "/items?" + q).then(function (html) {
      var scope = list();
      if (!scope || searching()) return;
      var moving = {};
      ids.forEach(function (id) { moving[id] = true; });
      // Keep what the agent is looking at where it is: measure an item that does not move, restore its offset.
      var anchor = scope.scrollTop > 0 ? firstVisible(scope, moving) : null;
      var anchorTop = anchor ? anchor.getBoundingClientRect().top : 0;
      var fresh = parse(html), seen = {};
      // The highlighted chat stays the one the agent last picked (its thread may still be loading), else the open one.
      var picked = scope.querySelector(".conv-item.active"), activeId = picked ? +picked.dataset.id : openId();
      ids.forEach(function (id) { var old = doc.getElementById("conv-" + id); if (old) old.remove(); });
      Array.prototype.slice.call(fresh.querySelectorAll(".conv-item[data-id]")).forEach(function (item) {
        seen[item.dataset.id] = true;
        item.classList.toggle("active", +item.dataset.id === activeId);  // not the request's idea of the open chat
        if (place(scope, item)) activate(item);
      });
      if (scope.querySelector(".conv-item[data-id]")) {
        var empty = scope.querySelector("[data-empty]");
        if (empty) empty.remove();
      }
      if (anchor && anchor.isConnected) scope.scrollTop += anchor.getBoundingClientRect().top - anchorTop;
    }).catch(function () { /* the next event or a reconnect brings it */ });
  });

  /* ---------- the thread ---------- */
  function lastLine(scope) {
    var lines = scope.querySelectorAll(".bubble[data-id]");
    return lines.length ? lines[lines.length - 1] : null;
  }
  function daySep(line) {
    var sep = doc.createElement("div");
    sep.className = "day-sep";
    sep.dataset.day = line.dataset.day;
    sep.textContent = line.dataset.dayLabel || "";
    return sep;
  }
  function upsertLines(html, opts) {
    var scope = thread();
    if (!scope) return;
    opts = opts || {};
    var waitingNewer = scope.querySelector(".thread-newer");
    Array.prototype.slice.call(parse(html).querySelectorAll(".bubble[data-id]")).forEach(function (line) {
      var old = doc.getElementById(line.id);
      if (old) { old.replaceWith(line); activate(line); return; }
      if (waitingNewer && !opts.force) return;  // reading an older part of the thread: newer lines come by scrolling
      var last = lastLine(scope);
      if (last && +last.dataset.id > +line.dataset.id) {  // arrived out of order: slot it in by id
        var after = Array.prototype.slice.call(scope.querySelectorAll(".bubble[data-id]")).filter(function (b) {
          return +b.dataset.id > +line.dataset.id;
        })[0];
        scope.insertBefore(line, after);
      } else {
        if (!last || last.dataset.day !== line.dataset.day) scope.appendChild(daySep(line));
        scope.appendChild(line);
      }
      activate(line);
    });
    if (opts.scroll) scope.scrollTop = scope.scrollHeight;
  }
  var refreshLines = batcher(60, function (ids) {
    var id = openId();
    if (!id) return;
    get(base + "/" + id + "/lines?ids=" + ids.join(",")).then(function (html) {
      if (openId() === id) upsertLines(html);
    }).catch(function () { /* a reconnect refreshes the thread */ });
  });
  function setTicks(node, status) {
    if (!node) return;
    var now = (node.className.match(/\b(queued|sending|sent|delivered|read|failed)\b/) || [])[1];
    if (now && now !== "failed" && RANK[now] >= RANK[status]) return;  // receipts only move forward
    node.classList.remove("queued", "sending", "sent", "delivered", "read", "failed");
    node.classList.add(status);
    var label = { queued: Blazz.t("Queued"), sending: Blazz.t("Sending"), sent: Blazz.t("Sent"),
                  delivered: Blazz.t("Delivered"), read: Blazz.t("Read") }[status];
    if (label) { node.title = label; node.setAttribute("aria-label", label); }
  }
  function onStatus(d) {
    var again = [];
    (d.message_ids || []).forEach(function (mid) {
      var line = doc.getElementById("m" + mid);
      if (line) {
        if (d.status === "failed" || line.classList.contains("failed")) again.push(mid);
        else { setTicks(line.querySelector(".ticks"), d.status); line.dataset.status = d.status; }
      }
      doc.querySelectorAll('.conv-item .ticks[data-message="' + mid + '"]').forEach(function (t) {
        if (d.status !== "failed") setTicks(t, d.status);
      });
    });
    if (again.length) refreshLines(again);
    if (d.status === "failed") refreshList(d.conversation_ids);
  }
  function refreshHeader() {
    var id = openId(), header = doc.getElementById("thread-header");
    if (!id || !header || header.hasAttribute("data-gone")) return;
    get(base + "/" + id + "/header").then(function (html) {
      var now = doc.getElementById("thread-header"), fresh = parse(html).firstElementChild;
      if (now && fresh && openId() === id) { now.replaceWith(fresh); activate(fresh); }
    }).catch(function (r) {
      if (r && r.status === 404) location.href = base;  // it was taken out of this agent's view
    });
  }
  var markRead = batcher(400, function () {
    var id = openId();
    if (id && !doc.hidden) post(base + "/" + id + "/read");
  });

  // Older lines as the agent scrolls up; newer ones below a search result.
  var pager = "IntersectionObserver" in window ? new IntersectionObserver(function (entries) {
    entries.forEach(function (entry) { if (entry.isIntersecting) loadPage(entry.target); });
  }, { rootMargin: "300px 0px" }) : null;
  function watchPages() {
    var scope = thread();
    if (!scope || !pager) return;
    scope.querySelectorAll(".thread-more, .thread-newer").forEach(function (n) { pager.observe(n); });
  }
  function loadPage(marker) {
    var id = openId(), scope = thread();
    if (!id || !scope || marker.dataset.loading) return;
    marker.dataset.loading = "1";
    pager.unobserve(marker);
    var older = marker.classList.contains("thread-more");
    var url = base + "/" + id + "/messages?" + (older ? "before=" + marker.dataset.older : "after=" + marker.dataset.newer);
    get(url).then(function (html) {
      if (openId() !== id) return;
      var part = parse(html), height = scope.scrollHeight, top = scope.scrollTop;
      var lines = part.querySelectorAll(".bubble[data-id]");
      if (older) {
        var first = scope.querySelector(".day-sep");
        var lastNew = lines.length ? lines[lines.length - 1] : null;
        if (first && lastNew && first.dataset.day === lastNew.dataset.day) first.remove();  // one day, one separator
        marker.replaceWith(part);
        scope.scrollTop = top + (scope.scrollHeight - height);  // the lines the agent was reading stay put
      } else {
        var prev = lastLine(scope), sep = part.querySelector(".day-sep");
        if (prev && sep && sep.dataset.day === prev.dataset.day) sep.remove();
        marker.replaceWith(part);
      }
      activate(scope);
      watchPages();
    }).catch(function () { delete marker.dataset.loading; if (pager) pager.observe(marker); });
  }

  /* ---------- events from the stream ---------- */
  doc.addEventListener("htmx:sseBeforeMessage", function (e) {
    if (!e.target || e.target.id !== "inbox-events") return;
    e.preventDefault();  // nothing to swap: the data says what changed
    var d;
    try { d = JSON.parse(e.detail.data); } catch (err) { return; }
    var type = e.detail.type, open = openId();
    if (type === "conversation.updated") {
      refreshList(d.conversation_ids);
      if (open && (d.conversation_ids || []).indexOf(open) >= 0) refreshHeader();
    } else if (type === "message.new" || type === "inbox.line") {
      if (d.conversation_id === open) {
        refreshLines([d.message_id]);
        if (d.direction === "in") markRead();
      }
      if (type === "message.new" && d.direction === "in") notify(d.conversation_id);
    } else if (type === "message.status") {
      onStatus(d);
    } else if (type === "message.media") {
      if (open && (d.conversation_ids || []).indexOf(open) >= 0) refreshLines(d.message_ids);
    } else if (type === "inbox.mention" && (d.user_ids || []).indexOf(me) >= 0) {
      var by = d.by || Blazz.t("A teammate");
      Blazz.toast(Blazz.t("%(name)s mentioned you in a note.", { name: by }), "info");
      notify(d.conversation_id, Blazz.t("%(name)s mentioned you", { name: by }));
    }
  });
  // After the stream was cut (sleep, network), catch up: the list's first page, the thread's newer lines.
  var streamOpened = false;
  doc.addEventListener("htmx:sseOpen", function () {
    if (!streamOpened) { streamOpened = true; return; }
    if (list() && !searching()) {
      get(base + "/list?" + filterQuery()).then(function (html) {
        var scope = list();
        if (scope && !searching()) { scope.innerHTML = html; activate(scope); }
      }).catch(function () { /* next reconnect */ });
    }
    var scope = thread(), last = scope && lastLine(scope), id = openId();
    if (id && last && !scope.querySelector(".thread-newer")) {
      get(base + "/" + id + "/messages?after=" + last.dataset.id).then(function (html) {
        if (openId() === id) upsertLines(html);
      }).catch(function () { /* next reconnect */ });
      refreshHeader();
    }
  });

  /* ---------- notifications (opt-in) ---------- */
  function notifyOn() {
    try { return localStorage.getItem(NOTIFY_KEY) === "1" && window.Notification && Notification.permission === "granted"; }
    catch (e) { return false; }
  }
  function showNotifyState() {
    doc.querySelectorAll("[data-inbox-notify]").forEach(function (b) {
      b.setAttribute("aria-pressed", String(notifyOn()));
      b.classList.toggle("active", notifyOn());
    });
  }
  var audio;
  function chime() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      [880, 1320].forEach(function (f, i) {
        var o = audio.createOscillator(), g = audio.createGain(), t = audio.currentTime + i * 0.12;
        o.frequency.value = f;
        g.gain.setValueAtTime(0.0001, t);
        g.gain.exponentialRampToValueAtTime(0.12, t + 0.02);
        g.gain.exponentialRampToValueAtTime(0.0001, t + 0.25);
        o.connect(g).connect(audio.destination);
        o.start(t);
        o.stop(t + 0.3);
      });
    } catch (e) { /* no audio here */ }
  }
  function notify(conversationId, title) {
    if (!doc.hidden || !notifyOn() || !conversationId) return;
    get(base + "/items?status=all&view=all&ids=" + conversationId).then(function (html) {
      var item = parse(html).querySelector(".conv-item");
      if (!item) return;  // not visible to this agent
      var name = item.querySelector(".conv-name").textContent.trim();
      var n = new Notification(title || name, { body: item.querySelector(".conv-preview").textContent.trim(),
                                                tag: "blazz-conversation-" + conversationId });
      n.onclick = function () { window.focus(); location.href = base + "/" + conversationId; n.close(); };
      chime();
    }).catch(function () { /* nothing to show */ });
  }
  doc.addEventListener("click", function (e) {
    var b = e.target instanceof Element && e.target.closest("[data-inbox-notify]");
    if (!b) return;
    if (notifyOn()) { localStorage.setItem(NOTIFY_KEY, "0"); showNotifyState(); return; }
    if (!window.Notification) { Blazz.toast(Blazz.t("This browser cannot show notifications."), "warning"); return; }
    Notification.requestPermission().then(function (p) {
      if (p === "granted") {
        localStorage.setItem(NOTIFY_KEY, "1");
        Blazz.toast(Blazz.t("You will be notified of new messages while Blazz is in the background."), "success");
      } else {
        Blazz.toast(Blazz.t("Notifications are blocked for this site in the browser's settings."), "warning");
      }
      showNotifyState();
    });
  });

  /* ---------- composer ---------- */
  function composer() { return doc.getElementById("composer"); }
  function setMode(mode) {
    var form = composer();
    if (!form) return;
    form.dataset.mode = mode;
    form.querySelector('[name="mode"]').value = mode;
    var ta = form.querySelector("textarea"), closed = form.dataset.windowClosed === "1" && mode === "reply";
    ta.placeholder = closed ? Blazz.t("Only a template can be sent now") : ta.dataset["placeholder" + (mode === "note" ? "Note" : "Reply")];
    ta.disabled = closed;
    form.querySelector(".composer-send").disabled = closed;
    form.querySelector("[data-attach]").disabled = mode === "note" || closed;
    doc.querySelectorAll('[name="composer-mode"]').forEach(function (r) {
      r.checked = r.value === mode;
      r.closest(".tab").classList.toggle("active", r.checked);
    });
    closeMenu();
  }
  function resetComposer() {
    var form = composer();
    if (!form) return;
    form.querySelector("textarea").value = "";
    form.querySelector("textarea").style.height = "";
    form.querySelector('[name="reply_to"]').value = "";
    clearFile();
    var reply = doc.getElementById("composer-reply");
    if (reply) reply.hidden = true;
  }
  function clearFile() {
    var input = doc.getElementById("composer-file"), chip = doc.getElementById("composer-file-chip");
    if (input) input.value = "";
    if (chip) chip.hidden = true;
  }
  function showFile() {
    var input = doc.getElementById("composer-file"), chip = doc.getElementById("composer-file-chip");
    if (!input || !chip) return;
    chip.hidden = !input.files.length;
    if (input.files.length) chip.querySelector("[data-file-name]").textContent = input.files[0].name;
  }
  function useFiles(files) {
    var input = doc.getElementById("composer-file");
    if (!input || !files || !files.length) return;
    if (composer().dataset.mode === "note") setMode("reply");
    var dt = new DataTransfer();
    dt.items.add(files[0]);
    input.files = dt.files;
    showFile();
    composer().querySelector("textarea").focus();
  }
  function initThread() {
    var form = composer();
    if (form) setMode(form.dataset.windowClosed === "1" ? "note" : "reply");
    var voice = doc.querySelector("[data-voice]"), why = voiceUnavailable(voice);
    if (voice && why) {
      voice.setAttribute("aria-disabled", "true");
      voice.classList.add("unavailable");
      voice.title = why;
    }
    var scope = thread();
    if (scope && scope.dataset.around) {
      var target = doc.getElementById("m" + scope.dataset.around);
      if (target) {
        setTimeout(function () { target.scrollIntoView({ block: "center" }); }, 0);
        target.classList.add("highlight");
      }
    }
    watchPages();
    box.dataset.conversation = openId() || "";
  }

  doc.addEventListener("change", function (e) {
    var t = e.target;
    if (t.name === "composer-mode") setMode(t.value);
    else if (t.id === "composer-file") showFile();
    else if (t.closest && t.closest("#inbox-filters")) {
      var q = new URLSearchParams(new FormData(t.closest("form")));
      history.replaceState(history.state, "", location.pathname + "?" + q);
    }
  });
  doc.addEventListener("click", function (e) {
    var t = e.target instanceof Element ? e.target : null, n;
    if (!t) return;
    if (t.closest("[data-attach]")) doc.getElementById("composer-file").click();
    if (t.closest("[data-file-clear]")) clearFile();
    if ((n = t.closest("[data-reply]"))) {
      var line = doc.getElementById("m" + n.dataset.reply), form = composer();
      if (!line || !form) return;
      setMode("reply");
      form.querySelector('[name="reply_to"]').value = n.dataset.reply;
      var reply = doc.getElementById("composer-reply"), text = line.querySelector(".text");
      reply.querySelector("[data-reply-text]").textContent = text ? text.textContent.slice(0, 140) : Blazz.t("a file");
      reply.hidden = false;
      form.querySelector("textarea").focus();
    }
    if (t.closest("[data-reply-cancel]")) {
      composer().querySelector('[name="reply_to"]').value = "";
      doc.getElementById("composer-reply").hidden = true;
    }
    if ((n = t.closest("[data-quote]"))) {
      var quoted = doc.getElementById("m" + n.dataset.quote);
      if (quoted) {
        e.preventDefault();
        quoted.scrollIntoView({ block: "center", behavior: "smooth" });
        quoted.classList.add("highlight");
        setTimeout(function () { quoted.classList.remove("highlight"); }, 1600);
      }
    }
    if ((n = t.closest("[data-menu-pick]"))) pick(+n.dataset.menuPick);
  });
  // Drop a file anywhere on the conversation to attach it; paste an image into the message box.
  doc.addEventListener("dragover", function (e) {
    if (composer() && e.target instanceof Element && e.target.closest("#thread") && e.dataTransfer &&
        Array.prototype.indexOf.call(e.dataTransfer.types, "Files") >= 0) {
      e.preventDefault();
      doc.getElementById("thread").classList.add("dropping");
    }
  });
  doc.addEventListener("dragleave", function (e) {
    if (e.target instanceof Element && e.target.id === "thread") e.target.classList.remove("dropping");
  });
  doc.addEventListener("drop", function (e) {
    var pane = doc.getElementById("thread");
    if (!pane || !(e.target instanceof Element) || !e.target.closest("#thread") || !composer()) return;
    e.preventDefault();
    pane.classList.remove("dropping");
    useFiles(e.dataTransfer.files);
  });
  doc.addEventListener("paste", function (e) {
    if (e.target instanceof Element && e.target.matches("#composer textarea") && e.clipboardData &&
        e.clipboardData.files.length) {
      e.preventDefault();
      useFiles(e.clipboardData.files);
    }
  });
  doc.addEventListener("htmx:afterRequest", function (e) {
    var form = composer();
    if (!form || e.detail.elt !== form || !e.detail.successful) return;
    var goto = +(e.detail.xhr.getResponseHeader("X-Inbox-Conversation") || 0);
    resetComposer();
    if (goto && goto !== openId()) {  // sent from another number: that number's conversation with them
      htmx.ajax("GET", base + "/" + goto, { target: "#thread", swap: "innerHTML" }).then(function () {
        history.pushState({}, "", base + "/" + goto);
      });
      return;
    }
    upsertLines(e.detail.xhr.responseText, { scroll: true, force: true });
  });
  // Meta templates (Cloud API numbers): the Template button shows the choice; a sent one lands like a reply.
  doc.addEventListener("click", function (e) {
    var b = e.target instanceof Element && e.target.closest("[data-template-toggle]");
    var panel = doc.getElementById("composer-template");
    if (!b || !panel || panel.tagName !== "FORM") return;
    panel.hidden = !panel.hidden;
    if (!panel.hidden) panel.querySelector("select").focus();
  });
  doc.addEventListener("htmx:afterRequest", function (e) {
    var panel = e.detail.elt;
    if (!panel || panel.id !== "composer-template" || !e.detail.successful) return;
    panel.querySelectorAll("[data-template-param]").forEach(function (input) { input.value = ""; });
    if (panel.dataset.windowClosed !== "1") panel.hidden = true;
    upsertLines(e.detail.xhr.responseText, { scroll: true, force: true });
  });
  doc.addEventListener("htmx:afterSwap", function (e) {
    if (e.detail.target && e.detail.target.id === "thread") {
      initThread();
      doc.querySelectorAll(".conv-item.active").forEach(function (c) {
        if (+c.dataset.id !== openId()) c.classList.remove("active");
      });
      var item = doc.getElementById("conv-" + openId());
      if (item) item.classList.add("active");
    }
  });

  /* ---------- voice messages ---------- */
  var OGG = "audio/ogg;codecs=opus", recorder = null, recStart = 0, recTimer = null;
  function voiceUnavailable(button) {
    if (!button) return "";
    if (!window.MediaRecorder || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      return Blazz.t("Voice messages need the microphone, which browsers allow only on https:// or on this computer (localhost). Open Blazz that way to record.");
    }
    if (!MediaRecorder.isTypeSupported(OGG) && button.dataset.ffmpeg !== "1") {
      return Blazz.t("This browser records voice in a format WhatsApp does not play, and the computer running Blazz has no ffmpeg to convert it. Install ffmpeg there, or record in Firefox.");
    }
    return "";
  }
  function recordingShown(on) {
    var bar = doc.getElementById("composer-recording"), b = doc.querySelector("[data-voice]");
    if (bar) bar.hidden = !on;
    if (b) { b.classList.toggle("recording", on); b.setAttribute("aria-pressed", String(on)); }
    clearInterval(recTimer);
    if (on) {
      recTimer = setInterval(function () {
        var s = Math.floor((Date.now() - recStart) / 1000), out = doc.querySelector("[data-rec-time]");
        if (out) out.textContent = Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
      }, 500);
    }
  }
  function stopRecording(send) {
    if (!recorder) return;
    recorder.sendIt = send;
    recorder.stop();
  }
  function startRecording(button) {
    navigator.mediaDevices.getUserMedia({ audio: true }).then(function (stream) {
      var type = MediaRecorder.isTypeSupported(OGG) ? OGG : "";
      var rec = new MediaRecorder(stream, type ? { mimeType: type } : undefined), chunks = [];
      var id = openId();
      rec.ondataavailable = function (e) { if (e.data.size) chunks.push(e.data); };
      rec.onstop = function () {
        stream.getTracks().forEach(function (t) { t.stop(); });
        recorder = null;
        recordingShown(false);
        if (!rec.sendIt || !chunks.length || openId() !== id) return;
        var body = new FormData();
        body.append("file", new Blob(chunks, { type: rec.mimeType }), "voice");
        fetch(button.dataset.url, { method: "POST", body: body, credentials: "same-origin",
                                    headers: { "x-csrftoken": csrf(), "HX-Request": "true" } })
          .then(function (r) { return r.text().then(function (t) { return { ok: r.ok, text: t }; }); })
          .then(function (r) {
            if (r.ok) { upsertLines(r.text, { scroll: true, force: true }); return; }
            var msg = parse(r.text).querySelector(".toast");
            Blazz.toast(msg ? msg.textContent : Blazz.t("The voice message could not be sent."), "error");
          });
      };
      recorder = rec;
      recStart = Date.now();
      rec.start();
      recordingShown(true);
    }).catch(function () {
      Blazz.toast(Blazz.t("The microphone is blocked for this site; allow it in the browser to record."), "warning");
    });
  }
  doc.addEventListener("click", function (e) {
    var b = e.target instanceof Element && e.target.closest("[data-voice]");
    if (!b) return;
    if (b.classList.contains("unavailable")) { Blazz.toast(b.title, "info", { timeout: 8000 }); return; }
    if (recorder) stopRecording(true); else startRecording(b);
  });
  doc.addEventListener("keydown", function (e) { if (e.key === "Escape" && recorder) stopRecording(false); });

  /* ---------- "/" canned replies and "@" mentions in the composer ---------- */
  var menu = { items: [], index: 0, kind: null, start: 0 }, canned = { id: null, list: null };
  function closeMenu() {
    var m = doc.getElementById("composer-menu");
    if (m) m.hidden = true;
    menu.kind = null;
  }
  function drawMenu() {
    var m = doc.getElementById("composer-menu");
    if (!m) return;
    m.textContent = "";
    if (!menu.items.length) { m.hidden = true; return; }
    menu.items.forEach(function (it, i) {
      var b = doc.createElement("button");
      b.type = "button";
      b.className = "dropdown-item" + (i === menu.index ? " active" : "");
      b.setAttribute("role", "option");
      b.setAttribute("aria-selected", String(i === menu.index));
      b.dataset.menuPick = i;
      var strong = doc.createElement("strong");
      strong.textContent = it.label;
      b.appendChild(strong);
      if (it.hint) {
        var hint = doc.createElement("span");
        hint.className = "muted small truncate";
        hint.textContent = it.hint;
        b.appendChild(hint);
      }
      m.appendChild(b);
    });
    m.hidden = false;
  }
  function loadCanned() {
    var id = openId();
    if (canned.id === id && canned.list) return Promise.resolve(canned.list);
    return get(base + "/" + id + "/canned").then(function (text) {
      canned = { id: id, list: JSON.parse(text) };
      return canned.list;
    });
  }
  function onComposerInput(ta) {
    var form = composer(), before = ta.value.slice(0, ta.selectionStart), m;
    if (form.dataset.mode === "reply" && (m = /^\/([\w-]*)$/.exec(ta.value))) {
      var want = m[1].toLowerCase();
      loadCanned().then(function (all) {
        menu.kind = "canned";
        menu.index = 0;
        menu.items = all.filter(function (r) { return r.shortcut.indexOf(want) === 0; }).slice(0, 8).map(function (r) {
          return { label: "/" + r.shortcut, hint: r.title || r.text, text: r.text };
        });
        drawMenu();
      }).catch(closeMenu);
    } else if (form.dataset.mode === "note" && (m = /(^|\s)@([^\s@]*)$/.exec(before))) {
      var part = m[2].toLowerCase();
      menu.kind = "mention";
      menu.index = 0;
      menu.start = before.length - m[2].length - 1;
      menu.items = Object.keys(team).filter(function (uid) {
        return team[uid].toLowerCase().split(/\s+/).some(function (w) { return w.indexOf(part) === 0; }) ||
          team[uid].toLowerCase().indexOf(part) === 0;
      }).slice(0, 8).map(function (uid) { return { label: team[uid], text: team[uid] }; });
      drawMenu();
    } else {
      closeMenu();
    }
  }
  function pick(i) {
    var ta = composer() && composer().querySelector("textarea"), it = menu.items[i];
    if (!ta || !it) return;
    if (menu.kind === "canned") {
      ta.value = it.text;
    } else if (menu.kind === "mention") {
      var rest = ta.value.slice(ta.selectionStart);
      ta.value = ta.value.slice(0, menu.start) + "@" + it.text + " " + rest;
      var caret = menu.start + it.text.length + 2;
      ta.setSelectionRange(caret, caret);
    }
    closeMenu();
    ta.focus();
    ta.dispatchEvent(new Event("input", { bubbles: true }));
  }
  doc.addEventListener("input", function (e) {
    if (e.target instanceof Element && e.target.matches("#composer textarea")) onComposerInput(e.target);
  });
  doc.addEventListener("keydown", function (e) {
    if (!(e.target instanceof Element) || !e.target.matches("#composer textarea") || !menu.kind || !menu.items.length) return;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      menu.index = (menu.index + (e.key === "ArrowDown" ? 1 : menu.items.length - 1)) % menu.items.length;
      drawMenu();
    } else if (e.key === "Enter" || e.key === "Tab") {
      pick(menu.index);
    } else if (e.key === "Escape") {
      closeMenu();
    } else {
      return;
    }
    e.preventDefault();
    e.stopImmediatePropagation();  // Enter picks from the menu instead of sending
  }, true);

  /* ---------- keyboard shortcuts ---------- */
  function move(step) {
    var items = Array.prototype.slice.call(doc.querySelectorAll("#conv-list .conv-item[href]"));
    if (!items.length) return;
    var at = items.indexOf(doc.querySelector("#conv-list .conv-item.active"));
    var next = items[Math.max(0, Math.min(items.length - 1, at < 0 ? 0 : at + step))];
    next.click();
    next.scrollIntoView({ block: "nearest" });
  }
  Blazz.shortcut("j", Blazz.t("Next conversation"), function () { move(1); });
  Blazz.shortcut("k", Blazz.t("Previous conversation"), function () { move(-1); });
  Blazz.shortcut("e", Blazz.t("Resolve the open conversation"), function () {
    var b = doc.querySelector("#thread-header [data-resolve]");
    if (b) b.click();
  });
  Blazz.shortcut("r", Blazz.t("Write a reply"), function () {
    var ta = doc.querySelector("#composer textarea");
    if (ta && !ta.disabled) ta.focus();
  });

  /* ---------- presence (an agent counts as away 90 s after their last tab stopped reporting), read on return */
  function here() { if (!doc.hidden) post(base + "/presence"); }
  setInterval(here, 30000);
  doc.addEventListener("visibilitychange", function () {
    if (doc.hidden) return;
    here();
    var item = doc.getElementById("conv-" + openId());
    if (item && item.classList.contains("unread")) markRead();
  });

  showNotifyState();
  initThread();
})();
