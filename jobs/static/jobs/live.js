/*
 * Live admin pages: the job list, a job's page and the overview refresh what they show every few
 * seconds without a reload, countdowns ("in 14 seconds") tick every second, and times of things that
 * happened (<time data-viewer-zone>) are shown in the viewer's own time zone (the server writes them
 * in the job's zone or UTC; the UTC time is in each one's tooltip). Loaded on every admin page
 * (templates/admin/base_site.html); a page with nothing to refresh is never fetched again.
 *
 * Refresh: the page is fetched again (same URL) and
 *   - the job list's rows are updated cell by cell where the same jobs are listed in the same order
 *     (the row checkboxes stay, so a selection and Django's action bar keep working); a list whose
 *     rows changed is left as it is until the next reload;
 *   - each region named in REGIONS is replaced if present on both pages and not holding the focus.
 * Nothing is fetched while the tab is hidden or a row is selected.
 */
(function () {
  "use strict";

  const REGIONS = ["#content-main.overview", "fieldset.job-state", "#recent-runs", "#audit-trail"];
  const REFRESH_SECONDS = 5;
  const NBSP = "\u00a0";
  const UNITS = [
    ["year", 365 * 86400],
    ["month", 30 * 86400],
    ["week", 7 * 86400],
    ["day", 86400],
    ["hour", 3600],
    ["minute", 60],
  ];

  // The server's `relative()` (jobs/diagnostics/display.py), in the browser.
  function relative(seconds) {
    const abs = Math.abs(seconds);
    let text;
    if (abs < 60) {
      const whole = Math.floor(abs);
      if (whole === 0) return "just now";
      text = whole === 1 ? "1 second" : whole + " seconds";
    } else {
      const [unit, size] = UNITS.find(([, size]) => abs >= size);
      const count = Math.floor(abs / size);
      text = count + NBSP + unit + (count === 1 ? "" : "s");
    }
    return seconds > 0 ? "in " + text : text + " ago";
  }

  // `Mon 2025-06-02 09:00 CEST` (seconds only when there are any), as the server writes times.
  const VIEWER_FORMAT = new Intl.DateTimeFormat("en-GB", {
    weekday: "short", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23", timeZoneName: "short",
  });

  function viewerText(date) {
    const p = Object.fromEntries(VIEWER_FORMAT.formatToParts(date).map((part) => [part.type, part.value]));
    const clock = p.second === "00" ? `${p.hour}:${p.minute}` : `${p.hour}:${p.minute}:${p.second}`;
    return `${p.weekday} ${p.year}-${p.month}-${p.day} ${clock} ${p.timeZoneName}`;
  }

  function localise(root) {
    root.querySelectorAll("time[data-viewer-zone]").forEach(function (el) {
      const at = new Date(el.getAttribute("datetime"));
      if (!Number.isNaN(at.getTime())) el.textContent = viewerText(at);
    });
  }

  function tick() {
    const now = Date.now();
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      const at = Date.parse(el.dataset.countdown);
      if (!Number.isNaN(at)) el.textContent = relative((at - now) / 1000);
    });
  }

  function selecting() {
    return document.querySelector("#result_list input.action-select:checked") !== null;
  }

  function rowKey(row) {
    const box = row.querySelector("input.action-select");
    return box ? box.value : null;
  }

  function updateRows(fresh) {
    const current = document.querySelectorAll("#result_list tbody tr");
    const incoming = fresh.querySelectorAll("#result_list tbody tr");
    if (!current.length || current.length !== incoming.length) return;
    for (let i = 0; i < current.length; i++) {
      if (rowKey(current[i]) !== rowKey(incoming[i])) return; // another set or order: leave it
    }
    current.forEach(function (row, i) {
      const cells = row.children;
      const freshCells = incoming[i].children;
      for (let c = 0; c < cells.length && c < freshCells.length; c++) {
        if (cells[c].classList.contains("action-checkbox")) continue;
        if (cells[c].innerHTML !== freshCells[c].innerHTML) cells[c].innerHTML = freshCells[c].innerHTML;
      }
    });
  }

  function updateRegions(fresh) {
    REGIONS.forEach(function (selector) {
      const here = document.querySelector(selector);
      const there = fresh.querySelector(selector);
      if (!here || !there || here.contains(document.activeElement)) return;
      if (here.innerHTML !== there.innerHTML) here.innerHTML = there.innerHTML;
    });
  }

  let busy = false;
  async function refresh() {
    if (busy || document.hidden || selecting()) return;
    busy = true;
    try {
      const response = await fetch(window.location.href, {
        credentials: "same-origin",
        headers: { "X-Requested-With": "live-refresh" },
      });
      if (!response.ok || response.redirected) return; // e.g. logged out: leave the page as it is
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      localise(fresh);  // compared with what the page shows, already localised
      updateRows(fresh);
      updateRegions(fresh);
      tick();
      document.body.dataset.liveRefreshed = String(Date.now()); // for tests and the curious
    } catch (error) {
      // offline or the server restarting: try again at the next interval
    } finally {
      busy = false;
    }
  }

  function refreshable() {
    return document.querySelector("#result_list input.action-select") !== null ||
      REGIONS.some((selector) => document.querySelector(selector) !== null);
  }

  function start() {
    localise(document);
    tick();
    window.setInterval(tick, 1000);
    if (refreshable()) window.setInterval(refresh, REFRESH_SECONDS * 1000);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
