// Drives cos-nodejs-sdk-v5 as an application would, for the end-to-end tests.
// Usage: node node_driver.js '<json>'  where json = {"options": {...COS options}, "steps": [...]}
// Each step is {"op": "putObject" | "getObject" | "headObject" | "deleteObject" | "getObjectUrl"
//   | "sliceUploadFile" | "uploadFile" (with FilePath, SliceSize), ...params}.
// Prints one JSON array: per step {ok, statusCode, etag, body, url, code, message}.
'use strict';
const COS = require('cos-nodejs-sdk-v5');

function call(cos, op, params) {
  return new Promise((resolve) => {
    if (op === 'getObjectUrl') {
      cos.getObjectUrl(params, (err, data) => resolve(err ? failure(err) : { ok: true, url: data.Url }));
      return;
    }
    cos[op](params, (err, data) => {
      if (err) {
        resolve(failure(err));
        return;
      }
      resolve({
        ok: true,
        statusCode: data.statusCode,
        etag: data.ETag || (data.headers && data.headers.etag) || null,
        body: data.Body !== undefined ? Buffer.from(data.Body).toString('utf8') : null,
      });
    });
  });
}

function failure(err) {
  const inner = (err && err.error) || {};
  return {
    ok: false,
    statusCode: err.statusCode || null,
    code: err.code || inner.Code || null,
    message: err.message || inner.Message || null,
  };
}

async function main() {
  const spec = JSON.parse(process.argv[2]);
  const cos = new COS(spec.options);
  const out = [];
  for (const step of spec.steps) {
    const { op, ...params } = step;
    if (typeof params.Body === 'string') params.Body = Buffer.from(params.Body, 'utf8');
    out.push(await call(cos, op, params));
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  process.stderr.write(String((e && e.stack) || e) + '\n');
  process.exit(1);
});
