// The work on site, section by section as the job needs it: diagnosis (it settles warranty),
// a quote outside warranty, parts from the van, the checklist of planned work, the on-site
// test, photos before and after, the customer's signature, and completion with the full
// service report (R-REPORT). Each section sends through the queue.
import { fmt, h } from '/console/js/dom.js';
import * as queue from './queue.js';
import { pad } from './signature.js';
import { clearDrafts, draft, field, PLANNED, radio, toast } from './ui.js';

// The causes that are the maker's within warranty (R-WARRANTY; policy warranty_causes).
const CAUSES = [['design', 'Design'], ['manufacture', 'Manufacture'], ['installation', 'Installation'],
  ['material', 'Material'], ['wear', 'Wear'], ['misuse', 'Misuse'], ['external', 'External (vehicle, weather…)'],
  ['unknown', 'Unknown']];
const MAX_PHOTO = 5 * 1024 * 1024;
const MAX_SIGNATURE = 256 * 1024;

export function render(view) {
  const o = view.order;
  const planned = PLANNED.includes(o.kind);
  const approved = view.quotes.some((q) => q.state === 'approved');
  const diagnosed = Boolean(view.report.cause_class);
  // Work may start: planned work always; corrective once diagnosed, outside warranty once
  // the customer approved the quote. A diagnosis still queued is taken as in warranty
  // (the server refuses the work, and says so, if it is not).
  const allowed = planned || (diagnosed && (o.warranty !== 'out_of_warranty' || approved));
  return h('div', { class: 'onsite', dataset: { testid: 'onsite' } },
    planned ? null : diagnosis(view),
    !planned && o.warranty === 'out_of_warranty' ? quote(view, approved) : null,
    planned ? checklist(view) : van(view, allowed),
    test(view, allowed),
    photos(view),
    signature(view),
    complete(view, allowed));
}

function send(o, action, label, json) {
  return queue.enqueue({ order_id: o.id, action, label: `${label} (#${o.id})`,
    path: `/field/work-orders/${o.id}/${action}`, json });
}

function section(testid, title, ...children) {
  return h('section', { class: 'card', dataset: { testid } }, h('h2', {}, title), ...children);
}

function hint(text) {
  return h('p', { class: 'muted hint' }, text);
}

// --- diagnosis and warranty -------------------------------------------------------------

function diagnosis(view) {
  const o = view.order, r = view.report;
  if (r.cause_class) {
    const outcome = o.warranty ? fmt.label(o.warranty)
      : 'settles when the diagnosis reaches the server';
    return section('diagnosis', 'Diagnosis',
      h('p', {}, r.diagnosis), h('p', {}, `Cause: ${fmt.label(r.cause_class)}`),
      h('p', { class: ['outcome', o.warranty && `outcome-${o.warranty}`], dataset: { testid: 'warranty-outcome' } },
        `Warranty: ${outcome}`,
        o.warranty === 'out_of_warranty' ? ' — the customer pays: make a quote for their approval.' : ''));
  }
  const scope = `diag-${o.id}`;
  const text = field(scope, 'diagnosis', 'textarea', { rows: 3, maxlength: 4000, required: true,
    placeholder: 'What you found' });
  const cause = field(scope, 'cause_class', 'select', { required: true },
    h('option', { value: '' }, 'Choose the cause…'), CAUSES.map(([v, label]) => h('option', { value: v }, label)));
  const form = h('form', { dataset: { testid: 'diagnosis-form' } },
    h('label', { for: text.id }, 'Diagnosis'), text, h('label', { for: cause.id }, 'Cause class'), cause,
    hint('Design, manufacture, installation and material faults are the maker\'s: free within the pile\'s warranty. '
      + 'Anything else needs a quote the customer approves.'),
    h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, 'Record the diagnosis'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!text.value.trim() || !cause.value) {
      toast('Write the diagnosis and choose its cause class.', 'error');
      return;
    }
    await send(o, 'diagnosis', 'Diagnosis', { diagnosis: text.value.trim(), cause_class: cause.value });
    clearDrafts(scope, ['diagnosis', 'cause_class']);
  });
  return section('diagnosis', 'Diagnosis', form);
}

