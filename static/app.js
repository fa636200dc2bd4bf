// Keyplane's own behaviour on top of htmx: modal dialogs, copy buttons and
// toasts. No inline scripts: the CSP allows only files from this origin.
(function () {
  "use strict";

  // The element that had focus before the first of a run of dialogs opened;
  // a dialog that replaces another (a form answered with its errors, or the
  // reveal that follows a create) keeps it, so focus returns there at the end.
  var lastFocus = null;
  var modalOpen = false;

  function openModal(root) {
    var dialog = root.querySelector("dialog");
    if (!dialog || dialog.open) return;
    if (!modalOpen) lastFocus = document.activeElement;
    modalOpen = true;
    dialog.addEventListener("close", function () {
      modalOpen = false;
      root.innerHTML = "";
      if (lastFocus && document.body.contains(lastFocus)) lastFocus.focus();
    }, { once: true });
    dialog.showModal();
  }

  function closeModal(el) {
    var dialog = el.closest("dialog");
    if (dialog) dialog.close();
  }

  document.addEventListener("click", function (ev) {
    var closer = ev.target.closest("[data-close-modal]");
    if (closer) {
      ev.preventDefault();
      closeModal(closer);
      return;
    }
    var copy = ev.target.closest("[data-copy-target]");
    if (copy) {
      var src = document.getElementById(copy.getAttribute("data-copy-target"));
      if (!src) return;
      var text = src.value !== undefined ? src.value : src.textContent;
      var done = function () {
        var label = copy.querySelector("[data-copy-label]") || copy;
        var old = label.textContent;
        label.textContent = "Copied";
        copy.setAttribute("data-copied", "true");
        setTimeout(function () { label.textContent = old; copy.removeAttribute("data-copied"); }, 2000);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () { src.select && src.select(); });
      } else {
        if (src.select) src.select();
        try { document.execCommand("copy"); done(); } catch (e) { /* selection left for manual copy */ }
      }
    }
  });

  document.addEventListener("htmx:afterSettle", function (ev) {
    var modal = document.getElementById("modal");
    if (modal && modal.contains(ev.target)) openModal(modal);
    var toasts = document.getElementById("toasts");
    if (toasts) {
      toasts.querySelectorAll(".toast:not([data-timed])").forEach(function (t) {
        t.setAttribute("data-timed", "1");
        setTimeout(function () { t.remove(); }, 6000);
      });
    }
  });

  document.addEventListener("htmx:sendError", function () {
    var toasts = document.getElementById("toasts");
    if (!toasts) return;
    var t = document.createElement("div");
    t.className = "toast toast-error";
    t.setAttribute("role", "alert");
    t.textContent = "Keyplane could not be reached. Check your connection and try again.";
    toasts.appendChild(t);
  });

  // The viewer's time zone, for charts of hours: kept in a cookie the
  // server reads. A section rendered for another zone (the first visit, or
  // a browser that moved) is fetched again in the right one.
  function syncTimeZone() {
    var tz;
    try { tz = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
    // IANA names ("America/Argentina/Buenos_Aires", "Etc/GMT+5") need no
    // escaping in a cookie; anything else is not a zone the server knows.
    if (!tz || !/^[A-Za-z0-9_+\-\/]{1,64}$/.test(tz)) return;
    var current = document.cookie.split("; ").filter(function (c) { return c.indexOf("kp_tz=") === 0; })[0];
    if (current !== "kp_tz=" + tz) {
      document.cookie = "kp_tz=" + tz + "; path=/; max-age=31536000; samesite=lax";
    }
    // A zone the server does not know comes back as UTC: ask once per tab.
    var asked;
    try { asked = sessionStorage.getItem("kp_tz_asked"); } catch (e) { asked = null; }
    var stale = Array.prototype.filter.call(document.querySelectorAll("[data-viewer-tz]"), function (el) {
      return el.id && el.getAttribute("data-viewer-tz") !== tz;
    });
    if (!stale.length || asked === tz || !window.htmx) return;
    try { sessionStorage.setItem("kp_tz_asked", tz); } catch (e) { /* private mode: ask again next time */ }
    stale.forEach(function (el) {
      htmx.ajax("GET", window.location.href, { target: "#" + el.id, select: "#" + el.id, swap: "outerHTML" });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var modal = document.getElementById("modal");
    if (modal) openModal(modal);
    syncTimeZone();
  });
})();
