"""The cohort page's fixed parts: its style sheet, its script (sorting, filtering and
paging a table of thousands of rows in vanilla JavaScript, with no network
resource) and the page around them."""
from __future__ import annotations

import html

PAGE_ROWS = 100  # rows a page shows at once: a cohort of 2,000 renders in pages

STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:20px auto;max-width:1500px;
padding:0 16px;color:#1d1d1f}h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em;
border-bottom:1px solid #ddd}.meta{color:#555}table{border-collapse:collapse;font-size:12px}
th,td{border:1px solid #ddd;padding:3px 6px;text-align:right;vertical-align:middle}
th{background:#f4f4f6;cursor:pointer;position:sticky;top:0}th[data-order=asc]::after{content:' \\25B2'}
th[data-order=desc]::after{content:' \\25BC'}td.text,th.text{text-align:left}
td.thumb{padding:1px}td.thumb img{display:block;width:auto;height:auto;max-width:128px}
tr.outlier{background:#fff4e5}td.why{text-align:left;max-width:420px}
.controls{margin:8px 0}.controls input[type=search]{width:280px;padding:3px}
.hists{display:flex;flex-wrap:wrap;gap:8px}svg.hist{border:1px solid #eee;background:#fff}
#pager button{margin:0 2px}
"""

# Records any script error on the page (the browser test reads it), before anything else runs.
GUARD = """document.documentElement.dataset.jsErrors='0';
window.addEventListener('error',e=>{const d=document.documentElement.dataset;
d.jsErrors=String(+d.jsErrors+1);d.jsError=String(e.message)});"""

SCRIPT = """
(function(){
const PAGE=%(page)d;
const COLS=JSON.parse(document.getElementById('columns').textContent);
const ROWS=JSON.parse(document.getElementById('rows').textContent);
const state={sort:'',asc:true,filter:'',outliers:false,page:0};
const esc=s=>String(s).replace(/[&<>"']/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));
const fmt=v=>v===null||v===undefined?'':(typeof v==='number'?(Number.isInteger(v)?String(v):v.toPrecision(4)):String(v));
function readHash(){const h=new URLSearchParams(location.hash.slice(1));
 const s=(h.get('sort')||'').split(':');state.sort=s[0]||'';state.asc=s[1]!=='desc';
 state.filter=h.get('filter')||'';state.outliers=h.get('outliers')==='1';state.page=+(h.get('page')||1)-1;}
function writeHash(){const h=new URLSearchParams();if(state.sort)h.set('sort',state.sort+':'+(state.asc?'asc':'desc'));
 if(state.filter)h.set('filter',state.filter);if(state.outliers)h.set('outliers','1');if(state.page)h.set('page',state.page+1);
 history.replaceState(null,'',h.toString()?'#'+h:location.pathname);}
function shown(){const f=state.filter.toLowerCase();
 let rows=ROWS.filter(r=>(!state.outliers||r.outliers.length)&&(!f||
  [r.name,r.file,r.quality,r.reasons,r.scale_source,r.outliers.join(' ')].join(' ').toLowerCase().includes(f)));
 if(state.sort){const col=COLS.find(c=>c.key===state.sort)||{};const k=state.sort,dir=state.asc?1:-1;
  const val=r=>k==='outliers'?r.outliers.length:r[k];
  rows=rows.slice().sort((a,b)=>{const x=val(a),y=val(b);
   if(x===null||x===undefined||x==='')return (y===null||y===undefined||y==='')?0:1;
   if(y===null||y===undefined||y==='')return -1;
   return (col.numeric||k==='outliers'?x-y:String(x).localeCompare(String(y)))*dir;});}
 return rows;}
function cell(c,r){const v=r[c.key];
 if(c.key==='name'){const img=r.thumb?'<img alt="'+esc(r.name)+'" src="'+r.thumb+'">':'no picture';
  return '<td class="thumb text">'+(r.link?'<a href="'+esc(r.link)+'">'+img+'</a>':img)+esc(r.name)+'</td>';}
 if(c.key==='outliers')return '<td class=text data-value="'+v.length+'">'+esc(v.join('; '))+'</td>';
 if(c.numeric)return '<td data-value="'+(v===null?'':v)+'">'+fmt(v)+'</td>';
 return '<td class=text>'+esc(fmt(v))+'</td>';}
function render(){const rows=shown();const pages=Math.max(1,Math.ceil(rows.length/PAGE));
 state.page=Math.min(Math.max(0,state.page),pages-1);
 const part=rows.slice(state.page*PAGE,(state.page+1)*PAGE);
 document.querySelector('#photos tbody').innerHTML=part.map(r=>'<tr data-name="'+esc(r.name)+'"'+
  (r.outliers.length?' class=outlier':'')+'>'+COLS.map(c=>cell(c,r)).join('')+'</tr>').join('');
 document.querySelectorAll('#photos th').forEach(th=>{th.dataset.order=th.dataset.key===state.sort?(state.asc?'asc':'desc'):'';});
 document.getElementById('count').textContent=rows.length+' of '+ROWS.length+' photos';
 const pager=document.getElementById('pager');pager.innerHTML='';
 if(pages>1){for(const [label,to] of [['\\u2039 prev',state.page-1],['next \\u203a',state.page+1]]){
  const b=document.createElement('button');b.textContent=label;b.disabled=to<0||to>=pages;
  b.onclick=()=>{state.page=to;writeHash();render();};pager.appendChild(b);}
  pager.appendChild(document.createTextNode(' page '+(state.page+1)+' of '+pages));}
 checkImages();}
function checkImages(){const imgs=[...document.querySelectorAll('#photos img')];
 Promise.all(imgs.map(i=>i.decode().then(()=>true,()=>false))).then(ok=>{const d=document.body.dataset;
  d.thumbsTotal=ok.length;d.thumbsBroken=ok.filter(x=>!x).length;d.ready='1';});}
const head=document.querySelector('#photos thead tr');
head.innerHTML=COLS.map(c=>'<th data-key="'+c.key+'"'+(c.numeric?'':' class=text')+'>'+esc(c.title)+'</th>').join('');
head.querySelectorAll('th').forEach(th=>th.onclick=()=>{const k=th.dataset.key;
 state.asc=state.sort===k?!state.asc:true;state.sort=k;state.page=0;writeHash();render();});
const filter=document.getElementById('filter'),only=document.getElementById('outliers-only');
readHash();filter.value=state.filter;only.checked=state.outliers;
filter.oninput=()=>{state.filter=filter.value;state.page=0;writeHash();render();};
only.onchange=()=>{state.outliers=only.checked;state.page=0;writeHash();render();};
window.addEventListener('hashchange',()=>{readHash();render();});
render();
})();
""" % {"page": PAGE_ROWS}


def page_html(title: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
            f"<meta name=viewport content='width=device-width,initial-scale=1'>"
            f"<title>{html.escape(str(title))}</title><style>{STYLE}</style><script>{GUARD}</script>"
            f"</head><body>\n{body}\n<script>{SCRIPT}</script></body></html>\n")
