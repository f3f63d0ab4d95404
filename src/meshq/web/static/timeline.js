// The timeline (Gantt) of a queue: its jobs per host slot, from their start
// and end times, as an SVG element. No I/O: the dashboard gives the jobs
// ({name, host, status, start, end}, times in seconds) and the width.

// Lanes per host: each job goes to the first slot of its host that is free
// when it starts (interval partitioning), so a host with 4 slots shows at
// most 4 lanes when its jobs really ran 4 at a time.
export function lanes(jobs) {
  const byHost = new Map();
  for (const j of [...jobs].sort((a, b) => a.start - b.start)) {
    const slots = byHost.get(j.host) || [];
    let i = slots.findIndex((end) => end <= j.start);
    if (i < 0) { i = slots.length; slots.push(0); }
    slots[i] = j.end;
    j.slot = i;
    byHost.set(j.host, slots);
  }
  return byHost;
}

// An <svg> of the jobs, width pixels wide (drawn at the width it is shown
// at, so its text stays readable on a phone); null when there is none.
export function timelineSvg(jobs, width) {
  if (!jobs.length) return null;
  const hosts = lanes(jobs);
  const t0 = Math.min(...jobs.map((j) => j.start));
  const t1 = Math.max(...jobs.map((j) => j.end), t0 + 1);
  const rowH = 18, labelW = 100;
  const rows = [];
  for (const [host, slots] of [...hosts.entries()].sort()) {
    slots.forEach((_, i) => rows.push({ host, slot: i }));
  }
  const height = rows.length * rowH + 24;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("role", "img");
  const secs = Math.round(t1 - t0);
  svg.setAttribute("aria-label", `Timeline of ${jobs.length} jobs on ${hosts.size} hosts over ${secs} seconds`);
  const x = (t) => labelW + ((t - t0) / (t1 - t0)) * (width - labelW - 4);
  const add = (tag, attrs, text) => {
    const n = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    svg.append(n);
    return n;
  };
  rows.forEach((r, i) => add("text", { x: 2, y: i * rowH + 13 }, `${r.host} #${r.slot + 1}`));
  for (const j of jobs) {
    const i = rows.findIndex((r) => r.host === j.host && r.slot === j.slot);
    const rect = add("rect", {
      x: x(j.start), y: i * rowH + 2, height: rowH - 4,
      width: Math.max(x(j.end) - x(j.start), 1.5), "data-state-colour": j.status,
    });
    const t = document.createElementNS(ns, "title");
    t.textContent = `${j.name} on ${j.host}: ${j.status}, ${Math.round(j.end - j.start)} s`;
    rect.append(t);
  }
  add("text", { x: labelW, y: height - 6 }, new Date(t0 * 1000).toLocaleTimeString());
  add("text", { x: width - 4, y: height - 6, "text-anchor": "end" }, `+${secs} s`);
  return svg;
}
