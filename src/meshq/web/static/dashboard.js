// meshq dashboard: reads the REST API and the /events stream, both with
// "Authorization: Bearer" (the token arrives once as #token=… in the URL,
// is kept in sessionStorage, and the fragment is dropped from the address).
// No framework, no build step: plain DOM calls, no innerHTML with data.

import { timelineSvg } from "./timeline.js";

const PAGE_SIZE = 50;
// the states of a job that has started (the timeline draws these)
const STARTED = "start,end,fail,kill,timeout,crash";
// the states a job's attempt ends in
const FINISHED = ["end", "fail", "kill", "timeout", "crash"];
const TIMELINE_JOBS = 400;
const TIMELINE_EVERY = 3000;  // ms between two reads of the timeline at most
const $ = (id) => document.getElementById(id);

const view = {
  queue: null,          // the queue shown
  queues: [],           // the last "queues" event
  hosts: [],
  runs: [],
  filter: { status: "", name: "" },
  sort: { key: "", desc: false },   // "": queue order
  offset: 0,
  total: 0,
  rows: [],             // the page of jobs shown
  job: null,            // the job whose detail is open
  logAbort: null,       // stops the log follow of the open job
  logAttempt: null,     // the attempt of the open job whose log is shown
  reloadTimer: null,
  timelineTimer: null,
  timelineAt: 0,        // when the timeline was last read (ms)
  timeline: [],         // the jobs the timeline draws
};

// -- the token ---------------------------------------------------------------

