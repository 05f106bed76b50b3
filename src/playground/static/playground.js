// The playground: pick a model, make an adapter, follow its job live, see its files, try it.
// Plain browser JavaScript served as is by the API (no build step, no external requests); it
// talks only to this server's public API, with the key from sessionStorage when one is set.
const $ = (id) => document.getElementById(id);
const KEY = 'hyperadapt.apiKey';
const TERMINAL = new Set(['succeeded', 'failed', 'canceled']);
let models = [];
let model = null;
let adapterId = null;
let gridUrl = null;

class ApiError extends Error {}

function authHeaders(extra = {}) {
  const key = sessionStorage.getItem(KEY);
  return key ? { ...extra, authorization: `Bearer ${key}` } : extra;
}

/** fetch() against the API; a non-2xx answer throws the API's own error message. */
async function api(method, path, body) {
  const json = body !== undefined && !(body instanceof FormData);
  const res = await fetch(path, {
    method,
    headers: authHeaders(json ? { 'content-type': 'application/json' } : {}),
    body: json ? JSON.stringify(body) : body,
  });
  if (!res.ok) throw await apiError(res);
  return res;
}

async function apiError(res) {
  let message = `HTTP ${res.status}`;
  try {
    const e = (await res.json()).error;
    if (e && e.message) message = `${e.message} (${res.status} ${e.code})`;
  } catch {
    /* not JSON: keep the status */
  }
  return new ApiError(message);
}

function showError(err) {
  const alert = $('alert');
  alert.textContent = err instanceof Error ? err.message : String(err);
  alert.hidden = false;
}

function clearError() {
  $('alert').hidden = true;
  $('alert').textContent = '';
}

/** Runs a UI action: clears the last error, disables the form while it runs, shows what fails. */
function action(form, fn) {
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearError();
    const buttons = form.querySelectorAll('button');
    buttons.forEach((b) => (b.disabled = true));
    try {
      await fn();
    } catch (err) {
      showError(err);
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  });
}

async function loadModels() {
  clearError();
  try {
    models = (await (await api('GET', '/v1/models')).json()).data;
  } catch (err) {
    models = [];
    showError(err);
  }
  const select = $('model');
  select.replaceChildren(...models.map((m) => new Option(`${m.id} (${m.kind})`, m.id)));
  selectModel(models[0]?.id);
}

function selectModel(id) {
  model = models.find((m) => m.id === id) ?? null;
  for (const s of ['text-input', 'image-input', 'job', 'adapter', 'ask', 'samples']) $(s).hidden = true;
  if (!model) return;
  $('model-desc').textContent = model.description;
  if (model.kind === 'text') {
    const [field, spec] = Object.entries(model.inputs).find(([, f]) => f.required) ?? Object.entries(model.inputs)[0];
    $('text-field').dataset.field = field;
    $('text-label').textContent = field === 'context' ? 'Document' : field[0].toUpperCase() + field.slice(1);
    $('text-hint').textContent = `Up to ${spec.max_tokens} tokens.`;
    $('text-input').hidden = false;
  } else {
    $('image-input').hidden = false;
  }
}

function showJob(job) {
  $('job').hidden = false;
  $('job-id').textContent = job.id;
  $('job-status').textContent = job.cached ? `${job.status} (cached)` : job.status;
  $('job-progress').value = job.status === 'succeeded' ? 1 : job.progress ?? 0;
}

function logEvent(type, job) {
  const li = document.createElement('li');
  li.textContent = `${type}${job.progress ? ` ${Math.round(job.progress * 100)}%` : ''}`;
  $('job-events').append(li);
}

/** Follows the job's Server-Sent Events (fetch, so the key header can be sent) to its end. */
async function follow(job) {
  showJob(job);
  $('job-events').replaceChildren();
  if (TERMINAL.has(job.status)) {
    logEvent(`job.${job.status}`, job);
    return job;
  }
  const res = await fetch(job.urls.events, { headers: authHeaders({ accept: 'text/event-stream' }) });
  if (!res.ok) throw await apiError(res);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let last = job;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let type = 'message';
      let data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) type = line.slice(6).trim();
        else if (line.startsWith('data:')) data += line.slice(5).trim();
      }
      if (!data) continue; // heartbeat comment
      last = JSON.parse(data);
      showJob(last);
      logEvent(type, last);
    }
  }
  return last;
}

