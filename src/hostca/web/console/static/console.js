// hostca console: confirmation dialogs, Copy buttons, and times in the browser's zone.
// Served from hostca itself; the Content-Security-Policy allows no inline script.
"use strict";

(function () {
  const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";

  function announce(text) {
    const live = document.getElementById("live");
    if (live) {
      live.textContent = text;
    }
  }

  function pad(number) {
    return String(number).padStart(2, "0");
  }

  function localInputValue(date) {
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) +
      "T" + pad(date.getHours()) + ":" + pad(date.getMinutes());
  }

  function showLocalTimes() {
    const format = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
    document.querySelectorAll("time[datetime]").forEach(function (element) {
      const date = new Date(element.getAttribute("datetime"));
      if (!Number.isNaN(date.getTime())) {
        element.title = element.textContent;
        element.textContent = format.format(date);
      }
    });
    document.querySelectorAll("[data-timezone]").forEach(function (element) {
      element.textContent = timeZone;
    });
    document.querySelectorAll("input[data-utc-value]").forEach(function (input) {
      const date = new Date(input.dataset.utcValue);
      if (!Number.isNaN(date.getTime())) {
        input.value = localInputValue(date);
      }
    });
  }

  // A datetime-local field holds wall-clock time in the browser's zone; the server
  // gets the same instant in UTC in the hidden field "<name>_utc".
  function fillUtcFields(form) {
    form.querySelectorAll("input[type=datetime-local][name]").forEach(function (input) {
      const hidden = form.querySelector("input[type=hidden][name='" + input.name + "_utc']");
      if (!hidden) {
        return;
      }
      const date = input.value ? new Date(input.value) : null;
      hidden.value = date && !Number.isNaN(date.getTime()) ? date.toISOString() : "";
    });
  }

  function setUpConfirmation() {
    const dialog = document.getElementById("confirm-dialog");
    if (!dialog) {
      return;
    }
    let pending = null;
    document.addEventListener("submit", function (event) {
      const form = event.target;
      fillUtcFields(form);
      if (!form.dataset.confirm || form.dataset.confirmed === "yes") {
        return;
      }
      event.preventDefault();
      pending = { form: form, submitter: event.submitter || null };
      document.getElementById("confirm-text").textContent = form.dataset.confirm;
      dialog.showModal();
      document.getElementById("confirm-cancel").focus();
    });
    dialog.addEventListener("close", function () {
      const chosen = pending;
      pending = null;
      if (chosen && dialog.returnValue === "confirm") {
        chosen.form.dataset.confirmed = "yes";
        chosen.form.requestSubmit(chosen.submitter);
      }
    });
  }

  function setUpCopyButtons() {
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () {
        const source = document.getElementById(button.dataset.copy);
        const text = source ? source.textContent.trim() : "";
        navigator.clipboard.writeText(text).then(
          function () {
            button.dataset.copied = "yes";
            announce("Copied to the clipboard.");
          },
          function () {
            announce("The browser did not allow copying; select the text and copy it by hand.");
          }
        );
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    showLocalTimes();
    setUpConfirmation();
    setUpCopyButtons();
  });
})();
