// Progressive enhancement only: every page works without this file.
document.documentElement.classList.add("js");

// Desk board: copy the leaders' mail list. Without JavaScript the button stays hidden (.js-only)
// and the read-only textarea can be selected and copied by hand.
document.addEventListener("click", function (event) {
  var button = event.target.closest ? event.target.closest("[data-copy-target]") : null;
  if (!button) {
    return;
  }
  var id = button.getAttribute("data-copy-target");
  var field = document.getElementById(id);
  var status = document.querySelector('[data-copy-status="' + id + '"]');
  if (!field) {
    return;
  }
  function say(text) {
    if (status) {
      status.textContent = text;
    }
  }
  function fallback() {
    field.focus();
    field.select();
    var done = false;
    try {
      done = document.execCommand("copy");
    } catch (e) {
      done = false;
    }
    say(done ? "コピーしました。" : "選択しました。Ctrl+C でコピーしてください。");
  }
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(field.value).then(function () {
      say("コピーしました。");
    }, fallback);
  } else {
    fallback();
  }
});

// 根拠資料 (evidence) boxes sit in the sheet's rows, but their fields belong to forms of their own (form=ev<n>):
// a change there is not a change of the answer, so it must not reach the row's save (hx-trigger=change).
document.addEventListener("change", function (event) {
  if (event.target && event.target.closest && event.target.closest(".evidence")) {
    event.stopPropagation();
  }
}, true);

// 根拠資料: a closed box carries no fields. Its 「追加・削除」 link (?evidence=<n>#evb<n>: the page again, that box
// open with its fields) is taken over here: htmx asks for the box alone (GET /evidence + the row's address; the
// item's forms come out of band into #evidence-forms, outside the sheet's form) and swaps it in, and the new box's
// first field takes the focus (autofocus). A row without hx-post (the sheet is read only) keeps the plain link.
document.addEventListener("click", function (event) {
  var link = event.target.closest ? event.target.closest("details.evidence > a[href^='?evidence=']") : null;
  var row = link ? link.closest("tr[hx-post]") : null;
  if (!row || !window.htmx || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) {
    return;
  }
  event.preventDefault();
  var address = new URL(row.getAttribute("hx-post"), window.location.href).pathname;
  window.htmx.ajax("GET", "/evidence" + address, { target: link.parentNode, swap: "outerHTML" });
});

// 「取組事例として共有する」: the page sends the tick with the rows at ◎ (or already shared) only; a row whose
// status becomes ◎ gets it from the page's <template id=share-tick> (names and ids x<n>, named by the page's #xs and
// the item's text t<n>), before htmx collects the row's fields (capture phase, ahead of the row's listener).
document.addEventListener("change", function (event) {
  var radio = event.target;
  var row = radio && radio.closest ? radio.closest("tr.item-row") : null;
  var template = document.getElementById("share-tick");
  if (!row || !template || radio.type !== "radio" || radio.value !== "◎" || row.querySelector(".share-tick")) {
    return;
  }
  var n = row.id.slice(1);
  var tick = template.content.firstElementChild.cloneNode(true);
  tick.querySelectorAll("input").forEach(function (input) {
    input.name = "x" + n;
    if (input.id) {
      input.id = "x" + n;
      input.setAttribute("aria-labelledby", "xs t" + n);
    }
  });
  var output = row.querySelector("output");
  output.parentNode.insertBefore(tick, output);
}, true);

// Sheet rows save one at a time (htmx posts the row's own fields): without JavaScript the whole table is
// one form, so a row's request would otherwise carry every field of the page.
document.addEventListener("htmx:configRequest", function (event) {
  var row = event.detail.elt;
  if (!row.matches || !row.matches("tr.item-row")) {
    return;
  }
  var own = {};
  row.querySelectorAll("[name]").forEach(function (field) {
    own[field.name] = true;
  });
  var params = event.detail.parameters;
  Array.from(params.keys()).forEach(function (name) {
    if (!own[name]) {
      delete params[name];
    }
  });
});

