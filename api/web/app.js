/*
 * The signers' web page: log in, activate the account (signing PIN, TOTP authenticator), list
 * the signing credentials, and sign documents.  It is a client of the same API as any other,
 * on the same origin:
 *   auth/login (HTTP Basic) -> access token, kept in the variable `token` only: never in
 *     localStorage, sessionStorage or a cookie, so it is gone when the page is;
 *   /account/v1/info, /account/v1/activate;
 *   credentials/list, credentials/authorize, signatures/signDoc (CSC v2), auth/revoke.
 * Documents never leave the browser: their SHA-256 digests are computed here with WebCrypto and
 * only the digests are sent; the PIN and the one-time code are asked once for the whole batch.
 *
 * The page runs under a strict Content-Security-Policy with Trusted Types: no markup is ever
 * built from strings (textContent and DOM calls only), and every request omits credentials
 * (no cookies, and no browser login prompt on a 401).
 */
(() => {
  'use strict';

  const SHA256_OID = '2.16.840.1.101.3.4.2.1';
  /* ecdsa-with-SHA256, sha256WithRSAEncryption: the signature algorithms over a SHA-256 digest */
  const SHA256_SIGN_ALGOS = ['1.2.840.10045.4.3.2', '1.2.840.113549.1.1.11'];
  const SVG_NS = 'http://www.w3.org/2000/svg';

  let token = null; /* the access token: in memory only */
  let credentials = []; /* {id, subject, validFrom, validTo, certStatus, keyStatus, signAlgo, multisign} */
  let downloadUrls = []; /* object URLs of the signature files, revoked when replaced */

  const $ = (id) => document.getElementById(id);

  /* ---- Messages ---------------------------------------------------------------------------- */

  function setError(text) {
    $('error').textContent = text || '';
  }

  function setStatus(text) {
    $('status').textContent = text || '';
  }

  function clearMessages() {
    setError('');
    setStatus('');
  }

  /* ---- Views ------------------------------------------------------------------------------- */

  const VIEWS = ['view-login', 'view-activate', 'view-enrol', 'view-credentials'];

  function show(view) {
    for (const v of VIEWS) {
      $(v).hidden = v !== view;
    }
    $('session').hidden = token === null;
    const heading = $(view).querySelector('h1');
    if (heading) {
      heading.focus();
    }
  }

  function busy(form, on) {
    for (const el of form.querySelectorAll('button, input, fieldset')) {
      el.disabled = on;
    }
    form.setAttribute('aria-busy', on ? 'true' : 'false');
  }

  /* ---- The API ----------------------------------------------------------------------------- */

  class ApiError extends Error {
    constructor(status, code, description, retryAfter) {
      super(description || code || 'HTTP ' + status);
      this.status = status;
      this.code = code || '';
      this.description = description || '';
      this.retryAfter = retryAfter || '';
    }
  }

  /* POSTs `body` as JSON to `path`; the answer's JSON, or an ApiError. */
  async function call(path, body, authorization) {
    const headers = { 'Content-Type': 'application/json' };
    if (authorization) {
      headers.Authorization = authorization;
    } else if (token !== null) {
      headers.Authorization = 'Bearer ' + token;
    }
    let resp;
    try {
      resp = await fetch(path, {
        method: 'POST',
        headers,
        body: JSON.stringify(body || {}),
        credentials: 'omit',
        cache: 'no-store',
        redirect: 'error',
        referrerPolicy: 'no-referrer',
      });
    } catch (e) {
      throw new ApiError(0, 'network', '');
    }
    let data = null;
    try {
      const text = await resp.text(); // read whole, also when empty (204), to end the request
      data = text ? JSON.parse(text) : null;
    } catch (e) {
      data = null;
    }
    if (!resp.ok) {
      throw new ApiError(resp.status, data && data.error, data && data.error_description,
        resp.headers.get('Retry-After'));
    }
    return data;
  }

  /* What a failed request means for the signer, in `context` (login, activate, sign, load). */
  function explain(e, context) {
    if (!(e instanceof ApiError)) {
      return 'Something went wrong in this page: ' + (e && e.message ? e.message : e);
    }
    const d = e.description;
    if (e.status === 0) {
      return 'The service cannot be reached. Check your connection and try again.';
    }
    if (e.status === 401) {
      return context === 'login' ? 'Wrong username or password.'
        : 'Your session has expired. Log in again.';
    }
    if (e.status === 429) {
      const s = parseInt(e.retryAfter, 10);
      return 'Too many attempts. Wait ' + (s > 0 ? s + ' seconds' : 'a minute') +
        ' and try again.';
    }
    if (e.status >= 500) {
      return 'The service is unavailable at the moment. Try again later.';
    }
    if (e.code === 'invalid_authentication_data' || e.code === 'invalid_pin' ||
        e.code === 'invalid_otp') {
      if (d === 'Invalid PIN') {
        return 'The signing PIN is wrong. Nothing was signed.';
      }
      if (d === 'Invalid OTP') {
        return 'The one-time code is wrong or was already used. Wait for the next code of ' +
          'your authenticator app and try again. Nothing was signed.';
      }
      return 'The signing PIN or the one-time code is wrong. Nothing was signed.';
    }
    if (d === 'Credential locked') {
      return 'This credential is locked after too many wrong attempts. Your registration ' +
        'officer can unlock it after checking your identity.';
    }
    if (/certificate is revoked/i.test(d)) {
      return 'The certificate of this credential is revoked: it can no longer sign.';
    }
    if (/certificate is expired/i.test(d)) {
      return 'The certificate of this credential has expired: it can no longer sign.';
    }
    if (d === 'Credential disabled') {
      return 'This credential is disabled (or its certificate revoked): it cannot sign.';
    }
    if (d === 'SAD expired') {
      return 'The authorization expired before the documents were signed. Sign again.';
    }
    if (d === 'Numbers of signatures is too high') {
      return 'Too many documents at once for this credential.';
    }
    if (d === 'Invalid activation code') {
      return 'The activation code is wrong, used or expired. Check it, or ask your ' +
        'registration officer for a new one.';
    }
    if (d === 'The account is activated already') {
      return 'This account is activated already.';
    }
    if (context === 'activate' && /PIN/.test(d)) {
      return 'This PIN cannot be used: ' + d.replace(/^Invalid parameter PIN: /, '') + '.';
    }
    if (e.status === 403) {
      return 'The service refused the request (' + (d || 'access denied') + ').';
    }
    return 'The service refused the request' + (d ? ': ' + d : ' (HTTP ' + e.status + ')') + '.';
  }

  /* Shows what went wrong; an expired session goes back to the login screen. */
  function fail(e, context) {
    const text = explain(e, context);
    if (e instanceof ApiError && e.status === 401 && context !== 'login') {
      endSession();
      showLogin();
    }
    setStatus('');
    setError(text);
  }

  /* ---- Encoding ---------------------------------------------------------------------------- */

  function bytesToBase64(bytes) {
    let s = '';
    for (let i = 0; i < bytes.length; i += 0x8000) {
      s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(s);
  }

  function base64ToBytes(b64) {
    const s = atob(b64);
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) {
      out[i] = s.charCodeAt(i);
    }
    return out;
  }

  function basicAuth(username, password) {
    return 'Basic ' + bytesToBase64(new TextEncoder().encode(username + ':' + password));
  }

  /* "20260101120000Z" -> "2026-01-01 12:00 UTC" */
  function cscTime(t) {
    const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})\d{2}Z$/.exec(t || '');
    return m ? `${m[1]}-${m[2]}-${m[3]} ${m[4]}:${m[5]} UTC` : (t || '—');
  }

  /* ---- Session ----------------------------------------------------------------------------- */

  function endSession() {
    token = null;
    credentials = [];
    for (const u of downloadUrls) {
      URL.revokeObjectURL(u);
    }
    downloadUrls = [];
    $('downloads').replaceChildren();
    $('results').hidden = true;
    $('credentials-body').replaceChildren();
    $('who').textContent = '';
    $('session').hidden = true;
  }

  function showLogin() {
    $('login-password').value = '';
    show('view-login');
    $('login-username').focus();
  }

  async function onLogin(ev) {
    ev.preventDefault();
    const form = ev.target;
    const username = $('login-username').value.trim();
    const password = $('login-password').value;
    clearMessages();
    if (!username || !password) {
      setError('Enter your username and password.');
      return;
    }
    busy(form, true);
    setStatus('Logging in…');
    try {
      const answer = await call('/csc/v2/auth/login', {}, basicAuth(username, password));
      token = answer.access_token;
      $('login-password').value = '';
      await enter();
    } catch (e) {
      endSession();
      fail(e, 'login');
    } finally {
      busy(form, false);
    }
  }

  /* After login: activation if the account has no factors yet, else the credentials. */
  async function enter() {
    const account = await call('/account/v1/info');
    $('who').textContent = account.username;
    setStatus('');
    if (!account.activated) {
      show('view-activate');
      return;
    }
    await showCredentials();
  }

  async function onLogout() {
    clearMessages();
    if (token !== null) {
      try {
        await call('/csc/v2/auth/revoke', { token, token_type_hint: 'access_token' });
      } catch (e) {
        /* the token is dropped here whatever the server says */
      }
    }
    endSession();
    showLogin();
    setStatus('You are logged out.');
  }

  /* ---- Activation -------------------------------------------------------------------------- */

  function showQr(svgText) {
    const box = $('qr');
    box.replaceChildren();
    if (typeof svgText !== 'string') {
      box.hidden = true;
      return;
    }
    /* The server's drawing is rebuilt element by element: a square and a path, nothing else. */
    const vb = /viewBox="0 0 (\d{1,3}) (\d{1,3})"/.exec(svgText);
    const paths = [...svgText.matchAll(/<path fill="(#fff|#000)" d="([MHVhvz0-9 -]+)"\/>/g)];
    if (!vb || vb[1] !== vb[2] || paths.length !== 2) {
      box.hidden = true;
      return;
    }
    const svg = document.createElementNS(SVG_NS, 'svg');
    svg.setAttribute('viewBox', `0 0 ${vb[1]} ${vb[2]}`);
    svg.setAttribute('shape-rendering', 'crispEdges');
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', 'QR code of the authenticator account');
    for (const m of paths) {
      const p = document.createElementNS(SVG_NS, 'path');
      p.setAttribute('fill', m[1]);
      p.setAttribute('d', m[2]);
      svg.appendChild(p);
    }
    box.appendChild(svg);
    box.hidden = false;
  }

  async function onActivate(ev) {
    ev.preventDefault();
    const form = ev.target;
    const code = $('activation-code').value.trim().toUpperCase();
    const pin = $('new-pin').value;
    const again = $('new-pin-again').value;
    clearMessages();
    if (!code) {
      setError('Enter the activation code.');
      $('activation-code').focus();
      return;
    }
    if (!/^[0-9]{6,}$/.test(pin)) {
      setError('The signing PIN must be digits only, at least 6.');
      $('new-pin').focus();
      return;
    }
    if (pin !== again) {
      setError('The two PINs differ. Type the same PIN twice.');
      $('new-pin-again').value = '';
      $('new-pin-again').focus();
      return;
    }
    busy(form, true);
    setStatus('Activating…');
    try {
      const answer = await call('/account/v1/activate', { activationCode: code, PIN: pin });
      $('new-pin').value = '';
      $('new-pin-again').value = '';
      $('activation-code').value = '';
      const m = /[?&]secret=([A-Z2-7]+)/.exec(answer.otpauthURI || '');
      $('totp-secret').textContent = m ? m[1].replace(/(.{4})(?=.)/g, '$1 ') : '';
      showQr(answer.otpauthQR);
      setStatus('Your account is activated.');
      show('view-enrol');
    } catch (e) {
      fail(e, 'activate');
    } finally {
      busy(form, false);
    }
  }

  async function onEnrolDone() {
    $('qr').replaceChildren();
    $('totp-secret').textContent = '';
    clearMessages();
    try {
      await showCredentials();
    } catch (e) {
      fail(e, 'load');
    }
  }

  /* ---- Credentials ------------------------------------------------------------------------- */

  function usable(c) {
    return c.certStatus === 'valid' && c.keyStatus === 'enabled' && c.signAlgo !== null;
  }

  function statusText(c) {
    if (c.certStatus === 'revoked') {
      return 'Certificate revoked';
    }
    if (c.certStatus === 'expired') {
      return 'Certificate expired';
    }
    if (!c.certStatus) {
      return 'No certificate';
    }
    if (c.keyStatus !== 'enabled') {
      return 'Disabled or locked';
    }
    return 'Valid';
  }

  async function showCredentials() {
    const answer = await call('/csc/v2/credentials/list', {
      credentialInfo: true, certificates: 'none', certInfo: true, authInfo: false,
    });
    const infos = Array.isArray(answer.credentialInfos) ? answer.credentialInfos : [];
    credentials = infos.map((info) => {
      const key = info.key || {};
      const cert = info.cert || {};
      const algos = Array.isArray(key.algo) ? key.algo : [];
      return {
        id: info.credentialID,
        subject: cert.subjectDN || '',
        validFrom: cert.validFrom || '',
        validTo: cert.validTo || '',
        certStatus: cert.status || '',
        keyStatus: key.status || '',
        signAlgo: SHA256_SIGN_ALGOS.find((a) => algos.includes(a)) || null,
        multisign: Number.isInteger(info.multisign) ? info.multisign : 1,
      };
    });
    const body = $('credentials-body');
    body.replaceChildren();
    let checked = false;
    credentials.forEach((c, i) => {
      const tr = document.createElement('tr');
      const pick = document.createElement('td');
      const radio = document.createElement('input');
      radio.type = 'radio';
      radio.name = 'credential';
      radio.value = c.id;
      radio.id = 'credential-' + i;
      if (!checked && usable(c)) {
        radio.checked = true;
        checked = true;
      }
      pick.appendChild(radio);
      const subject = document.createElement('td');
      subject.className = 'subject';
      const label = document.createElement('label');
      label.htmlFor = radio.id;
      const cn = /(?:^|,)\s*CN=([^,]+)/.exec(c.subject);
      const name = document.createElement('span');
      name.className = 'cn';
      name.textContent = cn ? cn[1] : (c.subject || c.id);
      const dn = document.createElement('span');
      dn.className = 'dn';
      dn.textContent = c.subject;
      label.append(name, dn);
      subject.appendChild(label);
      const from = document.createElement('td');
      from.textContent = cscTime(c.validFrom);
      const to = document.createElement('td');
      to.textContent = cscTime(c.validTo);
      const state = document.createElement('td');
      state.textContent = statusText(c);
      state.className = usable(c) ? 'state-valid' : 'state-bad';
      tr.append(pick, subject, from, to, state);
      body.appendChild(tr);
    });
    if (!checked && credentials.length > 0) {
      body.querySelector('input').checked = true;
    }
    $('credentials').hidden = credentials.length === 0;
    $('no-credentials').hidden = credentials.length !== 0;
    $('sign-form').hidden = credentials.length === 0;
    show('view-credentials');
  }

  /* ---- Signing ----------------------------------------------------------------------------- */

  function selectedCredential() {
    const radio = document.querySelector('input[name="credential"]:checked');
    return radio ? credentials.find((c) => c.id === radio.value) || null : null;
  }

  async function sha256Base64(file) {
    const digest = await crypto.subtle.digest('SHA-256', await file.arrayBuffer());
    return bytesToBase64(new Uint8Array(digest));
  }

  function offerDownloads(files, digests, unique, signatures) {
    for (const u of downloadUrls) {
      URL.revokeObjectURL(u);
    }
    downloadUrls = [];
    const list = $('downloads');
    list.replaceChildren();
    files.forEach((file, i) => {
      const der = base64ToBytes(signatures[unique.indexOf(digests[i])]);
      const url = URL.createObjectURL(new Blob([der], { type: 'application/pkcs7-signature' }));
      downloadUrls.push(url);
      const li = document.createElement('li');
      const a = document.createElement('a');
      a.href = url;
      a.download = file.name + '.p7s';
      a.textContent = 'Download ' + file.name + '.p7s';
      li.appendChild(a);
      list.appendChild(li);
    });
    $('results').hidden = false;
  }

  async function onSign(ev) {
    ev.preventDefault();
    const form = ev.target;
    const files = [...$('sign-files').files];
    const cred = selectedCredential();
    const pin = $('sign-pin').value;
    const otp = $('sign-otp').value.replace(/\s+/g, '');
    clearMessages();
    if (files.length === 0) {
      setError('Choose one or more documents to sign.');
      $('sign-files').focus();
      return;
    }
    if (cred === null) {
      setError('Choose the credential to sign with.');
      return;
    }
    if (cred.certStatus === 'revoked' || cred.certStatus === 'expired') {
      $('sign-pin').value = '';
      $('sign-otp').value = '';
      setError(explain(new ApiError(400, 'invalid_request', cred.certStatus === 'revoked'
        ? 'Signing certificate is revoked' : 'Signing certificate is expired'), 'sign'));
      return;
    }
    if (cred.signAlgo === null) {
      setError('This credential has no signature algorithm over SHA-256 that this page can use.');
      return;
    }
    if (!pin || !/^[0-9]{6,8}$/.test(otp)) {
      setError('Enter your signing PIN and the current one-time code (6 digits) of your ' +
        'authenticator app.');
      (pin ? $('sign-otp') : $('sign-pin')).focus();
      return;
    }
    /* The factors are read once: the fields are cleared before anything is sent. */
    $('sign-pin').value = '';
    $('sign-otp').value = '';
    busy(form, true);
    $('results').hidden = true;
    try {
      setStatus(`Computing the digests of ${files.length} document(s) in this browser…`);
      const digests = [];
      for (const f of files) {
        digests.push(await sha256Base64(f));
      }
      /* Identical documents have one digest: it is authorized and signed once. */
      const unique = [...new Set(digests)];
      if (unique.length > cred.multisign) {
        throw new ApiError(400, 'invalid_request', 'Numbers of signatures is too high');
      }
      setStatus('Checking your PIN and one-time code…');
      const auth = await call('/csc/v2/credentials/authorize', {
        credentialID: cred.id,
        numSignatures: unique.length,
        hashes: unique,
        hashAlgorithmOID: SHA256_OID,
        authData: [{ id: 'PIN', value: pin }, { id: 'OTP', value: otp }],
        description: (files.length === 1 ? files[0].name : files.length + ' documents')
          .slice(0, 200),
      });
      setStatus('Signing…');
      /* CSC v2: the format, level and algorithm belong to each documentDigests entry */
      const signed = await call('/csc/v2/signatures/signDoc', {
        credentialID: cred.id,
        SAD: auth.SAD,
        documentDigests: [{
          hashes: unique,
          hashAlgorithmOID: SHA256_OID,
          signature_format: 'C',
          conformance_level: 'Ades-B-B',
          signAlgo: cred.signAlgo,
        }],
      });
      const signatures = signed && signed.SignatureObject;
      if (!Array.isArray(signatures) || signatures.length !== unique.length) {
        throw new Error('the service returned ' + (Array.isArray(signatures) ? signatures.length
          : 'no') + ' signatures for ' + unique.length + ' digests');
      }
      offerDownloads(files, digests, unique, signatures);
      $('sign-files').value = '';
      setStatus(`Signed ${files.length} document(s). Download the signature files below.`);
      $('results-title').focus();
    } catch (e) {
      fail(e, 'sign');
      if (token !== null) {
        (pin && /Invalid PIN/.test(e.description || '') ? $('sign-pin') : $('sign-otp')).focus();
      }
    } finally {
      busy(form, false);
    }
  }

  /* ---- Start ------------------------------------------------------------------------------- */

  function start() {
    $('login-form').addEventListener('submit', onLogin);
    $('activate-form').addEventListener('submit', onActivate);
    $('enrol-done').addEventListener('click', onEnrolDone);
    $('sign-form').addEventListener('submit', onSign);
    $('logout').addEventListener('click', onLogout);
    if (!window.isSecureContext || !window.crypto || !crypto.subtle) {
      setError('This page must be opened over HTTPS: it needs the browser\'s cryptography to ' +
        'compute the digests of your documents.');
    }
    showLogin();
  }

  start();
})();
