/// The one style sheet and the one script, served from the app itself (nothing from the internet). The CSS is
/// mobile first (a 360-px phone), and widens into columns on a wall screen.
enum Assets {
    static let css = """
    *{box-sizing:border-box}
    html{font-size:16px}
    body{margin:0;font-family:"WenQuanYi Micro Hei","Noto Sans CJK SC","PingFang SC","Microsoft YaHei",system-ui,sans-serif;background:#f3f5f8;color:#1c2430;line-height:1.45}
    header{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1rem;padding:.6rem 1rem;background:#123a63;color:#fff}
    header h1{font-size:1.1rem;margin:0;flex:1 1 auto}
    header a,header button{color:#fff;background:none;border:1px solid #ffffff66;border-radius:4px;padding:.2rem .6rem;font:inherit;text-decoration:none;cursor:pointer}
    header form{margin:0}
    main{padding:.8rem;max-width:1880px;margin:0 auto}
    h2{font-size:1.05rem;margin:1rem 0 .5rem}
    a{color:#0b5cad}
    .card{background:#fff;border-radius:8px;padding:.8rem;margin:0 0 .8rem;box-shadow:0 1px 2px #0002;border-left:5px solid #999}
    .card.critical{border-left-color:#c62828}.card.major{border-left-color:#ef6c00}.card.minor{border-left-color:#2e7d32}
    .card h3{margin:0 0 .3rem;font-size:1rem}
    .meta{color:#4a5566;font-size:.9rem}
    .sev{display:inline-block;border-radius:3px;padding:0 .35rem;color:#fff;font-size:.8rem;margin-right:.3rem}
    .sev.critical{background:#c62828}.sev.major{background:#ef6c00}.sev.minor{background:#2e7d32}
    .flag{display:inline-block;border-radius:3px;padding:0 .35rem;font-size:.8rem;margin-left:.3rem;background:#6a1b9a;color:#fff}
    .flag.overdue{background:#b71c1c}
    .due{font-variant-numeric:tabular-nums;font-weight:bold}
    .due.late{color:#b71c1c}
    form.act{margin:.5rem 0 0}
    button,input,select,textarea{font:inherit}
    button.primary{background:#0b5cad;color:#fff;border:0;border-radius:6px;padding:.7rem 1rem;min-height:44px;width:100%;cursor:pointer}
    button.small{background:#0b5cad;color:#fff;border:0;border-radius:4px;padding:.25rem .6rem;cursor:pointer}
    textarea,input[type=text],input[type=password],select{width:100%;padding:.5rem;border:1px solid #b8c0cc;border-radius:6px;background:#fff}
    textarea{min-height:4rem}
    label{display:block;margin:.5rem 0 .2rem;font-size:.9rem}
    .error{background:#fdecea;color:#8a1c1c;border-radius:6px;padding:.6rem;margin:.5rem 0}
    .login{max-width:360px;margin:2rem auto;background:#fff;padding:1rem;border-radius:8px;box-shadow:0 1px 3px #0003}
    table{border-collapse:collapse;width:100%;background:#fff;font-size:.9rem}
    th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #e3e7ee;vertical-align:top}
    th{background:#e8edf4;font-weight:600}
    td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
    table.incidents th,table.incidents td{white-space:nowrap}
    .scroll{overflow-x:auto}
    .tiles{display:grid;grid-template-columns:repeat(3,1fr);gap:.6rem}
    .tile{background:#fff;border-radius:8px;padding:.6rem;text-align:center;box-shadow:0 1px 2px #0002}
    .tile b{display:block;font-size:1.8rem}
    .tile.esc b{color:#6a1b9a}.tile.late b{color:#b71c1c}
    .filters{display:grid;grid-template-columns:1fr 1fr;gap:.4rem;align-items:end}
    .inline{display:flex;gap:.3rem}.inline input{flex:1}
    dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem .8rem;background:#fff;padding:.8rem;border-radius:8px;margin:0}
    dt{color:#4a5566}dd{margin:0}
    .chart>svg{width:100%;height:120px;background:#fff;border-radius:8px;display:block}
    .legend{display:flex;flex-wrap:wrap;gap:.3rem 1rem;font-size:.85rem;margin:.3rem 0}
    .live-dot{display:inline-block;width:.6rem;height:.6rem;border-radius:50%;background:#9e9e9e;margin-right:.3rem}
    .live-dot.on{background:#43a047}
    #notices{position:fixed;right:.5rem;bottom:.5rem;left:.5rem;z-index:10;display:flex;flex-direction:column;gap:.4rem;pointer-events:none}
    .notice{position:relative;background:#fffbe6;border:1px solid #e0b000;border-left:5px solid #e0b000;border-radius:8px;padding:.6rem 2.2rem .6rem .8rem;box-shadow:0 2px 6px #0003;pointer-events:auto;overflow-wrap:anywhere}
    .notice[data-action=escalated]{border-color:#6a1b9a;background:#f6ecfa}
    .notice a{font-weight:bold}
    .notice button{position:absolute;top:.3rem;right:.3rem;background:none;border:0;font-size:1.2rem;cursor:pointer;min-width:32px;min-height:32px}
    table.events code{white-space:pre-wrap;overflow-wrap:anywhere}
    @media (min-width:1000px){
      html{font-size:18px}
      #notices{left:auto;width:420px}
      .board{display:grid;grid-template-columns:1fr 1fr 1fr;gap:1rem}
      .wide{display:grid;grid-template-columns:2fr 1fr;gap:1rem}
      .filters{grid-template-columns:repeat(5,1fr)}
      .cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:.8rem}
    }
    """

