/**
 * The dashboard's one page: inline CSS and script, no external resource (the machine that
 * serves it may have no internet). The first view is embedded, so the page shows data
 * before its event stream connects; updates then come from `events` (Server-Sent Events).
 * State colours each carry their name as text, and every pair of text and badge colour
 * has a contrast of at least 4.5:1 (checked by the browser tests).
 */

const CSS = `:root{--fg:#1f2328;--mu:#57606a;--bg:#fff;--cd:#f6f8fa;--ln:#d0d7de}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;padding:.75rem 1rem;border-bottom:1px solid var(--ln)}
h1{font-size:1.25rem;margin:0}h2{font-size:1.05rem;margin:1.25rem 0 .5rem}h3{font-size:1rem;margin:0;overflow-wrap:anywhere}
main{padding:0 1rem 1rem;max-width:75rem}
.grid{display:grid;gap:.75rem;grid-template-columns:repeat(auto-fill,minmax(min(100%,18rem),1fr))}
.card{background:var(--cd);border:1px solid var(--ln);border-radius:6px;padding:.75rem}
.top{display:flex;justify-content:space-between;gap:.5rem;align-items:baseline}
.badge{display:inline-block;padding:0 .5rem;border-radius:1rem;color:#fff;font-weight:600;white-space:nowrap}
.s-closed,.s-healthy,.s-on{background:#1a7f37}.s-open,.s-unhealthy{background:#b42318}
.s-half-open,.s-degraded{background:#8a5300}.s-isolated{background:#6639ba}.s-disabled,.s-off,.s-unknown{background:#57606a}
dl{display:grid;grid-template-columns:auto 1fr;gap:0 .75rem;margin:.5rem 0}dt{color:var(--mu)}dd{margin:0;font-variant-numeric:tabular-nums}
.tw{overflow-x:auto}table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:.25rem .5rem;border-bottom:1px solid var(--ln)}
button{font:inherit;padding:.2rem .6rem;border:1px solid #6e7781;border-radius:4px;background:#fff;color:var(--fg);cursor:pointer}
button:focus-visible,input:focus-visible{outline:3px solid #0969da;outline-offset:2px}
input{font:inherit;padding:.2rem .4rem;border:1px solid #6e7781;border-radius:4px}
.acts{display:flex;flex-wrap:wrap;gap:.4rem;margin-top:.5rem}
svg{width:100%;height:3rem;display:block;background:#fff;border:1px solid var(--ln)}
.mu{color:var(--mu)}.lg{font-size:.8rem;color:var(--mu)}
.k1{stroke:#0550ae}.k2{stroke:#b42318}.k3{stroke:#6639ba;stroke-dasharray:2 2}
polyline{fill:none;stroke-width:1.5;vector-effect:non-scaling-stroke}
.ctl{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;margin-top:1rem}
[hidden]{display:none!important}`;

