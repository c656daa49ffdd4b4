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
