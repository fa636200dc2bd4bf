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
      // The opener may have been swapped away by the mutation (a revoked
      // key has no Revoke button): focus the page's heading instead.
      var target = lastFocus && document.body.contains(lastFocus) ? lastFocus : null;
      if (!target && lastFocus) target = sameControl(lastFocus);
      if (!target) target = document.querySelector("main h1[tabindex]");
      if (target) target.focus();
    }, { once: true });
    dialog.showModal();
  }

  // A reveal (data-reveal-guard) holds a key shown once: until it was
  // copied or downloaded, Escape, the backdrop and "Done" ask first, in the
  // page, so the question is as keyboard-usable as the dialog itself.
  function unsaved(dialog) {
    return dialog.hasAttribute("data-reveal-guard") && dialog.getAttribute("data-saved") !== "true";
  }

  function confirmBox(dialog) {
    return dialog.querySelector("[data-reveal-confirm]");
  }

  function keepOpen(dialog) {
    var box = confirmBox(dialog);
    if (!box || box.hidden) return false;
    box.hidden = true;
    var copy = dialog.querySelector("[data-copy-target]");
    if (copy) copy.focus();
    return true;
  }

  // requestClose closes dialog, or asks first while it holds an unsaved key.
  function requestClose(dialog) {
    if (!dialog || !dialog.open) return;
    var box = confirmBox(dialog);
    if (unsaved(dialog) && box) {
      box.hidden = false;
      var keep = box.querySelector("[data-reveal-keep]");
      if (keep) keep.focus();
      return;
    }
    dialog.close();
  }

  // sameControl finds the control that replaced el, when a swap redrew
  // it: the element with its id, or its data-testid and text.
  function sameControl(el) {
    if (el.id) return document.getElementById(el.id);
    var testid = el.getAttribute && el.getAttribute("data-testid");
    if (!testid) return null;
    var found = Array.prototype.filter.call(document.querySelectorAll('[data-testid="' + testid + '"]'), function (c) {
      return c.textContent === el.textContent && !c.hasAttribute("disabled");
    });
    return found[0] || null;
  }

  function closeModal(el) {
    requestClose(el.closest("dialog"));
  }

  function markSaved(el) {
    var dialog = el.closest("dialog[data-reveal-guard]");
    if (!dialog) return;
    dialog.setAttribute("data-saved", "true");
    var box = confirmBox(dialog);
    if (box) box.hidden = true;
  }

  // Escape: handled on keydown, before the dialog's own cancel, which the
  // browser may not let a page stop twice in a row.
  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "Escape") return;
    var dialog = ev.target.closest && ev.target.closest("dialog[open]");
    if (!dialog || !dialog.hasAttribute("data-reveal-guard")) return;
    if (keepOpen(dialog)) { ev.preventDefault(); return; }
    if (unsaved(dialog)) { ev.preventDefault(); requestClose(dialog); }
  }, true);

  document.addEventListener("cancel", function (ev) {
    var dialog = ev.target;
    if (!dialog.hasAttribute || !dialog.hasAttribute("data-reveal-guard")) return;
    if (keepOpen(dialog) || unsaved(dialog)) {
      ev.preventDefault();
      requestClose(dialog);
    }
  }, true);

  // downloadEnv saves the key as a .env line, from the page itself: no
  // request carries it and no URL holds it (a blob: URL names only itself).
  function downloadEnv(btn) {
    var src = document.getElementById(btn.getAttribute("data-download-env"));
    if (!src) return;
    var name = btn.getAttribute("data-env-name") || "KEYPLANE_API_KEY";
    var blob = new Blob([name + "=" + src.value + "\n"], { type: "text/plain" });
    var href = URL.createObjectURL(blob);
    var a = document.createElement("a");
    a.href = href;
    a.download = ".env";
    a.hidden = true;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(function () { URL.revokeObjectURL(href); }, 1000);
    var label = btn.querySelector("[data-copy-label]") || btn;
    label.textContent = "Downloaded";
    markSaved(btn);
  }

  document.addEventListener("click", function (ev) {
    // A click on a reveal's backdrop lands on the dialog itself, outside
    // its box.
    if (ev.target.tagName === "DIALOG" && ev.target.hasAttribute("data-reveal-guard")) {
      var r = ev.target.getBoundingClientRect();
      if (ev.clientX < r.left || ev.clientX > r.right || ev.clientY < r.top || ev.clientY > r.bottom) {
        requestClose(ev.target);
        return;
      }
    }
    var closer = ev.target.closest("[data-close-modal]");
    if (closer) {
      ev.preventDefault();
      closeModal(closer);
      return;
    }
    var keep = ev.target.closest("[data-reveal-keep]");
    if (keep) {
      keepOpen(keep.closest("dialog"));
      return;
    }
    var discard = ev.target.closest("[data-reveal-discard]");
    if (discard) {
      discard.closest("dialog").close();
      return;
    }
    var env = ev.target.closest("[data-download-env]");
    if (env) {
      downloadEnv(env);
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
        markSaved(copy);
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

  // Copying by hand (Ctrl+C on the selected key) saves it as well.
  document.addEventListener("copy", function (ev) {
    var el = ev.target.nodeType === 1 ? ev.target : ev.target.parentElement;
    if (el && el.closest) markSaved(el);
  });

  // What an htmx request reloads says so to screen readers while it loads
  // (the look comes from the CSS of .htmx-request).
  function busyTarget(ev) {
    var t = ev.detail && ev.detail.target;
    return t && t.id && t.id !== "modal" ? t : null;
  }
  document.addEventListener("htmx:beforeRequest", function (ev) {
    var t = busyTarget(ev);
    if (t) t.setAttribute("aria-busy", "true");
  });
  document.addEventListener("htmx:afterRequest", function (ev) {
    var t = busyTarget(ev);
    if (t) t.removeAttribute("aria-busy");
  });

  // Chart tooltips: a bucket hovered or focused shows its numbers (the same
  // words as its table row) above it. Without this script the SVG's own
  // <title> shows on hover and the table holds everything.
  function showTip(hit) {
    var box = hit.closest(".relative");
    var tip = box && box.querySelector("[data-chart-tip]");
    if (!tip) return;
    tip.textContent = hit.getAttribute("data-tip");
    tip.hidden = false;
    var r = hit.getBoundingClientRect(), b = box.getBoundingClientRect();
    var x = r.left + r.width / 2 - b.left;
    x = Math.max(tip.offsetWidth / 2, Math.min(b.width - tip.offsetWidth / 2, x));
    tip.style.left = x + "px";
    tip.style.top = "0px";
  }
  function hideTip(hit) {
    var box = hit.closest(".relative");
    var tip = box && box.querySelector("[data-chart-tip]");
    if (tip) tip.hidden = true;
  }
  // A bucket focused by keyboard keeps its tooltip while the pointer
  // passes over others (or the page scrolls under a resting pointer).
  function otherFocused(hit) {
    var a = document.activeElement;
    return !!(a && a !== hit && a.classList && a.classList.contains("chart-hit") && a.closest(".relative") === hit.closest(".relative"));
  }
  ["mouseover", "focusin"].forEach(function (type) {
    document.addEventListener(type, function (ev) {
      var hit = ev.target.closest && ev.target.closest(".chart-hit");
      if (!hit || (type === "mouseover" && otherFocused(hit))) return;
      showTip(hit);
    });
  });
  ["mouseout", "focusout"].forEach(function (type) {
    document.addEventListener(type, function (ev) {
      var hit = ev.target.closest && ev.target.closest(".chart-hit");
      if (!hit || (type === "mouseout" && (hit === document.activeElement || otherFocused(hit)))) return;
      hideTip(hit);
    });
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape" && ev.target.classList && ev.target.classList.contains("chart-hit")) hideTip(ev.target);
  });

  // Disclosures of the header (the org switcher, the phone menu): Escape
  // closes the innermost one open and returns focus to its toggle; a
  // click elsewhere closes them.
  function closeDisclosure(d, focus) {
    d.open = false;
    var summary = d.querySelector("summary");
    if (focus && summary) summary.focus();
  }
  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "Escape" || !ev.target.closest) return;
    var d = ev.target.closest("details[data-disclosure][open]");
    if (!d) return;
    ev.preventDefault();
    closeDisclosure(d, true);
  });
  document.addEventListener("click", function (ev) {
    document.querySelectorAll("details[data-disclosure][open]").forEach(function (d) {
      if (!d.contains(ev.target)) closeDisclosure(d, false);
    });
  });

  // The theme form answers htmx with itself, carrying the choice: the page
  // takes it on at once, as the server renders it on the next load.
  function applyTheme() {
    var form = document.getElementById("theme-form");
    var choice = form && form.getAttribute("data-theme-choice");
    if (!choice) return;
    var root = document.documentElement;
    root.setAttribute("data-theme", choice);
    root.classList.toggle("dark", choice === "dark");
  }

  // A mutation that answered with out-of-band swaps closes its dialog.
  document.addEventListener("close-modal", function () {
    var dialog = document.querySelector("#modal dialog[open]");
    if (dialog) dialog.close();
  });

  // Quota fields: the amount only with a quota, the refill and its amount
  // only for credits. Hidden fields are disabled too, so they do not post;
  // one holding an error stays. Without this script every field shows.
  function syncQuotaBox(box) {
    var chosen = box.querySelector('input[name="quota_kind"]:checked');
    var kind = chosen ? chosen.value : "none";
    var show = function (selector, on) {
      box.querySelectorAll(selector).forEach(function (el) {
        var keep = on || !!el.querySelector('[aria-invalid="true"]');
        el.hidden = !keep;
        el.querySelectorAll("input, select").forEach(function (field) { field.disabled = !keep; });
      });
    };
    show("[data-quota-amount]", kind !== "none");
    show("[data-quota-credits]", kind === "credits");
  }
  function syncQuota(root) {
    (root || document).querySelectorAll("[data-quota-fields]").forEach(syncQuotaBox);
  }
  document.addEventListener("change", function (ev) {
    if (ev.target.name !== "quota_kind" || !ev.target.closest) return;
    var box = ev.target.closest("[data-quota-fields]");
    if (box) syncQuotaBox(box);
  });

  // Controls that need this script stay hidden without it.
  function showScripted(root) {
    (root || document).querySelectorAll("[data-needs-js][hidden]").forEach(function (el) { el.hidden = false; });
  }

  document.addEventListener("htmx:afterSettle", function (ev) {
    showScripted(ev.target);
    syncQuota(ev.target);
    applyTheme();
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
    showScripted();
    syncQuota();
    if (modal) openModal(modal);
    syncTimeZone();
  });
})();