// Plain ES2020 for any current browser; `textContent` everywhere, so no name can inject markup.
const SCRIPT = `(()=>{
const $=(s)=>document.querySelector(s);
function el(t,a,...k){const e=document.createElement(t);for(const n in a||{}){if(n==='text')e.textContent=a[n];else e.setAttribute(n,a[n])}e.append(...k);return e}
const pct=(x)=>x==null?'\\u2014':(x*100).toFixed(1)+' %';
const per=(x)=>x==null?'\\u2014':x.toFixed(1)+'/s';
const dur=(x)=>x==null?'\\u2014':x<1000?Math.round(x)+' ms':(x/1000).toFixed(1)+' s';
const clock=(t)=>new Date(t).toISOString().slice(11,19)+' UTC';
function badge(node,state,label){node.className='badge s-'+state;node.textContent=label||state}
function probe(b){if(b.state==='open')return b.retryAfter===0?'due now':'in '+dur(b.retryAfter);if(b.state==='isolated')return 'never (isolated)';if(b.state==='half-open')return 'probing';return '\\u2014'}
const NS='http://www.w3.org/2000/svg';
function line(cls,vals,max){const p=document.createElementNS(NS,'polyline');p.setAttribute('class',cls);p.setAttribute('points',vals.map((v,i)=>i+','+(21-20*v/max).toFixed(2)).join(' '));return p}
function chart(svg,h){const max=Math.max(1,...h.ok.map((v,i)=>v+h.failed[i]),...h.rejected);const calls=h.ok.map((v,i)=>v+h.failed[i]);svg.replaceChildren(line('k1',calls,max),line('k2',h.failed,max),line('k3',h.rejected,max));const sum=(a)=>a.reduce((x,y)=>x+y,0);svg.setAttribute('aria-label','Last 5 minutes: '+sum(calls)+' calls, '+sum(h.failed)+' failed, '+sum(h.rejected)+' rejected; peak '+max+' per 5 s')}
const cards=new Map();let controls=false;
function act(path,label){return el('button',{type:'button','data-path':path},label)}
function breakerCard(b){let c=cards.get(b.name);if(c)return c;const id='b'+cards.size;
const st=el('span',{});const d={};const dl=el('dl',{});
for(const[k,t]of[['rate','Failure rate'],['calls','Calls'],['rej','Rejected'],['p99','p99 latency'],['probe','Next probe']]){d[k]=el('dd',{});dl.append(el('dt',{text:t}),d[k])}
const svg=document.createElementNS(NS,'svg');svg.setAttribute('viewBox','0 0 59 22');svg.setAttribute('preserveAspectRatio','none');svg.setAttribute('role','img');
const n=encodeURIComponent(b.name);const acts=el('div',{class:'acts',role:'group','aria-label':'Controls of '+b.name},act('breakers/'+n+'/isolate','Isolate'),act('breakers/'+n+'/reset','Reset'),act('breakers/'+n+'/disable','Disable'));
const art=el('article',{class:'card','aria-labelledby':id},el('div',{class:'top'},el('h3',{id,text:b.name}),st),dl,svg,el('div',{class:'lg',text:'Per 5 s, last 5 min: calls (blue), failed (red), rejected (dotted purple)'}),acts);
c={art,st,d,svg,acts};cards.set(b.name,c);$('#breakers').append(art);return c}
function table(id,head,rows){const s=$(id);s.hidden=rows.length===0;if(!rows.length)return;
const t=el('table',{},el('thead',{},el('tr',{},...head.map((h)=>el('th',{scope:'col',text:h})))),el('tbody',{},...rows.map((r)=>el('tr',{},...r.map((v,i)=>i===0?el('th',{scope:'row',text:v}):el('td',{},v instanceof Node?v:String(v)))))));
const a=document.activeElement,f=s.contains(a)&&a.dataset.path;s.querySelector('.tw').replaceChildren(t);
if(f){const k=f.slice(0,f.lastIndexOf('/')+1);for(const b of s.querySelectorAll('button[data-path]'))if(b.dataset.path.startsWith(k))b.focus()}}
const num=(x)=>x==null?'\\u2014':String(Math.round(x*100)/100);
const lim=(x)=>x==null?'no limit':String(x);
function bd(state,label){const b=el('span',{});badge(b,state,label);return b}
function render(s){
controls=s.controls;$('#ctl').hidden=!controls;$('#updated').textContent='Updated '+clock(s.now);
$('#nobreakers').hidden=s.breakers.length>0;
for(const b of s.breakers){const c=breakerCard(b);badge(c.st,b.state);c.d.rate.textContent=pct(b.failureRate);c.d.calls.textContent=per(b.callsPerSecond);c.d.rej.textContent=per(b.rejectedPerSecond);c.d.p99.textContent=dur(b.p99);c.d.probe.textContent=probe(b);chart(c.svg,b.history);c.acts.hidden=!controls}
table('#limits',['Name','Kind','In flight','Queued','Limit','Queue limit'],s.limits.map((l)=>[l.name,l.kind,num(l.inFlight),num(l.queued),lim(l.limit),l.maxQueue==null?'\\u2014':l.maxQueue]));
table('#shedders',['Name','Pressure','Shedding'],s.shedders.map((l)=>[l.name,pct(l.pressure),l.shedding==null?'\\u2014':l.shedding.join(', ')||'nothing']));
table('#queues',['Name','Depth','In flight','Dead letters','Paused'],s.queues.map((q)=>[q.name,num(q.depth),num(q.inFlight),num(q.deadLetters),q.paused==null?'\\u2014':q.paused?'yes':'no']));
table('#switches',['Name','State','Switches chaos','Control'],s.switches.map((f)=>{const b=el('button',{type:'button','data-path':'flags/'+encodeURIComponent(f.name)+'/'+(f.enabled?'off':'on')},'Turn '+(f.enabled?'off':'on'));b.hidden=!controls;return[f.name,bd(f.enabled?'on':'off'),f.chaos.join(', ')||'\\u2014',b]}));
table('#chaos',['Name','Switched by'],s.chaos.map((c)=>[c.name,c.flag||'not switchable (give it a flag as enabled)']));
const h=s.health;$('#health').hidden=!h;if(h){badge($('#overall'),h.status);table('#health',['Component','Kind','Critical','Status','Last change'],h.components.map((c)=>[c.name,c.kind,c.critical?'yes':'no',bd(c.status),c.reason||'\\u2014']))}else{$('#overall').className='badge s-unknown';$('#overall').textContent='no health monitor'}}
document.addEventListener('click',async(e)=>{const b=e.target.closest('button[data-path]');if(!b)return;const msg=$('#msg');
try{const r=await fetch(b.dataset.path,{method:'POST',headers:{'x-breakwater-token':$('#token').value}});const j=await r.json().catch(()=>({}));msg.textContent=r.ok?'Done: '+b.textContent+' ('+(j.state??'')+')':'Refused ('+r.status+'): '+(j.error||'')}catch(x){msg.textContent='Failed: '+x.message}});
render(JSON.parse($('#initial').textContent));
const conn=$('#conn');const es=new EventSource('events');
es.onopen=()=>{conn.textContent='Live'};es.onerror=()=>{conn.textContent='Reconnecting\\u2026'};
es.onmessage=(m)=>render(JSON.parse(m.data));
})();`;

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** `JSON.stringify` made safe inside a `<script>` element. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