    /// Deadlines count down every second; a change in the store (Server-Sent Events from /api/changes) re-reads
    /// the page and swaps its live part, unless the person is typing in it. A `notice` event (an incident
    /// dispatched, escalated or reopened to this person) pops up in a corner, its text set as text (never as HTML).
    static let js = """
    (function(){
      function fmt(ms){var s=Math.floor(Math.abs(ms)/1000),d=Math.floor(s/86400),h=Math.floor(s%86400/3600),m=Math.floor(s%3600/60),x=s%60;
        return (d?d+'d ':'')+(d||h?h+':':'')+String(m).padStart(2,'0')+':'+String(x).padStart(2,'0');}
      function tick(){var now=Date.now();document.querySelectorAll('[data-due]').forEach(function(e){
        var left=Number(e.getAttribute('data-due'))-now;
        e.textContent=left<0?(e.getAttribute('data-late')||'-')+' '+fmt(left):fmt(left);e.classList.toggle('late',left<0);});}
      tick();setInterval(tick,1000);
      var live=document.getElementById('live');if(!live||!window.EventSource)return;
      var dot=document.querySelector('.live-dot'),pending=false;
      function busy(){var a=document.activeElement;if(a&&live.contains(a)&&(a.tagName==='TEXTAREA'||a.tagName==='INPUT'))return true;
        return Array.prototype.some.call(live.querySelectorAll('textarea,input[type=text]'),function(e){return e.value!=='';});}
      function refresh(){if(busy()){pending=true;return;}pending=false;
        fetch(location.href,{credentials:'same-origin'}).then(function(r){return r.text();}).then(function(t){
          var doc=new DOMParser().parseFromString(t,'text/html'),next=doc.getElementById('live');
          if(next){live.innerHTML=next.innerHTML;tick();}});}
      document.addEventListener('focusout',function(){setTimeout(function(){if(pending)refresh();},300);});
      var es=new EventSource('/api/changes');
      es.onopen=function(){if(dot)dot.classList.add('on');};
      es.onerror=function(){if(dot)dot.classList.remove('on');};
      es.addEventListener('change',refresh);
      var box=null;
      es.addEventListener('notice',function(ev){var n;try{n=JSON.parse(ev.data);}catch(e){return;}
        if(!box){box=document.createElement('div');box.id='notices';box.setAttribute('role','status');box.setAttribute('aria-live','polite');document.body.appendChild(box);}
        var d=document.createElement('div');d.className='notice';d.setAttribute('data-action',String(n.action));
        var a=document.createElement('a');a.href='/incidents/'+Number(n.incident);a.textContent=String(n.title);
        var w=document.createElement('div');w.className='meta';w.textContent=String(n.what)+(n.note?' · '+String(n.note):'');
        var x=document.createElement('button');x.type='button';x.textContent='\\u00d7';
        x.setAttribute('aria-label',document.documentElement.lang==='en'?'Dismiss':'\\u5173\\u95ed');
        x.addEventListener('click',function(){d.remove();});
        d.appendChild(a);d.appendChild(w);d.appendChild(x);box.appendChild(d);
        while(box.children.length>5)box.removeChild(box.firstChild);});
    })();
    """
}
