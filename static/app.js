// codverify's embedded admin pages. Plain JS, no framework, nothing from a CDN.
// - Links to other pages keep shop, host, embedded and id_token from the current URL.
// - A settings form ([data-section]) is saved with PUT /app/api/settings, authenticated by the
//   App Bridge session token (shopify.idToken()) or, outside the admin, the page URL's id_token.
//   A 422 puts each message under its field ([data-error-for="section.field"]) and keeps what was
//   typed; a 200 shows "Saved" and the values as stored.
// - Inside Shopify admin: the forms carry data-save-bar (App Bridge's save bar: its Save submits
//   the form, its Discard resets it to the values last saved), a save also shows a toast, and the
//   page's own side navigation is hidden (the admin shows the ui-nav-menu). Without App Bridge
//   (outside the admin, or its script not loaded) the inline status and side navigation remain.
// - Copy buttons ([data-copy]), the fallback mode switch, the Exotel key rotation, and the
//   verification plan's step list ([data-plan]).
(function () {
  'use strict';

  var params = new URLSearchParams(window.location.search);

  function carryQuery() {
    var keep = ['shop', 'host', 'embedded', 'id_token'];
    document.querySelectorAll('a[href^="/app"]').forEach(function (a) {
      var url = new URL(a.getAttribute('href'), window.location.origin);
      keep.forEach(function (k) { if (params.has(k)) url.searchParams.set(k, params.get(k)); });
      a.setAttribute('href', url.pathname + url.search + url.hash);
    });
  }

  function sessionToken() {
    var fromUrl = params.get('id_token') || '';
    var bridge = window.shopify;
    if (!bridge || typeof bridge.idToken !== 'function') return Promise.resolve(fromUrl);
    var timeout = new Promise(function (resolve) { setTimeout(function () { resolve(''); }, 5000); });
    return Promise.race([Promise.resolve().then(function () { return bridge.idToken(); }), timeout])
      .then(function (t) { return t || fromUrl; }, function () { return fromUrl; });
  }

  function api(method, path, body) {
    return sessionToken().then(function (token) {
      return fetch(path, {
        method: method,
        headers: { 'Authorization': 'Bearer ' + token, 'Content-Type': 'application/json', 'Accept': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    }).then(function (r) {
      return r.text().then(function (text) {
        var data = null;
        try { data = JSON.parse(text); } catch (e) { data = null; }
        return { status: r.status, data: data };
      });
    });
  }

  function bridge() {
    return window.shopify && typeof window.shopify === 'object' ? window.shopify : null;
  }

  function embedded() {
    var framed;
    try { framed = window.top !== window.self; } catch (e) { framed = true; }
    return framed || !!bridge();
  }

  function toast(message, isError) {
    var b = bridge();
    if (!b || !b.toast || typeof b.toast.show !== 'function') return;
    try { b.toast.show(message, isError ? { isError: true } : undefined); } catch (e) { /* the inline status says it too */ }
  }

  function fieldName(el, section) {
    return el.name && el.name.indexOf(section + '.') === 0 ? el.name.slice(section.length + 1) : null;
  }

  function collect(form) {
    var section = form.dataset.section;
    var out = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      var field = fieldName(el, section);
      if (!field) return;
      if (el.type === 'radio') { if (el.checked) out[field] = el.value; return; }
      if (el.type === 'checkbox') { out[field] = el.checked; return; }
      if (el.hasAttribute('data-secret')) { if (el.value.trim()) out[field] = el.value.trim(); return; }
      var type = el.dataset.type;
      if (type === 'int') {
        var v = el.value.trim();
        // Anything but a whole number goes as typed, for the server to name the problem.
        out[field] = /^-?\d+$/.test(v) ? parseInt(v, 10) : v;
      } else if (type === 'amount') {
        var a = el.value.trim();
        // Blank is no limit; anything but a plain amount goes as typed, for the server to name.
        out[field] = a === '' ? null : /^\d+(\.\d+)?$/.test(a) ? Number(a) : a;
      } else if (type === 'list') {
        out[field] = el.value.split('\n').map(function (s) { return s.trim(); }).filter(Boolean);
      } else {
        out[field] = el.value;
      }
    });
    var doc = {};
    doc[section] = out;
    return doc;
  }

  function fill(form, values) {
    var section = form.dataset.section;
    if (!values) return;
    Array.prototype.forEach.call(form.elements, function (el) {
      var field = fieldName(el, section);
      if (!field || !(field in values)) return;
      var v = values[field];
      if (el.type === 'radio') el.checked = el.value === v;
      else if (el.type === 'checkbox') el.checked = !!v;
      else if (el.hasAttribute('data-secret')) {
        el.value = '';
        el.placeholder = v || '';
        var help = form.querySelector('[data-secret-help]');
        if (help) help.textContent = v ? 'Saved token ends in ' + String(v).replace(/^\*+/, '') + '. Leave blank to keep it.' : 'No token saved yet.';
      } else if (Array.isArray(v)) el.value = v.join('\n');
      else if (el.dataset.type === 'amount' && typeof v === 'number') el.value = v.toFixed(2);
      else el.value = v === null || v === undefined ? '' : String(v);
      remember(el);
    });
  }

  // The values shown become the form's defaults: a reset (the save bar's Discard) returns to them.
  function remember(el) {
    if (el.type === 'radio' || el.type === 'checkbox') el.defaultChecked = el.checked;
    else if (el.tagName === 'SELECT') Array.prototype.forEach.call(el.options, function (o) { o.defaultSelected = o.selected; });
    else if ('defaultValue' in el) el.defaultValue = el.value;
  }

  function capitalized(s) { return s ? s.charAt(0).toUpperCase() + s.slice(1) : s; }

  function clearErrors(form) {
    form.querySelectorAll('[data-error-for]').forEach(function (p) { p.textContent = ''; });
    form.querySelectorAll('[aria-invalid]').forEach(function (el) { el.removeAttribute('aria-invalid'); });
    var banner = form.querySelector('.form-errors');
    if (banner) { banner.hidden = true; banner.textContent = ''; }
  }

  function showErrors(form, errors) {
    var first = null;
    var orphans = [];
    Object.keys(errors).forEach(function (key) {
      var msg = capitalized(String(errors[key]));
      var slot = form.querySelector('[data-error-for="' + CSS.escape(key) + '"]');
      var controls = form.querySelectorAll('[name="' + CSS.escape(key) + '"]');
      if (slot) slot.textContent = msg; else orphans.push(key + ': ' + errors[key]);
      controls.forEach(function (c) {
        c.setAttribute('aria-invalid', 'true');
        if (!first && !c.closest('[hidden]')) first = c;
      });
    });
    var banner = form.querySelector('.form-errors');
    if (banner && orphans.length) {
      banner.textContent = orphans.join('; ');
      banner.hidden = false;
    }
    if (first) first.focus(); else if (banner && orphans.length) banner.focus();
  }

  function setStatus(form, text, kind) {
    var status = form.querySelector('.save-status');
    if (!status) return;
    status.textContent = text;
    status.className = 'save-status' + (kind ? ' ' + kind : '');
  }

  function updateExotelStatus(doc) {
    var badge = document.querySelector('[data-status="exotel"]');
    if (!badge || !doc || !doc.status) return;
    var s = doc.status.exotel || '';
    badge.textContent = s && s !== 'unchecked' ? s : 'not checked';
    badge.className = 'exotel-status badge ' + (s === 'connected' ? 'badge-success' : s.indexOf('failed') === 0 ? 'badge-critical' : 'badge-info');
  }

  function setupForm(form) {
    var button = form.querySelector('button[type="submit"]');
    form.addEventListener('input', function (e) {
      var el = e.target;
      if (!el.name) return;
      if (el.getAttribute('aria-invalid') === 'true') {
        form.querySelectorAll('[name="' + CSS.escape(el.name) + '"]').forEach(function (c) { c.removeAttribute('aria-invalid'); });
        var slot = form.querySelector('[data-error-for="' + CSS.escape(el.name) + '"]');
        if (slot) slot.textContent = '';
      }
      setStatus(form, '', '');
    });
    form.addEventListener('reset', function () {
      clearErrors(form);
      setStatus(form, '', '');
    });
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      if (form.getAttribute('aria-busy') === 'true') return;
      var section = form.dataset.section;
      var doc = collect(form);
      clearErrors(form);
      setStatus(form, 'Saving…', '');
      form.setAttribute('aria-busy', 'true');
      if (button) button.disabled = true;
      api('PUT', '/app/api/settings', doc).then(function (r) {
        if (r.status === 200) {
          fill(form, r.data && r.data[section]);
          form.dispatchEvent(new CustomEvent('settings-filled'));
          updateExotelStatus(r.data);
          var note = 'Saved';
          if (section === 'general' && r.data && r.data.status && r.data.status.exotel && r.data.status.exotel !== 'connected') {
            note = 'Saved. Exotel: ' + r.data.status.exotel;
          }
          setStatus(form, note, 'ok');
          toast(note);
        } else if (r.status === 422 && r.data && r.data.errors) {
          var n = Object.keys(r.data.errors).length;
          setStatus(form, 'Not saved: fix the ' + (n === 1 ? 'field' : n + ' fields') + ' marked below.', 'error');
          showErrors(form, r.data.errors);
          toast('Not saved', true);
        } else if (r.status === 401) {
          setStatus(form, 'Not saved: your session expired. Reload the page and try again.', 'error');
          toast('Not saved', true);
        } else {
          var msg = r.data && (r.data.error || r.data.message);
          setStatus(form, 'Not saved: ' + (msg || 'the server answered ' + r.status) + '.', 'error');
          toast('Not saved', true);
        }
      }, function () {
        setStatus(form, 'Not saved: no connection to codverify. Try again.', 'error');
        toast('Not saved', true);
      }).then(function () {
        form.removeAttribute('aria-busy');
        if (button) button.disabled = false;
      });
    });
  }

  function setupModeSwitch() {
    var radios = document.querySelectorAll('input[name="fallback.mode"]');
    if (!radios.length) return;
    function apply() {
      var checked = document.querySelector('input[name="fallback.mode"]:checked');
      var mode = checked ? checked.value : 'none';
      document.querySelectorAll('[data-mode]').forEach(function (el) {
        el.hidden = el.dataset.mode.split(' ').indexOf(mode) < 0;
      });
    }
    radios.forEach(function (r) { r.addEventListener('change', apply); });
    // A reset (Discard) changes the checked mode without a change event; the values land after it.
    var form = radios[0].form;
    if (form) form.addEventListener('reset', function () { setTimeout(apply, 0); });
    apply();
  }

  // The plan's steps: the hidden textarea plan.steps (one step a line) is what the form saves and
  // what a reset (Discard) restores; the two lists show it, and their buttons reorder, remove and
  // add steps (no repeats, at least one). A change is announced as input, for the save bar.
  function setupPlan() {
    var form = document.querySelector('form[data-plan]');
    if (!form) return;
    var field = form.querySelector('textarea[name="plan.steps"]');
    var list = form.querySelector('[data-plan-steps]');
    var unused = form.querySelector('[data-plan-unused]');
    var none = form.querySelector('[data-plan-none]');
    if (!field || !list || !unused) return;
    var order = [];
    var items = {};
    form.querySelectorAll('[data-step]').forEach(function (li) { order.push(li.dataset.step); items[li.dataset.step] = li; });

    function current() {
      var seen = [];
      field.value.split('\n').forEach(function (s) {
        s = s.trim();
        if (items[s] && seen.indexOf(s) < 0) seen.push(s);
      });
      return seen;
    }

    function button(li, sel) { return li.querySelector(sel); }

    function render() {
      var steps = current();
      steps.forEach(function (k) { list.appendChild(items[k]); });
      order.forEach(function (k) { if (steps.indexOf(k) < 0) unused.appendChild(items[k]); });
      order.forEach(function (k) {
        var li = items[k];
        var i = steps.indexOf(k);
        var inPlan = i >= 0;
        var up = button(li, '[data-plan-move="up"]');
        var down = button(li, '[data-plan-move="down"]');
        var remove = button(li, '[data-plan-remove]');
        up.hidden = down.hidden = remove.hidden = !inPlan;
        button(li, '[data-plan-add]').hidden = inPlan;
        up.disabled = i === 0;
        down.disabled = i === steps.length - 1;
        remove.disabled = inPlan && steps.length === 1;
      });
      if (none) none.hidden = steps.length < order.length;
    }

    function change(steps, li, prefer) {
      field.value = steps.join('\n');
      render();
      field.dispatchEvent(new Event('input', { bubbles: true }));
      field.dispatchEvent(new Event('change', { bubbles: true }));
      // Keep the focus on the step that moved, on a button that is still usable.
      var targets = prefer.map(function (sel) { return button(li, sel); }).filter(function (b) { return b && !b.hidden && !b.disabled; });
      if (targets.length) targets[0].focus();
    }

    form.addEventListener('click', function (e) {
      var b = e.target.closest('button');
      var li = b && b.closest('[data-step]');
      if (!li || !form.contains(li)) return;
      var k = li.dataset.step;
      var steps = current();
      var i = steps.indexOf(k);
      if (b.dataset.planMove === 'up' && i > 0) {
        steps.splice(i, 1);
        steps.splice(i - 1, 0, k);
        change(steps, li, ['[data-plan-move="up"]', '[data-plan-move="down"]']);
      } else if (b.dataset.planMove === 'down' && i >= 0 && i < steps.length - 1) {
        steps.splice(i, 1);
        steps.splice(i + 1, 0, k);
        change(steps, li, ['[data-plan-move="down"]', '[data-plan-move="up"]']);
      } else if (b.hasAttribute('data-plan-remove') && i >= 0 && steps.length > 1) {
        steps.splice(i, 1);
        change(steps, li, ['[data-plan-add]']);
      } else if (b.hasAttribute('data-plan-add') && i < 0) {
        steps.push(k);
        change(steps, li, ['[data-plan-remove]', '[data-plan-move="up"]']);
      }
    });
    // A reset (Discard) restores the textarea after the event; a save fills in the stored steps.
    form.addEventListener('reset', function () { setTimeout(render, 0); });
    form.addEventListener('settings-filled', render);
    render();
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return legacyCopy(text); });
    }
    return legacyCopy(text);
  }

  function legacyCopy(text) {
    var area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.style.position = 'fixed';
    area.style.opacity = '0';
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error('copy refused'));
  }

  function setupCopy() {
    document.querySelectorAll('[data-copy]').forEach(function (button) {
      var label = button.textContent;
      button.addEventListener('click', function () {
        var source = document.getElementById(button.dataset.copy);
        if (!source) return;
        copyText(source.textContent.trim()).then(function () {
          button.textContent = 'Copied';
        }, function () {
          // Select it so that the merchant can copy it by hand.
          var range = document.createRange();
          range.selectNodeContents(source);
          var sel = window.getSelection();
          sel.removeAllRanges();
          sel.addRange(range);
          button.textContent = 'Press Ctrl+C';
        }).then(function () {
          setTimeout(function () { button.textContent = label; }, 2000);
        });
      });
    });
  }

  function setupRotate() {
    var button = document.querySelector('[data-rotate-key]');
    if (!button) return;
    var card = button.closest('[data-callback-urls]');
    var status = card && card.querySelector('.rotate-status');
    button.addEventListener('click', function () {
      if (!window.confirm('Rotate the secret key? The current URLs stop working at once; paste the new ones into your Exotel flows.')) return;
      button.disabled = true;
      api('POST', '/app/api/settings/rotate-exotel-key').then(function (r) {
        if (r.status === 200 && r.data && r.data.callback_urls) {
          Object.keys(r.data.callback_urls).forEach(function (k) {
            var code = document.querySelector('[data-url-key="' + CSS.escape(k) + '"]');
            if (code) code.textContent = r.data.callback_urls[k];
          });
          if (status) { status.textContent = 'New URLs below: paste them into your Exotel flows now.'; status.className = 'save-status rotate-status ok'; }
        } else if (status) {
          status.textContent = 'The key was not rotated (HTTP ' + r.status + ').';
          status.className = 'save-status rotate-status error';
        }
      }, function () {
        if (status) { status.textContent = 'The key was not rotated: no connection.'; status.className = 'save-status rotate-status error'; }
      }).then(function () { button.disabled = false; });
    });
  }

  function init() {
    if (embedded()) document.documentElement.classList.add('embedded');
    carryQuery();
    document.querySelectorAll('form[data-section]').forEach(setupForm);
    setupModeSwitch();
    setupPlan();
    setupCopy();
    setupRotate();
    document.documentElement.setAttribute('data-ready', '1');
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
