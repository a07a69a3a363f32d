/** The dashboard's stylesheet. @internal */
export const PAGE_STYLE = `:root {
  color-scheme: light dark;
  --bg: #fafafa; --fg: #1d1d1f; --muted: #6b7280; --line: #e5e7eb; --panel: #fff;
  --pending: #6b7280; --running: #2563eb; --retrying: #d97706; --completed: #16a34a;
  --failed: #dc2626; --cancelled: #9333ea; --lost: #78716c;
}
@media (prefers-color-scheme: dark) {
  :root { --bg: #111318; --fg: #e5e7eb; --muted: #9ca3af; --line: #2a2f3a; --panel: #181b22; }
}
* { box-sizing: border-box; }
body { margin: 0; padding: 16px 20px; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg); color: var(--fg); }
header { display: flex; align-items: baseline; gap: 12px; }
h1 { font-size: 20px; margin: 0 0 12px; }
h2 { font-size: 16px; margin: 8px 0; }
h3 { font-size: 13px; margin: 14px 0 4px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
.muted { color: var(--muted); }
.live { font-size: 12px; padding: 2px 8px; border-radius: 10px; background: var(--line); }
.live[data-state="live"] { background: #dcfce7; color: #166534; }
.live[data-state="reconnecting"] { background: #fef3c7; color: #92400e; }
.panel { display: flex; flex-wrap: wrap; gap: 18px; align-items: center; padding: 10px 14px; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; }
.panel .controls { margin-left: auto; display: flex; gap: 8px; align-items: center; }
.panel input { width: 64px; }
button { font: inherit; padding: 3px 10px; border: 1px solid var(--line); border-radius: 6px; background: var(--panel); color: var(--fg); cursor: pointer; }
button:hover { border-color: var(--muted); }
button.cancel { color: var(--failed); }
body.read-only .controls, body.read-only button.cancel { display: none; }
nav#tabs { display: flex; gap: 4px; margin: 14px 0 8px; flex-wrap: wrap; }
nav#tabs button[aria-pressed="true"] { background: var(--fg); color: var(--bg); }
nav#tabs .count { margin-left: 6px; color: var(--muted); }
nav#tabs button[aria-pressed="true"] .count { color: inherit; }
.toolbar { margin-bottom: 8px; }
#search { width: 320px; max-width: 100%; padding: 5px 8px; border: 1px solid var(--line); border-radius: 6px; background: var(--panel); color: var(--fg); }
main { display: flex; gap: 16px; align-items: flex-start; }
table#tasks { flex: 1; border-collapse: collapse; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; }
#tasks th, #tasks td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); white-space: nowrap; }
#tasks th { font-size: 12px; color: var(--muted); font-weight: 600; }
#tasks tbody tr { cursor: pointer; }
#tasks tbody tr:hover, #tasks tbody tr.selected { background: color-mix(in srgb, var(--running) 8%, transparent); }
#tasks td.name { max-width: 240px; overflow: hidden; text-overflow: ellipsis; }
#tasks td.name small { display: block; color: var(--muted); font-size: 11px; }
progress { width: 120px; height: 10px; vertical-align: middle; }
.status { font-size: 12px; font-weight: 600; }
.status[data-status="pending"] { color: var(--pending); }
.status[data-status="running"] { color: var(--running); }
.status[data-status="retrying"] { color: var(--retrying); }
.status[data-status="completed"] { color: var(--completed); }
.status[data-status="failed"] { color: var(--failed); }
.status[data-status="cancelled"] { color: var(--cancelled); }
.status[data-status="lost"] { color: var(--lost); }
aside#detail { width: 500px; max-width: 45%; flex: none; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.detail-head { display: flex; justify-content: space-between; align-items: center; }
#d-log td, #d-attempts td { padding: 2px 8px 2px 0; font-size: 12px; vertical-align: top; }
pre { white-space: pre-wrap; word-break: break-word; font-size: 12px; background: var(--bg); padding: 6px 8px; border-radius: 6px; margin: 0; max-height: 220px; overflow: auto; }
svg#chart { width: 100%; height: auto; }
svg .state rect { fill: var(--panel); stroke: var(--line); stroke-width: 1.5; }
svg .state text { fill: var(--muted); font-size: 12px; text-anchor: middle; dominant-baseline: middle; }
svg .state.visited rect { stroke: var(--muted); }
svg .state.visited text { fill: var(--fg); }
svg .state.current rect { fill: var(--running); stroke: var(--running); }
svg .state.current text { fill: #fff; font-weight: 600; }
svg .state.final rect { stroke-dasharray: 0; rx: 14; }
svg .edge path { fill: none; stroke: var(--line); stroke-width: 1.5; }
svg .edge text { fill: var(--muted); font-size: 10px; text-anchor: middle; }
svg text.edge-label { fill: var(--muted); font-size: 10px; text-anchor: middle; }
svg .edge.taken path { stroke: var(--running); stroke-width: 2.5; }
svg .edge.taken text { fill: var(--running); }
svg marker path { fill: var(--muted); }
#timeline-section { margin-top: 16px; }
svg#timeline { width: 100%; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; }
svg#timeline text { fill: var(--muted); font-size: 11px; }
svg#timeline .wait { fill: var(--line); }
svg#timeline .run[data-status="pending"] { fill: var(--pending); }
svg#timeline .run[data-status="running"] { fill: var(--running); }
svg#timeline .run[data-status="retrying"] { fill: var(--retrying); }
svg#timeline .run[data-status="completed"] { fill: var(--completed); }
svg#timeline .run[data-status="failed"] { fill: var(--failed); }
svg#timeline .run[data-status="cancelled"] { fill: var(--cancelled); }
svg#timeline .run[data-status="lost"] { fill: var(--lost); }
`;
