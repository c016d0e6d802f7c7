// Drives cos-js-sdk-v5 in a real browser page, for the end-to-end tests.
// The page defines window.SPEC = {options: {...COS options}, steps: [...]} and loads the SDK first.
// Steps: {op: "putObject" | "getObject" | "headObject", Key, Body?, ContentType?, options?} or
// {op: "getObjectUrl", Key, Method, Expires, options?, then: {method, body?}} (the URL is then
// fetched with that method), or {op: "uploadFile", Key, BlobSize, options?} (the Body is a Blob of
// BlobSize bytes built in the page, byte i being i % 251). Results go, as JSON, into <pre id="result">.
'use strict';
(function () {
  var out = document.getElementById('result');

  // The X-COS-Diagnosis header as the page can read it (only when the answer exposes it).
  function diagnosis(headers) {
    return (headers && headers['x-cos-diagnosis']) || null;
  }

  function failure(err) {
    var inner = (err && err.error) || {};
    return {
      ok: false,
      statusCode: (err && err.statusCode) || null,
      code: (err && err.code) || inner.Code || null,
      message: (err && err.message) || inner.Message || null,
      diagnosis: diagnosis(err && err.headers),
      raw: (function () { try { return JSON.stringify(err).slice(0, 2000); } catch (e) { return String(err); } })(),
    };
  }

  function call(cos, op, params) {
    return new Promise(function (resolve) {
      cos[op](params, function (err, data) {
        if (err) return resolve(failure(err));
        resolve({
          ok: true,
          statusCode: data.statusCode,
          etag: data.ETag || (data.headers && data.headers.etag) || null,
          body: typeof data.Body === 'string' ? data.Body : null,
          url: data.Url || null,
          diagnosis: diagnosis(data.headers),
        });
      });
    });
  }

  async function run() {
    var spec = window.SPEC;
    var results = [];
    for (var i = 0; i < spec.steps.length; i++) {
      var step = Object.assign({}, spec.steps[i]);
      var cos = new COS(Object.assign({}, spec.options, step.options || {}));
      var op = step.op;
      var then = step.then;
      delete step.op; delete step.options; delete step.then;
      if (typeof step.Body === 'string') step.Body = new Blob([step.Body], { type: step.ContentType || '' });
      delete step.ContentType;
      if (typeof step.BlobSize === 'number') {
        var bytes = new Uint8Array(step.BlobSize);
        for (var b = 0; b < bytes.length; b++) bytes[b] = b % 251;
        step.Body = new Blob([bytes]);
        delete step.BlobSize;
      }
      if (op === 'getObjectUrl') step.Sign = true;
      var result = await call(cos, op, step);
      if (op === 'getObjectUrl' && result.ok && then) {
        try {
          var response = await fetch(result.url, { method: then.method, body: then.body });
          result.fetch = { status: response.status, body: await response.text(),
                           diagnosis: response.headers.get('X-COS-Diagnosis') };
        } catch (e) {
          result.fetch = { status: 0, error: String(e) };
        }
      }
      results.push(result);
    }
    return results;
  }

  run().then(function (results) {
    out.textContent = JSON.stringify(results);
  }, function (e) {
    out.textContent = JSON.stringify({ error: String((e && e.stack) || e) });
  });
})();
