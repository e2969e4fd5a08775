/* The job form: show only the chosen schedule kind's / action type's fields, and a live
 * preview of the next fire times. The preview posts the schedule inputs (with the page's
 * CSRF token and the admin's session) to the admin's preview URL, which validates them
 * with the same service as a save, so its messages are the API's. */
(function () {
  "use strict";

  var SCHEDULE_ROWS = {
    phrase: ["phrase"],
    interval: ["every"],
    cron: ["cron"],
    once: ["at"]
  };
  var ACTION_ROWS = {
    http: ["http_method", "http_headers", "http_body", "http_expected_status", "http_follow_redirects"],
    task: ["task", "task_args", "task_kwargs"]
  };
  var PREVIEW_INPUTS = ["kind", "phrase", "every", "unit", "cron", "at", "timezone"];

  function row(form, field) {
    // Django renders each fieldset line as <div class="form-row field-a field-b">.
    return form.querySelector(".form-row.field-" + field);
  }

  function checkedValue(form, name) {
    var checked = form.querySelector('input[name="' + name + '"]:checked');
    return checked ? checked.value : null;
  }

  function showOnly(form, groups, chosen) {
    Object.keys(groups).forEach(function (key) {
      groups[key].forEach(function (field) {
        var r = row(form, field);
        if (r) r.classList.toggle("is-hidden", key !== chosen);
      });
    });
  }

  function switchKinds(form) {
    var kind = checkedValue(form, "kind");
    if (kind) showOnly(form, SCHEDULE_ROWS, kind);
    var action = checkedValue(form, "action_type");
    if (action) showOnly(form, ACTION_ROWS, action);
  }

  function setupPreview(form) {
    var box = document.getElementById("schedule-preview");
    if (!box || !box.dataset.url || !window.fetch) return;
    var timer = null;
    var sequence = 0;

    function refresh(initial) {
      var body = new FormData();
      PREVIEW_INPUTS.forEach(function (name) {
        var field = form.elements[name];
        if (!field) return;
        var value = field instanceof RadioNodeList ? checkedValue(form, name) : field.value;
        if (value !== null && value !== undefined) body.append(name, value);
      });
      var token = form.querySelector('input[name="csrfmiddlewaretoken"]');
      var mine = ++sequence;
      if (!initial) box.classList.add("is-loading");
      fetch(box.dataset.url, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: { "X-CSRFToken": token ? token.value : "", "X-Requested-With": "XMLHttpRequest" }
      })
        .then(function (response) { return response.json(); })
        .then(function (data) {
          if (mine !== sequence) return; // a newer request is on its way
          box.innerHTML = data.html;
          box.dataset.state = data.ok ? "ok" : "invalid";
        })
        .catch(function () {
          if (mine !== sequence) return;
          box.textContent = "Preview unavailable.";
          box.dataset.state = "error";
        })
        .finally(function () {
          if (mine === sequence) box.classList.remove("is-loading");
        });
    }

    function schedule() {
      clearTimeout(timer);
      timer = setTimeout(function () { refresh(false); }, 250);
    }

    PREVIEW_INPUTS.forEach(function (name) {
      var field = form.elements[name];
      if (!field) return;
      var inputs = field instanceof RadioNodeList ? Array.prototype.slice.call(field) : [field];
      inputs.forEach(function (input) {
        input.addEventListener("input", schedule);
        input.addEventListener("change", schedule);
      });
    });
    refresh(true); // the inputs may differ from the saved schedule (a form shown again with errors)
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("job_form");
    if (!form) return;
    switchKinds(form);
    form.addEventListener("change", function (event) {
      if (event.target.name === "kind" || event.target.name === "action_type") switchKinds(form);
    });
    setupPreview(form);
  });
})();