// A message that must be read first (a refused 提出, a form's errors) takes the focus: after an htmx swap
// that brings it in, and on a page load whose URL names it (#id) — without JavaScript the fragment
// alone scrolls to it and starts keyboard navigation there.
function focusMessage(root) {
  var target = root.querySelector ? root.querySelector("[data-focus-on-swap]") : null;
  if (root.matches && root.matches("[data-focus-on-swap]")) {
    target = root;
  }
  if (target) {
    target.focus();
  }
}
document.addEventListener("htmx:afterSettle", function (event) {
  focusMessage(event.detail.elt);
});
document.addEventListener("DOMContentLoaded", function () {
  var id = window.location.hash.slice(1);
  var target = id ? document.getElementById(id) : null;
  if (target && target.matches("[data-focus-on-swap]")) {
    target.focus();
  }
});

// --- sheet memos: they grow with their text and save themselves -----------------------------------------
// A memo saves ~1.5 s after the last keystroke, at once when the field is left, and when the page is hidden
// or left (visibilitychange / pagehide): every memo save is a fetch with keepalive, which outlives the page,
// so closing the tab loses nothing. A save posts the row's own fields (as htmx does, with the CSRF token in
// the X-CSRF-Token header) and the version the row holds; the answer is the row_saved fragment, swapped in
// like an htmx answer (「保存しました」, the row's new version and the figures out of band), so the next save
// carries the new version. One request per row at a time: a memo save waits for a status save of the row
// (htmx, hx-trigger=change) and the other way round. Leaving while a save is in flight sends the version
// that save will leave. A real conflict (someone else changed the row) stops the row's autosave, shows
// their memo and offers to overwrite; the text typed stays in the field. Without JavaScript the table is
// one form with a save button.
(function () {
  var DELAY = 1500;
  var states = new WeakMap();

  function rowOf(element) {
    return element && element.closest ? element.closest("tr.item-row[hx-post]") : null;
  }
  function memoOf(row) {
    return row.querySelector("textarea");
  }
  function versionOf(row) {
    return row.querySelector("input[type=hidden][name^='v']");
  }
  function state(row) {
    var s = states.get(row);
    if (!s) {
      var memo = memoOf(row);
      // saved: the memo as stored (as far as this page knows); expect: the version the save in flight leaves
      s = { timer: null, inflight: null, expect: null, htmx: false, dirty: false, conflict: false,
            saved: memo ? memo.defaultValue : "" };
      states.set(row, s);
    }
    return s;
  }
  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRF-Token"] || "";
    } catch (e) {
      return "";
    }
  }

  // Grow a memo to its text where CSS field-sizing does not (older browsers).
  function grow(field) {
    if (window.getComputedStyle(field).fieldSizing === "content") {
      return;
    }
    field.style.height = "auto";
    field.style.height = field.scrollHeight + (field.offsetHeight - field.clientHeight) + "px";
  }
  function growAll(root) {
    (root.querySelectorAll ? root : document).querySelectorAll(".item-row textarea").forEach(grow);
  }

  function say(row, kind, text, extras) {
    var output = row.querySelector("output");
    if (!output) {
      return;
    }
    output.textContent = "";
    var span = document.createElement("span");
    span.className = "save-state__" + kind;
    span.textContent = text;
    output.appendChild(span);
    (extras || []).forEach(function (node) {
      output.appendChild(node);
    });
  }
  function button(label, onClick) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "save-state__retry";
    b.textContent = label;
    b.addEventListener("click", onClick);
    return b;
  }
  function failed(row, text) {
    var s = state(row);
    s.dirty = true; // saved again by the next keystroke, leaving the page, or the button
    say(row, "error", text || "保存できませんでした", [button("再試行", function () {
      save(row, false);
    })]);
  }
  // The row in an error answer (row_error: the row as stored, with the message).
  function parseRow(html) {
    var doc = new DOMParser().parseFromString("<table><tbody>" + html + "</tbody></table>", "text/html");
    var message = doc.querySelector(".save-state__error");
    var memo = doc.querySelector("tr textarea");
    var version = doc.querySelector("tr input[type=hidden][name^='v']");
    var checked = doc.querySelector("tr input[type=radio]:checked");
    var notice = doc.querySelector(".notice, p");
    return {
      message: message ? message.textContent.trim() : (notice ? notice.textContent.trim() : ""),
      memo: memo ? memo.value : null,
      version: version ? version.value : null,
      status: checked ? checked.value : null
    };
  }
  function conflict(row, html) {
    var s = state(row);
    var theirs = parseRow(html);
    s.conflict = true;
    s.dirty = true;
    row.classList.add("item-row--error");
    // the row shows what is stored now (their status); the memo typed here stays in the field
    row.querySelectorAll("input[type=radio]").forEach(function (radio) {
      radio.checked = radio.value === (theirs.status || "");
    });
    // the server names the item and who changed it; in the row, the item goes without saying
    var why = theirs.message.replace(/^「[^」]*」は、/, "この項目は、").replace(/内容を確認して.*$/, "");
    var stored = document.createElement("span");
    stored.className = "save-state__theirs";
    stored.textContent = "保存されているメモ：" + (theirs.memo ? theirs.memo : "（なし）") +
      "\n入力中のメモはこの欄に残っています。";
    say(row, "error", "メモを保存できませんでした。" + why, [stored, button("入力中のメモで上書き保存", function () {
      if (theirs.version !== null) {
        versionOf(row).value = theirs.version;
      }
      s.saved = theirs.memo || "";
      s.conflict = false;
      row.classList.remove("item-row--error");
      save(row, false);
    })]);
  }

  function save(row, leaving) {
    var s = state(row);
    clearTimeout(s.timer);
    s.timer = null;
    if (!row.isConnected || !s.dirty || s.conflict) {
      return;
    }
    if (!leaving && (s.inflight || s.htmx !== false)) { // after the request of this row in flight
      s.timer = setTimeout(function () {
        save(row, false);
      }, 200);
      return;
    }
    var field = versionOf(row);
    var version = s.inflight && s.expect !== null ? s.expect : Number(field.value);
    var sent = memoOf(row).value;
    var data = new URLSearchParams();
    row.querySelectorAll("[name]").forEach(function (f) {
      if (f.tagName === "BUTTON" || f.disabled || ((f.type === "radio" || f.type === "checkbox") && !f.checked)) {
        return;
      }
      data.append(f.name, f.value);
    });
    data.set(field.name, String(version));
    s.dirty = false;
    s.expect = sent !== s.saved ? version + 1 : version;
    say(row, "busy", "保存中…");
    if (leaving && !("keepalive" in Request.prototype) && navigator.sendBeacon) {
      // a browser without fetch keepalive: a beacon, with the CSRF token in the form (app/web/deps.py)
      data.append("csrf_token", csrfToken());
      navigator.sendBeacon(new URL(row.getAttribute("hx-post"), document.baseURI).href, data);
      return;
    }
    var request = fetch(new URL(row.getAttribute("hx-post"), document.baseURI).href, {
      method: "POST",
      body: data,
      keepalive: true,
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrfToken(), "HX-Request": "true" }
    }).then(function (response) {
      return response.text().then(function (html) {
        if (response.headers.get("HX-Redirect")) { // signed out meanwhile
          failed(row, "保存できませんでした（サインインし直してから、もう一度お試しください）");
        } else if (response.ok) {
          var before = Number(field.value);
          s.saved = sent;
          window.htmx.swap(row.querySelector("output"), html, { swapStyle: "innerHTML" });
          var now = versionOf(row);
          if (now && Number(now.value) < before) { // an older answer arrived last: versions only grow
            now.value = String(before);
          }
        } else if (response.status === 409) {
          conflict(row, html);
        } else if (response.status === 422 || response.status === 403) {
          var reason = parseRow(html).message;
          say(row, "error", "保存できませんでした" + (reason ? "：" + reason : ""));
          s.dirty = response.status !== 422; // an invalid memo waits for the next keystroke
        } else {
          failed(row);
        }
      });
    }, function () {
      failed(row);
    });
    var mine = request.then(function () {
      if (s.inflight === mine) {
        s.inflight = null;
        s.expect = null;
      }
    });
    s.inflight = mine;
  }

  document.addEventListener("input", function (event) {
    var field = event.target;
    var row = field.tagName === "TEXTAREA" ? rowOf(field) : null;
    if (!row) {
      return;
    }
    grow(field);
    var s = state(row);
    s.dirty = true;
    clearTimeout(s.timer);
    s.timer = s.conflict ? null : setTimeout(function () {
      save(row, false);
    }, DELAY);
  });
  // Leaving the memo saves it now, through this path rather than htmx's (the row's hx-trigger=change).
  document.addEventListener("change", function (event) {
    var field = event.target;
    var row = field.tagName === "TEXTAREA" ? rowOf(field) : null;
    if (!row) {
      return;
    }
    event.stopPropagation();
    save(row, false);
  }, true);

  // A status save (htmx) waits for the memo's save in flight, and the memo's for it. So does a button inside
  // the row (「変更なし」 posts the row's version, which the memo's save is about to change).
  document.addEventListener("htmx:confirm", function (event) {
    var row = event.detail.elt.closest ? event.detail.elt.closest("tr.item-row") : null;
    if (!row) {
      return;
    }
    var s = state(row);
    if (s.inflight) {
      event.preventDefault();
      s.inflight.then(function () {
        event.detail.issueRequest(true);
      });
    }
  });
  document.addEventListener("htmx:beforeRequest", function (event) {
    var row = event.detail.elt;
    if (row.matches && row.matches("tr.item-row")) {
      var s = state(row);
      s.htmx = memoOf(row) ? memoOf(row).value : "";
    }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var row = event.detail.elt;
    if (!row.matches || !row.matches("tr.item-row")) {
      return;
    }
    var s = state(row);
    if (event.detail.successful && s.htmx !== false) {
      s.saved = s.htmx; // the status save carried the memo as typed then
      if (memoOf(row) && memoOf(row).value === s.saved) {
        s.dirty = false;
      }
    }
    s.htmx = false;
  });

  function leave() {
    document.querySelectorAll("tr.item-row[hx-post]").forEach(function (row) {
      var s = states.get(row);
      if (s && s.dirty && !s.conflict) {
        save(row, true);
      }
    });
  }
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") {
      leave();
    }
  });
  window.addEventListener("pagehide", leave);
  // A conflict not yet resolved would be lost with the page: the browser asks first.
  window.addEventListener("beforeunload", function (event) {
    var open = Array.prototype.some.call(document.querySelectorAll("tr.item-row[hx-post]"), function (row) {
      var s = states.get(row);
      return s && s.conflict;
    });
    if (open) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  // The progress line and the figures are swapped in after every save: an unchanged line is left alone, so
  // that screen readers do not hear it again.
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var target = event.detail.target;
    if (target.id === "progress-line" && event.detail.fragment &&
        event.detail.fragment.textContent.trim() === target.textContent.trim()) {
      event.detail.shouldSwap = false;
    }
  });

  // 参考リンク, ヒント and 根拠資料 open as a panel over the rows: Escape or a click elsewhere closes it.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") {
      return;
    }
    var within = event.target.closest ? event.target.closest(".item-refs[open], .item-hints[open], .evidence[open]") : null;
    document.querySelectorAll(".item-refs[open], .item-hints[open], .evidence[open]").forEach(function (details) {
      details.open = false;
    });
    if (within) {
      within.querySelector("summary").focus();
    }
  });
  document.addEventListener("click", function (event) {
    document.querySelectorAll(".item-refs[open], .item-hints[open], .evidence[open]").forEach(function (details) {
      if (!details.contains(event.target)) {
        details.open = false;
      }
    });
  });

  document.addEventListener("DOMContentLoaded", function () {
    growAll(document);
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    growAll(event.detail.elt);
  });
  window.addEventListener("resize", function () {
    growAll(document);
  });
})();
