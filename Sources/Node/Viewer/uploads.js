// Sharing files: the file input and drag and drop, one upload at a time with a progress row each,
// and the shared item opened on the stage once the document has it.

import * as api from './api.js';
import { el, toast } from './dom.js';

/** Sets up sharing; `open(id)` opens an item on the stage as a person's own choice. */
export function setupUploads(store, { open }) {
  const queue = [];
  let uploading = false;
  let pendingOpen = null; // an item this page shared and wants to open once the document has it

  store.subscribe(['doc'], ({ doc }) => {
    if (pendingOpen && doc && doc.items && doc.items[pendingOpen]) {
      const id = pendingOpen;
      pendingOpen = null;
      open(id);
    }
  });

  function shareFiles(fileList) {
    for (const file of [...fileList]) {
      const type = file.type || '';
      if (type && !type.startsWith('image/') && !type.startsWith('video/')) {
        toast(`“${file.name}” is not a photo or a video.`);
        continue;
      }
      queue.push({ file, row: uploadRow(file) });
    }
    pump();
  }

  async function pump() {
    if (uploading) return;
    uploading = true;
    try {
      while (queue.length) {
        const { file, row } = queue.shift();
        await send(file, row);
      }
    } finally {
      uploading = false;
    }
  }

  async function send(file, row) {
    const keepMetadata = document.getElementById('keep-metadata').checked;
    row.row.dataset.state = 'sending';
    try {
      const answer = await api.share(file, {
        keepMetadata,
        onProgress: (loaded, total, done) => {
          const percent = total > 0 ? (100 * loaded) / total : 100;
          row.bar.value = percent;
          row.state.textContent = done ? 'stored, sealing…' : `${percent.toFixed(0)}%`;
        },
      });
      row.bar.value = 100;
      row.row.dataset.state = 'done';
      row.row.dataset.item = String(answer.item || '');
      row.row.dataset.metadataRemoved = answer.metadataRemoved ? 'true' : 'false';
      const removed = Array.isArray(answer.removed) ? answer.removed.filter((r) => typeof r === 'string') : [];
      let note;
      if (answer.metadataRemoved) {
        note = removed.length ? `shared; metadata removed: ${removed.join(', ')}` : 'shared; checked, nothing identifying found';
      } else if (keepMetadata) note = 'shared; metadata kept, as asked';
      else note = 'shared; metadata kept (the node did not clean this file)';
      row.state.textContent = note;
      if (typeof answer.item === 'string') {
        pendingOpen = answer.item;
        const { doc } = store.get();
        if (doc && doc.items && doc.items[answer.item]) {
          pendingOpen = null;
          open(answer.item);
        }
      }
    } catch (error) {
      row.row.dataset.state = 'failed';
      row.state.textContent = 'failed';
      toast(`Sharing “${file.name}” failed: ${error.message || error}`);
    }
  }

  const input = document.getElementById('file-input');
  input.addEventListener('change', () => {
    if (input.files && input.files.length) shareFiles(input.files);
    input.value = '';
  });
  const overlay = document.getElementById('drop-overlay');
  let depth = 0;
  const hasFiles = (event) => event.dataTransfer && [...event.dataTransfer.types].includes('Files');
  document.addEventListener('dragenter', (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth += 1;
    overlay.hidden = false;
  });
  document.addEventListener('dragover', (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = 'copy';
  });
  document.addEventListener('dragleave', (event) => {
    if (!hasFiles(event)) return;
    depth = Math.max(0, depth - 1);
    if (depth === 0) overlay.hidden = true;
  });
  document.addEventListener('drop', (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth = 0;
    overlay.hidden = true;
    if (event.dataTransfer.files && event.dataTransfer.files.length) shareFiles(event.dataTransfer.files);
  });
}

/** A progress row in the Transfers box for one file. */
function uploadRow(file) {
  const bar = el('progress', { max: '100', value: '0' });
  const state = el('span', { class: 'upload-state', text: 'waiting' });
  const row = el('div', { class: 'upload', dataset: { state: 'waiting', name: file.name } },
    el('span', { class: 'upload-name', text: file.name }), bar, state);
  const box = document.getElementById('upload-progress');
  box.append(row);
  while (box.childElementCount > 6) box.firstElementChild.remove();
  document.getElementById('transfers-box').open = true;
  return { row, bar, state };
}
