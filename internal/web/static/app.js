// Small enhancements; every page works without them.
(function () {
  "use strict";

  // Copy buttons: data-copy holds the text.
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var ta = document.createElement("textarea");
      ta.value = text;
      ta.setAttribute("readonly", "");
      ta.style.position = "fixed";
      ta.style.opacity = "0";
      document.body.appendChild(ta);
      ta.select();
      var ok = document.execCommand("copy");
      document.body.removeChild(ta);
      ok ? resolve() : reject(new Error("copy refused"));
    });
  }
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest("button.copy");
    if (!b) return;
    var label = b.textContent;
    copyText(b.getAttribute("data-copy")).then(function () {
      b.textContent = "Copied";
      b.classList.add("copied");
      b.setAttribute("aria-live", "polite");
    }, function () {
      b.textContent = "Press Ctrl+C";
    });
    setTimeout(function () { b.textContent = label; b.classList.remove("copied"); }, 2000);
  });

  // Forms with data-confirm ask first; without script the server asks.
  document.addEventListener("submit", function (ev) {
    var f = ev.target;
    var msg = f.getAttribute("data-confirm");
    if (!msg) return;
    if (!window.confirm(msg)) { ev.preventDefault(); return; }
    var c = f.querySelector("input[name=confirmed]");
    if (c) c.value = "yes";
  });

  // Bring the address just created or changed into view.
  document.addEventListener("DOMContentLoaded", function () {
    var el = document.querySelector("[data-highlight]");
    if (el) {
      el.scrollIntoView({ block: "center" });
      el.setAttribute("tabindex", "-1");
      el.focus({ preventScroll: true });
    }
  });
})();