// --- quote (outside warranty) -----------------------------------------------------------

function quote(view, approved) {
  const o = view.order;
  const shown = view.quotes.map((q) => h('div', { class: 'quote', dataset: { testid: 'quote', state: q.state } },
    h('strong', {}, q.id ? `Quote ${q.id}` : 'Quote (queued)'), ' ',
    h('span', { class: `badge badge-${q.state}` }, fmt.label(q.state)), ' ',
    q.total ? `${q.total} ${q.currency}` : '',
    h('ul', {}, (q.lines || q.parts || []).map((l) => h('li', {}, `${l.quantity} × ${l.part_id}`)),
      q.labour_h !== undefined ? h('li', {}, `${q.labour_h} h labour`) : null,
      q.travel_km !== undefined ? h('li', {}, `${q.travel_km} km travel`) : null),
    q.approver_name ? h('p', {}, `${fmt.label(q.state)} by ${q.approver_name}`) : null));
  if (approved) return section('quote', 'Quote', shown, h('p', {}, 'Approved: go ahead.'));
  const waiting = view.quotes.some((q) => ['pending', 'queued'].includes(q.state));
  return section('quote', 'Quote for the customer', shown, waiting ? answer(o) : makeQuote(view));
}

// The customer's person at the pile answers the quote on this phone, by name (R-WARRANTY);
// one who cannot decide now answers the service desk later, and this screen picks it up.
function answer(o) {
  const scope = `quote-answer-${o.id}`;
  const name = field(scope, 'approver_name', 'input', { required: true, maxlength: 200, autocomplete: 'name' });
  const decide = (approve) => async (event) => {
    event.preventDefault();
    if (!name.value.trim()) {
      name.reportValidity();
      return;
    }
    await send(o, 'quote-decision', approve ? 'Quote approved' : 'Quote rejected',
      { approve, approver_name: name.value.trim() });
    clearDrafts(scope, ['approver_name']);
  };
  const yes = h('button', { type: 'button', class: 'btn btn-primary', dataset: { testid: 'quote-approve' } },
    'Customer approves');
  const no = h('button', { type: 'button', class: 'btn', dataset: { testid: 'quote-reject' } }, 'Customer rejects');
  yes.addEventListener('click', decide(true));
  no.addEventListener('click', decide(false));
  return h('form', { dataset: { testid: 'quote-answer' } },
    h('label', { for: name.id }, "Customer's name"), name, h('div', { class: 'row' }, yes, no),
    h('p', { class: 'note', dataset: { testid: 'quote-approval' } },
      'Show the quote to the customer and record their answer with their name. If they decide later, '
      + 'the service desk records it and this screen picks it up; work waits until it is approved.'));
}

function makeQuote(view) {
  const o = view.order;
  const scope = `quote-${o.id}`;
  const stock = view.stock || [];
  const part = field(scope, 'part', 'select', {}, h('option', { value: '' }, 'No part'),
    stock.map((s) => h('option', { value: s.part_id }, `${s.name} (${s.part_id})`)));
  const quantity = field(scope, 'quantity', 'input', { type: 'number', min: 1, value: 1 });
  const labour = field(scope, 'labour_h', 'input', { type: 'number', min: 0, step: 0.25, value: 1 });
  const travel = field(scope, 'travel_km', 'input', { type: 'number', min: 0, step: 1, value: 0 });
  const form = h('form', { dataset: { testid: 'quote-form' } },
    h('label', { for: part.id }, 'Part'), part, h('label', { for: quantity.id }, 'Quantity'), quantity,
    h('label', { for: labour.id }, 'Labour (hours)'), labour, h('label', { for: travel.id }, 'Travel (km)'), travel,
    h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, 'Make the quote'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    await send(o, 'quote', 'Quote', { parts: part.value ? [{ part_id: part.value, quantity: Number(quantity.value) }] : [],
      labour_h: Number(labour.value), travel_km: Number(travel.value) });
    clearDrafts(scope, ['part', 'quantity', 'labour_h', 'travel_km']);
  });
  return form;
}

