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