async function finish(job) {
  const done = await follow(job);
  if (done.status !== 'succeeded') {
    throw new ApiError(done.error ? `The job ${done.status}: ${done.error.message} (${done.error.code})` : `The job ${done.status}.`);
  }
  adapterId = done.adapter_id;
  const adapter = await (await api('GET', `/v1/adapters/${adapterId}`)).json();
  showAdapter(adapter);
  if (model.preview === 'generate') $('ask').hidden = false;
  if (model.preview === 'samples') {
    $('sample-class').replaceChildren(...model.sample_classes.map((c) => new Option(c, c)));
    $('samples').hidden = false;
  }
}

function downloadLink(path, label) {
  const a = document.createElement('a');
  a.href = path;
  a.textContent = label;
  a.download = '';
  // With a key, a plain link cannot authenticate: fetch it and hand the browser the bytes.
  a.addEventListener('click', async (ev) => {
    if (!sessionStorage.getItem(KEY)) return;
    ev.preventDefault();
    try {
      const blob = await (await api('GET', path)).blob();
      const tmp = document.createElement('a');
      tmp.href = URL.createObjectURL(blob);
      tmp.download = path.split('/').pop();
      tmp.click();
      setTimeout(() => URL.revokeObjectURL(tmp.href), 10000);
    } catch (err) {
      showError(err);
    }
  });
  return a;
}

function showAdapter(adapter) {
  $('adapter').hidden = false;
  $('adapter-id').textContent = adapter.id;
  $('adapter-meta').textContent = `${adapter.model} · ${adapter.format} · ${adapter.dtype}`;
  $('files').replaceChildren(...adapter.files.map((f) => {
    const tr = document.createElement('tr');
    const name = document.createElement('td');
    name.append(downloadLink(adapter.urls.files[f.name], f.name));
    const size = document.createElement('td');
    size.textContent = f.bytes.toLocaleString('en');
    const sha = document.createElement('td');
    sha.append(Object.assign(document.createElement('code'), { textContent: f.sha256 }));
    tr.append(name, size, sha);
    return tr;
  }));
  $('archive').replaceWith(Object.assign(downloadLink(adapter.urls.archive, 'Download all (tar)'), { id: 'archive' }));
}

function showImages(files) {
  $('image-list').replaceChildren(...[...files].map((f) => Object.assign(document.createElement('li'), { textContent: `${f.name} (${f.size.toLocaleString('en')} bytes)` })));
}

let dropped = null;

function wire() {
  $('api-key').value = sessionStorage.getItem(KEY) ?? '';
  $('key-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const key = $('api-key').value.trim();
    if (key) sessionStorage.setItem(KEY, key);
    else sessionStorage.removeItem(KEY);
    void loadModels();
  });
  $('model').addEventListener('change', (ev) => selectModel(ev.target.value));

  action($('text-form'), async () => {
    const text = $('text-field').value;
    const field = $('text-field').dataset.field;
    const job = await (await api('POST', '/v1/adapters', { model: model.id, input: { [field]: text } })).json();
    // A question-conditioned adapter is asked the question it was made from.
    if (field === 'question') $('question').value = text;
    await finish(job);
  });

  const drop = $('drop');
  drop.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' || ev.key === ' ') {
      ev.preventDefault();
      $('images').click();
    }
  });
  drop.addEventListener('dragover', (ev) => {
    ev.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (ev) => {
    ev.preventDefault();
    drop.classList.remove('over');
    dropped = ev.dataTransfer.files;
    showImages(dropped);
  });
  $('images').addEventListener('change', () => {
    dropped = null;
    showImages($('images').files);
  });
  action($('image-form'), async () => {
    const files = dropped ?? $('images').files;
    if (!files.length) throw new ApiError('Choose 1 to 8 images first.');
    const form = new FormData();
    form.append('model', model.id);
    for (const f of files) form.append('images', f, f.name);
    await finish(await (await api('POST', '/v1/personalizations', form)).json());
  });

  action($('ask-form'), async () => {
    $('answer-adapter').textContent = '…';
    $('answer-base').textContent = '…';
    const r = await (await api('POST', `/v1/adapters/${adapterId}/generate`, { question: $('question').value, compare_base: true })).json();
    $('answer-adapter').textContent = r.output || '(nothing)';
    $('answer-base').textContent = r.base_output || '(nothing)';
  });

  action($('samples-form'), async () => {
    const body = { class: $('sample-class').value, seed: Number($('seed').value), n: Number($('sample-n').value) };
    const blob = await (await api('POST', `/v1/adapters/${adapterId}/samples`, body)).blob();
    if (gridUrl) URL.revokeObjectURL(gridUrl);
    gridUrl = URL.createObjectURL(blob);
    const img = $('grid');
    img.alt = `${body.n} samples of a ${body.class} (seed ${body.seed}): base model above, with the adapter below`;
    img.src = gridUrl;
    img.hidden = false;
  });
}

wire();
void loadModels();