// --- parts from the van -----------------------------------------------------------------

function van(view, allowed) {
  const o = view.order;
  const used = view.parts.map((p) => h('li', { dataset: { part: p.part_id } },
    `${p.quantity} × ${p.part_id} from ${p.location_id}${p.defective_returned ? ', defective part returned' : ''}`,
    p.queued ? h('small', { class: 'queued' }, ' — queued') : null));
  const stock = view.stock;
  let table;
  if (!stock) {
    table = hint('Your van\'s stock shows once the phone has been online on this screen.');
  } else if (!stock.length) {
    table = hint('Your van is empty.');
  } else {
    table = h('div', { class: 'stock', dataset: { testid: 'van' } }, stock.map((s) => {
      const scope = `part-${o.id}-${s.location_id}-${s.part_id}`;
      const quantity = field(scope, 'quantity', 'input', { type: 'number', min: 1, max: Math.max(1, s.quantity), value: 1,
        'aria-label': `How many ${s.name}` });
      const returned = field(scope, 'returned', 'input', { type: 'checkbox' });
      return h('div', { class: 'stock-line', dataset: { part: s.part_id } },
        h('span', { class: 'stock-name' }, h('strong', {}, s.name), h('small', {}, s.part_id)),
        h('span', { class: ['stock-qty', s.quantity <= 0 && 'empty'], dataset: { testid: 'stock-qty' } },
          `${s.quantity} in van`),
        quantity, h('label', { class: 'check' }, returned, 'defective returned'),
        h('button', { type: 'button', class: 'btn', disabled: !allowed || s.quantity <= 0,
          dataset: { testid: `use-${s.part_id}` },
          onclick: async () => {
            await send(o, 'parts', `Used ${quantity.value} × ${s.part_id}`, { part_id: s.part_id,
              quantity: Number(quantity.value), location_id: s.location_id, defective_returned: returned.checked });
            clearDrafts(scope, ['quantity', 'returned']);
          } }, 'Use'));
    }));
  }
  return section('parts', 'Parts from your van',
    allowed ? null : hint('Parts wait for the diagnosis (and, outside warranty, the approved quote).'),
    table, used.length ? h('ul', { class: 'used', dataset: { testid: 'parts-used' } }, used) : null);
}

// --- the checklist of planned work ---------------------------------------------------------

function checklist(view) {
  const o = view.order;
  const rows = o.checklist.map((entry, i) => {
    const scope = `check-${o.id}-${i}`;
    const answered = entry.done === true || (entry.done === false && entry.by);
    const reading = field(scope, 'reading', 'input', { placeholder: 'Reading (e.g. 520 MΩ)', maxlength: 200,
      'aria-label': `Reading for ${entry.item}` });
    const note = field(scope, 'note', 'input', { placeholder: 'Note (needed if not done)', maxlength: 4000,
      'aria-label': `Note for ${entry.item}` });
    const tick = async (done) => {
      if (!done && !note.value.trim()) {
        toast(`Say why "${entry.item}" could not be done.`, 'error');
        return;
      }
      await send(o, 'checklist', `${entry.item}: ${done ? 'done' : 'not done'}`, { item: entry.item, done,
        note: note.value.trim() || null, reading: reading.value.trim() || null });
      clearDrafts(scope, ['reading', 'note']);
    };
    return h('li', { class: ['check-item', answered && (entry.done ? 'is-done' : 'is-not-done')],
      dataset: { item: entry.item, done: answered ? String(entry.done) : 'open' } },
      h('span', { class: 'check-name' }, answered ? (entry.done ? '✓ ' : '✗ ') : '○ ', entry.item,
        entry.reading ? h('small', {}, ` · ${entry.reading}`) : null, entry.note ? h('small', {}, ` · ${entry.note}`) : null,
        entry.queued ? h('small', { class: 'queued' }, ' — queued') : null),
      answered ? null : h('div', { class: 'check-inputs' }, reading, note,
        h('button', { type: 'button', class: 'btn btn-primary', dataset: { testid: 'tick-done' }, onclick: () => tick(true) },
          'Done'),
        h('button', { type: 'button', class: 'btn btn-ghost', onclick: () => tick(false) }, 'Not done')));
  });
  return section('checklist', 'Checklist', rows.length ? h('ol', { class: 'checklist' }, rows) : hint('No checklist.'));
}

