// The operator console (GET /console): one self-contained page, no framework,
// no build step, no assets from elsewhere (the control plane may have no
// internet). It polls GET api/v1/overview every 2 s; every URL is relative, so
// it works behind a path-prefix proxy. Read-only unless the operator enters
// the admin token (kept in sessionStorage, sent as a bearer token), which also
// makes it work with --admin-read-auth; then Drain/Undrain buttons appear.
export const CONSOLE_PAGE = String.raw`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>mcpmesh console</title>
<style>
:root{--ok:#1a7f37;--warn:#9a6700;--bad:#cf222e;--mute:#6e7781;--line:#d0d7de;--bg:#f6f8fa}
*{box-sizing:border-box}body{font:13px/1.4 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1f2328}
header{display:flex;gap:1em;align-items:center;flex-wrap:wrap;padding:.6em 1.2em;background:#24292f;color:#fff}
header h1{font-size:16px;margin:0 1em 0 0}header a{color:#9ecbff}header .grow{flex:1}
header input{font:inherit;padding:.2em .4em;width:14em}header button{font:inherit}
main{padding:0 1.2em 2em}section{margin-top:1.2em}h2{font-size:14px;margin:0 0 .4em;border-bottom:1px solid var(--line);padding-bottom:.2em}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.25em .6em;border-bottom:1px solid var(--line);vertical-align:top}
th{background:var(--bg);font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}code{font:12px ui-monospace,monospace}
.badge{display:inline-block;padding:0 .5em;border-radius:1em;font-weight:600;color:#fff;background:var(--mute)}
.s-healthy{background:var(--ok)}.s-degraded,.s-draining,.s-drained{background:var(--warn)}.s-unhealthy,.s-ejected{background:var(--bad)}
.nack{color:var(--bad)}.mute{color:var(--mute)}#banner{margin-top:1em;padding:.5em .8em;border:1px solid var(--bad);color:var(--bad);display:none}
.server{margin:.4em 0 .2em;font-weight:600}
</style></head>
<body>
<header><h1>mcpmesh console</h1>
<span id="ready" class="badge">…</span><span id="source" class="mute"></span>
<span class="grow"></span>
<span id="updated" class="mute"></span>
<a href="docs/">API reference</a>
<form id="auth"><input id="token" type="password" placeholder="admin token" autocomplete="off"> <button id="save" type="submit">Use token</button> <button id="forget" type="button">Forget</button></form>
</header>
<main>
<div id="banner"></div>
<section><h2>Servers and replicas</h2><div id="servers" class="mute">Loading…</div></section>
<section><h2>Connected Envoys</h2><div id="clients" class="mute">Loading…</div></section>
<section><h2>Tool routes (policy in force)</h2><div id="routes" class="mute">Loading…</div></section>
<section><h2>Traffic per tool <span id="trafficfrom" class="mute"></span></h2><div id="traffic" class="mute">Loading…</div></section>
</main>
<script>
(function () {
  'use strict';
  var KEY = 'mcpmesh-admin-token';
  var $ = function (id) { return document.getElementById(id); };
  function token() { try { return sessionStorage.getItem(KEY) || ''; } catch (e) { return ''; } }
  function esc(v) { return String(v == null ? '' : v).replace(/[&<>"']/g, function (c) { return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]; }); }
  function headers() { var t = token(); return t ? { authorization: 'Bearer ' + t } : {}; }
  function badge(s) { return '<span class="badge s-' + esc(s) + '">' + esc(s) + '</span>'; }
  function ms(v) { return v == null ? '<span class="mute">none</span>' : v >= 1000 && v % 1000 === 0 ? (v / 1000) + 's' : v + 'ms'; }
  function retry(r) { return (r.attempts === 1 ? '1 retry' : r.attempts + ' retries') + ' on ' + esc(r.retryOn.join(', ')) + (r.perTryTimeoutMs != null ? ', per try ' + ms(r.perTryTimeoutMs) : ''); }
  function table(head, rows) {
    if (rows.length === 0) return '<span class="mute">none</span>';
    return '<table><thead><tr>' + head.map(function (h) { return '<th>' + h + '</th>'; }).join('') + '</tr></thead><tbody>' + rows.join('') + '</tbody></table>';
  }
  function banner(text) { var b = $('banner'); b.textContent = text || ''; b.style.display = text ? 'block' : 'none'; }

  function renderServers(d) {
    var canChange = token() !== '';
    var out = d.servers.map(function (s) {
      var rows = s.replicas.map(function (r) {
        var envoy = r.envoy.length === 0 ? '<span class="mute">no Envoy view</span>' : r.envoy.map(function (e) { return (e.healthy ? 'healthy' : 'unhealthy') + (e.flags.length ? ' <code>' + esc(e.flags.join(' ')) + '</code>' : ''); }).join('<br>');
        var action = '';
        if (canChange) action = r.drained ? '<button data-action="undrain" data-server="' + esc(s.name) + '" data-id="' + esc(r.id) + '">Undrain</button>' : '<button data-action="drain" data-server="' + esc(s.name) + '" data-id="' + esc(r.id) + '">Drain</button>';
        return '<tr data-replica="' + esc(s.name + '/' + r.id) + '" data-status="' + esc(r.status) + '" data-drained="' + r.drained + '">' +
          '<td><code>' + esc(r.id) + '</code></td><td>' + badge(r.status) + '</td><td>' + esc(r.health) + '</td><td>' + envoy + '</td>' +
          '<td>' + (r.adapterReady == null ? (r.scrapeError ? '<span class="nack">' + esc(r.scrapeError) + '</span>' : '<span class="mute">–</span>') : r.adapterReady ? 'ready' : 'not ready') + '</td>' +
          '<td>' + (r.drained ? 'drained' : '<span class="mute">no</span>') + '</td><td>' + (r.ejected ? '<b class="nack">ejected</b>' : '<span class="mute">no</span>') + '</td><td class="num">' + esc(r.weight) + '</td><td>' + action + '</td></tr>';
      });
      return '<div class="server" data-server="' + esc(s.name) + '">' + esc(s.name) + ' <code class="mute">' + esc(s.agentUrlPath) + '</code> <span class="mute">protocol ' + esc(s.protocol) + '</span></div>' +
        table(['replica', 'status', 'source says', 'Envoy says', 'adapter', 'drained', 'ejected', 'weight', ''], rows);
    });
    $('servers').innerHTML = out.length ? out.join('') : '<span class="mute">no servers</span>';
    $('servers').className = '';
  }
  function renderClients(d) {
    var rows = d.clients.map(function (c) {
      var acked = ['clusters', 'endpoints', 'listeners', 'routes'].map(function (t) { return t + ' <code>' + esc((c.acked[t] || '–').slice(0, 12)) + '</code>'; }).join('<br>');
      var nack = c.lastNack ? '<span class="nack">' + esc(c.lastNack.type) + ' ' + esc(c.lastNack.version.slice(0, 12)) + ' at ' + esc(c.lastNack.at) + ': ' + esc(c.lastNack.message) + '</span>' : '<span class="mute">none</span>';
      return '<tr data-node="' + esc(c.nodeId) + '"><td>' + esc(c.nodeId) + '</td><td>' + esc(c.variant) + '</td><td><code>' + esc(c.peer) + '</code></td><td>' + esc(c.connectedSince) + '</td><td>' + acked + '</td><td>' + nack + '</td></tr>';
    });
    $('clients').innerHTML = table(['node', 'xDS', 'peer', 'connected since', 'ACKed versions', 'last NACK'], rows);
    $('clients').className = '';
  }
  function renderRoutes(d) {
    var rows = [];
    d.servers.forEach(function (s) {
      s.toolRoutes.forEach(function (t) {
        rows.push('<tr><td>' + esc(s.name) + '</td><td><code>' + esc(t.tool) + '</code></td><td>' + esc(t.origin) + '</td><td>' + (t.idempotent ? 'yes' : 'no') + '</td><td>' + ms(t.timeoutMs) + '</td><td>' + retry(t.retry) + '</td></tr>');
      });
      rows.push('<tr class="mute"><td>' + esc(s.name) + '</td><td>other tools</td><td>defaults</td><td>no</td><td>' + ms(s.toolTimeoutMs) + '</td><td>' + retry(s.unsafeRetry) + '</td></tr>');
    });
    $('routes').innerHTML = table(['server', 'tool', 'from', 'retried as idempotent', 'timeout', 'retry'], rows);
    $('routes').className = '';
  }
  function renderTraffic(d) {
    var t = d.traffic;
    $('trafficfrom').textContent = t.from === 'none' ? '' : '(from ' + (t.from === 'prometheus' ? 'Prometheus' : 'the adapters\u2019 /metrics') + (t.windowSeconds ? ', last ' + t.windowSeconds + ' s' : '') + ')';
    var rows = t.tools.map(function (x) {
      return '<tr data-tool="' + esc(x.server + '/' + x.tool) + '"><td>' + esc(x.server) + '</td><td><code>' + esc(x.tool) + '</code></td><td class="num">' + x.callsPerSecond.toFixed(2) + '</td><td class="num' + (x.errorsPerSecond > 0 ? ' nack' : '') + '">' + x.errorsPerSecond.toFixed(2) + '</td><td class="num">' + (x.p99Seconds == null ? '–' : (x.p99Seconds * 1000).toFixed(1) + ' ms') + '</td></tr>';
    });
    $('traffic').innerHTML = (t.error ? '<div class="nack">' + esc(t.error) + '</div>' : '') + table(['server', 'tool', 'calls/s', 'errors/s', 'p99'], rows);
    $('traffic').className = '';
  }

  var timer;
  function poll() {
    clearTimeout(timer);
    fetch('api/v1/overview', { headers: headers(), cache: 'no-store' }).then(function (r) {
      return r.json().then(function (body) { return { status: r.status, body: body }; });
    }).then(function (res) {
      if (res.status !== 200) {
        banner(res.status === 401 ? 'This control plane requires the admin token to read (--admin-read-auth): enter it above.' : 'overview: HTTP ' + res.status + ' ' + ((res.body.error && res.body.error.message) || ''));
        return;
      }
      var d = res.body;
      var problems = d.envoy.errors.slice();
      banner(problems.length ? 'Envoy admin not answering: ' + problems.join('; ') : '');
      $('ready').textContent = d.readiness.ready ? 'ready' : 'not ready';
      $('ready').className = 'badge ' + (d.readiness.ready ? 's-healthy' : 's-unhealthy');
      $('source').textContent = 'source: ' + d.source.kind + (d.source.stale ? ' (stale)' : '') + (d.source.lastError ? ' — ' + d.source.lastError : '');
      $('updated').textContent = 'updated ' + new Date(d.generatedAt).toLocaleTimeString();
      renderServers(d); renderClients(d); renderRoutes(d); renderTraffic(d);
    }).catch(function (err) {
      banner('cannot reach the control plane: ' + err.message);
    }).then(function () { timer = setTimeout(poll, 2000); });
  }

  function act(action, server, id) {
    fetch('api/v1/servers/' + encodeURIComponent(server) + '/replicas/' + encodeURIComponent(id) + '/' + action, { method: 'POST', headers: headers() }).then(function (r) {
      return r.json().then(function (body) {
        if (r.status !== 200) banner(action + ' ' + server + '/' + id + ': HTTP ' + r.status + ' ' + ((body.error && body.error.message) || ''));
        poll();
      });
    }).catch(function (err) { banner(action + ': ' + err.message); });
  }
  document.addEventListener('click', function (ev) {
    var b = ev.target.closest && ev.target.closest('button[data-action]');
    if (b) { b.disabled = true; act(b.getAttribute('data-action'), b.getAttribute('data-server'), b.getAttribute('data-id')); }
  });
  $('auth').addEventListener('submit', function (ev) {
    ev.preventDefault();
    try { sessionStorage.setItem(KEY, $('token').value.trim()); } catch (e) { /* private mode */ }
    $('token').value = ''; $('token').placeholder = token() ? 'token set' : 'admin token'; poll();
  });
  $('forget').addEventListener('click', function () {
    try { sessionStorage.removeItem(KEY); } catch (e) { /* private mode */ }
    $('token').placeholder = 'admin token'; poll();
  });
  $('token').placeholder = token() ? 'token set' : 'admin token';
  poll();
})();
</script>
</body></html>
`;