function takeToken() {
  const m = location.hash.match(/(?:^#|&)token=([^&]+)/);
  if (m) {
    sessionStorage.setItem("meshq-token", decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem("meshq-token");
}

function askToken(why) {
  const form = $("token-form");
  form.hidden = false;
  setConnection("down", why);
  $("token-input").focus();
}

$("token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem("meshq-token", $("token-input").value.trim());
  $("token-form").hidden = true;
  start();
});

// -- talking to the service ----------------------------------------------------

class ApiError extends Error {}

async function api(path, { method = "GET", body, signal } = {}) {
  const headers = { Authorization: `Bearer ${sessionStorage.getItem("meshq-token") || ""}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, {
    method, headers, signal, cache: "no-store",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 401 || res.status === 403) {
    askToken("the token was refused: paste the one 'meshq serve' printed");
    throw new ApiError("not authorised");
  }
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (!res.ok) throw new ApiError((data && (data.error || data.detail)) || `${res.status}`);
  return data;
}

const enc = encodeURIComponent;
const jobPath = (q, name) => `/queues/${enc(q)}/jobs/${enc(name)}`;

function announce(text) {
  const el = $("announce");
  el.textContent = "";
  // a new text node each time, so the same words are read again
  setTimeout(() => { el.textContent = text; }, 50);
}

function setConnection(state, text) {
  const el = $("connection");
  el.dataset.state = state;
  el.textContent = text;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") node.textContent = v;
    else if (k === "on") for (const [e, f] of Object.entries(v)) node.addEventListener(e, f);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) node.append(c);
  return node;
}

const when = (iso) => (iso ? new Date(iso).toLocaleTimeString() : "");
const stamp = (iso) => (iso ? new Date(iso).toLocaleString() : null);

// -- the confirmation dialog ---------------------------------------------------

function confirmAction(title, text, okLabel) {
  const dialog = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = okLabel;
  const opener = document.activeElement;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      // the focus back to what opened the dialog, unless it is somewhere
      // already: the browser may have given it back itself, and this event
      // comes a task after the closing, when the user may have moved on
      const nowhere = !document.activeElement || document.activeElement === document.body;
      if (nowhere && opener && opener.focus) opener.focus();
      resolve(dialog.returnValue === "ok");
    }, { once: true });
    dialog.returnValue = "cancel";
    dialog.showModal();  // modal: the page behind is inert, Escape cancels
    $("confirm-cancel").focus();
  });
}

// keep Tab inside the dialog (its two buttons), as a modal should
$("confirm").addEventListener("keydown", (ev) => {
  if (ev.key !== "Tab") return;
  const first = $("confirm-cancel"), last = $("confirm-ok");
  if (ev.shiftKey && document.activeElement === first) { last.focus(); ev.preventDefault(); }
  else if (!ev.shiftKey && document.activeElement === last) { first.focus(); ev.preventDefault(); }
});

async function act(title, text, okLabel, doIt) {
  if (!(await confirmAction(title, text, okLabel))) return;
  try {
    const said = await doIt();
    announce(said);
    // what an action changes without a job changing state (a pause) shows now
    renderQueues(await api("/queues"));
  } catch (err) {
    announce(`${title} failed: ${err.message}`);
    showError(err.message);
  }
}

function showError(text) {
  const p = $("jobs-range");
  p.textContent = text;
  p.classList.add("error-line");
  setTimeout(() => p.classList.remove("error-line"), 4000);
}

// -- queues --------------------------------------------------------------------

function renderQueues(list) {
  view.queues = list;
  const ul = $("queues");
  ul.replaceChildren();
  $("queues-empty").hidden = list.length > 0;
  for (const q of list) {
    const parts = Object.entries(q.counts);
    const words = parts.map(([s, n]) => `${n} ${s}`).join(", ") || "no jobs";
    const bar = el("span", { class: "bar", "aria-hidden": "true" });
    for (const [s, n] of parts) {
      const seg = el("span", { dataset: { stateColour: s }, title: `${n} ${s}` });
      seg.style.width = `${(100 * n) / Math.max(q.total, 1)}%`;
      bar.append(seg);
    }
    const jobs = `${q.total.toLocaleString("en")} job${q.total === 1 ? "" : "s"}`;
    const pick = el("button", {
      type: "button", class: "queue-pick",
      "aria-current": q.name === view.queue ? "true" : "false",
      "aria-label": `Queue ${q.name}${q.paused ? ", paused" : ""}: ${jobs}, ${words}`,
      on: { click: () => chooseQueue(q.name) },
    },
    el("span", { class: "name", text: q.name }),
    el("span", { class: "meta", text: `${jobs}${q.paused ? " · paused" : ""}` }),
    bar);
    ul.append(el("li", {}, pick));
  }
  // the first queue, or another when the one shown was deleted
  if (list.length && !list.some((q) => q.name === view.queue)) chooseQueue(list[0].name);
  else updateQueueButtons();
}

function chooseQueue(name) {
  view.queue = name;
  view.offset = 0;
  closeJob();
  renderQueues(view.queues);
  $("jobs-title").textContent = `Jobs of ${name}`;
  loadJobs();
  loadTimeline();
}

function currentQueue() {
  return view.queues.find((q) => q.name === view.queue);
}

function updateQueueButtons() {
  const q = currentQueue();
  const run = view.runs.find((r) => r.queue === view.queue);
  $("pause-button").textContent = q && q.paused ? "Resume" : "Pause";
  $("run-button").disabled = !q || Boolean(run);
  $("stop-button").hidden = !run;
}

// -- the jobs table ------------------------------------------------------------

function jobsQuery() {
  const p = new URLSearchParams({ offset: view.offset, limit: PAGE_SIZE });
  if (view.sort.key) p.set("sort", (view.sort.desc ? "-" : "") + view.sort.key);
  if (view.filter.status) p.set("status", view.filter.status);
  if (view.filter.name) p.set("name", view.filter.name);
  return p;
}

async function loadJobs() {
  if (!view.queue) return;
  const queue = view.queue;
  let page;
  try {
    page = await api(`/queues/${enc(queue)}/jobs?${jobsQuery()}`);
  } catch (err) {
    showError(err.message);
    return;
  }
  if (queue !== view.queue) return;
  view.rows = page.jobs;
  view.total = page.total;
  renderJobs();
}

function renderJobs() {
  const body = $("jobs").tBodies[0];
  body.replaceChildren();
  view.rows.forEach((j, i) => {
    const open = el("button", {
      type: "button", class: "link", text: j.name,
      "aria-label": `${j.name}, ${j.status}: show its detail`,
      on: { click: () => openJob(j.name) },
    });
    body.append(el("tr", { "aria-current": view.job === j.name ? "true" : null, dataset: { job: j.name } },
      el("td", { text: String(view.offset + i + 1) }),
      el("td", {}, open),
      el("td", { class: "state" }, badge(j.status)),
      el("td", { text: j.host || "" }),
      el("td", { class: "col-wide", text: when(j.started) }),
      el("td", { class: "col-wide", text: when(j.ended) }),
      el("td", { class: "col-wide", text: j.exit_code ?? "" }),
      el("td", { class: "command col-wide", text: j.command, title: j.command })));
  });
  const first = view.total ? view.offset + 1 : 0;
  const last = view.offset + view.rows.length;
  const range = $("jobs-range");
  range.classList.remove("error-line");
  const text = `${first}–${last} of ${view.total.toLocaleString("en")} jobs`;
  // a live region: said again only when it really changes
  if (range.textContent !== text) range.textContent = text;
  $("page-prev").disabled = view.offset === 0;
  $("page-next").disabled = last >= view.total;
}

function badge(state) {
  return el("span", { class: "badge" }, el("i", { dataset: { stateColour: state }, "aria-hidden": "true" }), state);
}

for (const th of document.querySelectorAll("#jobs th[data-sort]")) {
  th.querySelector("button").addEventListener("click", () => {
    const key = th.dataset.sort;
    // queue order ("") only goes one way; the others flip on a second click
    view.sort = { key, desc: key !== "" && view.sort.key === key ? !view.sort.desc : false };
    for (const other of document.querySelectorAll("#jobs th[data-sort]")) other.removeAttribute("aria-sort");
    th.setAttribute("aria-sort", view.sort.desc ? "descending" : "ascending");
    view.offset = 0;
    loadJobs();
  });
}

$("filter").addEventListener("submit", (ev) => {
  ev.preventDefault();
  view.filter = { status: $("filter-state").value, name: $("filter-name").value.trim() };
  view.offset = 0;
  loadJobs();
});
$("filter-state").addEventListener("change", () => $("filter").requestSubmit());
$("page-prev").addEventListener("click", () => { view.offset = Math.max(0, view.offset - PAGE_SIZE); loadJobs(); });
$("page-next").addEventListener("click", () => { view.offset += PAGE_SIZE; loadJobs(); });

// -- queue actions -------------------------------------------------------------

$("run-button").addEventListener("click", () => {
  const n = Number($("run-parallel").value) || 1;
  const how = $("run-mode").value === "fifo" ? `fifo, ${n} jobs at a time` : "fifo_multi, over the hosts";
  act("Run the queue?", `Start a run of ${view.queue}: ${how}.`, "Run", async () => {
    const mode = $("run-mode").value;
    const body = mode === "fifo" ? { queue: view.queue, mode, max_parallel: n } : { queue: view.queue, mode };
    const run = await api("/runs", { method: "POST", body });
    return `Run ${run.id} of ${view.queue} started`;
  });
});

$("stop-button").addEventListener("click", () => {
  const run = view.runs.find((r) => r.queue === view.queue);
  if (!run) return;
  act("Stop the run?", `Run ${run.id} launches nothing more; its running jobs go on.`, "Stop run", async () => {
    await api(`/runs/${run.id}/stop`, { method: "POST" });
    return `Run ${run.id} asked to stop`;
  });
});

$("pause-button").addEventListener("click", () => {
  const q = currentQueue();
  if (!q) return;
  const verb = q.paused ? "resume" : "pause";
  const text = q.paused ? `Let the jobs of ${q.name} be launched again.` : `Launch no new job of ${q.name}; running jobs go on.`;
  act(`${verb[0].toUpperCase()}${verb.slice(1)} the queue?`, text, verb[0].toUpperCase() + verb.slice(1), async () => {
    await api(`/queues/${enc(q.name)}/${verb}`, { method: "POST" });
    return `Queue ${q.name} ${verb}d`;
  });
});

// -- a job's detail --------------------------------------------------------------

function closeJob() {
  stopLog();
  view.job = null;
  $("detail").hidden = true;
  $("detail-empty").hidden = false;
  $("detail-title").textContent = "Job";
}

async function openJob(name, { focus = true } = {}) {
  if (view.job !== name) closeJob();
  view.job = name;
  const queue = view.queue;
  let job;
  try {
    job = await api(jobPath(queue, name));
  } catch (err) {
    showError(err.message);
    return;
  }
  if (view.job !== name) return;
  $("detail-title").textContent = `Job ${name} (${job.status})`;
  $("detail-empty").hidden = true;
  $("detail").hidden = false;
  const fields = $("detail-fields");
  fields.replaceChildren();
  for (const [k, v] of [["state", job.status], ["command", job.command], ["host", job.host],
    ["attempts", job.attempts], ["exit code", job.exit_code], ["error", job.error],
    ["started", stamp(job.started)], ["ended", stamp(job.ended)]]) {
    if (v === null || v === undefined || v === "") continue;
    fields.append(el("dt", { text: k }), el("dd", { text: String(v) }));
  }
  const body = $("history").tBodies[0];
  body.replaceChildren();
  for (const h of job.history) {
    body.append(el("tr", {}, el("td", { text: when(h.time) }), el("td", { text: h.old || "" }),
      el("td", { text: h.new }), el("td", { text: String(h.attempt) }),
      el("td", { text: h.host || "" }), el("td", { text: h.detail || "" })));
  }
  const active = ["run", "start"].includes(job.status);
  $("kill-button").disabled = !active;
  for (const tr of $("jobs").tBodies[0].rows) {
    if (tr.dataset.job === name) tr.setAttribute("aria-current", "true");
    else tr.removeAttribute("aria-current");
  }
  // a new attempt (a start, a retry, a reset) has a new log: read it again
  if (view.logAttempt !== job.attempts) followLog(queue, name, job);
  if (focus) $("detail-panel").focus();
}

function stopLog() {
  if (view.logAbort) view.logAbort.abort();
  view.logAbort = null;
  view.logAttempt = null;
}

// The log as it is written: the REST follow stream, read chunk by chunk.
async function followLog(queue, name, job) {
  stopLog();
  view.logAttempt = job.attempts;
  const pre = $("log");
  pre.textContent = "";
  if (job.attempts === 0 && !["run", "start"].includes(job.status)) {
    pre.textContent = "(it has not run yet)";
    return;
  }
  const abort = new AbortController();
  view.logAbort = abort;
  try {
    const res = await fetch(`${jobPath(queue, name)}/logs?follow=true`, {
      headers: { Authorization: `Bearer ${sessionStorage.getItem("meshq-token")}` },
      signal: abort.signal, cache: "no-store",
    });
    if (!res.ok) {
      const data = await res.json().catch(() => ({}));
      pre.textContent = `(${data.error || res.status})`;
      if (view.logAbort === abort) view.logAttempt = null;  // try again at its next change
      return;
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      pre.append(decoder.decode(value, { stream: true }));
      pre.scrollTop = pre.scrollHeight;
    }
  } catch (err) {
    if (err.name !== "AbortError") pre.append(`\n(${err.message})`);
  } finally {
    if (view.logAbort === abort) view.logAbort = null;
  }
}

$("kill-button").addEventListener("click", () => {
  const name = view.job, queue = view.queue;
  act("Kill the job?", `Kill ${name} of ${queue} (its whole process group).`, "Kill", async () => {
    await api(`${jobPath(queue, name)}/kill`, { method: "POST" });
    return `Job ${name} killed`;
  });
});

$("reset-button").addEventListener("click", () => {
  const name = view.job, queue = view.queue;
  act("Reset the job?", `Kill ${name} if it runs, remove its folder, and make it ready again.`, "Reset", async () => {
    await api(`${jobPath(queue, name)}/reset`, { method: "POST" });
    return `Job ${name} reset`;
  });
});

// -- hosts ---------------------------------------------------------------------

function renderHosts(list) {
  view.hosts = list;
  $("hosts-empty").hidden = list.length > 0;
  const body = $("hosts").tBodies[0];
  body.replaceChildren();
  for (const h of list) {
    const meter = el("span", { class: "meter", "aria-hidden": "true" }, el("span"));
    meter.firstChild.style.width = h.max_jobs ? `${(100 * Math.min(h.running, h.max_jobs)) / h.max_jobs}%` : "0";
    const slots = h.max_jobs ? `${h.running} of ${h.max_jobs}` : `${h.running}`;
    const gpus = h.gpus.length ? `${h.gpus_in_use.join(",") || "none"} of ${h.gpus.join(",")}` : (h.gpus_in_use.join(",") || "—");
    body.append(el("tr", {}, el("th", { scope: "row", text: h.name }),
      el("td", { text: h.status || "not in the inventory" }),
      el("td", {}, meter, ` ${slots}`), el("td", { text: gpus })));
  }
}

// -- the timeline --------------------------------------------------------------

async function loadTimeline() {
  if (!view.queue) return;
  view.timelineAt = Date.now();
  const queue = view.queue;
  const p = new URLSearchParams({ limit: TIMELINE_JOBS, sort: "-started", status: STARTED });
  let page;
  try {
    page = await api(`/queues/${enc(queue)}/jobs?${p}`);
  } catch (err) {
    $("timeline-note").textContent = `Timeline: ${err.message}`;
    return;
  }
  if (queue !== view.queue) return;
  const now = Date.now() / 1000;
  const jobs = page.jobs.filter((j) => j.started && j.host).map((j) => ({
    name: j.name, host: j.host, status: j.status,
    start: Date.parse(j.started) / 1000,
    end: j.ended ? Date.parse(j.ended) / 1000 : now,
  }));
  drawTimeline(jobs);
}

let resizeTimer = null;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => drawTimeline(view.timeline), 200);
});

function drawTimeline(jobs) {
  view.timeline = jobs;
  const svg = timelineSvg(jobs, Math.max($("timeline").clientWidth, 300));
  $("timeline").replaceChildren(...(svg ? [svg] : []));
  $("timeline-note").textContent = svg
    ? `Jobs per host slot (the last ${jobs.length} started).`
    : "No job of this queue has started yet.";
}

// -- live updates --------------------------------------------------------------

function onChanges(changes) {
  const mine = changes.filter((c) => c.queue === view.queue);
  if (!mine.length) return;
  // patch the rows shown now, then read the page again (its order and
  // filter may depend on the states that changed), at most once a second
  for (const c of mine) {
    const row = view.rows.find((j) => j.name === c.job);
    if (!row) continue;
    row.status = c.new;
    if (c.new === "start") Object.assign(row, { started: c.time, ended: null, exit_code: null });
    if (FINISHED.includes(c.new)) Object.assign(row, { ended: c.time, exit_code: c.exit_code });
    if (c.host) row.host = c.host;
  }
  renderJobs();
  const ends = mine.filter((c) => FINISHED.includes(c.new));
  if (ends.length === 1) announce(`${ends[0].job} ${ends[0].new}`);
  else if (ends.length > 1) announce(`${ends.length} jobs finished`);
  if (mine.some((c) => c.job === view.job)) openJob(view.job, { focus: false });
  clearTimeout(view.reloadTimer);
  view.reloadTimer = setTimeout(loadJobs, 1000);
  // the timeline sorts the queue by start time: on a big one that costs
  // more than a page, so at most every few seconds
  if (!view.timelineTimer) {
    const wait = Math.max(1000, TIMELINE_EVERY - (Date.now() - view.timelineAt));
    view.timelineTimer = setTimeout(() => { view.timelineTimer = null; loadTimeline(); }, wait);
  }
}

const handlers = {
  queues: (data) => renderQueues(data),
  hosts: (data) => renderHosts(data),
  runs: (data) => { view.runs = data; updateQueueButtons(); },
  jobs: (data) => onChanges(data),
};

// Server-sent events read with fetch, so the token goes in a header; on a
// break, connect again after a pause, from the last event id seen.
async function listen() {
  let lastId = null;
  for (let pause = 1000; ; pause = Math.min(pause * 2, 15000)) {
    try {
      const headers = { Authorization: `Bearer ${sessionStorage.getItem("meshq-token")}` };
      if (lastId) headers["Last-Event-ID"] = lastId;
      const res = await fetch("/events", { headers, cache: "no-store" });
      if (res.status === 401 || res.status === 403) { askToken("the token was refused"); return; }
      if (!res.ok) throw new Error(`${res.status}`);
      setConnection("live", "live");
      pause = 1000;
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          let name = "message", data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("event: ")) name = line.slice(7);
            else if (line.startsWith("data: ")) data += line.slice(6);
            else if (line.startsWith("id: ")) lastId = line.slice(4);
          }
          if (data && handlers[name]) handlers[name](JSON.parse(data));
        }
      }
    } catch (err) {
      // the stream broke: say so and try again
    }
    setConnection("down", "reconnecting…");
    await new Promise((r) => setTimeout(r, pause));
  }
}

function start() {
  if (!takeToken()) {
    askToken("no token: open the URL 'meshq serve' printed, or paste its token");
    return;
  }
  setConnection("down", "connecting…");
  listen();
}

start();