// --- the on-site test -----------------------------------------------------------------------

function test(view, allowed) {
  const o = view.order, r = view.report;
  if (r.test_passed !== undefined && r.test_passed !== null) {
    return section('test', 'On-site test', h('p', { dataset: { testid: 'test-result' } },
      r.test_passed ? '✓ Passed' : '✗ Failed', r.test_notes ? ` — ${r.test_notes}` : ''));
  }
  if (!allowed) return section('test', 'On-site test', hint('The test comes after the diagnosis (and an approved quote).'));
  const scope = `test-${o.id}`;
  const notes = field(scope, 'notes', 'textarea', { rows: 2, maxlength: 4000, placeholder: 'What you measured' });
  const passed = radio(scope, 'passed', 'yes', { dataset: { testid: 'test-passed' } });
  const failed = radio(scope, 'passed', 'no');
  const form = h('form', { dataset: { testid: 'test-form' } },
    h('div', { class: 'choice' }, h('label', {}, passed, ' Passed'), h('label', {}, failed, ' Failed')),
    h('label', { for: notes.id }, 'Notes'), notes,
    h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, 'Record the test'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const verdict = draft(scope, 'passed');
    if (!verdict || !notes.value.trim()) {
      toast('Say whether the test passed, and what you measured.', 'error');
      return;
    }
    await send(o, 'test', 'On-site test', { passed: verdict === 'yes', notes: notes.value.trim() });
    clearDrafts(scope, ['notes', 'passed']);
  });
  return section('test', 'On-site test', form);
}

// --- photos -------------------------------------------------------------------------------------

const previews = new Map();  // queued photo's key → data: URL (blob: URLs are outside the CSP)

function preview(entry, img) {
  if (previews.has(entry.key)) {
    img.src = previews.get(entry.key);
    return;
  }
  const reader = new FileReader();
  reader.onload = () => { previews.set(entry.key, reader.result); img.src = reader.result; };
  reader.readAsDataURL(entry.photo.blob);
}

// The picture as bytes in memory: a picked File is read from its source lazily, which may be
// gone (a temporary camera file) by the time the queue stores or sends it. A camera photo
// over the server's 5 MiB is scaled to 2048 px as JPEG, which fits.
async function shrink(file) {
  if (file.size <= MAX_PHOTO) return { blob: new Blob([await file.arrayBuffer()], { type: file.type }), name: file.name };
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, 2048 / Math.max(bitmap.width, bitmap.height));
  const canvas = h('canvas', { width: Math.round(bitmap.width * scale), height: Math.round(bitmap.height * scale) });
  canvas.getContext('2d').drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.85));
  return { blob, name: file.name.replace(/\.\w+$/, '') + '.jpg' };
}