/** The page, with `initial` (the first view, as JSON) embedded. */
export function renderPage(title: string, initial: string): string {
  const t = escapeHtml(title);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${t}</title><style>${CSS}</style></head><body>
<header><h1>${t}</h1><span>Health: <span id="overall" class="badge"></span></span>
<span id="updated" class="mu"></span><span id="conn" class="mu" role="status">Connecting\u2026</span></header>
<main>
<section id="ctl" aria-labelledby="h-k" hidden><h2 id="h-k">Controls</h2>
<div class="ctl"><label for="token">Control token</label><input id="token" type="password" autocomplete="off">
<span id="msg" role="status" aria-live="polite"></span></div></section>
<section aria-labelledby="h-b"><h2 id="h-b">Circuit breakers</h2><p id="nobreakers" class="mu">No circuit breaker.</p><div id="breakers" class="grid"></div></section>
<section id="limits" aria-labelledby="h-l" hidden><h2 id="h-l">Bulkheads and limits</h2><div class="tw"></div></section>
<section id="shedders" aria-labelledby="h-s" hidden><h2 id="h-s">Load shedding</h2><div class="tw"></div></section>
<section id="queues" aria-labelledby="h-q" hidden><h2 id="h-q">Deferred queues</h2><div class="tw"></div></section>
<section id="switches" aria-labelledby="h-f" hidden><h2 id="h-f">Switches</h2><div class="tw"></div></section>
<section id="chaos" aria-labelledby="h-c" hidden><h2 id="h-c">Chaos injections</h2><div class="tw"></div></section>
<section id="health" aria-labelledby="h-h" hidden><h2 id="h-h">Health</h2><div class="tw"></div></section>
</main>
<script id="initial" type="application/json">${initial}</script>
<script>${SCRIPT}</script>
</body></html>
`;
}
