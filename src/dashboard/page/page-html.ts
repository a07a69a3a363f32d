/** The dashboard's page. No inline script or style, so the strict CSP holds. @internal */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tasklane dashboard</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="app.css">
<script type="module" src="app.js"></script>
</head>
<body>
<header>
  <h1>tasklane</h1>
  <span id="live" class="live" data-state="connecting">connecting…</span>
</header>
<section id="runner" class="panel" aria-label="Runner">
  <span class="stat">Running <b id="r-running">0</b> / <b id="r-concurrency">–</b></span>
  <span class="stat">Queued <b id="r-pending">0</b></span>
  <span class="stat">Retrying <b id="r-retrying">0</b></span>
  <span class="stat" id="r-rate">No rate limit</span>
  <span class="stat" id="r-mode">open</span>
  <span class="controls">
    <button id="pause" type="button">Pause</button>
    <label>Concurrency <input id="concurrency" type="number" min="1" step="1"></label>
    <button id="set-concurrency" type="button">Set</button>
  </span>
</section>
<nav id="tabs" aria-label="Status"></nav>
<div class="toolbar"><input id="search" type="search" placeholder="Search by name or id" aria-label="Search"></div>
<main>
  <table id="tasks">
    <thead><tr><th>Name</th><th>Status</th><th>Progress</th><th>Attempt</th><th>Duration</th><th></th></tr></thead>
    <tbody></tbody>
    <tfoot id="more" hidden><tr><td colspan="6"><span id="shown" class="muted"></span> <button id="show-more" type="button">Show more</button></td></tr></tfoot>
  </table>
  <aside id="detail" hidden>
    <div class="detail-head"><h2 id="d-name"></h2><button id="d-close" type="button" aria-label="Close">×</button></div>
    <p class="muted"><span id="d-id"></span> · <span id="d-status"></span></p>
    <svg id="chart" role="img" aria-label="Task statechart"></svg>
    <h3>Progress</h3><p id="d-progress"></p>
    <h3>Transitions</h3><table id="d-log"><tbody></tbody></table>
    <h3>Attempts</h3><table id="d-attempts"><tbody></tbody></table>
    <h3>Streamed</h3><pre id="d-chunks"></pre>
    <h3 id="d-outcome-title">Result</h3><pre id="d-outcome"></pre>
  </aside>
</main>
<section id="timeline-section"><h2>Timeline</h2><svg id="timeline" role="img" aria-label="Recent tasks timeline"></svg></section>
</body>
</html>
`;