function photos(view) {
  const o = view.order;
  const scope = `photo-${o.id}`;
  const stage = field(scope, 'stage', 'select', {}, h('option', { value: 'before' }, 'Before the work'),
    h('option', { value: 'after' }, 'After the work'));
  const caption = field(scope, 'caption', 'input', { maxlength: 200, placeholder: 'Caption (optional)' });
  const file = h('input', { type: 'file', accept: 'image/jpeg,image/png,image/webp', capture: 'environment',
    id: `photo-file-${o.id}`, dataset: { testid: 'photo-input' } });
  file.addEventListener('change', async () => {
    const chosen = file.files[0];
    if (!chosen) return;
    if (!['image/jpeg', 'image/png', 'image/webp'].includes(chosen.type)) {
      toast('Photos are JPEG, PNG or WebP.', 'error');
      return;
    }
    try {
      const { blob, name } = await shrink(chosen);
      if (blob.size > MAX_PHOTO) {
        toast('The photo is over 5 MiB even scaled down; take it again.', 'error');
        return;
      }
      await queue.enqueue({ order_id: o.id, action: 'photo', label: `Photo ${stage.value} (#${o.id})`,
        path: `/field/work-orders/${o.id}/photos`,
        photo: { blob, name, stage: stage.value, caption: caption.value.trim() || null } });
      clearDrafts(scope, ['caption']);
    } catch (error) {
      toast(`The photo could not be kept on the phone (${error.message}); take it again.`, 'error');
    }
  });
  const shown = view.photos.map((p) => {
    const img = h('img', { alt: p.caption || `${p.stage} photo`, loading: 'lazy' });
    if (p.queued) preview(p.queued, img);
    else img.src = p.url;
    return h('figure', { class: 'photo', dataset: { testid: 'photo', stage: p.stage, queued: p.queued ? 'true' : 'false' } },
      img, h('figcaption', {}, `${p.stage}${p.caption ? ` · ${p.caption}` : ''}${p.queued ? ' · queued' : ''}`));
  });
  return section('photos', 'Photos', h('div', { class: 'photos' }, shown),
    h('div', { class: 'photo-form' }, h('label', { for: stage.id }, 'Photo of'), stage,
      h('label', { for: caption.id }, 'Caption'), caption,
      h('label', { class: 'btn btn-block', for: file.id }, 'Take or choose a photo'), file),
    hint('JPEG, PNG or WebP up to 5 MiB; larger camera pictures are scaled down on the phone.'));
}

// --- signature ------------------------------------------------------------------------------------

function signature(view) {
  const o = view.order;
  const scope = `sign-${o.id}`;
  const signed = view.signature;
  const board = pad(o.id);
  const name = field(scope, 'signer_name', 'input', { maxlength: 200, placeholder: 'Customer\'s name',
    autocomplete: 'name', dataset: { testid: 'signer-name' } });
  const save = h('button', { type: 'button', class: 'btn btn-primary', dataset: { testid: 'save-signature' } },
    signed ? 'Sign again' : 'Save the signature');
  save.addEventListener('click', async () => {
    if (board.empty) {
      toast('The customer signs in the box first.', 'error');
      return;
    }
    if (!name.value.trim()) {
      toast('Type the name of the customer who signs.', 'error');
      return;
    }
    const image = board.png();
    if (image.length > MAX_SIGNATURE * 4 / 3) {
      toast('The signature picture is too large; clear it and sign again.', 'error');
      return;
    }
    await queue.enqueue({ order_id: o.id, action: 'signature', label: `Signature of ${name.value.trim()} (#${o.id})`,
      path: `/field/work-orders/${o.id}/signature`, json: { image, signer_name: name.value.trim() } });
    board.clear();
  });
  let done = null;
  if (signed) {
    done = h('figure', { class: 'signed', dataset: { testid: 'signed' } },
      h('img', { alt: `Signature of ${signed.signer_name}`, src: signed.queued ? signed.image : signed.url }),
      h('figcaption', {}, `Signed by ${signed.signer_name}${signed.queued ? ' · queued' : ''}`));
  }
  return section('signature', 'Customer\'s signature', done,
    h('div', { class: 'pad-wrap' }, board.canvas),
    h('label', { for: name.id }, 'Name of the person signing'), name,
    h('div', { class: 'row' }, h('button', { type: 'button', class: 'btn btn-ghost', onclick: () => board.clear() }, 'Clear'),
      save));
}

// --- completion with the full report ---------------------------------------------------------------

function complete(view, allowed) {
  const o = view.order, r = view.report;
  const planned = PLANNED.includes(o.kind);
  const scope = `done-${o.id}`;
  const signer = view.signature?.signer_name;
  const cause = field(scope, 'fault_cause', 'textarea', { rows: 2, maxlength: 4000, placeholder: 'What caused the fault' });
  const action = field(scope, 'action_taken', 'textarea', { rows: 2, maxlength: 4000, placeholder: 'What you did' });
  const noParts = field(scope, 'no_parts', 'input', { type: 'checkbox' });
  const opinion = field(scope, 'customer_opinion', 'textarea', { rows: 2, maxlength: 4000,
    placeholder: 'In the customer\'s words' });
  const rating = field(scope, 'customer_rating', 'select', {}, h('option', { value: '' }, 'Rating…'),
    [5, 4, 3, 2, 1].map((n) => h('option', { value: n }, `${'★'.repeat(n)} (${n})`)));
  const signoff = field(scope, 'customer_signoff_name', 'input', { maxlength: 200, placeholder: 'Name' });
  if (!signoff.value && signer) signoff.value = signer;
  const form = h('form', { dataset: { testid: 'complete-form' } },
    planned ? null : [h('label', { for: cause.id }, 'Fault cause'), cause, h('label', { for: action.id }, 'Action taken'),
      action, view.parts.length ? null : h('label', { class: 'check' }, noParts, ' No parts used')],
    h('label', { for: opinion.id }, 'Customer\'s opinion'), opinion,
    h('label', { for: rating.id }, 'Customer\'s rating'), rating,
    h('label', { for: signoff.id }, 'Signed off by'), signoff,
    h('p', { class: 'error', role: 'alert', dataset: { testid: 'complete-missing' }, hidden: true }),
    h('button', { type: 'submit', class: 'btn btn-primary btn-block', dataset: { testid: 'complete-submit' } },
      'Complete the job'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const report = planned ? {} : { fault_cause: cause.value.trim() || null, action_taken: action.value.trim() || null,
      no_parts: view.parts.length ? null : noParts.checked || null };
    Object.assign(report, { customer_opinion: opinion.value.trim() || null,
      customer_rating: rating.value ? Number(rating.value) : null, customer_signoff_name: signoff.value.trim() || null });
    const missing = missingFrom(view, report, planned);
    const box = form.querySelector('[data-testid=complete-missing]');
    if (missing.length) {
      box.textContent = `Not yet: ${missing.join(', ')}.`;
      box.hidden = false;
      return;
    }
    await send(o, 'complete', 'Complete', report);
    clearDrafts(scope, ['fault_cause', 'action_taken', 'no_parts', 'customer_opinion', 'customer_rating',
      'customer_signoff_name']);
  });
  return section('complete', 'Complete', allowed ? form : hint('Completion comes after the diagnosis, work and test.'),
    r.completed_at ? h('p', {}, 'Completed.') : null);
}

// The report's rules, said before sending (the server checks them again: R-REPORT).
function missingFrom(view, report, planned) {
  const r = view.report;
  const missing = [];
  if (planned) {
    const open = view.order.checklist.filter((e) => !(e.done === true || (e.done === false && e.by)));
    if (open.length) missing.push(`checklist (${open.map((e) => e.item).join('; ')})`);
  } else {
    if (!report.fault_cause && !r.fault_cause) missing.push('fault cause');
    if (!report.action_taken && !r.action_taken) missing.push('action taken');
    if (!view.parts.length && !report.no_parts && !r.no_parts) missing.push('parts used (or tick "No parts used")');
    if (!report.customer_opinion && !r.customer_opinion) missing.push('customer\'s opinion');
    if (!report.customer_rating && !r.customer_rating) missing.push('customer\'s rating');
  }
  if (r.test_passed === undefined || r.test_passed === null) missing.push('the on-site test');
  if (!report.customer_signoff_name && !view.signature) missing.push('the customer\'s sign-off');
  return missing;
}
